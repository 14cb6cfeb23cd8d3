"""Loading --web.config.file: what is accepted, what is refused (with the key), start-up exit 2."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from pathlib import Path

import bcrypt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from exporter.config import ConfigError
from exporter.web import BasicAuth, WebSecurity, load_web_config
from tests.helpers import WEB_TLS, replace_with_fifo, unblock

HASH = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(rounds=4)).decode()


def load(directory: Path, text: str):
    path = directory / "web.yml"
    path.write_text(text, encoding="utf-8")
    return load_web_config(path)


def test_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert (config.tls, config.ssl_context, dict(config.users), config.headers) == (
        None,
        None,
        {},
        (),
    )


def test_file_paths_are_relative_to_the_web_config(tls_dir: Path) -> None:
    config = load(tls_dir, WEB_TLS)
    assert config.tls is not None
    assert config.tls.cert_file == str(tls_dir / "server.crt")
    assert config.watched_files() == (
        str(tls_dir / "web.yml"),
        str(tls_dir / "server.crt"),
        str(tls_dir / "server.key"),
    )


def test_defaults_are_tls12_to_tls13_without_client_certificates(tls_dir: Path) -> None:
    ctx = load(tls_dir, WEB_TLS).ssl_context
    assert ctx is not None
    assert (ctx.minimum_version, ctx.maximum_version, ctx.verify_mode) == (
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.TLSv1_3,
        ssl.CERT_NONE,
    )


def test_supported_tls_options_reach_the_context(tls_dir: Path) -> None:
    ctx = load(
        tls_dir,
        WEB_TLS
        + """
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: clients.crt
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [X25519]
  prefer_server_cipher_suites: false
