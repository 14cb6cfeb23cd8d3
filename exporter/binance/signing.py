"""Request signing for Binance's SIGNED (USER_DATA) endpoints.

Binance signs the exact query string that is sent, with ``signature`` appended last:
https://developers.binance.com/docs/derivatives/portfolio-margin/general-info#signed-endpoint-security
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Protocol
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa


class Signer(Protocol):
    """Turns a query string into the value of its ``signature`` parameter (already URL-safe)."""

    kind: str

    def sign(self, payload: str) -> str: ...


class HmacSigner:
    kind = "hmac"

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "HmacSigner(<secret>)"


class RsaSigner:
    kind = "rsa"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key

    def sign(self, payload: str) -> str:
        raw = self._key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())
        # Base64 has '+', '/' and '=', which must be percent-encoded in a query string.
        return quote(base64.b64encode(raw).decode(), safe="")

    def __repr__(self) -> str:
        return "RsaSigner(<private key>)"


class Ed25519Signer:
    kind = "ed25519"

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    def sign(self, payload: str) -> str:
        return quote(base64.b64encode(self._key.sign(payload.encode())).decode(), safe="")

    def __repr__(self) -> str:
        return "Ed25519Signer(<private key>)"


class InvalidKeyError(ValueError):
    """A PEM that is not an unencrypted RSA or Ed25519 private key."""


def signer_from_pem(pem: bytes) -> RsaSigner | Ed25519Signer:
    """Load an RSA or Ed25519 private key; the message never echoes the key material."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        reason = "encrypted keys are not supported" if "password" in str(exc).lower() else ""
        raise InvalidKeyError(reason or "not a PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return RsaSigner(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(key)
    raise InvalidKeyError(f"unsupported key type {type(key).__name__}; use RSA or Ed25519")
