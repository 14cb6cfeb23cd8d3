"""The web configuration file, read and validated into a frozen ``WebConfig``.

Whatever Python's ``ssl`` module cannot do the way Go's ``crypto/tls`` does is refused with the
key path, never silently ignored.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.files import read_yaml
from exporter.validation import ConfigError, flag, mapping, reject_unknown, string
from exporter.web.auth import dummy_hash, parse_users
from exporter.web.tls import CLIENT_AUTH, SECTION, TLSSettings, build_ssl_context, normal_san

_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}
_TLS_KEYS = {
    "client_ca",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
}
_HTTP_KEYS = {"http2", "headers"}
# Documented by exporter-toolkit but not done here: refused with the reason rather than ignored.
_REFUSED_KEYS = {
    "rate_limit": "rate limiting is not supported by this exporter; put a reverse proxy in front",
    "tls_server_config.cert": "inline certificates are not supported; use cert_file",
    "tls_server_config.key": "inline keys are not supported; use key_file",
}

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# The client auth types (exporter-toolkit's names) that take a certificate without verifying it;
# Python's ssl cannot (see CLIENT_AUTH).
_UNVERIFIED_CLIENT_AUTH = {
    "RequestClientCert": "use VerifyClientCertIfGiven",
    "RequireAnyClientCert": "use RequireAndVerifyClientCert",
    "RequireClientCert": "use RequireAndVerifyClientCert",
}
# Go's names (tls.CipherSuites(), TLS 1.0-1.2) -> OpenSSL's.
CIPHER_SUITES = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
_TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
# Go's tls.CurveID names -> OpenSSL's group names.
CURVES = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
}
# exporter-toolkit's extraHTTPHeaders (web/handler.go): only these may be set, some only to these
# values (None: any value).
EXTRA_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}


@dataclass(frozen=True)
class WebConfig:
    """One validated load of the web configuration file."""

    path: str
    tls: TLSSettings | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    # Built from ``tls`` at load, so a certificate or key that does not load is a load error.
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    # Compared against when the user is unknown, so the answer takes as long as for a known one.
    dummy_hash: bytes = field(default=b"", repr=False)

    def watched_files(self) -> tuple[str, ...]:
        return (self.path, *(self.tls.files() if self.tls else ()))


def describe(config: WebConfig) -> dict[str, Any]:
    """The settings worth a log field."""
    tls = config.tls
    return {
        "tls": tls is not None,
        "client_auth_type": tls.client_auth_type if tls else None,
        "users": len(config.users),
        "headers": len(config.headers),
    }


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read and validate a web configuration file; raises ConfigError naming the key at fault."""
    path = str(path)
    raw = read_yaml(path, "web config file")
    return parse_web_config(raw, path)


def parse_web_config(raw: Any, path: str) -> WebConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("", f"{path}: the web configuration must be a mapping")
    reject_unknown(raw, _TOP_KEYS, "", _REFUSED_KEYS)
    found: list[str] = []
    tls = _tls(mapping(raw, SECTION, show_found=False), Path(path).parent, found)
    headers = _http(mapping(raw, "http_server_config", show_found=False), found)
    users = parse_users(raw.get("basic_auth_users"))
    if users and tls is None:
        found.append(
            "basic_auth_users: without tls_server_config, passwords cross the network in clear"
        )
    context = build_ssl_context(tls) if tls else None
    return WebConfig(path, tls, users, headers, tuple(found), context, dummy_hash(users))


def _tls(raw: dict, base: Path, found: list[str]) -> TLSSettings | None:
    if not raw:
        return None
    reject_unknown(raw, _TLS_KEYS, SECTION, _REFUSED_KEYS)
    for key in ("cert_file", "key_file"):
        if raw.get(key) in (None, ""):
            raise ConfigError(f"{SECTION}.{key}", "is required when tls_server_config is set")
    auth = _client_auth(raw)
    sans = _allowed_sans(raw.get("client_allowed_sans"), auth)
    low, high = _versions(raw, found)
    prefer_key = f"{SECTION}.prefer_server_cipher_suites"
    prefer = flag(raw, "prefer_server_cipher_suites", True, prefer_key, show_found=False)
    ca_file = _file(raw, "client_ca_file", base) if raw.get("client_ca_file") else None
    ca = _tls_string(raw, "client_ca") if raw.get("client_ca") else None
    return TLSSettings(
        cert_file=_file(raw, "cert_file", base),
        key_file=_file(raw, "key_file", base),
        client_auth_type=auth,
        client_ca_file=ca_file,
        client_ca=ca,
        client_allowed_sans=sans,
        min_version=low,
        max_version=high,
        cipher_suites=_ciphers(raw.get("cipher_suites")),
        prefer_server_cipher_suites=prefer,
        curve=_curve(raw.get("curve_preferences")),
    )


