"""Forced orders (liquidations and auto-deleveraging) as counters: the REST side of the stream's
forced fills, for reconciling them and for accounts without the stream.

UM and COIN-M (``GET /papi/v1/{um,cm}/forceOrders``) answer a list of orders oldest first from
``startTime`` (inclusive), at most ``limit`` (100); an order's ``time`` is when it was placed.
Which kind an order is: its ``autoCloseType`` where the row carries it, else Binance's
client-order-id convention (``adl_autoclose...`` for auto-deleveraging, ``autoclose-...`` for a
liquidation), else a liquidation. Margin (``GET /papi/v1/margin/forceOrders``) answers
``{"rows": [...], "total": N}`` by page (``current``, ``size`` up to 100), each row timed by
``updatedTime``: all liquidations.

Orders placed at or before start-up are never counted; each order is counted once, by its
``orderId``: each poll asks from the newest order counted (inclusive), so the ids at that
millisecond are kept to be skipped. A poll commits only when every page arrived.

The user data stream's forced fills (``ORDER_TRADE_UPDATE``, ``exporter.stream.kinds``) count
into the same ledger (``ForceOrderLedger.fill``), the one place that knows which orders were
counted: an order counts once, whichever source saw it first. The stream adds each fill's
quantity; a poll that later finds an order the stream counted adds only what its executed
quantity has beyond the fills seen, and fills of an order a poll counted are not added again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

from exporter.binance.errors import ApiError
from exporter.collectors import BadPayload, Collector, Fetcher, ParseOptions, Result
from exporter.metrics import Family, Samples

Market = Literal["um", "cm", "margin"]
LABELS = ("market", "symbol", "kind")
ORDERS = "binance_pm_force_orders_total"
QUANTITY = "binance_pm_force_order_quantity_total"
FAMILIES = (
    Family(
        ORDERS,
        "Orders Binance forced on the account since the exporter started (kind liquidation or "
        "adl), by market and symbol.",
        LABELS,
        "counter",
    ),
    Family(
        QUANTITY,
        "Executed quantity of those forced orders (UM and margin: the base asset; COIN-M: "
        "contracts).",
        LABELS,
        "counter",
    ),
)
# Binance's documented maximum page: ``limit`` (UM, COIN-M) and ``size`` (margin).
PAGE_LIMIT = 100
# Pages one poll may fetch: a larger backlog is caught up over the next polls.
MAX_PAGES_PER_POLL = 5
# Order ids a ledger remembers per source: forced orders are rare; this bounds a hostile stream.
MAX_REMEMBERED = 10_000

OrderKey = tuple[str, str, str]  # the labels: (market, symbol, kind)


@dataclass(frozen=True)
class ForceOrder:
    order_id: str
    key: OrderKey
    quantity: Decimal
    time_ms: int


@dataclass(frozen=True)
class ForcedFill:
    """A forced order's fill the user data stream pushed, for the ledger of ``collector``."""

    collector: str  # um_force_orders or cm_force_orders
    order_id: str
    key: OrderKey
    quantity: Decimal  # this fill's (``l``)
    time_ms: int  # the trade's time on Binance's clock


