"""``tls_server_config`` once validated, and the server SSLContext made from it.

``apply_tls_policy`` is the one place the versions, client verification, ciphers and curve are
set on a context: on the context built at each load, and on reload on the listening one.
"""

from __future__ import annotations

import ipaddress
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from exporter.validation import ConfigError

SECTION = "tls_server_config"
# Go's tls.ClientAuthType names. Python's ssl verifies every client certificate it asks for, so
# the two Go policies that take a certificate without verifying it cannot be expressed.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# Go matches the DNS, e-mail, IP and URI SANs (crypto/x509.Certificate's fields).
SAN_KINDS = ("DNS", "email", "URI", "IP Address")


@dataclass(frozen=True)
class TLSSettings:
    """``tls_server_config``, validated: paths resolved against the web config's directory."""

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


def build_ssl_context(tls: TLSSettings) -> ssl.SSLContext:
    """A server context for ``tls``; every file is read here, so a bad one is a ConfigError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_certificate(ctx, tls)
    _load_client_ca(ctx, tls)
    apply_tls_policy(ctx, tls)
    return ctx


def apply_tls_policy(ctx: ssl.SSLContext, tls: TLSSettings) -> None:
    """Set versions, client verification, ciphers, cipher preference, curve and ALPN on ``ctx``.

    Raises ConfigError naming the key when this OpenSSL cannot do a cipher suite or the curve.
    """
    with warnings.catch_warnings():  # TLSv1/TLSv1_1 are deprecated names, still valid choices
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = tls.min_version
        ctx.maximum_version = tls.max_version
    ctx.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if tls.cipher_suites:
        _set_ciphers(ctx, tls.cipher_suites)
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.curve:
        try:
            ctx.set_ecdh_curve(tls.curve)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"{SECTION}.curve_preferences", f"{tls.curve}: {exc}") from None
    # aiohttp speaks HTTP/1.1 only: say so in ALPN rather than let a client hope for h2.
    ctx.set_alpn_protocols(["http/1.1"])


def _set_ciphers(ctx: ssl.SSLContext, names: tuple[str, ...]) -> None:
    key = f"{SECTION}.cipher_suites"
    try:
        ctx.set_ciphers(":".join(names))
    except ssl.SSLError as exc:
        raise ConfigError(key, str(exc)) from None
    available = {c["name"] for c in ctx.get_ciphers()}
    for name in names:
        if name not in available:
            raise ConfigError(key, f"{name} is not available in this OpenSSL")


def _load_certificate(ctx: ssl.SSLContext, tls: TLSSettings) -> None:
    _check_pem(tls.cert_file, f"{SECTION}.cert_file", _certificates)
    _check_pem(tls.key_file, f"{SECTION}.key_file", _private_key)
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(f"{SECTION}.key_file", f"does not match cert_file: {exc}") from None


def _load_client_ca(ctx: ssl.SSLContext, tls: TLSSettings) -> None:
    if tls.client_ca_file:
        ca = _check_pem(tls.client_ca_file, f"{SECTION}.client_ca_file", _certificates)
        _trust(ctx, ca, f"{SECTION}.client_ca_file")
    elif tls.client_ca:
        try:
            _certificates(tls.client_ca.encode())
        except ValueError as exc:
            raise ConfigError(f"{SECTION}.client_ca", str(exc)) from None
        _trust(ctx, tls.client_ca, f"{SECTION}.client_ca")


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


def normal_san(value: str) -> str:
    """One spelling of an IP address SAN, however the config or the certificate writes it."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value


def peer_san_allowed(peercert: dict[str, Any] | None, allowed: tuple[str, ...]) -> bool:
    """Whether the verified client certificate (``getpeercert()``) has a SAN in ``allowed``."""
    if not peercert:
        return False
    sans = peercert.get("subjectAltName", ())
    return any(kind in SAN_KINDS and normal_san(value) in allowed for kind, value in sans)
