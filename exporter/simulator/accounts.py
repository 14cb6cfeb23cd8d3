"""Simulated Portfolio Margin accounts and the exact payloads Binance would serve for them.

Every figure is derived from the account's wallet, its positions and the market's marks, so the
numbers served by the four endpoints agree with each other the way Binance's do:

* UM position (USDT-margined): ``unrealizedProfit = (mark - entry) * amt``,
  ``notional = mark * amt``, ``positionInitialMargin = |notional| / leverage``,
  ``maintMargin = |notional| * mmr``, ``initialMargin = positionInitialMargin + openOrderIM``.
* COIN-M position (inverse, ``amt`` in contracts of ``contract_size`` USD), in the base coin:
  ``notional = amt * size / mark``, ``unrealizedProfit = amt * size * (1/entry - 1/mark)``,
  margins as above on ``|notional|``.
* UM asset USDT carries the sums over UM positions; other UM assets have zero margins.
* Account (USD): per asset, ``value = (UM wallet + UM PnL + CM wallet + CM PnL + cross margin
  free + locked - borrowed - interest) * usd price``;
  ``actualEquity = sum(value)``; ``accountEquity = sum(value * collateral rate)`` where the
  rate applies to positive values only (a debt counts in full); ``accountMaintMargin`` and
  ``accountInitialMargin`` are UM plus CM margins in USD; ``uniMMR = equity / maint``.
* ``uniMMR`` is truncated (ROUND_DOWN) to 8 decimals from the 8-decimal equity and maintenance
  strings that are served, so ``Decimal(equity) / Decimal(maint)`` truncated gives it exactly.
  With no maintenance margin it is ``NO_MAINT_UNI_MMR``, served as "99999999": the sentinel live
  PM accounts without positions return (rather than a division by zero or "0").
* ``accountStatus`` follows Binance's published uniMMR levels: above 1.5 NORMAL, above 1.2
  MARGIN_CALL, above 1.05 REDUCE_ONLY, above 1.0 FORCE_LIQUIDATION (liquidation, as the account
  stream reports it), 1.0 and below BANKRUPTED. ``status_override`` serves any string instead:
  SUPPLY_MARGIN and ACTIVE_LIQUIDATION, which no level maps to, or one Binance has yet to add.
* ``breakEvenPrice = entry * (1 + BREAK_EVEN_FEE)`` for a long, ``entry * (1 - BREAK_EVEN_FEE)``
  for a short, 0 when flat: the entry price moved by the fees of a round trip. The fee, 0.04% of
  the entry price, is the ratio a live BTCUSDT reply shows (entry "44525.0", break-even
  "44542.81"); Binance's real figure depends on the account's fee tier.
* UM ``liquidationPrice = mark - (accountEquity - accountMaintMargin) / amt``: the mark at which,
  everything else held, uniMMR would reach 1 (to first order: it ignores that maintenance margin
  moves with the mark). "0" when there is no position or the price would not be positive, which
  is how Binance says "no liquidation price". COIN-M: the same with the position's exposure in
  the coin (its notional value) in place of ``amt``.
* Position risk rows are the open positions; with ``flat_rows`` (off by default) also flat rows
  as Binance's examples show them: every symbol of the market in one-way mode, the other side of
  each symbol with a position in hedge mode. A flat row keeps a leftover ``liquidationPrice``:
  ``FLAT_ROW_LIQUIDATION`` of the mark (Binance's example has "6170.20509059" on a flat row at a
  mark of "6679.50671178"), a number that means nothing for a side without a position.
* Every other money figure is rounded half-up to 8 decimals; sums are taken over the rounded
  figures, so a test can add up what was served and get the served total exactly.
* Numbers are spelled as live PM replies spell them (``Spelling``, style ``live``): trailing
  zeros trimmed, at least one decimal ("0.0", "45464.1735922", "500000.0"), amounts to the
  symbol's quantity precision trimmed the same way ("0.01"), COIN-M contracts as integers. Style
  ``padded`` spells them as Binance's doc examples do: money to 8 decimals ("0.00000000"),
  amounts to the quantity precision ("0.250"), prices as entered. Flat full-market entries keep
  the spellings both show ("0", "0.0", "0.00000000") in either style.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Generic, Literal, TypeVar, get_args
from urllib.parse import unquote

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from exporter.simulator.books import CrossMargin, ForceOrderBook, IncomeBook
from exporter.simulator.market import (
    UM_QUOTE,
    ZERO,
    CMSymbol,
    Market,
    UMSymbol,
    quantum,
)

Mode = Literal["one_way", "hedge"]
NumberStyle = Literal["live", "padded"]
NUMBER_STYLES: tuple[NumberStyle, ...] = get_args(NumberStyle)
PositionKey = tuple[str, str]  # (symbol, positionSide)
S = TypeVar("S", "UMSymbol", "CMSymbol")

Q8 = quantum(8)
NO_MAINT_UNI_MMR = Decimal("99999999")
MARGIN_CALL_AT = Decimal("1.5")
REDUCE_ONLY_AT = Decimal("1.2")
LIQUIDATION_AT = Decimal("1.05")
BANKRUPTCY_AT = Decimal("1.0")
BREAK_EVEN_FEE = Decimal("0.0004")
FLAT_ROW_LIQUIDATION = Decimal("0.924")

SIDES: dict[str, tuple[str, ...]] = {"one_way": ("BOTH",), "hedge": ("LONG", "SHORT")}


def q8(value: Decimal) -> Decimal:
    return value.quantize(Q8, rounding=ROUND_HALF_UP)


def fmt(value: Decimal, places: int = 8) -> str:
    """A fixed-point decimal string; never "-0.000" (Binance does not send negative zeros)."""
    out = value.quantize(quantum(places), rounding=ROUND_HALF_UP)
    if out.is_zero():
        out = out.copy_abs()
    return format(out, "f")


def plain(value: Decimal) -> str:
    """A Decimal as given, without exponent ("0.00001" rather than "1E-5")."""
    return format(value, "f")


def trimmed(text: str) -> str:
    """Trailing zeros dropped, one decimal kept: "25.50000000" -> "25.5", "60000" -> "60000.0"."""
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.rstrip('0') or '0'}"


@dataclass(frozen=True)
class Spelling:
    """How the served decimals are written (see the module doc): ``live`` or ``padded``."""

    style: NumberStyle = "live"

    def __post_init__(self) -> None:
        if self.style not in NUMBER_STYLES:
            raise ValueError(f"number style must be one of {NUMBER_STYLES}, not {self.style!r}")

    def money(self, value: Decimal) -> str:
        """An 8-decimal figure: "0.00000000" padded, "0.0" live."""
        text = fmt(value)
        return text if self.style == "padded" else trimmed(text)

    def amount(self, value: Decimal, places: int) -> str:
        """A position amount at the symbol's quantity precision ("0.250" or "0.25")."""
        text = fmt(value, places)
        return text if self.style == "padded" or places == 0 else trimmed(text)

    def price(self, value: Decimal) -> str:
        """A price or limit kept as entered: "60000" padded, "60000.0" live."""
        text = plain(value)
        return text if self.style == "padded" else trimmed(text)


