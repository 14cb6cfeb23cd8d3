"""The TLS policy on reload: the listening context gets what the new file says, as at start-up."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from exporter.web import WebConfig, WebSecurity, load_web_config

TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
CIPHER = "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"


def write(directory: Path, text: str) -> Path:
    path = directory / "web.yml"
    path.write_text(text, encoding="utf-8")
    return path


def reload(security: WebSecurity, text: str) -> WebConfig:
    write(Path(security.config.path).parent, text)
    assert asyncio.run(security.reload_if_changed()) is True
    return security.config


def test_reload_sets_versions_client_verification_and_preference_on_the_listening_context(
    tls_dir: Path,
) -> None:
    security = WebSecurity(load_web_config(write(tls_dir, TLS)))
    reload(
        security,
        TLS
        + "  client_auth_type: VerifyClientCertIfGiven\n"
        + "  client_ca_file: clients.crt\n"
        + "  min_version: TLS13\n"
        + "  prefer_server_cipher_suites: false\n",
    )
    listening = security.ssl_context
    assert listening is not None
    assert (listening.minimum_version, listening.maximum_version, listening.verify_mode) == (
        ssl.TLSVersion.TLSv1_3,
        ssl.TLSVersion.TLSv1_3,
        ssl.CERT_OPTIONAL,
    )
    assert not listening.options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_reload_keeps_the_configured_cipher_suites_on_the_listening_context(
    tls_dir: Path,
) -> None:
    security = WebSecurity(load_web_config(write(tls_dir, TLS + CIPHER)))
    new = reload(security, TLS + CIPHER + "  max_version: TLS12\n")
    listening = security.ssl_context
    assert listening is not None and new.ssl_context is not None
    assert [c["name"] for c in listening.get_ciphers()] == [
        c["name"] for c in new.ssl_context.get_ciphers()
    ]
    assert "ECDHE-RSA-AES256-GCM-SHA384" not in {c["name"] for c in listening.get_ciphers()}
