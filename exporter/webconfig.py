"""``--web.config.file``: TLS, client certificates, basic auth and response headers.

The file is the exporter-toolkit web configuration the Go exporters read
(prometheus/exporter-toolkit, docs/web-configuration.md). Whatever Python's ``ssl`` module cannot
do the way Go's ``crypto/tls`` does is refused at load with the key path, never silently ignored.

The file and the files it names are polled: a change applies to new connections and requests, and
a file that no longer loads keeps the settings in force and logs one error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import os
import re
import ssl
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import bcrypt
import structlog
from aiohttp import web
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from exporter.blocking import start_in_daemon_thread
from exporter.config import LOAD_TIMEOUT_SECONDS, ConfigError, loaded_in_time, read_yaml

log = structlog.get_logger("exporter")

DEFAULT_POLL_SECONDS = 5.0
# Kept open when basic auth is on: the container HEALTHCHECK and liveness probes call it bare.
OPEN_PATH = "/healthz"
# exporter-toolkit answers a failed login with exactly this header (web/handler.go).
WWW_AUTHENTICATE = "Basic"
# Successful logins remembered, so a scrape does not pay bcrypt every time.
VERIFIED_CACHE_SIZE = 256
# bcrypt reads at most 72 bytes of a password; pyca/bcrypt 5 raises on longer ones.
BCRYPT_MAX_PASSWORD = 72
BCRYPT_RE = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")

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
# Go's tls.ClientAuthType names. Python's ssl verifies every client certificate it asks for, so
# the two Go policies that take a certificate without verifying it cannot be expressed.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
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
class TLSSettings:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    client_ca: str | None = None
    client_allowed_sans: tuple[str, ...] | None = None
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    cipher_suites: tuple[str, ...] = ()  # OpenSSL names
    prefer_server_cipher_suites: bool = True
    curve: str | None = None  # OpenSSL name

    def files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.cert_file, self.key_file, self.client_ca_file) if f)


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
    _reject_unknown(raw, _TOP_KEYS, "")
    found: list[str] = []
    base = Path(path).parent
    tls = _tls(_section(raw, "tls_server_config"), base, found)
    headers = _http(_section(raw, "http_server_config"), found)
    users = _users(raw.get("basic_auth_users"))
    if users and tls is None:
        found.append(
            "basic_auth_users: without tls_server_config, passwords cross the network in clear"
        )
    context = build_ssl_context(tls) if tls else None
    dummy = b""
    if users:
        cost = max(int(h[4:6]) for h in users.values())
        dummy = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(rounds=cost))
    return WebConfig(path, tls, users, headers, tuple(found), context, dummy)


def _tls(raw: dict, base: Path, found: list[str]) -> TLSSettings | None:
    if not raw:
        return None
    section = "tls_server_config"
    _reject_unknown(raw, _TLS_KEYS, section)
    for key in ("cert_file", "key_file"):
        if raw.get(key) in (None, ""):
            raise ConfigError(f"{section}.{key}", "is required when tls_server_config is set")
    if raw.get("client_ca_file") and raw.get("client_ca"):
        raise ConfigError(f"{section}.client_ca", "give client_ca or client_ca_file, not both")
    auth = raw.get("client_auth_type", "NoClientCert")
    if not isinstance(auth, str):
        raise ConfigError(f"{section}.client_auth_type", "must be a string")
    if auth in _UNVERIFIED_CLIENT_AUTH:
        raise ConfigError(
            f"{section}.client_auth_type",
            f"{auth} accepts a client certificate without verifying it, which Python's ssl "
            f"cannot do; {_UNVERIFIED_CLIENT_AUTH[auth]} (with client_ca_file)",
        )
    if auth not in CLIENT_AUTH:
        raise ConfigError(f"{section}.client_auth_type", f"unknown client auth type {auth!r}")
    has_ca = bool(raw.get("client_ca_file") or raw.get("client_ca"))
    if auth == "NoClientCert" and has_ca:
        raise ConfigError(
            f"{section}.client_auth_type",
            "a client CA is set but client_auth_type is NoClientCert",
        )
    if auth != "NoClientCert" and not has_ca:
        raise ConfigError(f"{section}.client_ca_file", f"is required with {auth}")
    sans = raw.get("client_allowed_sans")
    if sans is not None:
        if auth != "RequireAndVerifyClientCert":
            raise ConfigError(
                f"{section}.client_allowed_sans",
                "needs client_auth_type RequireAndVerifyClientCert",
            )
        sans = tuple(_normal_san(s) for s in _strings(sans, f"{section}.client_allowed_sans"))
        if not sans:
            raise ConfigError(f"{section}.client_allowed_sans", "must list at least one SAN")
    low = _version(raw, "min_version", "TLS12")
    high = _version(raw, "max_version", "TLS13")
    if low > high:
        raise ConfigError(f"{section}.min_version", "is above max_version")
    if low < ssl.TLSVersion.TLSv1_2 and ssl.OPENSSL_VERSION_INFO >= (3,):
        found.append(
            f"{section}.min_version: OpenSSL 3 at its default security level still refuses "
            "TLS 1.0 and 1.1 handshakes"
        )
    prefer = raw.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise ConfigError(f"{section}.prefer_server_cipher_suites", "must be true or false")
    ca_file = _file(raw, "client_ca_file", base) if raw.get("client_ca_file") else None
    ca = _string(raw, "client_ca", f"{section}.client_ca") if raw.get("client_ca") else None
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


def build_ssl_context(tls: TLSSettings) -> ssl.SSLContext:
    """A server context for ``tls``; every file is read here, so a bad one is a ConfigError."""
    section = "tls_server_config"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():  # TLSv1/TLSv1_1 are deprecated names, still valid choices
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = tls.min_version
        ctx.maximum_version = tls.max_version
    _check_pem(tls.cert_file, f"{section}.cert_file", _certificates)
    _check_pem(tls.key_file, f"{section}.key_file", _private_key)
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(f"{section}.key_file", f"does not match cert_file: {exc}") from None
    if tls.client_ca_file:
        ca = _check_pem(tls.client_ca_file, f"{section}.client_ca_file", _certificates)
        _trust(ctx, ca, f"{section}.client_ca_file")
    elif tls.client_ca:
        try:
            _certificates(tls.client_ca.encode())
        except ValueError as exc:
            raise ConfigError(f"{section}.client_ca", str(exc)) from None
        _trust(ctx, tls.client_ca, f"{section}.client_ca")
    ctx.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if tls.cipher_suites:
        try:
            ctx.set_ciphers(":".join(tls.cipher_suites))
        except ssl.SSLError as exc:
            raise ConfigError(f"{section}.cipher_suites", str(exc)) from None
        available = {c["name"] for c in ctx.get_ciphers()}
        for name in tls.cipher_suites:
            if name not in available:
                raise ConfigError(
                    f"{section}.cipher_suites", f"{name} is not available in this OpenSSL"
                )
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.curve:
        try:
            ctx.set_ecdh_curve(tls.curve)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"{section}.curve_preferences", f"{tls.curve}: {exc}") from None
    # aiohttp speaks HTTP/1.1 only: say so in ALPN rather than let a client hope for h2.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _trust(ctx: ssl.SSLContext, pem: str, key: str) -> None:
    try:
        ctx.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(key, f"cannot load the CA certificates: {exc}") from None


def _no_password() -> bytes:
    # Without it, OpenSSL would prompt on the terminal for an encrypted key's passphrase.
    raise ValueError("encrypted keys are not supported")


def _check_pem(path: str, key: str, parse: Callable[[bytes], None]) -> str:
    """The file's text, once ``parse`` found what it should hold; errors name key and file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        parse(data)
    except ValueError as exc:
        raise ConfigError(key, f"{path}: {exc}") from None
    return data.decode("ascii", "replace")


