"""Fixtures for the web layer's tests: a TLS directory as --web.config.file refers to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    """server.crt/server.key and clients.crt in tmp_path."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    leaf.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "clients.crt"))
    return tmp_path
