"""Money that moves on its own: loans accruing interest, funding, trades; and the payloads of
the balance, ADL quantile and income endpoints.

* Balance (``GET /papi/v1/balance``), per asset: ``crossMarginAsset = free + locked``;
  ``totalWalletBalance = free + locked + UM wallet + CM wallet`` (Binance's docs);
  ``umUnrealizedPNL`` is the UM positions' PnL for USDT, ``cmUnrealizedPNL`` the COIN-M
  positions' PnL in their coin, ``""`` for an asset no COIN-M contract is margined in (Binance's
  example has ``"cmUnrealizedPNL": ""``); ``negativeBalance`` is how far the UM and COIN-M
  wallets of the asset are below zero. Assets are listed in the order the account holds them
  (UM wallet, COIN-M wallet, cross margin), zero rows included.
* Interest: every tick (unless prices are frozen) each loan's interest grows by
  ``borrowed * hourly_rate * tick hours``, rounded half-up to 8 decimals.
* Funding: a round (every ``funding_seconds``, or ``funding_round()``) first repays every
  negative UM or COIN-M wallet from the asset's cross margin, borrowing what free does not
  cover (Binance's auto-repay and auto-exchange), then pays each open position
  ``-notional * rate`` (UM in USDT; COIN-M in the coin, on the notional value), a rate drawn per
  symbol per round from the simulator's seed, either sign. Each payment is a FUNDING_FEE record
  and moves the wallet, so a wallet near zero goes negative now and then.
* Trades (``trade()``): a fill at the mark (or a given price) moves the position, charges
  ``COMMISSION_RATE`` of the traded notional (a COMMISSION record) and, for the part that
  reduces the position, realizes its PnL (a REALIZED_PNL record), both with the fill's tradeId.
* ADL quantile: per symbol with a position, from the PnL on the position's margin: a profit
  scores ``roe * leverage``, a loss ``roe / leverage``, and the score's step in ``ADL_STEPS``
  is the quantile (0 to 4). In hedge mode LONG and SHORT share the symbol's quantile (Binance:
  "LONG" and "SHORT" get the same value when cross margined) and ``HEDGE`` is 0.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from decimal import Decimal

import orjson

from exporter.simulator.accounts import (
    LIVE,
    AssetMargins,
    CMPosition,
    Payload,
    PositionFigures,
    Risk,
    SimAccount,
    Spelling,
    UMPosition,
    q8,
)
from exporter.simulator.books import ZERO, CrossMargin, IncomeBook, IncomeRecord
from exporter.simulator.market import UM_QUOTE, Market, quantum

COMMISSION_RATE = Decimal("0.0002")  # half the break-even fee: one side of a round trip
ADL_STEPS = (Decimal("-0.05"), Decimal("0.05"), Decimal("0.3"), Decimal("1"))
FUNDING_RATE_RANGE = (-0.0003, 0.0006)  # per round; positive: longs pay shorts
DAY_MS = 86_400_000
DEFAULT_WINDOW_MS = 7 * DAY_MS  # neither startTime nor endTime: the last 7 days
RETENTION_MS = 90 * DAY_MS  # Binance keeps three months of income history
CM_MAX_INTERVAL_MS = 200 * DAY_MS  # COIN-M: startTime to endTime at most 200 days
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


# -- balance ----------------------------------------------------------------------------------


def balance_rows(
    account: SimAccount, risk: Risk, market: Market, spell: Spelling = LIVE
) -> list[dict]:
    """GET /papi/v1/balance: one row per asset the account holds in any wallet."""
    coins = {sym.base for sym in market.cm.values()}
    assets = dict.fromkeys(
        [*account.balances, *account.cm_balances, *risk.cm_assets, *account.cross_margin]
    )
    return [_balance_row(account, risk, asset, asset in coins, spell) for asset in assets]


def balance_payload(
    account: SimAccount,
    risk: Risk,
    market: Market,
    asset: str | None = None,
    spell: Spelling = LIVE,
) -> Payload:
    """The list, or with ``asset`` that asset's row alone, without crossMarginAsset."""
    rows = balance_rows(account, risk, market, spell)
    if asset is None:
        return Payload(orjson.dumps(rows))
    found = next((r for r in rows if r["asset"] == asset), None)
    if found is None:  # an asset the account does not hold: a row of zeros
        found = _balance_row(account, risk, asset, False, spell)
    return Payload(orjson.dumps({k: v for k, v in found.items() if k != "crossMarginAsset"}))


