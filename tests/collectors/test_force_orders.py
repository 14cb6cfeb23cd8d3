"""Forced-order collectors alone: Binance's published shapes parsed, each order counted once by
id, after the start only, its kind where Binance says which."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exporter.collectors import DEFAULT_COLLECTORS, BadPayload, ParseOptions
from exporter.collectors._force_orders import ORDERS, QUANTITY, ForceOrderLedger
from exporter.collectors.cm_force_orders import COLLECTOR as CM
from exporter.collectors.margin_force_orders import COLLECTOR as MARGIN
from exporter.collectors.um_force_orders import COLLECTOR as UM

# Shaped as the examples on Binance's "Query User's UM Force Orders", "... CM Force Orders" and
# "... Margin Force Orders" pages (the project's own values).
UM_ORDER = {
    "orderId": 6071832819,
    "symbol": "BTCUSDT",
    "status": "FILLED",
    "clientOrderId": "autoclose-1596107620040000020",
    "price": "10871.09",
    "avgPrice": "10913.21000",
    "origQty": "0.001",
    "executedQty": "0.001",
    "cumQuote": "10.91321",
    "timeInForce": "IOC",
    "type": "LIMIT",
    "reduceOnly": False,
    "side": "SELL",
    "positionSide": "BOTH",
    "origType": "LIMIT",
    "time": 1596107620044,
    "updateTime": 1596107620087,
}
CM_ORDER = {
    "orderId": 165123080,
    "symbol": "BTCUSD_200925",
    "pair": "BTCUSD",
    "status": "FILLED",
    "clientOrderId": "autoclose-1596542005017000006",
    "price": "11326.9",
    "avgPrice": "11326.9",
    "origQty": "1",
    "executedQty": "1",
    "cumBase": "0.00882854",
    "timeInForce": "IOC",
    "type": "LIMIT",
    "reduceOnly": False,
    "side": "SELL",
    "positionSide": "BOTH",
    "origType": "LIMIT",
    "time": 1596542005019,
    "updateTime": 1596542005050,
}
MARGIN_ORDER = {
    "avgPrice": "0.00388359",
    "executedQty": "31.39000000",
    "orderId": 180015097,
    "price": "0.00388110",
    "qty": "31.39000000",
    "side": "SELL",
    "symbol": "BNBBTC",
    "timeInForce": "GTC",
    "updatedTime": 1558941374745,
}
BEFORE = 1_500_000_000_000  # a start before every example


def parse(collector, rows, ledger):
    return collector.parse(rows, ParseOptions(memory=ledger))


def test_the_published_examples_count_one_liquidation_each() -> None:
    for collector, row, market, qty in (
        (UM, UM_ORDER, "um", 0.001),
        (CM, CM_ORDER, "cm", 1.0),
        (MARGIN, MARGIN_ORDER, "margin", 31.39),
    ):
        result = parse(collector, [row], ForceOrderLedger(start_ms=BEFORE))
        labels = (market, row["symbol"], "liquidation")
        assert result.samples == {ORDERS: [(labels, 1.0)], QUANTITY: [(labels, qty)]}
        assert result.skipped == 0


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"autoCloseType": "ADL"}, "adl"),
        ({"autoCloseType": "LIQUIDATION", "clientOrderId": "adl_autoclose"}, "liquidation"),
        ({"clientOrderId": "adl_autoclose-1596107620040000021"}, "adl"),
        ({"clientOrderId": "autoclose-1596107620040000021"}, "liquidation"),
        ({"clientOrderId": None}, "liquidation"),
    ],
)
def test_the_kind_is_adl_only_where_binance_says_so(fields, kind) -> None:
    result = parse(UM, [{**UM_ORDER, **fields}], ForceOrderLedger(start_ms=BEFORE))
    assert result.samples[ORDERS] == [(("um", "BTCUSDT", kind), 1.0)]


def test_each_order_counts_once_across_polls_and_none_before_the_start() -> None:
    ledger = ForceOrderLedger(start_ms=UM_ORDER["time"] - 1)
    old = {**UM_ORDER, "orderId": 1, "time": UM_ORDER["time"] - 1}  # at the start: not counted
    later = {**UM_ORDER, "orderId": 2, "time": UM_ORDER["time"] + 5, "executedQty": "0.25"}
    parse(UM, [old, UM_ORDER], ledger)
    result = parse(UM, [UM_ORDER, later, {**later}], ledger)  # asked again from the cursor
    labels = ("um", "BTCUSDT", "liquidation")
    assert result.samples == {ORDERS: [(labels, 2.0)], QUANTITY: [(labels, 0.251)]}
    assert ledger.quantity[labels] == Decimal("0.251")
    assert ledger.cursor_ms == later["time"]


def test_an_order_without_id_time_symbol_or_quantity_is_skipped() -> None:
    rows = [
        "x",
        {**UM_ORDER, "orderId": None},
        {**UM_ORDER, "orderId": 7, "time": -1},
        {**UM_ORDER, "orderId": 8, "symbol": ""},
        {**UM_ORDER, "orderId": 9, "executedQty": "NaN"},
        {**UM_ORDER, "orderId": 10, "executedQty": "-1"},
        {**UM_ORDER, "orderId": "11"},
    ]
    result = parse(UM, rows, ForceOrderLedger(start_ms=BEFORE))
    assert result.skipped == 6
    assert result.samples[ORDERS] == [(("um", "BTCUSDT", "liquidation"), 1.0)]


def test_no_order_yet_exports_no_series_and_a_payload_without_the_ledger_is_refused() -> None:
    assert parse(MARGIN, [], ForceOrderLedger()).samples == {ORDERS: [], QUANTITY: []}
    with pytest.raises(BadPayload):
        MARGIN.parse([], ParseOptions())


def test_the_collectors_are_off_by_default_every_ten_minutes_with_binances_weights() -> None:
    assert {(c.name, c.path, c.weight, c.default_interval) for c in (UM, CM, MARGIN)} == {
        ("um_force_orders", "/papi/v1/um/forceOrders", 50, 600),
        ("cm_force_orders", "/papi/v1/cm/forceOrders", 50, 600),
        ("margin_force_orders", "/papi/v1/margin/forceOrders", 1, 600),
    }
    assert not {UM.name, CM.name, MARGIN.name} & set(DEFAULT_COLLECTORS)


def test_an_order_the_stream_counted_first_counts_once_with_the_polls_executed_quantity() -> None:
    ledger = ForceOrderLedger(start_ms=BEFORE)
    labels = ("um", "BTCUSDT", "liquidation")
    order_id = str(UM_ORDER["orderId"])
    assert ledger.fill(order_id, labels, Decimal("0.0005"), UM_ORDER["time"])
    assert ledger.fill(order_id, labels, Decimal("0.0003"), UM_ORDER["time"] + 1)  # a 2nd fill
    assert ledger.samples() == {ORDERS: [(labels, 1.0)], QUANTITY: [(labels, 0.0008)]}
    # The poll finds the order executed in full (0.001): only the fill the stream missed is added.
    result = parse(UM, [UM_ORDER], ledger)
    assert result.samples == {ORDERS: [(labels, 1.0)], QUANTITY: [(labels, 0.001)]}
    # A late fill of an order a poll counted, and the poll asked again, count nothing more.
    assert not ledger.fill(order_id, labels, Decimal("0.0002"), UM_ORDER["time"] + 2)
    assert parse(UM, [UM_ORDER], ledger).samples == result.samples


def test_a_fill_at_or_before_the_start_is_not_counted() -> None:
    ledger = ForceOrderLedger(start_ms=UM_ORDER["time"])
    labels = ("um", "BTCUSDT", "liquidation")
    assert not ledger.fill("1", labels, Decimal("1"), UM_ORDER["time"])
    assert ledger.samples() == {ORDERS: [], QUANTITY: []}
