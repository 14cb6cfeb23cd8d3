"""The process-wide mark book: every symbol's mark price from the market streams, per market.

Binance's ``!markPrice@arr@1s`` streams (USDⓈ-M and COIN-M "Mark Price Stream for All market")
push, every second, a JSON array of ``{"e": "markPriceUpdate", "E": ms, "s": symbol, "p": mark,
...}`` (COIN-M entries also carry ``"ps"``, the pair). ``parse_marks`` reads one such frame with
the user data stream's readers (``exporter.stream.events``): an entry that cannot be read is
counted and left out, never raised. ``MarkBook`` keeps, per market, each symbol's latest mark
and its event time, whether the market's stream is up, and tells its listeners what changed.
The book is empty for a market whose stream is down: the polls are then the only source.

The two unrealized PnL formulas a mark moves (``um_unrealized_pnl``, ``cm_unrealized_pnl``) are
here too, pure, for whoever serves positions between two polls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import orjson

from exporter.metrics import Family, render_plain
from exporter.stream.events import BadFrame, decimal_field, enum_field, event_time

Market = Literal["um", "cm"]
MARKETS: tuple[Market, ...] = get_args(Market)
MARK_EVENT = "markPriceUpdate"

MARKET_STREAM_UP = Family(
    "binance_pm_exporter_market_stream_up",
    "1 while the market's mark price stream is connected and delivering mark prices.",
    ("market",),
)
MARKET_STREAM_LAST_EVENT = Family(
    "binance_pm_exporter_market_stream_last_event_timestamp_seconds",
    "When the exporter last received mark prices on the market's stream (0: never).",
    ("market",),
)
MARKET_STREAM_BAD_FRAMES = Family(
    "binance_pm_exporter_market_stream_bad_frames_total",
    "Market stream frames, or entries of a frame, that could not be read and were left out.",
    ("market",),
    "counter",
)
MARKET_STREAM_FAMILIES = (MARKET_STREAM_UP, MARKET_STREAM_LAST_EVENT, MARKET_STREAM_BAD_FRAMES)


@dataclass(frozen=True)
class Mark:
    """One symbol's mark price and Binance's event time of it (ms)."""

    price: float
    event_ms: int


@dataclass(frozen=True)
class MarkUpdate:
    """One readable entry of a frame."""

    symbol: str
    price: float
    event_ms: int


@dataclass(frozen=True)
class MarkChange:
    """What a listener hears: the market, the symbols whose mark moved, and whether the
    market's stream is up (``up`` False: every mark of the market is gone)."""

    market: Market
    symbols: frozenset[str]
    up: bool


MarkListener = Callable[[MarkChange], None]


