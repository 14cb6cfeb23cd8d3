"""Fixtures: a simulator with a one-way HMAC account and a hedge-mode Ed25519 account, signing
keys and the Prometheus binaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator.accounts import SimAccount, UMPosition
from exporter.simulator.server import SimulatorThread
from tests import helpers
from tests.helpers import PrivateKey, private_pem, public_pem, signing_key, write_key_file

ONEWAY_KEY = "oneway-api-key-0123456789"
ONEWAY_SECRET = "oneway-secret-abcdefghijklmnopqrstuvwxyz"
HEDGE_KEY = "hedge-api-key-0123456789"


def oneway_account() -> SimAccount:
    return SimAccount(
        name="oneway",
        api_key=ONEWAY_KEY,
        api_secret=ONEWAY_SECRET,
        mode="one_way",
        balances={"USDT": "25000", "BTC": "0.5", "BNB": "10"},
        um_positions=[
            UMPosition("BTCUSDT", "BOTH", "0.25", "60000", 10),
            UMPosition("ETHUSDT", "BOTH", "-3", "3000", 20),
            # An open order without a position: kept by the zero filter.
            UMPosition("SOLUSDT", "BOTH", "0", "0", 5, open_order_initial_margin="12.5"),
        ],
    )


def hedge_account(public_pem: bytes) -> SimAccount:
    return SimAccount(
        name="hedge",
        api_key=HEDGE_KEY,
        public_key_pem=public_pem,
        mode="hedge",
        balances={"USDT": "50000"},
        um_positions=[
            UMPosition("BTCUSDT", "LONG", "0.1", "61000", 20),
            UMPosition("BTCUSDT", "SHORT", "-0.05", "62000", 20),
            UMPosition("XRPUSDT", "LONG", "1000", "0.5", 10),
        ],
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