""",
    ).ssl_context
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert "ECDHE-RSA-AES128-GCM-SHA256" in {c["name"] for c in ctx.get_ciphers()}
    assert "ECDHE-RSA-AES256-GCM-SHA384" not in {c["name"] for c in ctx.get_ciphers()}
    assert not ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE


@pytest.mark.parametrize("prefix", ["$2y$", "$2b$", "$2a$"])
def test_htpasswd_bcrypt_prefixes_are_accepted(tmp_path: Path, prefix: str) -> None:
    config = load(tmp_path, f"basic_auth_users:\n  alice: '{prefix}{HASH[4:]}'\n")
    assert list(config.users) == ["alice"]


def test_http2_true_is_accepted_with_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, "http_server_config:\n  http2: true\n")
    assert config.warnings == (
        "http_server_config.http2: aiohttp serves HTTP/1.1 only; clients fall back to it",
    )


def test_web_config_with_an_alias_is_refused_like_the_config(tmp_path: Path) -> None:
    # The same reader as --config.file: no anchors or aliases, at most 1 MiB.
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"basic_auth_users:\n  alice: &h '{HASH}'\n  bob: *h\n")

    path = tmp_path / "web.yml"
    assert str(caught.value) == (
        f"{path}: bad YAML at line 2, column 10: anchors and aliases are not allowed"
    )


def test_web_config_over_1_mib_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "#" * (1024 * 1024 + 1))

    assert str(caught.value) == f"web config file {tmp_path / 'web.yml'} is larger than 1 MiB"


def test_web_config_that_blocks_on_read_is_given_up_after_the_time_limit(tmp_path: Path) -> None:
    before = load(tmp_path, "")
    security = WebSecurity(before, load_timeout=0.3)
    fifo = replace_with_fifo(tmp_path / "web.yml")
    try:
        started = time.monotonic()
        reloaded = asyncio.run(security.reload_if_changed())
        took = time.monotonic() - started
    finally:
        unblock(fifo)

    assert reloaded is False
    assert took < 3
    assert security.config is before


# (web config text, the key path the error must start with)
REFUSED = {
    "unknown top-level key": ("tls_config: {}\n", "tls_config: unknown key"),
    "unknown tls key": (WEB_TLS + "  ciphers: []\n", "tls_server_config.ciphers: unknown key"),
    "rate limiting": ("rate_limit:\n  burst: 1\n", "rate_limit: rate limiting is not supported"),
    "inline certificate": (
        "tls_server_config:\n  cert: x\n  key_file: server.key\n",
        "tls_server_config.cert: inline certificates are not supported",
    ),
    "missing key_file": (
        "tls_server_config:\n  cert_file: server.crt\n",
        "tls_server_config.key_file: is required",
    ),
    "unreadable cert": (
        "tls_server_config:\n  cert_file: nowhere.crt\n  key_file: server.key\n",
        "tls_server_config.cert_file: cannot read",
    ),
    "key in place of the cert": (
        "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
        "tls_server_config.cert_file:",
    ),
    "cert in place of the key": (
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n",
        "tls_server_config.key_file:",
    ),
    "RequireAnyClientCert": (
        WEB_TLS + "  client_auth_type: RequireAnyClientCert\n  client_ca_file: clients.crt\n",
        "tls_server_config.client_auth_type: RequireAnyClientCert accepts a client certificate "
        "without verifying it",
    ),
    "RequestClientCert": (
        WEB_TLS + "  client_auth_type: RequestClientCert\n",
        "tls_server_config.client_auth_type: RequestClientCert",
    ),
    "verification without a CA": (
        WEB_TLS + "  client_auth_type: RequireAndVerifyClientCert\n",
        "tls_server_config.client_ca_file: is required",
    ),
    "a CA with NoClientCert": (
        WEB_TLS + "  client_ca_file: clients.crt\n",
        "tls_server_config.client_auth_type: a client CA is set",
    ),
    "SANs without required certificates": (
        WEB_TLS + "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: clients.crt\n"
        "  client_allowed_sans: [a]\n",
        "tls_server_config.client_allowed_sans: needs client_auth_type",
    ),
    "TLS 1.1 as a maximum below the minimum": (
        WEB_TLS + "  max_version: TLS11\n",
        "tls_server_config.min_version: is above max_version",
    ),
    "unknown TLS version": (WEB_TLS + "  min_version: SSL3\n", "tls_server_config.min_version:"),
    "TLS 1.3 cipher suite": (
        WEB_TLS + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
        "tls_server_config.cipher_suites: TLS_AES_128_GCM_SHA256: TLS 1.3 suites",
    ),
    "unknown cipher suite": (
        WEB_TLS + "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
        "tls_server_config.cipher_suites: unknown cipher suite",
    ),
    "two curves": (
        WEB_TLS + "  curve_preferences: [X25519, CurveP256]\n",
        "tls_server_config.curve_preferences: Python's ssl can restrict the handshake to one",
    ),
    "header outside the toolkit's list": (
        "http_server_config:\n  headers:\n    Content-Type: text/html\n",
        "http_server_config.headers.Content-Type: HTTP header 'Content-Type' can not be",
    ),
    "WWW-Authenticate header": (
        "http_server_config:\n  headers:\n    WWW-Authenticate: Basic\n",
        "http_server_config.headers.WWW-Authenticate:",
    ),
    "X-Frame-Options value": (
        "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin",
    ),
    "http2 not a boolean": ("http_server_config:\n  http2: maybe\n", "http_server_config.http2"),
    "plaintext password": (
        "basic_auth_users:\n  alice: hunter2\n",
        "basic_auth_users.alice: not a bcrypt hash",
    ),
    "md5 htpasswd hash": (
        "basic_auth_users:\n  alice: $apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n",
        "basic_auth_users.alice: not a bcrypt hash",
    ),
    "colon in a user name": (
        f"basic_auth_users:\n  'a:b': '{HASH}'\n",
        "basic_auth_users.a:b: a user name cannot contain ':'",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_refused(tls_dir: Path, case: str) -> None:
    text, expected = REFUSED[case]
    with pytest.raises(ConfigError) as raised:
        load(tls_dir, text)
    assert str(raised.value).startswith(expected)
    assert "hunter2" not in str(raised.value)


def test_encrypted_key_is_refused_without_prompting(tls_dir: Path) -> None:
    key = serialization.load_pem_private_key((tls_dir / "server.key").read_bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    )
    (tls_dir / "server.key").write_bytes(encrypted)
    with pytest.raises(ConfigError, match=r"^tls_server_config\.key_file: .* encrypted keys"):
        load(tls_dir, WEB_TLS)


def test_key_of_another_certificate_is_refused(tls_dir: Path) -> None:
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(tls_dir / "server.key"))
    with pytest.raises(ConfigError, match=r"^tls_server_config\.key_file: does not match"):
        load(tls_dir, WEB_TLS)


def test_password_longer_than_bcrypt_reads_is_refused_without_bcrypt() -> None:
    auth = BasicAuth({"alice": HASH.encode()}, HASH.encode())
    header = "Basic " + base64.b64encode(b"alice:" + b"w" * 73).decode()
    assert asyncio.run(auth.check(header)) is False
    assert auth.bcrypt_checks == 0


def test_user_name_that_is_not_utf8_is_refused_like_any_unknown_user() -> None:
    auth = BasicAuth({"alice": HASH.encode()}, HASH.encode())
    header = "Basic " + base64.b64encode(b"\xff\xfe:wonderland").decode()
    assert asyncio.run(auth.check(header)) is False
    assert auth.bcrypt_checks == 1


# -- the command line ---------------------------------------------------------------------------