def _balance_row(account: SimAccount, risk: Risk, asset: str, coin: bool, spell: Spelling) -> dict:
    margin = account.cross_margin.get(asset, CrossMargin())
    um = account.balances.get(asset, ZERO)
    cm = account.cm_balances.get(asset, ZERO)
    um_pnl = risk.um_usdt.unrealized if asset == UM_QUOTE else ZERO
    cm_pnl = risk.cm_assets.get(asset, AssetMargins()).unrealized
    in_futures = asset in account.balances or asset in account.cm_balances
    return {
        "asset": asset,
        "totalWalletBalance": spell.money(margin.free + margin.locked + um + cm),
        "crossMarginAsset": spell.money(margin.free + margin.locked),
        "crossMarginBorrowed": spell.money(margin.borrowed),
        "crossMarginFree": spell.money(margin.free),
        "crossMarginInterest": spell.money(margin.interest),
        "crossMarginLocked": spell.money(margin.locked),
        "umWalletBalance": spell.money(um),
        "umUnrealizedPNL": spell.money(um_pnl),
        "cmWalletBalance": spell.money(cm),
        "cmUnrealizedPNL": spell.money(cm_pnl) if coin else "",
        "updateTime": max(account.update_time if in_futures else 0, margin.update_time),
        "negativeBalance": spell.money(-(min(um, ZERO) + min(cm, ZERO))),
    }


# -- ADL quantile ----------------------------------------------------------------------------


def adl_quantile(figures: Iterable[tuple[UMPosition, PositionFigures]]) -> int:
    """The quantile of one position, or of a hedge-mode symbol's two sides together."""
    unrealized = margin = ZERO
    leverage = 1
    for position, f in figures:
        unrealized += f.unrealized
        margin += f.position_initial
        leverage = max(leverage, position.leverage)
    if margin <= 0:
        return 0
    roe = unrealized / margin
    score = roe * leverage if roe > 0 else roe / leverage
    return sum(1 for step in ADL_STEPS if score > step)


def adl_payload(
    account: SimAccount,
    rows: Sequence[tuple[UMPosition, object, PositionFigures]],
    hedge_keys: tuple[str, ...],
    symbol: str | None = None,
) -> Payload:
    """GET /papi/v1/{um,cm}/adlQuantile: symbols with a position, in the order opened.

    ``hedge_keys`` are the keys of a hedge-mode entry besides LONG and SHORT (UM: HEDGE;
    COIN-M, as its SDK example shows: HEDGE and BOTH).
    """
    by_symbol: dict[str, list[tuple[UMPosition, PositionFigures]]] = {}
    for position, _, f in rows:
        if position.amount and (symbol is None or position.symbol == symbol):
            by_symbol.setdefault(position.symbol, []).append((position, f))
    out = []
    for name, held in by_symbol.items():
        if account.mode == "hedge":
            q = adl_quantile(held)
            quantiles = {"LONG": q, "SHORT": q, **dict.fromkeys(hedge_keys, 0)}
        else:
            quantiles = {"LONG": 0, "SHORT": 0, "BOTH": adl_quantile(held)}
        out.append({"symbol": name, "adlQuantile": quantiles})
    return Payload(orjson.dumps(out))


# -- income ----------------------------------------------------------------------------------


def income_json(record: IncomeRecord, spell: Spelling = LIVE) -> dict:
    return {
        "symbol": record.symbol,
        "incomeType": record.income_type,
        "income": spell.money(record.income),
        "asset": record.asset,
        "info": record.info,
        "time": record.time,
        "tranId": str(record.tran_id),
        "tradeId": record.trade_id,
    }


def select_income(
    book: IncomeBook,
    start: int,
    end: int,
    now_ms: int,
    symbol: str | None = None,
    income_type: str | None = None,
) -> list[IncomeRecord]:
    """Records from ``start`` to ``end`` (both inclusive), oldest first, within retention."""
    oldest = max(start, now_ms - RETENTION_MS)
    return [
        r
        for r in book.records
        if oldest <= r.time <= end
        and (symbol is None or r.symbol == symbol)
        and (income_type is None or r.income_type == income_type)
    ]


def add_income(
    account: SimAccount,
    cm: bool,
    income_type: str,
    amount: Decimal,
    asset: str,
    time_ms: int,
    symbol: str = "",
    info: str | None = None,
    trade_id: str = "",
) -> IncomeRecord:
    """Book one record and move the book's wallet by it."""
    wallets = account.cm_balances if cm else account.balances
    wallets[asset] = wallets.get(asset, ZERO) + amount
    account.update_time = time_ms
    book = account.cm_income if cm else account.um_income
    return book.add(income_type, amount, asset, time_ms, symbol, info, trade_id)


