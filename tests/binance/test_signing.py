"""Request signing: Binance's HMAC example, RSA and Ed25519 signatures, key loading."""

from __future__ import annotations

import base64
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from exporter.binance.signing import (
    Ed25519Signer,
    HmacSigner,
    InvalidKeyError,
    RsaSigner,
    signer_from_pem,
)
from tests.helpers import private_pem, signing_key

# The SIGNED endpoint example from Binance's docs:
# https://developers.binance.com/docs/derivatives/portfolio-margin/general-info#signed-endpoint-security
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"

PAYLOAD = "timestamp=1700000000000&recvWindow=5000"


def decode_signature(signature: str) -> bytes:
    return base64.b64decode(unquote(signature), validate=True)


def test_hmac_signature_matches_binance_doc_example() -> None:
    assert HmacSigner(DOC_SECRET).sign(DOC_QUERY) == DOC_SIGNATURE


def test_hmac_signer_kind_is_hmac() -> None:
    assert HmacSigner(DOC_SECRET).kind == "hmac"


def test_rsa_signature_verifies_with_the_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    signature = RsaSigner(rsa_key).sign(PAYLOAD)

    # verify() raises InvalidSignature on a mismatch.
    rsa_key.public_key().verify(
        decode_signature(signature), PAYLOAD.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_rsa_signature_is_url_encoded(rsa_key: rsa.RSAPrivateKey) -> None:
    signature = RsaSigner(rsa_key).sign(PAYLOAD)

    assert not set(signature) & set("+/=")
    assert base64.b64encode(decode_signature(signature)).decode() == unquote(signature)


def test_ed25519_signature_verifies_with_the_public_key(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    signature = Ed25519Signer(ed25519_key).sign(PAYLOAD)

    ed25519_key.public_key().verify(decode_signature(signature), PAYLOAD.encode())


def test_ed25519_signature_is_url_encoded(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    signature = Ed25519Signer(ed25519_key).sign(PAYLOAD)

    assert not set(signature) & set("+/=")
    # 64 raw bytes: base64 ends in one '=' pad, percent-encoded.
    assert signature.endswith("%3D")


def test_ed25519_signature_is_deterministic(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    signer = Ed25519Signer(ed25519_key)

    assert signer.sign(PAYLOAD) == signer.sign(PAYLOAD)


def test_signer_from_pem_loads_rsa(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = signer_from_pem(private_pem(rsa_key))

    assert isinstance(signer, RsaSigner)
    assert signer.kind == "rsa"


def test_signer_from_pem_loads_ed25519(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    signer = signer_from_pem(private_pem(ed25519_key))

    assert isinstance(signer, Ed25519Signer)
    assert signer.kind == "ed25519"


def test_signer_from_pem_signs_like_the_key_it_loaded(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    loaded = signer_from_pem(private_pem(ed25519_key))

    assert loaded.sign(PAYLOAD) == Ed25519Signer(ed25519_key).sign(PAYLOAD)


def test_signer_from_pem_rejects_garbage() -> None:
    garbage = (
        b"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZS1rZXktbWF0ZXJpYWw=\n-----END PRIVATE KEY-----\n"
    )

    with pytest.raises(InvalidKeyError) as caught:
        signer_from_pem(garbage)

    assert "Z2FyYmFnZS1rZXktbWF0ZXJpYWw" not in str(caught.value)
    assert str(caught.value) == "not a PEM private key"


def test_signer_from_pem_rejects_an_encrypted_key(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    pem = private_pem(ed25519_key, serialization.BestAvailableEncryption(b"passphrase"))

    with pytest.raises(InvalidKeyError) as caught:
        signer_from_pem(pem)

    assert str(caught.value) == "encrypted keys are not supported"
    assert pem.decode().splitlines()[1] not in str(caught.value)


def test_signer_from_pem_rejects_an_ec_key() -> None:
    pem = private_pem(signing_key("ec"))

    with pytest.raises(InvalidKeyError) as caught:
        signer_from_pem(pem)

    assert "use RSA or Ed25519" in str(caught.value)
    assert pem.decode().splitlines()[1] not in str(caught.value)


def test_hmac_signer_repr_hides_the_secret() -> None:
    assert DOC_SECRET not in repr(HmacSigner(DOC_SECRET))
    assert DOC_SECRET not in str(HmacSigner(DOC_SECRET))


def test_private_key_signer_reprs_hide_the_key(
    rsa_key: rsa.RSAPrivateKey, ed25519_key: ed25519.Ed25519PrivateKey
) -> None:
    assert repr(RsaSigner(rsa_key)) == "RsaSigner(<private key>)"
    assert repr(Ed25519Signer(ed25519_key)) == "Ed25519Signer(<private key>)"