def _client_auth(raw: dict) -> str:
    """``client_auth_type``, checked against the client CA given (or not) with it."""
    key = f"{SECTION}.client_auth_type"
    if raw.get("client_ca_file") and raw.get("client_ca"):
        raise ConfigError(f"{SECTION}.client_ca", "give client_ca or client_ca_file, not both")
    auth = string(raw, "client_auth_type", "NoClientCert", key, show_found=False)
    if auth in _UNVERIFIED_CLIENT_AUTH:
        raise ConfigError(
            key,
            f"{auth} accepts a client certificate without verifying it, which Python's ssl "
            f"cannot do; {_UNVERIFIED_CLIENT_AUTH[auth]} (with client_ca_file)",
        )
    if auth not in CLIENT_AUTH:
        raise ConfigError(key, f"unknown client auth type {auth!r}")
    has_ca = bool(raw.get("client_ca_file") or raw.get("client_ca"))
    if auth == "NoClientCert" and has_ca:
        raise ConfigError(key, "a client CA is set but client_auth_type is NoClientCert")
    if auth != "NoClientCert" and not has_ca:
        raise ConfigError(f"{SECTION}.client_ca_file", f"is required with {auth}")
    return auth


def _allowed_sans(raw: Any, auth: str) -> tuple[str, ...] | None:
    key = f"{SECTION}.client_allowed_sans"
    if raw is None:
        return None
    if auth != "RequireAndVerifyClientCert":
        raise ConfigError(key, "needs client_auth_type RequireAndVerifyClientCert")
    sans = tuple(normal_san(s) for s in _strings(raw, key))
    if not sans:
        raise ConfigError(key, "must list at least one SAN")
    return sans


def _versions(raw: dict, found: list[str]) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    low = _version(raw, "min_version", "TLS12")
    high = _version(raw, "max_version", "TLS13")
    if low > high:
        raise ConfigError(f"{SECTION}.min_version", "is above max_version")
    if low < ssl.TLSVersion.TLSv1_2 and ssl.OPENSSL_VERSION_INFO >= (3,):
        found.append(
            f"{SECTION}.min_version: OpenSSL 3 at its default security level still refuses "
            "TLS 1.0 and 1.1 handshakes"
        )
    return low, high


def _version(raw: dict, key: str, default: str) -> ssl.TLSVersion:
    value = raw.get(key, default)
    if not isinstance(value, str) or value not in TLS_VERSIONS:
        raise ConfigError(f"{SECTION}.{key}", f"{value!r} is not one of {', '.join(TLS_VERSIONS)}")
    return TLS_VERSIONS[value]


def _ciphers(raw: Any) -> tuple[str, ...]:
    key = f"{SECTION}.cipher_suites"
    names = []
    for name in _strings(raw, key):
        if name in _TLS13_SUITES:
            raise ConfigError(key, f"{name}: TLS 1.3 suites are not configurable (in Go neither)")
        if name not in CIPHER_SUITES:
            raise ConfigError(key, f"unknown cipher suite {name!r}")
        names.append(CIPHER_SUITES[name])
    return tuple(names)


def _curve(raw: Any) -> str | None:
    key = f"{SECTION}.curve_preferences"
    names = _strings(raw, key)
    for name in names:
        if name not in CURVES:
            raise ConfigError(key, f"unknown curve {name!r}")
    if len(names) > 1:
        # ssl.SSLContext.set_ecdh_curve takes one group; there is no list setter before 3.15.
        raise ConfigError(key, "Python's ssl can restrict the handshake to one curve only")
    return CURVES[names[0]] if names else None


def _http(raw: dict, found: list[str]) -> tuple[tuple[str, str], ...]:
    section = "http_server_config"
    reject_unknown(raw, _HTTP_KEYS, section, _REFUSED_KEYS)
    http2 = flag(raw, "http2", False, f"{section}.http2", show_found=False)
    if http2:
        found.append(f"{section}.http2: aiohttp serves HTTP/1.1 only; clients fall back to it")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(f"{section}.headers", "must be a mapping of header name to value")
    out: list[tuple[str, str]] = []
    for name, value in headers.items():
        _check_header(f"{section}.headers.{name}", name, value)
        if value:  # "Unset if blank", as documented by exporter-toolkit
            out.append((name, value))
    return tuple(out)


def _check_header(key: str, name: Any, value: Any) -> None:
    if name not in EXTRA_HEADERS:
        raise ConfigError(key, f"HTTP header {name!r} can not be configured")
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        raise ConfigError(key, "must be a one-line string")
    allowed = EXTRA_HEADERS[name]
    if allowed is not None and value not in allowed:
        raise ConfigError(key, f"must be one of {', '.join(allowed)}, not {value!r}")


def _strings(raw: Any, key: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ConfigError(key, "must be a list of strings")
    return raw


def _tls_string(raw: dict, key: str) -> str:
    """A string key of ``tls_server_config``."""
    return string(raw, key, "", f"{SECTION}.{key}", show_found=False)


def _file(raw: dict, key: str, base: Path) -> str:
    value = _tls_string(raw, key)
    # Relative to the web config file, as exporter-toolkit resolves them.
    return str(base / value)