# -- what moves on its own -------------------------------------------------------------------


def accrue_interest(account: SimAccount, hours: Decimal, time_ms: int) -> None:
    for margin in account.cross_margin.values():
        if margin.borrowed > 0:
            grown = q8(margin.borrowed * margin.hourly_rate * hours)
            if grown:
                margin.interest += grown
                margin.update_time = time_ms


def auto_repay(account: SimAccount, time_ms: int) -> None:
    """Bring negative UM and COIN-M wallets back to zero from cross margin, borrowing the rest."""
    for wallets in (account.balances, account.cm_balances):
        for asset, wallet in list(wallets.items()):
            if wallet >= 0:
                continue
            margin = account.cross_margin.setdefault(asset, CrossMargin())
            take = min(margin.free, -wallet)
            margin.free -= take
            margin.borrowed += -wallet - take
            margin.update_time = time_ms
            wallets[asset] = ZERO
            account.update_time = time_ms


def funding_rates(rng: random.Random, symbols: Iterable[str]) -> dict[str, Decimal]:
    low, high = FUNDING_RATE_RANGE
    return {s: Decimal(f"{rng.uniform(low, high):.6f}") for s in sorted(set(symbols))}


def pay_funding(account: SimAccount, risk: Risk, rates: dict[str, Decimal], time_ms: int) -> None:
    """One funding payment per open position: longs pay a positive rate, shorts receive it."""
    for position, sym, f in risk.um:
        if position.amount:
            amount = q8(-f.notional * rates[position.symbol])
            add_income(account, False, "FUNDING_FEE", amount, UM_QUOTE, time_ms, sym.symbol)
    for cm_position, cm_sym, cm_f in risk.cm:
        if cm_position.amount:
            amount = q8(-cm_f.notional * rates[cm_position.symbol])
            add_income(account, True, "FUNDING_FEE", amount, cm_sym.base, time_ms, cm_sym.symbol)


def trade(
    account: SimAccount,
    market: Market,
    symbol: str,
    side: str,
    quantity: Decimal,
    price: Decimal | None,
    time_ms: int,
    trade_id: str,
) -> None:
    """A fill of ``quantity`` (signed; COIN-M in contracts) on one side of a symbol."""
    cm = symbol in market.cm
    sym = market.cm[symbol] if cm else market.um[symbol]
    positions: list = account.cm_positions if cm else account.um_positions
    position = next((p for p in positions if (p.symbol, p.side) == (symbol, side)), None)
    if position is None:
        kind = CMPosition if cm else UMPosition
        position = kind(symbol, side, ZERO, ZERO, sym.default_leverage, ZERO, time_ms)
        positions.append(position)
    fill = sym.mark if price is None else price
    old, new = position.amount, position.amount + quantity
    account.check_side(side, new)
    closed = ZERO
    if old and (old > 0) != (quantity > 0):
        closed = min(abs(quantity), abs(old)) * (1 if old > 0 else -1)
    if cm:
        size = market.cm[symbol].contract_size
        realized = (
            q8(closed * size / position.entry_price - closed * size / fill) if closed else ZERO
        )
        commission, asset = -q8(abs(quantity) * size / fill * COMMISSION_RATE), sym.base
    else:
        realized = q8((fill - position.entry_price) * closed)
        commission, asset = -q8(abs(quantity) * fill * COMMISSION_RATE), UM_QUOTE
    position.entry_price = _entry_after(position.entry_price, old, new, fill, sym.price_precision)
    position.amount, position.update_time = new, time_ms
    if not new and not position.open_order_initial_margin:
        positions.remove(position)
    add_income(account, cm, "COMMISSION", commission, asset, time_ms, symbol, "", trade_id)
    if closed:
        add_income(account, cm, "REALIZED_PNL", realized, asset, time_ms, symbol, "", trade_id)


def _entry_after(entry: Decimal, old: Decimal, new: Decimal, fill: Decimal, places: int) -> Decimal:
    """The average entry price after a fill: kept when reducing, averaged when adding."""
    if not new:
        return ZERO
    if not old or (old > 0) != (new > 0):
        return fill
    if abs(new) <= abs(old):
        return entry
    average = (entry * abs(old) + fill * (abs(new) - abs(old))) / abs(new)
    return average.quantize(quantum(places))