LIVE = Spelling()


def status_for(uni_mmr: Decimal) -> str:
    if uni_mmr > MARGIN_CALL_AT:
        return "NORMAL"
    if uni_mmr > REDUCE_ONLY_AT:
        return "MARGIN_CALL"
    if uni_mmr > LIQUIDATION_AT:
        return "REDUCE_ONLY"
    if uni_mmr > BANKRUPTCY_AT:
        return "FORCE_LIQUIDATION"
    return "BANKRUPTED"


@dataclass
class UMPosition:
    """One UM position; ``amount`` is signed and zero for an open order without a position."""

    symbol: str
    side: str
    amount: Decimal
    entry_price: Decimal
    leverage: int = 20
    open_order_initial_margin: Decimal = ZERO
    update_time: int = 0  # ms; set when the simulator opens it

    def __post_init__(self) -> None:
        self.amount = Decimal(self.amount)
        self.entry_price = Decimal(self.entry_price)
        self.open_order_initial_margin = Decimal(self.open_order_initial_margin)


@dataclass
class CMPosition(UMPosition):
    """One COIN-M position: the same fields, ``amount`` in contracts (signed)."""


@dataclass
class UniMMRRamp:
    """Drives uniMMR linearly from ``start`` to ``end``, then holds ``end`` until cleared."""

    start: float
    end: float
    started_at: float  # simulator wall clock, seconds
    duration: float

    def target(self, now: float) -> Decimal:
        progress = (
            1.0
            if self.duration <= 0
            else min(1.0, max(0.0, (now - self.started_at) / self.duration))
        )
        return Decimal(repr(self.start + (self.end - self.start) * progress))