def _certificates(data: bytes) -> None:
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValueError("no PEM certificate in it") from None


def _private_key(data: bytes) -> None:
    try:
        serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError("encrypted keys are not supported") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM private key") from None


def _ciphers(raw: Any) -> tuple[str, ...]:
    key = "tls_server_config.cipher_suites"
    names = []
    for name in _strings(raw, key):
        if name in _TLS13_SUITES:
            raise ConfigError(key, f"{name}: TLS 1.3 suites are not configurable (in Go neither)")
        if name not in CIPHER_SUITES:
            raise ConfigError(key, f"unknown cipher suite {name!r}")
        names.append(CIPHER_SUITES[name])
    return tuple(names)


def _curve(raw: Any) -> str | None:
    key = "tls_server_config.curve_preferences"
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
    _reject_unknown(raw, _HTTP_KEYS, section)
    http2 = raw.get("http2", False)
    if not isinstance(http2, bool):
        raise ConfigError(f"{section}.http2", "must be true or false")
    if http2:
        found.append(f"{section}.http2: aiohttp serves HTTP/1.1 only; clients fall back to it")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(f"{section}.headers", "must be a mapping of header name to value")
    out = []
    for name, value in headers.items():
        key = f"{section}.headers.{name}"
        if name not in EXTRA_HEADERS:
            raise ConfigError(key, f"HTTP header {name!r} can not be configured")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ConfigError(key, "must be a one-line string")
        allowed = EXTRA_HEADERS[name]
        if allowed is not None and value not in allowed:
            raise ConfigError(key, f"must be one of {', '.join(allowed)}, not {value!r}")
        if value:  # "Unset if blank", as documented by exporter-toolkit
            out.append((name, value))
    return tuple(out)