@dataclass
class ForceOrderLedger:
    """One account's forced-order counters of one market, and where the next poll starts."""

    start_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    cursor_ms: int = -1  # the newest order's time; the start until an order is seen
    at_cursor: set[str] = field(default_factory=set)  # order ids at the cursor's millisecond
    orders: dict[OrderKey, int] = field(default_factory=dict)
    quantity: dict[OrderKey, Decimal] = field(default_factory=dict)
    # Orders the stream counted and no poll has yet: order id -> the quantity of its fills.
    streamed: dict[str, Decimal] = field(default_factory=dict)
    # Orders a poll counted, newest last: a late fill of one of them is not counted again.
    polled: dict[str, None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cursor_ms = max(self.cursor_ms, self.start_ms)

    def commit(self, found: list[ForceOrder]) -> None:
        """Count the orders after the start not counted before; move the cursor."""
        for order in sorted(found, key=lambda o: o.time_ms):
            if order.time_ms <= self.start_ms or order.time_ms < self.cursor_ms:
                continue
            if order.time_ms > self.cursor_ms:
                self.cursor_ms, self.at_cursor = order.time_ms, set()
            if order.order_id in self.at_cursor:
                continue
            self.at_cursor.add(order.order_id)
            _remember(self.polled, order.order_id)
            streamed = self.streamed.pop(order.order_id, None)
            if streamed is None:
                self._add(order.key, 1, order.quantity)
            elif order.quantity > streamed:  # fills the stream missed
                self._add(order.key, 0, order.quantity - streamed)

    def fill(self, order_id: str, key: OrderKey, quantity: Decimal, time_ms: int) -> bool:
        """A forced fill the stream saw (at ``time_ms``); whether it changed the counters."""
        if time_ms <= self.start_ms or order_id in self.polled:
            return False
        known = self.streamed.get(order_id)
        self._add(key, 0 if known is not None else 1, quantity)
        self.streamed[order_id] = (known or Decimal(0)) + quantity
        while len(self.streamed) > MAX_REMEMBERED:  # orders no poll ever reports
            del self.streamed[next(iter(self.streamed))]
        return True

    def samples(self) -> Samples:
        """The counters' rows."""
        return {
            ORDERS: [(key, float(n)) for key, n in self.orders.items()],
            QUANTITY: [(key, float(q)) for key, q in self.quantity.items()],
        }

    def _add(self, key: OrderKey, orders: int, quantity: Decimal) -> None:
        self.orders[key] = self.orders.get(key, 0) + orders
        self.quantity[key] = self.quantity.get(key, Decimal(0)) + quantity


def _remember(seen: dict[str, None], order_id: str) -> None:
    seen[order_id] = None
    while len(seen) > MAX_REMEMBERED:
        del seen[next(iter(seen))]


@dataclass(frozen=True)
class FuturesPages:
    """UM or COIN-M forced orders from the ledger's cursor on, following full pages by time."""

    def new_memory(self) -> ForceOrderLedger:
        return ForceOrderLedger()

    async def fetch(self, get: Fetcher, path: str, ledger: ForceOrderLedger) -> list[Any]:
        rows: list[Any] = []
        start = ledger.cursor_ms
        for _ in range(MAX_PAGES_PER_POLL):
            page = _list(await get(path, {"startTime": str(start), "limit": str(PAGE_LIMIT)}))
            rows.extend(page)
            newest = max((t for t in (_time(r, "time") for r in page) if t is not None), default=-1)
            if len(page) < PAGE_LIMIT or newest < start:
                break
            # A full page of one millisecond: its orders past the page cannot be reached (no
            # page parameter), so the next page starts after it.
            start = newest if newest > start else newest + 1
        return rows


@dataclass(frozen=True)
class MarginPages:
    """Margin forced orders from the ledger's cursor on, page by page up to the reply's total."""

    def new_memory(self) -> ForceOrderLedger:
        return ForceOrderLedger()

    async def fetch(self, get: Fetcher, path: str, ledger: ForceOrderLedger) -> list[Any]:
        rows: list[Any] = []
        for current in range(1, MAX_PAGES_PER_POLL + 1):
            params = {"startTime": str(ledger.cursor_ms), "current": str(current)}
            page, total = _margin_page(await get(path, {**params, "size": str(PAGE_LIMIT)}))
            rows.extend(page)
            if len(page) < PAGE_LIMIT or current * PAGE_LIMIT >= total:
                break
        return rows


class ForceOrders:
    """Parse of one market's forced orders into the shared families."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.time_field = "updatedTime" if market == "margin" else "time"

    def parse(self, payload: Any, options: ParseOptions) -> Result:
        ledger = options.memory
        if not isinstance(ledger, ForceOrderLedger) or not isinstance(payload, list):
            raise BadPayload("expected forced orders and the account's ledger")
        found, skipped = [], 0
        for row in payload:
            order = self._order(row)
            if order is None:
                skipped += 1
            else:
                found.append(order)
        ledger.commit(found)
        return Result(ledger.samples(), skipped)

    def _order(self, row: Any) -> ForceOrder | None:
        """One order, or None when it lacks what counting needs (id, symbol, time, quantity)."""
        if type(row) is not dict:
            return None
        order_id, symbol = row.get("orderId"), row.get("symbol")
        if type(order_id) is int:
            order_id = str(order_id)
        time_ms = _time(row, self.time_field)
        quantity = _quantity(row.get("executedQty"))
        if (
            not (isinstance(order_id, str) and order_id)
            or not (isinstance(symbol, str) and symbol)
            or time_ms is None
            or quantity is None
        ):
            return None
        return ForceOrder(order_id, (self.market, symbol, self._kind(row)), quantity, time_ms)

    def _kind(self, row: dict) -> str:
        if self.market == "margin":
            return "liquidation"
        close_type = row.get("autoCloseType")
        if close_type == "ADL":
            return "adl"
        if close_type == "LIQUIDATION":
            return "liquidation"
        client_id = row.get("clientOrderId")
        if isinstance(client_id, str) and client_id.startswith("adl_autoclose"):
            return "adl"
        return "liquidation"


def force_order_collector(market: Market, path: str, weight: int) -> Collector:
    """The forced-order collector of one market."""
    orders = ForceOrders(market)
    return Collector(
        name=f"{market}_force_orders",
        path=path,
        weight=weight,
        # History: every ten minutes is plenty; the stream shows forced fills as they happen.
        default_interval=600,
        families=FAMILIES,
        parse=orders.parse,
        decode=decode,
        fetch=MarginPages() if market == "margin" else FuturesPages(),
    )


def decode(payload: Any, options: ParseOptions) -> Any:
    """The fetch strategy already decoded the pages."""
    return payload


def _list(body: bytes) -> list[Any]:
    rows = _json(body)
    if not isinstance(rows, list):
        raise ApiError("bad_response", "unexpected payload: expected a JSON array")
    return rows


def _margin_page(body: bytes) -> tuple[list[Any], int]:
    reply = _json(body)
    rows = reply.get("rows") if type(reply) is dict else None
    total = reply.get("total") if type(reply) is dict else None
    if not isinstance(rows, list) or type(total) is not int:
        raise ApiError("bad_response", 'unexpected payload: expected {"rows": [...], "total": N}')
    return rows, total


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError("bad_response", "unexpected payload: body is not JSON") from None


def _time(row: Any, name: str) -> int | None:
    value = row.get(name) if type(row) is dict else None
    if type(value) is int and value >= 0:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    return None


def _quantity(value: Any) -> Decimal | None:
    if type(value) is not str and type(value) is not int:
        return None
    try:
        quantity = Decimal(value)
    except InvalidOperation:
        return None
    return quantity if quantity.is_finite() and quantity >= 0 else None