@dataclass
class SimAccount:
    """A PM account: credentials, position mode, wallets and positions.

    ``balances`` is the UM/margin wallet per asset, ``cm_balances`` the COIN-M wallet per coin.
    Exactly one credential: ``api_secret`` (HMAC) or ``public_key_pem`` (RSA or Ed25519).
    """

    name: str
    api_key: str
    api_secret: str | None = None
    public_key_pem: bytes | None = None
    mode: Mode = "one_way"
    balances: dict[str, Decimal] = field(default_factory=dict)
    cm_balances: dict[str, Decimal] = field(default_factory=dict)
    um_positions: list[UMPosition] = field(default_factory=list)
    cm_positions: list[CMPosition] = field(default_factory=list)
    status_override: str | None = None
    update_time: int = 0  # ms of the last wallet change, served as the assets' updateTime
    ramp: UniMMRRamp | None = None
    cross_margin: dict[str, CrossMargin] = field(default_factory=dict)
    um_income: IncomeBook = field(default_factory=IncomeBook)
    cm_income: IncomeBook = field(default_factory=IncomeBook)
    force_orders: ForceOrderBook = field(default_factory=ForceOrderBook)

    def __post_init__(self) -> None:
        if (self.api_secret is None) == (self.public_key_pem is None):
            raise ValueError(f"{self.name}: give exactly one of api_secret and public_key_pem")
        if self.mode not in SIDES:
            raise ValueError(f"{self.name}: mode must be one_way or hedge, not {self.mode!r}")
        self.balances = {asset: Decimal(v) for asset, v in self.balances.items()}
        self.cm_balances = {asset: Decimal(v) for asset, v in self.cm_balances.items()}
        self.balances.setdefault("USDT", ZERO)  # UM margins are carried by USDT
        self._public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey | None = None
        if self.public_key_pem is not None:
            key = serialization.load_pem_public_key(self.public_key_pem)
            if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
                raise ValueError(f"{self.name}: public key must be RSA or Ed25519")
            self._public_key = key
        for position in [*self.um_positions, *self.cm_positions]:
            self.check_side(position.side, position.amount)

    # -- credentials ---------------------------------------------------------------------------

    def verify(self, payload: str, signature: str) -> bool:
        """Binance's check: hex HMAC-SHA256, or base64 RSA-PKCS#1v1.5-SHA256 / Ed25519."""
        if self.api_secret is not None:
            expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256)
            # Bytes, not str: compare_digest refuses non-ASCII strings, and a query can have them.
            return hmac.compare_digest(expected.hexdigest().encode(), signature.lower().encode())
        try:
            raw = base64.b64decode(unquote(signature), validate=True)
        except ValueError:
            return False
        try:
            if isinstance(self._public_key, rsa.RSAPublicKey):
                self._public_key.verify(raw, payload.encode(), padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(self._public_key, ed25519.Ed25519PublicKey):
                self._public_key.verify(raw, payload.encode())
            else:
                return False
        except InvalidSignature:
            return False
        return True

    # -- positions -----------------------------------------------------------------------------

    def check_side(self, side: str, amount: Decimal) -> None:
        if side not in SIDES[self.mode]:
            raise ValueError(f"{self.name}: side {side} is not valid in {self.mode} mode")
        if (side == "LONG" and amount < 0) or (side == "SHORT" and amount > 0):
            raise ValueError(f"{self.name}: a {side} position cannot have amount {amount}")

    def um_position(self, symbol: str, side: str) -> UMPosition | None:
        return next((p for p in self.um_positions if (p.symbol, p.side) == (symbol, side)), None)

    def cm_position(self, symbol: str, side: str) -> CMPosition | None:
        return next((p for p in self.cm_positions if (p.symbol, p.side) == (symbol, side)), None)


# -- figures ---------------------------------------------------------------------------------


@dataclass
class PositionFigures:
    """The computed, 8-decimal figures of one position (UM: in USDT; COIN-M: in the coin)."""

    unrealized: Decimal
    notional: Decimal
    position_initial: Decimal
    maint: Decimal
    open_order_initial: Decimal
    break_even: Decimal

    @property
    def initial(self) -> Decimal:
        return self.position_initial + self.open_order_initial


@dataclass
class AssetMargins:
    """Per-asset sums, in the asset (COIN-M: the coin)."""

    unrealized: Decimal = ZERO
    maint: Decimal = ZERO
    initial: Decimal = ZERO
    position_initial: Decimal = ZERO
    open_order_initial: Decimal = ZERO

    def add(self, f: PositionFigures) -> None:
        self.unrealized += f.unrealized
        self.maint += f.maint
        self.initial += f.initial
        self.position_initial += f.position_initial
        self.open_order_initial += f.open_order_initial


@dataclass
class Risk:
    """Everything the four payloads need, computed once per request."""

    um: list[tuple[UMPosition, UMSymbol, PositionFigures]]
    cm: list[tuple[CMPosition, CMSymbol, PositionFigures]]
    um_usdt: AssetMargins
    cm_assets: dict[str, AssetMargins]
    account_equity: Decimal
    actual_equity: Decimal
    maint: Decimal
    initial: Decimal
    uni_mmr: Decimal
    status: str


def break_even_price(position: UMPosition | CMPosition) -> Decimal:
    if not position.amount:
        return ZERO
    side = 1 if position.amount > 0 else -1
    return q8(position.entry_price * (1 + side * BREAK_EVEN_FEE))


def um_figures(position: UMPosition, sym: UMSymbol) -> PositionFigures:
    notional = q8(sym.mark * position.amount)
    return PositionFigures(
        unrealized=q8((sym.mark - position.entry_price) * position.amount),
        notional=notional,
        position_initial=q8(abs(notional) / position.leverage),
        maint=q8(abs(notional) * sym.maint_margin_rate),
        open_order_initial=q8(position.open_order_initial_margin),
        break_even=break_even_price(position),
    )


def cm_figures(position: CMPosition, sym: CMSymbol) -> PositionFigures:
    size = position.amount * sym.contract_size
    notional = q8(size / sym.mark)
    unrealized = ZERO
    if position.amount and position.entry_price:
        unrealized = q8(size / position.entry_price - size / sym.mark)
    return PositionFigures(
        unrealized=unrealized,
        notional=notional,
        position_initial=q8(abs(notional) / position.leverage),
        maint=q8(abs(notional) * sym.maint_margin_rate),
        open_order_initial=q8(position.open_order_initial_margin),
        break_even=break_even_price(position),
    )


def compute_risk(account: SimAccount, market: Market, now: float) -> Risk:
    """The account's figures at the market's current marks (applying a uniMMR ramp first)."""
    risk = _compute(account, market)
    if account.ramp is not None and risk.maint > 0:
        # Move the USDT wallet so that equity / maint hits the ramp's target; USDT's collateral
        # rate is 1 either side of zero, so equity moves by exactly the change.
        target_equity = q8(account.ramp.target(now) * risk.maint)
        change = target_equity - risk.account_equity
        if change:
            account.balances["USDT"] = account.balances.get("USDT", ZERO) + change
            account.update_time = int(now * 1000)
            risk = _compute(account, market)
    return risk


def _compute(account: SimAccount, market: Market) -> Risk:
    um_rows = []
    um_usdt = AssetMargins()
    for position in account.um_positions:
        sym = market.um[position.symbol]
        figures = um_figures(position, sym)
        um_usdt.add(figures)
        um_rows.append((position, sym, figures))
    cm_rows = []
    cm_assets: dict[str, AssetMargins] = {}
    for cm_position in account.cm_positions:
        cm_sym = market.cm[cm_position.symbol]
        cm_figs = cm_figures(cm_position, cm_sym)
        cm_assets.setdefault(cm_sym.base, AssetMargins()).add(cm_figs)
        cm_rows.append((cm_position, cm_sym, cm_figs))

    holdings: dict[str, Decimal] = {}
    for asset, wallet in account.balances.items():
        holdings[asset] = holdings.get(asset, ZERO) + wallet
    holdings[UM_QUOTE] = holdings.get(UM_QUOTE, ZERO) + um_usdt.unrealized
    for asset, wallet in account.cm_balances.items():
        holdings[asset] = holdings.get(asset, ZERO) + wallet
    for asset, margins in cm_assets.items():
        holdings[asset] = holdings.get(asset, ZERO) + margins.unrealized
    for asset, margin in account.cross_margin.items():
        holdings[asset] = holdings.get(asset, ZERO) + margin.net

    actual = equity = ZERO
    for asset, amount in holdings.items():
        value = q8(amount * market.usd_price(asset))
        actual += value
        equity += q8(value * market.collateral_rate(asset)) if value > 0 else value
    maint, initial = um_usdt.maint, um_usdt.initial
    for asset, margins in cm_assets.items():
        price = market.usd_price(asset)
        maint += q8(margins.maint * price)
        initial += q8(margins.initial * price)
    uni_mmr = (equity / maint).quantize(Q8, rounding=ROUND_DOWN) if maint > 0 else NO_MAINT_UNI_MMR
    status = account.status_override or status_for(uni_mmr)
    return Risk(
        um_rows, cm_rows, um_usdt, cm_assets, equity, actual, maint, initial, uni_mmr, status
    )


def liquidation_price(mark: Decimal, exposure: Decimal, risk: Risk) -> Decimal:
    """Where uniMMR would reach 1 if only this mark moved; ``exposure`` in base units, signed."""
    if not exposure:
        return ZERO
    try:
        price = q8(mark - (risk.account_equity - risk.maint) / exposure)
    except InvalidOperation:
        return ZERO
    return price if price > 0 else ZERO


# -- payloads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """A JSON document as parts; ``bytes(payload)`` is what goes on the wire.

    Full-market payloads share their zero entries with the market's templates, so keeping the
    last one per account (for ``last_payload``) costs a few kilobytes, not the 250 KB it is on
    the wire: that matters with a thousand accounts.
    """

    head: bytes
    entries: list[bytes] = field(default_factory=list)
    tail: bytes = b""

    def __bytes__(self) -> bytes:
        return self.head + b",".join(self.entries) + self.tail


class _Templates:
    """Per-market serialized zero entries: the bulk of a full-market payload, built once."""

    def __init__(self, market: Market) -> None:
        self.um: dict[str, tuple[list[bytes], dict[PositionKey, int]]] = {}
        self.cm: dict[str, tuple[list[bytes], dict[PositionKey, int]]] = {}
        for mode, sides in SIDES.items():
            entries: list[bytes] = []
            index: dict[PositionKey, int] = {}
            for sym in market.um.values():
                for side in sides:
                    index[(sym.symbol, side)] = len(entries)
                    entries.append(orjson.dumps(_um_zero(sym, side)))
            self.um[mode] = (entries, index)
            entries, index = [], {}
            for cm in market.cm.values():
                for side in sides:
                    index[(cm.symbol, side)] = len(entries)
                    entries.append(orjson.dumps(_cm_zero(cm, side)))
            self.cm[mode] = (entries, index)


_templates: weakref.WeakKeyDictionary[Market, _Templates] = weakref.WeakKeyDictionary()


def templates(market: Market) -> _Templates:
    found = _templates.get(market)
    if found is None:
        found = _templates[market] = _Templates(market)
    return found


def _um_zero(sym: UMSymbol, side: str) -> dict:
    # Field order and zero spellings as in "Get UM Account Detail", plus the two fields live
    # replies add at the end.
    return {
        "symbol": sym.symbol,
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": "0.00000000",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": str(sym.default_leverage),
        "entryPrice": "0.0",
        "maxNotional": plain(sym.max_notional),
        "bidNotional": "0",
        "askNotional": "0",
        "positionSide": side,
        "positionAmt": "0",
        "updateTime": 0,
        "notional": "0",
        "breakEvenPrice": "0.0",
    }


def _cm_zero(sym: CMSymbol, side: str) -> dict:
    # Field order and zero spellings of a live "Get CM Account Detail" entry: maxQty instead
    # of maxNotional, then notionalValue and breakEvenPrice (beyond the docs).
    return {
        "symbol": sym.symbol,
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": "0.00000000",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": str(sym.default_leverage),
        "entryPrice": "0.00000000",
        "positionSide": side,
        "positionAmt": "0",
        "maxQty": plain(sym.max_qty),
        "updateTime": 0,
        "notionalValue": "0",
        "breakEvenPrice": "0.00000000",
    }


def _asset_entry(
    asset: str, wallet: Decimal, margins: AssetMargins, update_time: int, spell: Spelling
) -> dict:
    return {
        "asset": asset,
        "crossWalletBalance": spell.money(wallet),
        "crossUnPnl": spell.money(margins.unrealized),
        "maintMargin": spell.money(margins.maint),
        "initialMargin": spell.money(margins.initial),
        "positionInitialMargin": spell.money(margins.position_initial),
        "openOrderInitialMargin": spell.money(margins.open_order_initial),
        "updateTime": update_time,
    }


def _entry_price(position: UMPosition | CMPosition, spell: Spelling) -> str:
    return spell.price(position.entry_price) if position.amount else "0.0"


def um_account_payload(
    account: SimAccount, risk: Risk, market: Market, spell: Spelling = LIVE
) -> Payload:
    """GET /papi/v1/um/account: assets plus one entry per symbol and side of the market."""
    assets = []
    for asset, wallet in account.balances.items():
        margins = risk.um_usdt if asset == UM_QUOTE else AssetMargins()
        assets.append(_asset_entry(asset, wallet, margins, account.update_time, spell))
    zero_entries, index = templates(market).um[account.mode]
    entries = list(zero_entries)
    for position, sym, f in risk.um:
        entries[index[(position.symbol, position.side)]] = orjson.dumps(
            {
                "symbol": sym.symbol,
                "initialMargin": spell.money(f.initial),
                "maintMargin": spell.money(f.maint),
                "unrealizedProfit": spell.money(f.unrealized),
                "positionInitialMargin": spell.money(f.position_initial),
                "openOrderInitialMargin": spell.money(f.open_order_initial),
                "leverage": str(position.leverage),
                "entryPrice": _entry_price(position, spell),
                "maxNotional": plain(sym.max_notional),
                "bidNotional": "0",
                "askNotional": "0",
                "positionSide": position.side,
                "positionAmt": spell.amount(position.amount, sym.quantity_precision),
                "updateTime": position.update_time,
                "notional": spell.money(f.notional),
                "breakEvenPrice": spell.money(f.break_even),
            }
        )
    return Payload(b'{"assets":' + orjson.dumps(assets) + b',"positions":[', entries, b"]}")


# "Get UM Account Detail V2": what each position entry keeps of v1's, in v1's order.
UM_V2_POSITION_FIELDS = (
    "symbol",
    "initialMargin",
    "maintMargin",
    "unrealizedProfit",
    "positionSide",
    "positionAmt",
    "updateTime",
    "notional",
)


def um_account_v2_payload(
    account: SimAccount, risk: Risk, market: Market, spell: Spelling = LIVE
) -> Payload:
    """GET /papi/v2/um/account: v1's assets; positions without leverage, entry price, limits
    and the initial-margin splits (served for the v1-retired fallback, not on a hot path)."""
    v1 = um_account_payload(account, risk, market, spell)
    entries = []
    for raw in v1.entries:
        entry = orjson.loads(raw)
        entries.append(orjson.dumps({k: entry[k] for k in UM_V2_POSITION_FIELDS if k in entry}))
    return Payload(v1.head, entries, v1.tail)


def cm_account_payload(
    account: SimAccount, risk: Risk, market: Market, spell: Spelling = LIVE
) -> Payload:
    """GET /papi/v1/cm/account: coin assets plus one entry per COIN-M symbol and side."""
    assets = []
    coins = list(account.cm_balances) + [c for c in risk.cm_assets if c not in account.cm_balances]
    for coin in coins:
        wallet = account.cm_balances.get(coin, ZERO)
        margins = risk.cm_assets.get(coin, AssetMargins())
        assets.append(_asset_entry(coin, wallet, margins, account.update_time, spell))
    zero_entries, index = templates(market).cm[account.mode]
    entries = list(zero_entries)
    for position, sym, f in risk.cm:
        entries[index[(position.symbol, position.side)]] = orjson.dumps(
            {
                "symbol": sym.symbol,
                "initialMargin": spell.money(f.initial),
                "maintMargin": spell.money(f.maint),
                "unrealizedProfit": spell.money(f.unrealized),
                "positionInitialMargin": spell.money(f.position_initial),
                "openOrderInitialMargin": spell.money(f.open_order_initial),
                "leverage": str(position.leverage),
                "entryPrice": _entry_price(position, spell),
                "positionSide": position.side,
                "positionAmt": spell.amount(position.amount, 0),
                "maxQty": plain(sym.max_qty),
                "updateTime": position.update_time,
                "notionalValue": spell.money(f.notional),
                "breakEvenPrice": spell.money(f.break_even),
            }
        )
    return Payload(b'{"assets":' + orjson.dumps(assets) + b',"positions":[', entries, b"]}")


def _risk_keys(
    account: SimAccount, held: list[PositionKey], symbols: Iterable[str], flat_rows: bool
) -> list[PositionKey]:
    """The rows of a position risk reply, in order (see the module doc)."""
    if not flat_rows:
        return held
    if account.mode == "one_way":
        return [(symbol, "BOTH") for symbol in symbols]
    return [
        (symbol, side) for symbol in dict.fromkeys(s for s, _ in held) for side in SIDES["hedge"]
    ]


@dataclass(frozen=True)
class RiskBook(Generic[S]):
    """What sets a UM position risk row apart from a COIN-M one, in a live reply's field order
    (ccxt's capture for UM): the amount's places, the exposure the liquidation price divides by,
    the limit and notional fields, and how a flat row spells its break-even price."""

    rows: Callable[[Risk], Sequence[tuple[UMPosition, S, PositionFigures]]]
    symbols: Callable[[Market], Mapping[str, S]]
    places: Callable[[S], int]
    exposure: Callable[[UMPosition, PositionFigures], Decimal]
    limit: Callable[[S, Spelling], tuple[str, str]]  # (field, value)
    notional_field: str
    flat_break_even: str


UM_RISK: RiskBook[UMSymbol] = RiskBook(
    rows=lambda risk: risk.um,
    symbols=lambda market: market.um,
    places=lambda sym: sym.quantity_precision,
    exposure=lambda position, f: position.amount,
    limit=lambda sym, spell: ("maxNotionalValue", spell.price(sym.max_notional)),
    notional_field="notional",
    flat_break_even="0.0",
)
CM_RISK: RiskBook[CMSymbol] = RiskBook(
    rows=lambda risk: risk.cm,
    symbols=lambda market: market.cm,
    places=lambda sym: 0,  # contracts
    exposure=lambda position, f: f.notional,  # in the coin
    limit=lambda sym, spell: ("maxQty", plain(sym.max_qty)),
    notional_field="notionalValue",
    flat_break_even="0.00000000",
)


def _risk_row(
    book: RiskBook[S],
    sym: S,
    side: str,
    position: UMPosition | None,
    f: PositionFigures | None,
    risk: Risk,
    spell: Spelling,
) -> dict:
    """One position risk row: an open position (with its figures ``f``), or a flat side (zero
    figures, the mark, a leftover liquidation price) with the leverage of an order on it."""
    limit_field, limit = book.limit(sym, spell)
    if position is None or f is None:
        return {
            "symbol": sym.symbol,
            "positionAmt": spell.amount(ZERO, book.places(sym)),
            "entryPrice": "0.0",
            "markPrice": spell.money(sym.mark),
            "unRealizedProfit": "0.00000000",
            "liquidationPrice": spell.money(sym.mark * FLAT_ROW_LIQUIDATION),
            "leverage": str(sym.default_leverage if position is None else position.leverage),
            "positionSide": side,
            "updateTime": 0 if position is None else position.update_time,
            limit_field: limit,
            book.notional_field: "0",
            "breakEvenPrice": book.flat_break_even,
        }
    liquidation = liquidation_price(sym.mark, book.exposure(position, f), risk)
    return {
        "symbol": sym.symbol,
        "positionAmt": spell.amount(position.amount, book.places(sym)),
        "entryPrice": spell.price(position.entry_price),
        "markPrice": spell.money(sym.mark),
        "unRealizedProfit": spell.money(f.unrealized),
        "liquidationPrice": spell.money(liquidation) if liquidation else "0",
        "leverage": str(position.leverage),
        "positionSide": side,
        "updateTime": position.update_time,
        limit_field: limit,
        book.notional_field: spell.money(f.notional),
        "breakEvenPrice": spell.money(f.break_even),
    }


def position_risk_payload(
    book: RiskBook[S],
    account: SimAccount,
    risk: Risk,
    market: Market,
    symbol: str | None = None,
    spell: Spelling = LIVE,
    flat_rows: bool = False,
) -> Payload:
    """GET /papi/v1/um/positionRisk (``UM_RISK``) or /papi/v1/cm/positionRisk (``CM_RISK``):
    open positions, and flat rows when asked, optionally of one symbol."""
    rows = book.rows(risk)
    symbols = book.symbols(market)
    held = {(p.symbol, p.side): (p, f) for p, _, f in rows if p.amount}
    orders = {(p.symbol, p.side): p for p, _, _ in rows}
    out = []
    for key in _risk_keys(account, list(held), symbols, flat_rows):
        if symbol is not None and key[0] != symbol:
            continue
        position, f = held.get(key) or (orders.get(key), None)
        out.append(_risk_row(book, symbols[key[0]], key[1], position, f, risk, spell))
    return Payload(orjson.dumps(out))


def account_payload(risk: Risk, update_time: int, spell: Spelling = LIVE) -> Payload:
    """GET /papi/v1/account (Account Information): the USD-valued unified figures."""
    available = max(ZERO, risk.account_equity - risk.initial)
    return Payload(
        orjson.dumps(
            {
                # The sentinel goes out as Binance writes it, not as a padded decimal.
                "uniMMR": spell.money(risk.uni_mmr) if risk.maint > 0 else plain(NO_MAINT_UNI_MMR),
                "accountEquity": spell.money(risk.account_equity),
                "actualEquity": spell.money(risk.actual_equity),
                "accountInitialMargin": spell.money(risk.initial),
                "accountMaintMargin": spell.money(risk.maint),
                "accountStatus": risk.status,
                "virtualMaxWithdrawAmount": spell.money(available),
                "totalAvailableBalance": spell.money(available),
                # Open loss of spot-margin orders: margin orders are not simulated.
                "totalMarginOpenLoss": spell.money(ZERO),
                "updateTime": update_time,
            }
        )
    )
