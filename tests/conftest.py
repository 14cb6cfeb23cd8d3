"""Fixtures: a simulator with a one-way HMAC account and a hedge-mode Ed25519 account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exporter.simulator.accounts import SimAccount, UMPosition
from exporter.simulator.server import SimulatorThread

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


@pytest.fixture
def ed25519_key(tmp_path: Path) -> tuple[Path, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "hedge.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public


@pytest.fixture
def sim(ed25519_key: tuple[Path, bytes]) -> Iterator[SimulatorThread]:
    with SimulatorThread([oneway_account(), hedge_account(ed25519_key[1])], tick_seconds=0.2) as s:
        yield s


@pytest.fixture
def accounts(ed25519_key: tuple[Path, bytes]) -> list[dict]:
    """Config entries for the two simulated accounts."""
    return [
        {"name": "oneway", "api_key": ONEWAY_KEY, "api_secret": ONEWAY_SECRET},
        {"name": "hedge", "api_key": HEDGE_KEY, "private_key_file": str(ed25519_key[0])},
    ]
