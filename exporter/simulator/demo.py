"""Two sample accounts for ``--demo`` and manual runs: one-way/HMAC and hedge/Ed25519.

Both start with uniMMR far above 1.5 (NORMAL), so a demo dashboard starts green and only the
scenario knobs make it move.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exporter.simulator.accounts import CMPosition, SimAccount, UMPosition
from exporter.simulator.market import Market, quantum
from exporter.simulator.server import Simulator

if TYPE_CHECKING:
    from exporter.config import Config

DEMO_COLLECTORS = ["um_account", "account", "um_position_risk", "cm_account", "cm_position_risk"]
DEMO_POLL_INTERVAL_SECONDS = 2


@dataclass(frozen=True)
class DemoCredentials:
    """What the exporter needs to sign for one demo account (secret or private key PEM)."""

    name: str
    api_key: str
    api_secret: str | None = None
    private_key_pem: bytes | None = None


# (symbol, side, notional in USDT: signed, leverage)
_ONE_WAY = (
    ("BTCUSDT", "BOTH", 30_000, 10),
    ("ETHUSDT", "BOTH", -20_000, 10),
    ("SOLUSDT", "BOTH", 8_000, 5),
    ("XRPUSDT", "BOTH", 5_000, 5),
    ("DOGEUSDT", "BOTH", -4_000, 5),
)
_HEDGE_SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "DOTUSDT",
    "LTCUSDT",
    "TRXUSDT",
)


def _um(
    market: Market, symbol: str, side: str, notional: int, leverage: int, skew: str
) -> UMPosition:
    """A position of about ``notional`` USDT, entered ``skew`` away from today's mark."""
    sym = market.um[symbol]
    amount = (Decimal(notional) / sym.mark).quantize(quantum(sym.quantity_precision))
    entry = (sym.mark * Decimal(skew)).quantize(quantum(sym.price_precision))
    return UMPosition(symbol, side, amount, entry, leverage)


def demo_accounts() -> tuple[list[SimAccount], list[DemoCredentials]]:
    """The accounts to serve and, in the same order, the credentials to configure.

    The HMAC secret and the Ed25519 key are made fresh on each call: nothing here is a secret
    worth keeping, and nothing stale can leak from a checked-in file.
    """
    market = Market()  # initial marks do not depend on the seed
    secret = secrets.token_hex(32)
    one_way = SimAccount(
        name="demo-oneway",
        api_key="demo" + secrets.token_hex(30),
        api_secret=secret,
        mode="one_way",
        balances={"USDT": Decimal("6000"), "BTC": Decimal("0.1"), "BNB": Decimal("5")},
        cm_balances={"BTC": Decimal("0.05")},
        um_positions=[
            *(
                _um(market, sym, side, notional, lev, "0.99" if i % 2 else "1.01")
                for i, (sym, side, notional, lev) in enumerate(_ONE_WAY)
            ),
            # An open order without a position: zero amount, some open-order margin.
            UMPosition("LINKUSDT", "BOTH", Decimal(0), Decimal(0), 10, Decimal("25.5")),
        ],
        cm_positions=[
            CMPosition("BTCUSD_PERP", "BOTH", Decimal(10), market.cm["BTCUSD_PERP"].mark, 20)
        ],
    )

    private_key = ed25519.Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hedge_positions = []
    for i, symbol in enumerate(_HEDGE_SYMBOLS):
        hedge_positions.append(_um(market, symbol, "LONG", 6_000 + 500 * i, 10, "0.995"))
        if i < 8:  # 12 longs and 8 shorts: 20 open positions
            hedge_positions.append(_um(market, symbol, "SHORT", -(3_000 + 250 * i), 10, "1.004"))
    hedge = SimAccount(
        name="demo-hedge",
        api_key="demo" + secrets.token_hex(30),
        public_key_pem=public_pem,
        mode="hedge",
        balances={"USDT": Decimal("15000"), "USDC": Decimal("5000"), "ETH": Decimal("2")},
        um_positions=hedge_positions,
    )
    credentials = [
        DemoCredentials(one_way.name, one_way.api_key, api_secret=secret),
        DemoCredentials(hedge.name, hedge.api_key, private_key_pem=private_pem),
    ]
    return [one_way, hedge], credentials


async def start_demo(host: str = "127.0.0.1", port: int = 0) -> tuple[Simulator, Config]:
    """A started simulator with the demo accounts, and an exporter config that polls it.

    This is the only place the simulator package touches the exporter's own code, and only
    to hand ``--demo`` a config: the simulator checks signatures with its own code.
    """
    from dataclasses import replace

    from exporter.config import Secret, make_signer, parse_config

    accounts, credentials = demo_accounts()
    simulator = Simulator(accounts)
    await simulator.start(host, port)
    # Keys stay in memory: a read-only root filesystem (no writable /tmp) still runs the demo.
    # The config is validated with a placeholder secret, then given the real key material.
    config = parse_config(
        {
            "base_url": simulator.base_url,
            "time_url": simulator.time_url,
            "poll_interval_seconds": DEMO_POLL_INTERVAL_SECONDS,
            "collectors": DEMO_COLLECTORS,
            # Pushed events too: a falling uniMMR shows as riskLevelChange events at once.
            "user_data_stream": True,
            "stream_url": simulator.stream_url,
            "accounts": [
                {"name": c.name, "api_key": c.api_key, "api_secret": c.api_secret or "pending"}
                for c in credentials
            ],
        },
        {},
    )
    keyed = []
    for account, c in zip(config.accounts, credentials, strict=True):
        if c.private_key_pem is not None:
            pem = Secret(c.private_key_pem.decode())
            account = replace(
                account, api_secret=None, private_key_pem=pem, signer=make_signer(None, pem)
            )
        keyed.append(account)
    return simulator, replace(config, accounts=tuple(keyed))
