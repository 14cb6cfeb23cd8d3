"""The simulated market: every USDⓈ-M and COIN-M symbol with a mark price that walks.

Binance's UM account endpoint returns one entry per symbol of the whole market (about 400 today),
so the simulator carries a market of the same size: a few real names plus generated ones. The
symbol list does not depend on the seed (a test can name a symbol); only the price walk does.

All money is ``decimal.Decimal`` so that the strings served are exact and a test can recompute
them digit for digit.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)

# Assets valued at 1 USD: Binance values stablecoin collateral at par in uniMMR.
STABLES = frozenset({"USDT", "USDC", "FDUSD", "BUSD"})

# Portfolio Margin collateral rates (haircuts) applied to positive equity of an asset; real ones
# are tiered by amount, a single rate per asset is enough here.
COLLATERAL_RATES: dict[str, Decimal] = {
    "USDT": ONE,
    "USDC": ONE,
    "FDUSD": ONE,
    "BUSD": ONE,
    "BTC": Decimal("0.95"),
    "ETH": Decimal("0.95"),
    "BNB": Decimal("0.95"),
    "SOL": Decimal("0.90"),
    "XRP": Decimal("0.90"),
}
DEFAULT_COLLATERAL_RATE = Decimal("0.80")

DEFAULT_LEVERAGE = 20
UM_QUOTE = "USDT"


@dataclass
class UMSymbol:
    """A USDⓈ-M perpetual, margined and settled in USDT."""

    symbol: str
    base: str
    price_precision: int
    quantity_precision: int
    max_notional: Decimal
    maint_margin_rate: Decimal
    mark: Decimal
    default_leverage: int = DEFAULT_LEVERAGE


@dataclass
class CMSymbol:
    """A COIN-M (inverse) contract: sized in USD per contract, margined in the base coin."""

    symbol: str
    base: str
    contract_size: int
    price_precision: int
    max_qty: Decimal
    maint_margin_rate: Decimal
    mark: Decimal
    default_leverage: int = DEFAULT_LEVERAGE


# (base, mark, price precision, quantity precision, max notional, maintenance margin rate)
_REAL_UM: tuple[tuple[str, str, int, int, int, str], ...] = (
    ("BTC", "65000.00", 2, 3, 80_000_000, "0.004"),
    ("ETH", "3400.00", 2, 3, 50_000_000, "0.004"),
    ("BNB", "580.000", 3, 2, 10_000_000, "0.005"),
    ("SOL", "150.0000", 4, 0, 10_000_000, "0.005"),
    ("XRP", "0.5200", 4, 1, 10_000_000, "0.005"),
    ("DOGE", "0.160000", 6, 0, 10_000_000, "0.005"),
    ("ADA", "0.45000", 5, 0, 5_000_000, "0.005"),
    ("AVAX", "35.0000", 4, 0, 5_000_000, "0.0065"),
    ("LINK", "18.000", 3, 2, 5_000_000, "0.0065"),
    ("DOT", "7.000", 3, 1, 5_000_000, "0.0065"),
    ("LTC", "85.00", 2, 3, 5_000_000, "0.0065"),
    ("TRX", "0.12000", 5, 0, 5_000_000, "0.0065"),
    ("BCH", "480.00", 2, 3, 5_000_000, "0.0065"),
    ("ETC", "27.000", 3, 2, 3_000_000, "0.0065"),
    ("FIL", "6.000", 3, 1, 3_000_000, "0.01"),
    ("ATOM", "8.500", 3, 2, 3_000_000, "0.01"),
    ("NEAR", "6.0000", 4, 0, 3_000_000, "0.01"),
    ("APT", "9.00000", 5, 1, 3_000_000, "0.01"),
    ("ARB", "1.1000", 4, 1, 3_000_000, "0.01"),
    ("OP", "2.50000", 5, 1, 3_000_000, "0.01"),
    ("SUI", "1.20000", 5, 1, 3_000_000, "0.01"),
    ("1000PEPE", "0.0120000", 7, 0, 3_000_000, "0.01"),
    ("1000SHIB", "0.025000", 6, 0, 3_000_000, "0.01"),
    ("UNI", "10.0000", 4, 0, 3_000_000, "0.01"),
    ("AAVE", "95.000", 3, 1, 3_000_000, "0.01"),
    ("TON", "6.5000", 4, 1, 3_000_000, "0.01"),
    ("WIF", "2.500000", 6, 1, 1_000_000, "0.015"),
    ("INJ", "25.000000", 6, 1, 1_000_000, "0.015"),
    ("SEI", "0.50000", 5, 0, 1_000_000, "0.015"),
    ("ORDI", "40.000", 3, 1, 1_000_000, "0.015"),
)

# (symbol, base, contract size in USD, price precision, maxQty (base asset), mmr, basis)
_REAL_CM: tuple[tuple[str, str, int, int, int, str, str], ...] = (
    ("BTCUSD_PERP", "BTC", 100, 1, 1000, "0.004", "1"),
    ("ETHUSD_PERP", "ETH", 10, 2, 5000, "0.005", "1"),
    ("BNBUSD_PERP", "BNB", 10, 3, 5000, "0.005", "1"),
    ("SOLUSD_PERP", "SOL", 10, 3, 5000, "0.005", "1"),
    ("XRPUSD_PERP", "XRP", 10, 4, 10000, "0.005", "1"),
    ("DOGEUSD_PERP", "DOGE", 10, 6, 10000, "0.005", "1"),
    ("ADAUSD_PERP", "ADA", 10, 5, 10000, "0.005", "1"),
    ("LINKUSD_PERP", "LINK", 10, 3, 5000, "0.0065", "1"),
    ("DOTUSD_PERP", "DOT", 10, 3, 5000, "0.0065", "1"),
    ("LTCUSD_PERP", "LTC", 10, 2, 5000, "0.0065", "1"),
    ("BTCUSD_260925", "BTC", 100, 1, 500, "0.004", "1.015"),
    ("ETHUSD_260925", "ETH", 10, 2, 2500, "0.005", "1.015"),
    ("BTCUSD_261225", "BTC", 100, 1, 500, "0.004", "1.03"),
    ("ETHUSD_261225", "ETH", 10, 2, 2500, "0.005", "1.03"),
)

GENERATED_UM = 400
_SYMBOL_LIST_SEED = 0x5EED  # fixed: the symbol list is the same whatever the price seed
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def _generated_um() -> list[UMSymbol]:
    """Deterministic made-up symbols with prices from 0.001 to 500, like the long tail."""
    rng = random.Random(_SYMBOL_LIST_SEED)
    taken = {base for base, *_ in _REAL_UM}
    out: list[UMSymbol] = []
    while len(out) < GENERATED_UM:
        base = "".join(rng.choice(_LETTERS) for _ in range(rng.randint(3, 5)))
        if base in taken:
            continue
        taken.add(base)
        price = 10 ** rng.uniform(-3, math.log10(500))
        magnitude = math.floor(math.log10(price))
        price_precision = min(7, max(2, 4 - magnitude))
        quantity_precision = min(3, max(0, magnitude + 1))
        out.append(
            UMSymbol(
                symbol=base + UM_QUOTE,
                base=base,
                price_precision=price_precision,
                quantity_precision=quantity_precision,
                max_notional=Decimal(rng.choice((250_000, 500_000, 1_000_000, 2_000_000))),
                maint_margin_rate=Decimal(rng.choice(("0.01", "0.015", "0.02", "0.025"))),
                mark=Decimal(repr(price)).quantize(quantum(price_precision)),
            )
        )
    return out


class Market:
    """Mark prices for the whole market, moved by a seeded geometric random walk on ``tick()``."""

    def __init__(self, seed: int = 1, volatility: float = 0.0005) -> None:
        self._rng = random.Random(seed)
        self.volatility = volatility
        # This market's rates (a knob changes them): served by collateralRate, used in uniMMR.
        self.collateral_rates = dict(COLLATERAL_RATES)
        self.um: dict[str, UMSymbol] = {}
        for base, mark, pp, qp, max_notional, mmr in _REAL_UM:
            self.um[base + UM_QUOTE] = UMSymbol(
                symbol=base + UM_QUOTE,
                base=base,
                price_precision=pp,
                quantity_precision=qp,
                max_notional=Decimal(max_notional),
                maint_margin_rate=Decimal(mmr),
                mark=Decimal(mark),
            )
        for generated in _generated_um():
            self.um[generated.symbol] = generated
        self.cm: dict[str, CMSymbol] = {}
        for symbol, base, size, pp, max_qty, mmr, basis in _REAL_CM:
            index = self.um[base + UM_QUOTE].mark
            self.cm[symbol] = CMSymbol(
                symbol=symbol,
                base=base,
                contract_size=size,
                price_precision=pp,
                max_qty=Decimal(max_qty),
                maint_margin_rate=Decimal(mmr),
                mark=(index * Decimal(basis)).quantize(quantum(pp)),
            )
        self.ticks = 0

    def tick(self) -> None:
        """One step of every mark; COIN-M walks on its own, like a perp drifting off its index."""
        for um in self.um.values():
            um.mark = self._step(um.mark, um.price_precision)
        for cm in self.cm.values():
            cm.mark = self._step(cm.mark, cm.price_precision)
        self.ticks += 1

    def _step(self, mark: Decimal, precision: int) -> Decimal:
        factor = math.exp(self._rng.gauss(0.0, self.volatility))
        tick_size = quantum(precision)
        return max(tick_size, (mark * Decimal(f"{factor:.10f}")).quantize(tick_size))

    def set_mark(self, symbol: str, price: Decimal | str) -> None:
        """Pin one mark (until the next tick moves it; freeze prices to keep it)."""
        entry = self.um.get(symbol) or self.cm.get(symbol)
        if entry is None:
            raise KeyError(f"unknown symbol {symbol}")
        mark = Decimal(price).quantize(quantum(entry.price_precision))
        if mark <= 0:
            raise ValueError("a mark price must be positive")
        entry.mark = mark

    def mark(self, symbol: str) -> Decimal:
        entry = self.um.get(symbol) or self.cm.get(symbol)
        if entry is None:
            raise KeyError(f"unknown symbol {symbol}")
        return entry.mark

    def usd_price(self, asset: str) -> Decimal:
        """One unit of ``asset`` in USD: par for stables, else its USDT perpetual's mark."""
        if asset in STABLES:
            return ONE
        um = self.um.get(asset + UM_QUOTE)
        if um is None:
            raise KeyError(f"no {asset}{UM_QUOTE} symbol to value {asset}")
        return um.mark

    def collateral_rate(self, asset: str) -> Decimal:
        """The haircut of ``asset``'s value in adjusted equity (``DEFAULT_COLLATERAL_RATE`` for
        an asset without its own)."""
        return self.collateral_rates.get(asset, DEFAULT_COLLATERAL_RATE)
