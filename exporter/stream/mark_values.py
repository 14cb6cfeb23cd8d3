"""Mark prices into the served position gauges, between two polls.

While a market's stream is up, each open position of an account with ``market_stream`` on is
served with the stream's mark (``*_position_mark_price``) and the unrealized PnL that mark gives
(``*_position_unrealized_pnl``: ``marks.um_unrealized_pnl``, ``marks.cm_unrealized_pnl``), as
values pushed through the one merge rule (``exporter.fresh``, ``AccountState.push``) and timed by
the mark's event time: a poll sent after the mark still overrides it, and a mark older than the
served poll never rolls it back.

The position figures come from what the account serves: amount and entry price (polled, or
pushed by ``ACCOUNT_UPDATE``), and, for COIN-M, the contract size implied by the last
``cm_position_risk`` poll (notional value = amount x contract size / mark, so contract size =
|notional value x mark / amount|, rounded to whole USD as Binance's COIN-M contracts are 10 or
100 USD). Without a position-risk poll of the symbol a COIN-M PnL cannot be computed and only the
mark is pushed (if the mark price family is served at all).

A market's stream tells the book about once a second with up to a few hundred symbols; the
listener only notes which symbols moved, and one flush per loop turn pushes them to the accounts
holding positions in them (an index symbol -> accounts, rebuilt for an account only when its
served amounts or entry prices changed). When a market's stream goes down nothing is withdrawn:
the values already pushed stay until the next poll overtakes them, and polls are the only source
again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from exporter.config import Config
from exporter.fresh import Push
from exporter.metrics import Row
from exporter.snapshot import AccountState, Store
from exporter.stream.marks import (
    MARKETS,
    MarkBook,
    MarkChange,
    Market,
    cm_unrealized_pnl,
    um_unrealized_pnl,
)

Position = tuple[str, str]  # (symbol, position_side)
# The collectors that serve a market's positions, the account detail first: where it is on it
# serves amount, entry price and unrealized PnL; the position-risk reply serves the mark.
DETAIL: dict[Market, str] = {"um": "um_account", "cm": "cm_account"}
RISK: dict[Market, str] = {"um": "um_position_risk", "cm": "cm_position_risk"}


def family(market: Market, suffix: str) -> str:
    return f"binance_pm_{market}_position_{suffix}"


@dataclass(frozen=True)
class HeldPosition:
    """What a mark needs of one open position: its figures and where its series are served."""

    labels: Position
    amount: float
    entry_price: float
    pnl_collector: str | None  # the collector serving its unrealized PnL (None: none does)
    contract_size: float | None  # COIN-M only; None when no position-risk poll tells it


def contract_size(amount: float, notional_value: float, mark: float) -> float | None:
    """A COIN-M contract's size in USD from a position-risk row; None when it cannot tell."""
    if not amount or not notional_value or mark <= 0:
        return None
    size = round(abs(notional_value * mark / amount))
    return float(size) if size >= 1 else None


def _rows(state: AccountState, collector: str, name: str) -> list[Row] | None:
    data = state.data.get(collector)
    return None if data is None else data.samples.get(name)


def held_positions(state: AccountState, market: Market) -> list[HeldPosition]:
    """The account's open positions of ``market`` as it serves them now."""
    amounts: dict[Position, float] = {}
    entries: dict[Position, float] = {}
    pnl_at: dict[Position, str] = {}
    for collector in (RISK[market], DETAIL[market]):  # the detail, when on, wins
        for labels, v in _rows(state, collector, family(market, "amount")) or ():
            amounts[labels] = v  # type: ignore[index]
        for labels, v in _rows(state, collector, family(market, "entry_price")) or ():
            entries[labels] = v  # type: ignore[index]
        for labels, _ in _rows(state, collector, family(market, "unrealized_pnl")) or ():
            pnl_at[labels] = collector  # type: ignore[index]
    sizes = _contract_sizes(state) if market == "cm" else {}
    return [
        HeldPosition(labels, amount, entries[labels], pnl_at.get(labels), sizes.get(labels))
        for labels, amount in amounts.items()
        if amount and labels in entries
    ]


def _polled_rows(state: AccountState, name: str) -> dict[Any, float]:
    """A family's rows as last polled, by whichever of the market's collectors exports it."""
    for collector in ("cm_position_risk", "cm_account"):
        data = state.data.get(collector)
        rows = data.polled.get(name) if data is not None else None
        if rows:
            return dict(rows)
    return {}


