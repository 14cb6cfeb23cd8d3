"""Fixtures: a simulator with a one-way HMAC account and a hedge-mode Ed25519 account, signing
keys and the Prometheus binaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from exporter.simulator.server import SimulatorThread
from tests import helpers
from tests.helpers import (
    HEDGE_KEY,
    ONEWAY_KEY,
    ONEWAY_SECRET,
    PrivateKey,
    hedge_account,
    oneway_account,
    private_pem,
    public_pem,
    signing_key,
    write_key_file,
)


@pytest.fixture(scope="session")
def ed25519_pem() -> str:
    return private_pem(signing_key("ed25519")).decode()


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return private_pem(signing_key("rsa")).decode()


@pytest.fixture(scope="session")
def rsa_key() -> PrivateKey:
    return signing_key("rsa")


@pytest.fixture(scope="session")
def ed25519_key() -> PrivateKey:
    return signing_key("ed25519")


@pytest.fixture
def hedge_key_file(tmp_path: Path, ed25519_pem: str) -> tuple[Path, bytes]:
    """The hedge account's key file and the public key the simulator checks it with."""
    path = write_key_file(tmp_path / "hedge.pem", ed25519_pem)
    return path, public_pem(signing_key("ed25519"))


@pytest.fixture
def sim(hedge_key_file: tuple[Path, bytes]) -> Iterator[SimulatorThread]:
    with SimulatorThread(
        [oneway_account(), hedge_account(hedge_key_file[1])], tick_seconds=0.2
    ) as s:
        yield s


@pytest.fixture
def accounts(hedge_key_file: tuple[Path, bytes]) -> list[dict]:
    """Config entries for the two simulated accounts."""
    return [
        {"name": "oneway", "api_key": ONEWAY_KEY, "api_secret": ONEWAY_SECRET},
        {"name": "hedge", "api_key": HEDGE_KEY, "private_key_file": str(hedge_key_file[0])},
    ]


@pytest.fixture(scope="session")
def promtool() -> str:
    return helpers.promtool()


@pytest.fixture(scope="session")
def prometheus() -> str:
    return helpers.required_binary("prometheus")


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    """server.crt/server.key and clients.crt in tmp_path, as --web.config.file refers to them."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    leaf.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "clients.crt"))
    return tmp_path


@pytest.fixture(scope="session")
def alertmanager() -> str:
    # Debian names the binary after its package.
    return helpers.required_binary("prometheus-alertmanager", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def amtool() -> str:
    return helpers.required_binary("amtool", "prometheus-alertmanager")
