"""Two sample accounts for ``--demo`` and manual runs: one-way/HMAC and hedge/Ed25519.

Both start with uniMMR far above 1.5 (NORMAL), so a demo dashboard starts green and only the
scenario knobs make it move. Money still moves on its own: loans accrue interest, funding is
paid every ``DEMO_FUNDING_SECONDS`` (so the hedge account's COIN-M ETH wallet, which starts at
zero, goes negative now and then until the next round repays it), a small trade books a
commission every ``DEMO_TRADE_SECONDS`` and Binance forces an order (a UM liquidation, a UM
auto-deleveraging, a margin liquidation in turn) every ``DEMO_LIQUIDATION_SECONDS``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exporter.simulator.accounts import CMPosition, SimAccount, UMPosition
from exporter.simulator.books import CrossMargin
from exporter.simulator.market import Market, quantum
from exporter.simulator.server import Simulator

if TYPE_CHECKING:
    from exporter.config import Config

# The demo moves fast: what polls every minute or five by default polls every few seconds here,
# so loans, funding, ADL ranks and forced orders show within seconds. Both accounts plan 4212
# weight a minute, within the 6000 Binance (and the simulator) allow one IP.
DEMO_COLLECTORS: list[str | dict[str, str | float]] = [
    "um_account",
    "account",
    "um_position_risk",
    "cm_account",
    "cm_position_risk",
    {"name": "balance", "interval_seconds": 5},
    {"name": "um_adl_quantile", "interval_seconds": 5},
    {"name": "cm_adl_quantile", "interval_seconds": 5},
    {"name": "um_income", "interval_seconds": 10},
    {"name": "cm_income", "interval_seconds": 10},
    {"name": "um_force_orders", "interval_seconds": 10},
    {"name": "cm_force_orders", "interval_seconds": 10},
    {"name": "margin_force_orders", "interval_seconds": 10},
]
# The process-wide collateral rates, every 10 s (300 weight a minute on the SAPI budget), so a
# rate lowered with the set_collateral_rate knob shows at once.
DEMO_COLLATERAL_RATE: dict[str, object] = {"collateral_rate": {"interval_seconds": 10}}
DEMO_POLL_INTERVAL_SECONDS = 2
DEMO_MAX_WEIGHT_PER_MINUTE = 6000
DEMO_FUNDING_SECONDS = 8.0
DEMO_TRADE_SECONDS = 5.0
DEMO_LIQUIDATION_SECONDS = 20.0


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
        cross_margin={
            "USDC": CrossMargin(free=Decimal("150"), borrowed=Decimal("2000")),
            "BTC": CrossMargin(free=Decimal("0.02")),
        },
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
    eth_entry = (market.cm["ETHUSD_PERP"].mark * Decimal("1.004")).quantize(quantum(2))
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
        cm_balances={"ETH": Decimal(0)},
        um_positions=hedge_positions,
        cm_positions=[CMPosition("ETHUSD_PERP", "SHORT", Decimal(-20), eth_entry, 10)],
        cross_margin={
            "USDT": CrossMargin(free=Decimal("3000"), locked=Decimal("250")),
            "ETH": CrossMargin(free=Decimal("0.001"), borrowed=Decimal("0.5")),
        },
    )
    credentials = [
        DemoCredentials(one_way.name, one_way.api_key, api_secret=secret),
        DemoCredentials(hedge.name, hedge.api_key, private_key_pem=private_pem),
    ]
    return [one_way, hedge], credentials


def demo_simulator(accounts: list[SimAccount], **options: Any) -> Simulator:
    """A simulator of the demo accounts with funding, trading and forced orders running."""
    options.setdefault("funding_seconds", DEMO_FUNDING_SECONDS)
    options.setdefault("trade_seconds", DEMO_TRADE_SECONDS)
    options.setdefault("liquidation_seconds", DEMO_LIQUIDATION_SECONDS)
    return Simulator(accounts, **options)


async def start_demo(host: str = "127.0.0.1", port: int = 0) -> tuple[Simulator, Config]:
    """A started simulator with the demo accounts, and an exporter config that polls it.

    This is the only place the simulator package touches the exporter's own code, and only
    to hand ``--demo`` a config: the simulator checks signatures with its own code.
    """
    from exporter.config import parse_config

    accounts, credentials = demo_accounts()
    simulator = demo_simulator(accounts)
    await simulator.start(host, port)
    # Keys stay in memory (inline in the config): a read-only root filesystem (no writable
    # /tmp) still runs the demo.
    config = parse_config(
        {
            "base_url": simulator.base_url,
            "time_url": simulator.time_url,
            "poll_interval_seconds": DEMO_POLL_INTERVAL_SECONDS,
            "max_weight_per_minute": DEMO_MAX_WEIGHT_PER_MINUTE,
            "collectors": DEMO_COLLECTORS,
            **DEMO_COLLATERAL_RATE,
            "sapi_base_url": simulator.base_url,
            # Pushed events too: a falling uniMMR shows as riskLevelChange events at once.
            "user_data_stream": True,
            "stream_url": simulator.stream_url,
            # Every mark each second, on one socket per market.
            "market_stream": True,
            "um_market_stream_url": simulator.um_market_stream_url,
            "cm_market_stream_url": simulator.cm_market_stream_url,
            "accounts": [_account_entry(c) for c in credentials],
        },
        {},
    )
    return simulator, config


def _account_entry(credentials: DemoCredentials) -> dict[str, str]:
    entry = {"name": credentials.name, "api_key": credentials.api_key}
    if credentials.private_key_pem is not None:
        entry["private_key"] = credentials.private_key_pem.decode()
    else:
        assert credentials.api_secret is not None
        entry["api_secret"] = credentials.api_secret
    return entry