def parse_marks(text: str | bytes, now_ms: int) -> tuple[list[MarkUpdate], int]:
    """The readable entries of one frame and how many were not; raises BadFrame when the frame
    is not a JSON array at all."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadFrame("malformed", "not JSON") from None
    if not isinstance(data, list):
        raise BadFrame("malformed", "not a JSON array of mark prices")
    updates: list[MarkUpdate] = []
    bad = 0
    for entry in data:
        try:
            updates.append(_mark_update(entry, now_ms))
        except BadFrame:
            bad += 1
    return updates, bad


def _mark_update(entry: object, now_ms: int) -> MarkUpdate:
    if not isinstance(entry, dict) or entry.get("e") != MARK_EVENT:
        raise BadFrame("malformed", "not a markPriceUpdate")
    price = decimal_field(entry, "p")  # finite, under 1e15, no digit below 1e-30
    if price <= 0:
        raise BadFrame("malformed", "a mark price is positive")
    return MarkUpdate(enum_field(entry, "s"), float(price), event_time(entry, now_ms))


def um_unrealized_pnl(amount: float, entry_price: float, mark: float) -> float:
    """A USDⓈ-M (linear) position's unrealized PnL in the quote asset: amount x (mark - entry);
    ``amount`` is signed (negative is short)."""
    return amount * (mark - entry_price)


def cm_unrealized_pnl(
    amount: float, entry_price: float, mark: float, contract_size: float
) -> float:
    """A COIN-M (inverse) position's unrealized PnL in the base asset:
    amount x contract size x (1/entry - 1/mark); ``amount`` is signed contracts."""
    return amount * contract_size * (1.0 / entry_price - 1.0 / mark)


class MarketMarks:
    """One market's marks and its stream's health."""

    def __init__(self) -> None:
        self.marks: dict[str, Mark] = {}
        self.up = False
        self.last_event_time = 0.0  # when the last readable frame arrived, wall clock
        self.bad_frames = 0


class MarkBook:
    """Every open market's marks; the market streams are its only writers, on the loop.

    Listeners are called on the loop, at once, after each change; they must be quick (note what
    changed and coalesce their own work).
    """

    def __init__(self) -> None:
        self._markets: dict[Market, MarketMarks] = {}
        self._listeners: list[MarkListener] = []

    # -- reading -------------------------------------------------------------------------------

    def mark(self, market: Market, symbol: str) -> Mark | None:
        """The symbol's latest mark while the market's stream is up; None otherwise."""
        book = self._markets.get(market)
        return book.marks.get(symbol) if book is not None else None

    def marks(self, market: Market) -> Mapping[str, Mark]:
        """The market's marks (empty while its stream is down); a live view: do not keep it."""
        book = self._markets.get(market)
        return book.marks if book is not None else {}

    def is_up(self, market: Market) -> bool:
        book = self._markets.get(market)
        return book is not None and book.up

    @property
    def markets(self) -> tuple[Market, ...]:
        """The markets whose stream runs, connected or not."""
        return tuple(m for m in MARKETS if m in self._markets)

    def subscribe(self, listener: MarkListener) -> Callable[[], None]:
        """Call ``listener`` after each change; returns what unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- writing (the market streams) ----------------------------------------------------------

    def open(self, market: Market) -> None:
        """The market's stream starts: its series appear (down until it delivers)."""
        if market not in self._markets:
            self._markets[market] = MarketMarks()
            self._tell(market, frozenset(), up=False)

    def close(self, market: Market) -> None:
        """The market's stream is stopped for good: its marks and series go."""
        book = self._markets.pop(market, None)
        if book is not None:
            self._tell(market, frozenset(book.marks), up=False)

    def apply(
        self, market: Market, updates: list[MarkUpdate], bad: int = 0, now: float | None = None
    ) -> None:
        """One frame's entries: a mark older (by its event time) than the one held is ignored.
        The market is up from its first readable mark."""
        book = self._markets.get(market)
        if book is None:
            return
        book.bad_frames += bad
        changed = set()
        marks = book.marks
        for update in updates:
            held = marks.get(update.symbol)
            if held is None or update.event_ms >= held.event_ms:
                if held is None or held.price != update.price:
                    changed.add(update.symbol)
                marks[update.symbol] = Mark(update.price, update.event_ms)
        if updates:
            book.up = True
            book.last_event_time = time.time() if now is None else now
        self._tell(market, frozenset(changed), up=book.up)

    def count_bad(self, market: Market, bad: int = 1) -> None:
        book = self._markets.get(market)
        if book is not None:
            book.bad_frames += bad
            self._tell(market, frozenset(), up=book.up)

    def down(self, market: Market) -> None:
        """The market's stream is down (reconnecting): its marks go, the polls serve alone."""
        book = self._markets.get(market)
        if book is not None and (book.up or book.marks):
            gone = frozenset(book.marks)
            book.up, book.marks = False, {}
            self._tell(market, gone, up=False)

    def _tell(self, market: Market, symbols: frozenset[str], *, up: bool) -> None:
        change = MarkChange(market, symbols, up)
        for listener in list(self._listeners):
            listener(change)

    # -- exposition ----------------------------------------------------------------------------

    def render(self) -> dict[str, bytes]:
        """The market streams' own series, by family name (a new dict each time)."""
        rows: dict[str, list[bytes]] = {fam.name: [] for fam in MARKET_STREAM_FAMILIES}
        for market in self.markets:
            book = self._markets[market]
            labels = f'market="{market}"'
            values = (
                (MARKET_STREAM_UP, 1.0 if book.up else 0.0),
                (MARKET_STREAM_LAST_EVENT, book.last_event_time),
                (MARKET_STREAM_BAD_FRAMES, float(book.bad_frames)),
            )
            for fam, value in values:
                rows[fam.name].append(render_plain(fam.name, value, labels).encode())
        return {name: b"".join(lines) for name, lines in rows.items() if lines}