def _contract_sizes(state: AccountState) -> dict[Position, float]:
    """Each COIN-M position's contract size from the polls' own figures: the notional value
    (the detail's when on, else the position-risk reply's), amount and mark of those polls."""
    amounts = _polled_rows(state, family("cm", "amount"))
    marks = _polled_rows(state, family("cm", "mark_price"))
    sizes: dict[Position, float] = {}
    for labels, notional in _polled_rows(state, family("cm", "notional_value")).items():
        size = contract_size(amounts.get(labels, 0.0), notional, marks.get(labels, 0.0))
        if size is not None:
            sizes[(labels[0], labels[1])] = size
    return sizes


def mark_pushes(market: Market, position: HeldPosition, mark: float) -> list[Push]:
    """The values one mark gives one position: its mark price and, where it can be computed,
    its unrealized PnL."""
    pushes = [Push(RISK[market], family(market, "mark_price"), position.labels, mark)]
    if position.pnl_collector is None:
        return pushes
    if market == "um":
        pnl = um_unrealized_pnl(position.amount, position.entry_price, mark)
    elif position.contract_size is not None and position.entry_price > 0:
        pnl = cm_unrealized_pnl(position.amount, position.entry_price, mark, position.contract_size)
    else:
        return pushes
    pushes.append(
        Push(position.pnl_collector, family(market, "unrealized_pnl"), position.labels, pnl)
    )
    return pushes


class _AccountIndex:
    """One account's positions of one market, and the served rows they were read from."""

    def __init__(self) -> None:
        self.sources: tuple[object, ...] = ()
        self.by_symbol: dict[str, list[HeldPosition]] = {}


class MarkValues:
    """Listens to the mark book; pushes the moved marks into the accounts' served positions.

    The one writer of what marks push: called on the loop by the book, it flushes once per loop
    turn (``call_soon``), whatever the number of frames that arrived in it.
    """

    def __init__(self, book: MarkBook, store: Store, config: Config) -> None:
        self._book = book
        self._store = store
        self._accounts: frozenset[str] = frozenset()
        self._pending: dict[Market, set[str]] = {}
        self._flush_scheduled = False
        self._index: dict[tuple[str, Market], _AccountIndex] = {}
        self.apply(config)
        self._unsubscribe = book.subscribe(self._heard)

    def apply(self, config: Config) -> None:
        """The accounts that want marks in their gauges (``market_stream`` on)."""
        self._accounts = frozenset(a.name for a in config.accounts if a.market_stream)
        self._index = {k: v for k, v in self._index.items() if k[0] in self._accounts}

    def stop(self) -> None:
        """Stop listening (a second stop does nothing)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, lambda: None
        unsubscribe()

    def _heard(self, change: MarkChange) -> None:
        if not change.up or not change.symbols:
            return  # down: what was pushed stays until a poll overtakes it
        self._pending.setdefault(change.market, set()).update(change.symbols)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Push every pending symbol's mark to the accounts holding it."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        pushed = False
        for market in MARKETS:
            symbols = pending.get(market)
            if symbols and self._book.is_up(market):
                pushed |= self._push_market(market, symbols)
        if pushed:
            self._store.changed()

    def _push_market(self, market: Market, symbols: set[str]) -> bool:
        marks = self._book.marks(market)
        pushed = False
        for name in self._accounts:
            state = self._store.accounts.get(name)
            if state is None:
                continue
            held = self._positions(state, market)
            by_time: dict[int, list[Push]] = {}
            for symbol, positions in held.items():
                mark = marks.get(symbol) if symbol in symbols else None
                if mark is None:
                    continue
                effects = by_time.setdefault(mark.event_ms, [])
                for position in positions:
                    effects.extend(mark_pushes(market, position, mark.price))
            for time_ms, effects in sorted(by_time.items()):
                state.push(time_ms, tuple(effects))
                pushed = True
        return pushed

    def _positions(self, state: AccountState, market: Market) -> dict[str, list[HeldPosition]]:
        """The account's positions by symbol, read again only when their served rows moved."""
        index = self._index.setdefault((state.name, market), _AccountIndex())
        sources = tuple(
            rows
            for collector in (RISK[market], DETAIL[market])
            for suffix in ("amount", "entry_price", "notional_value")
            for rows in (_rows(state, collector, family(market, suffix)),)
        )
        if len(sources) != len(index.sources) or any(
            a is not b for a, b in zip(sources, index.sources, strict=True)
        ):
            index.sources = sources
            index.by_symbol = {}
            for position in held_positions(state, market):
                index.by_symbol.setdefault(position.labels[0], []).append(position)
        return index.by_symbol