def _users(raw: Any) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("basic_auth_users", "must be a mapping of user name to bcrypt hash")
    users = {}
    for user, hashed in raw.items():
        key = f"basic_auth_users.{user}"
        if not isinstance(user, str):
            raise ConfigError(key, "user names must be strings")
        if ":" in user:
            raise ConfigError(key, "a user name cannot contain ':' (Basic auth splits on it)")
        # The value is never echoed: a plaintext password pasted here must not reach the log.
        if not isinstance(hashed, str) or not BCRYPT_RE.match(hashed):
            raise ConfigError(
                key, "not a bcrypt hash ($2y$, $2b$ or $2a$, as `htpasswd -nBC 10 user` makes)"
            )
        users[user] = hashed.encode("ascii")
    return users


def _section(raw: dict, key: str) -> dict:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a mapping")
    return value


def _reject_unknown(raw: dict, known: set[str], path: str) -> None:
    for key in raw:
        name = f"{path}.{key}" if path else str(key)
        if name in _REFUSED_KEYS:
            raise ConfigError(name, _REFUSED_KEYS[name])
        if key not in known:
            raise ConfigError(name, f"unknown key {key!r}")


def _strings(raw: Any, key: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ConfigError(key, "must be a list of strings")
    return raw


def _string(raw: dict, key: str, path: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise ConfigError(path, "must be a string")
    return value


def _file(raw: dict, key: str, base: Path) -> str:
    value = _string(raw, key, f"tls_server_config.{key}")
    # Relative to the web config file, as exporter-toolkit resolves them.
    return str(base / value)


def _version(raw: dict, key: str, default: str) -> ssl.TLSVersion:
    value = raw.get(key, default)
    if not isinstance(value, str) or value not in TLS_VERSIONS:
        raise ConfigError(
            f"tls_server_config.{key}", f"{value!r} is not one of {', '.join(TLS_VERSIONS)}"
        )
    return TLS_VERSIONS[value]


def _normal_san(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value


class BasicAuth:
    """``basic_auth_users``: bcrypt, in constant time whether or not the user exists.

    A login that bcrypt verified is remembered by a SHA-256 of user, hash and password (never the
    password itself) so that a scrape every few seconds does not pay bcrypt's cost each time.
    """

    def __init__(self, users: Mapping[str, bytes], dummy_hash: bytes) -> None:
        self.users = users
        self._dummy_hash = dummy_hash
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        # bcrypt is CPU-bound: one check at a time, off the event loop (exporter-toolkit also
        # serialises them).
        self._lock = asyncio.Lock()
        self.bcrypt_checks = 0

    async def check(self, authorization: str | None) -> bool:
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self.users.get(user)
        known = hashed is not None
        if hashed is None:
            hashed = self._dummy_hash
        digest = hashlib.sha256(
            b":".join(
                s.hex().encode()
                for s in (user.encode("utf-8", "surrogateescape"), hashed, password)
            )
        ).digest()
        if known and digest in self._verified:
            self._verified.move_to_end(digest)
            return True
        async with self._lock:
            ok = await asyncio.to_thread(self._checkpw, password, hashed)
        if not (ok and known):
            return False
        self._verified[digest] = None
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return True

    def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        if len(password) > BCRYPT_MAX_PASSWORD:
            return False  # depends on the password only, so it reveals nothing about users
        self.bcrypt_checks += 1
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:
            return False


def _basic_credentials(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user.decode("utf-8", "surrogateescape"), password


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebSecurity:
    """The web configuration in force: the listening SSL context, the auth and header middleware
    and the watcher that re-reads the file."""

    def __init__(
        self,
        config: WebConfig,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        load_timeout: float = LOAD_TIMEOUT_SECONDS,
    ) -> None:
        self.config = config
        self.poll_seconds = poll_seconds
        self.load_timeout = load_timeout
        self.auth = BasicAuth(config.users, config.dummy_hash) if config.users else None
        # The context the server socket was made with; new handshakes switch to the newest one.
        self.ssl_context = config.ssl_context
        if self.ssl_context is not None:
            self.ssl_context.sni_callback = self._select_context
        self._initial = config
        self._signature = _signature(config.watched_files())

    def _select_context(
        self, ssl_object: ssl.SSLObject, server_name: str | None, listening: ssl.SSLContext
    ) -> None:
        # OpenSSL calls this for every ClientHello, with or without SNI. Switching the context
        # here gives the connection the newest certificate, key and client CA store (Go's
        # GetConfigForClient); versions, verify mode and ciphers were copied from the listening
        # context when the connection was made, so _apply keeps that one up to date too.
        current = self.config.ssl_context
        if current is not None and current is not listening:
            ssl_object.context = current

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        config, auth = self.config, self.auth
        try:
            if config.tls and config.tls.client_allowed_sans and not _san_allowed(request, config):
                response: web.StreamResponse = _text(403, "Forbidden")
            elif (
                auth is not None
                and request.path != OPEN_PATH
                and not await auth.check(request.headers.get("Authorization"))
            ):
                response = _text(401, "Unauthorized")
                response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
            else:
                response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(config.headers)
            raise
        response.headers.update(config.headers)
        return response

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.reload_if_changed()
            except Exception:  # the watcher must outlive any surprise; the settings stay
                log.exception("web configuration reload failed", file=self.config.path)

    async def reload_if_changed(self) -> bool:
        """Re-read the file when it or a file it names changed; True when new settings apply."""
        signature = _signature(self.config.watched_files())
        if signature == self._signature:
            return False
        self._signature = signature
        path = self.config.path
        try:
            # Off the loop, in a daemon thread, with a deadline: see exporter.blocking.
            load = start_in_daemon_thread(partial(load_web_config, path), "load web config")
            new = await loaded_in_time(load, "web config file", path, self.load_timeout)
            self._check_restart_only(new)
        except ConfigError as exc:
            log.error(
                "web configuration not reloaded, keeping the previous one",
                file=self.config.path,
                error=str(exc),
            )
            return False
        self._apply(new)
        self._signature = _signature(new.watched_files())
        for warning in new.warnings:
            log.warning("web configuration", detail=warning)
        log.info("web configuration reloaded", file=new.path, **describe(new))
        return True

    def _check_restart_only(self, new: WebConfig) -> None:
        # These live in the listening context in ways that cannot be reset in place.
        old = self._initial.tls
        if (old is None) != (new.tls is None):
            raise ConfigError("tls_server_config", "turning TLS on or off needs a restart")
        if old is None or new.tls is None:
            return
        for key in ("cipher_suites", "curve"):
            if getattr(old, key) != getattr(new.tls, key):
                name = "curve_preferences" if key == "curve" else key
                raise ConfigError(f"tls_server_config.{name}", "changing it needs a restart")

    def _apply(self, new: WebConfig) -> None:
        listening, tls = self.ssl_context, new.tls
        if listening is not None and tls is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                listening.minimum_version = tls.min_version
                listening.maximum_version = tls.max_version
            listening.verify_mode = CLIENT_AUTH[tls.client_auth_type]
            if tls.prefer_server_cipher_suites:
                listening.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
            else:
                listening.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        self.auth = BasicAuth(new.users, new.dummy_hash) if new.users else None
        self.config = new


def describe(config: WebConfig) -> dict[str, Any]:
    """The settings worth a log field."""
    tls = config.tls
    return {
        "tls": tls is not None,
        "client_auth_type": tls.client_auth_type if tls else None,
        "users": len(config.users),
        "headers": len(config.headers),
    }


def _signature(paths: tuple[str, ...]) -> tuple[tuple[str, tuple[int, int, int] | None], ...]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((path, None))
        else:
            # The inode catches Kubernetes' symlink swap of a mounted secret.
            out.append((path, (st.st_mtime_ns, st.st_size, st.st_ino)))
    return tuple(out)


def _san_allowed(request: web.Request, config: WebConfig) -> bool:
    assert config.tls is not None and config.tls.client_allowed_sans is not None
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return False
    # Go matches the DNS, e-mail, IP and URI SANs (crypto/x509.Certificate's fields).
    sans = cert.get("subjectAltName", ())
    allowed = config.tls.client_allowed_sans
    return any(
        kind in ("DNS", "email", "URI", "IP Address") and _normal_san(value) in allowed
        for kind, value in sans
    )


def _text(status: int, text: str) -> web.Response:
    # The same body Go's http.Error writes.
    return web.Response(status=status, text=text + "\n")
