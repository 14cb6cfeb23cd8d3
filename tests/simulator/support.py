"""The simulator tests' accounts and their signing client (the fixtures are in conftest.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from exporter.binance.signing import Ed25519Signer, HmacSigner, RsaSigner, Signer
from exporter.simulator.accounts import CMPosition, SimAccount, UMPosition
from exporter.simulator.server import SimulatorThread
from tests.helpers import public_pem, signing_key

HMAC_SECRET = "hmac-secret-0123456789abcdef"


KEYS = {"hmac": "hmacKey0123456789", "rsa": "rsaKey0123456789", "ed": "edKey0123456789"}


SIGNERS: dict[str, Signer] = {
    "hmac": HmacSigner(HMAC_SECRET),
    "rsa": RsaSigner(signing_key("rsa")),
    "ed": Ed25519Signer(signing_key("ed25519")),
}


def make_accounts() -> list[SimAccount]:
    """Fresh accounts (the simulator mutates them): one-way HMAC, one-way RSA, hedge Ed25519."""
    return [
        SimAccount(
            name="hmac",
            api_key=KEYS["hmac"],
            api_secret=HMAC_SECRET,
            balances={"USDT": "2000", "BTC": "0.05"},
            cm_balances={"BTC": "0.01"},
            um_positions=[
                UMPosition("BTCUSDT", "BOTH", "0.5", "60000", 10),
                UMPosition("ETHUSDT", "BOTH", "-3", "3500", 5),
                UMPosition("LINKUSDT", "BOTH", "0", "0", 10, open_order_initial_margin="12.5"),
            ],
            cm_positions=[CMPosition("BTCUSD_PERP", "BOTH", "20", "64000", 20)],
        ),
        SimAccount(
            name="rsa",
            api_key=KEYS["rsa"],
            public_key_pem=public_pem(signing_key("rsa")),
            balances={"USDT": "1000"},
        ),
        SimAccount(
            name="ed",
            api_key=KEYS["ed"],
            public_key_pem=public_pem(signing_key("ed25519")),
            mode="hedge",
            balances={"USDT": "20000"},
            um_positions=[
                UMPosition("BTCUSDT", "LONG", "0.2", "64000", 20),
                UMPosition("BTCUSDT", "SHORT", "-0.1", "66000", 20),
                UMPosition("SOLUSDT", "LONG", "10", "140", 5),
            ],
        ),
    ]


@dataclass
class Papi:
    """A test's view of one simulator: its knobs plus a signing HTTP client."""

    sim: SimulatorThread
    http: httpx.Client
    keys = KEYS
    signers = SIGNERS

    def get(
        self,
        path: str,
        account: str = "hmac",
        *,
        params: dict[str, str] | None = None,
        timestamp: int | None = None,
        recv_window: int | None = None,
        api_key: str | None = None,
        signer: Signer | None = None,
        after_signature: str = "",
        timeout: float | None = None,
    ) -> httpx.Response:
        """A signed GET exactly as Binance wants it; the keywords break one rule at a time."""
        query = dict(params or {})
        if recv_window is not None:
            query["recvWindow"] = str(recv_window)
        query["timestamp"] = str(int(time.time() * 1000) if timestamp is None else timestamp)
        payload = urlencode(query)
        signature = (signer or SIGNERS[account]).sign(payload)
        url = f"{path}?{payload}&signature={signature}{after_signature}"
        headers = {"X-MBX-APIKEY": KEYS[account] if api_key is None else api_key}
        return self.http.get(url, headers=headers, timeout=timeout or 5.0)

    def json(self, path: str, account: str = "hmac", **kwargs: Any) -> Any:
        reply = self.get(path, account, **kwargs)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def error(self, reply: httpx.Response) -> tuple[int, int, str]:
        body = reply.json()
        return reply.status_code, body["code"], body["msg"]

    def weight(self, reply: httpx.Response) -> int:
        return int(reply.headers["X-MBX-USED-WEIGHT-1M"])
