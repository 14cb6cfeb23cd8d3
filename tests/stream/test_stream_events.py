"""Frames -> events -> counters: the shapes of Binance's PM user data stream, exact values."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from exporter.collectors._force_orders import ForcedFill
from exporter.stream.events import BadFrame
from exporter.stream.kinds import (
    AccountUpdate,
    Balance,
    BalanceTally,
    Ignored,
    LabelBudget,
    LiabilityChange,
    ListenKeyExpired,
    OrderTradeUpdate,
    Position,
    RiskLevelChange,
    RiskTally,
    parse_frame,
)
from exporter.stream.state import StreamState

# The project's own frames, shaped like the examples of Binance's "User Data Streams" pages.
RISK = {
    "e": "riskLevelChange",
    "E": 1587727187525,
    "u": "1.99999999",
    "s": "MARGIN_CALL",
    "eq": "30.23416728",
    "ae": "30.23416728",
    "m": "15.11708371",
}
UPDATE = {
    "e": "ACCOUNT_UPDATE",
    "fs": "UM",
    "E": 1564745798939,
    "T": 1564745798938,
    "i": "",
    "a": {
        "m": "ORDER",
        "B": [
            {"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50.12345678"},
            {"a": "BUSD", "wb": "1.00000000", "cw": "0.00000000", "bc": "-49.12345678"},
        ],
        "P": [{"s": "BTCUSDT", "pa": "0", "ep": "0.00000", "cr": "200", "up": "0", "ps": "BOTH"}],
    },
}
LIABILITY = {
    "e": "liabilityChange",
    "E": 1573200697110,
    "a": "BTC",
    "t": "BORROW",
    "T": 1352286576452864727,
    "p": "1.03453430",
    "i": "0",
    "l": "1.03476851",
}


def frame(data: dict) -> bytes:
    return orjson.dumps(data)


def event(data: dict) -> object:
    """The typed event of a frame, its kind aside."""
    return parse_frame(frame(data))[1]


def count(state: StreamState, data: dict, now: float | None = None) -> None:
    state.count(*parse_frame(frame(data)), now=now)


def test_risk_level_change():
    assert event(RISK) == RiskLevelChange(
        1587727187525, "MARGIN_CALL", 1.99999999, 30.23416728, 30.23416728, 15.11708371
    )


def test_risk_level_change_without_its_figures_still_carries_the_uni_mmr():
    bare = {"e": "riskLevelChange", "E": 1587727187525, "u": "1.5", "s": "REDUCE_ONLY"}
    assert event(bare) == RiskLevelChange(1587727187525, "REDUCE_ONLY", 1.5)


@pytest.mark.parametrize("uni_mmr", [1.04, "1.04"])
def test_a_json_number_where_binance_documents_a_string_is_read_alike(uni_mmr: object):
    risk = event({**RISK, "u": uni_mmr, "eq": 30.5, "m": 15})
    assert isinstance(risk, RiskLevelChange)
    assert (risk.uni_mmr, risk.equity, risk.maint_margin) == (1.04, 30.5, 15.0)


def test_account_update_keeps_each_balance_change_as_a_decimal():
    assert event(UPDATE) == AccountUpdate(
        1564745798939,
        "UM",
        "ORDER",
        (
            Balance("USDT", Decimal("50.12345678"), 122624.12345678, 100.12345678),
            Balance("BUSD", Decimal("-49.12345678"), 1.0, 0.0),
        ),
        (Position("BTCUSDT", "BOTH", 0.0, 0.0, 0.0),),
        1564745798938,
    )


def test_a_transaction_id_above_2_to_the_53_stays_exact():
    liability = event(LIABILITY)
    assert liability == LiabilityChange(
        1573200697110, "BTC", "BORROW", 1352286576452864727, 1.0345343, 0.0, 1.03476851
    )
    assert isinstance(liability, LiabilityChange)
    assert liability.transaction_id > 2**53
    assert liability.transaction_id != int(float(1352286576452864727))


def test_listen_key_expired_with_its_time_as_a_string():
    data = {"e": "listenKeyExpired", "E": "1736996475556", "listenKey": "abc"}
    assert event(data) == ListenKeyExpired(1736996475556)


def test_events_the_exporter_does_not_count_are_not_unknown():
    # An order update that is no forced fill is read as nothing to count.
    assert event({"e": "ORDER_TRADE_UPDATE", "E": 1}) == OrderTradeUpdate(None)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (b"not json", "malformed"),
        (b"[1]", "malformed"),
        (b'{"E": 1736996475556}', "malformed"),
        (b'{"e": "brandNewEvent", "E": 1736996475556}', "unknown_event"),
        (frame({**RISK, "u": "NaN"}), "malformed"),
        (frame({**RISK, "u": True}), "malformed"),
        (frame({**RISK, "eq": "x"}), "malformed"),
        (
            frame({**UPDATE, "a": {"m": "ORDER", "P": [{"s": "BTCUSDT", "ps": "BOTH"}]}}),
            "malformed",
        ),
        (
            frame(
                {**UPDATE, "a": {"m": "ORDER", "P": [{"s": "bad symbol", "pa": "1", "ps": "BOTH"}]}}
            ),
            "malformed",
        ),
        (frame({**RISK, "s": "bad level"}), "malformed"),
        (frame({**RISK, "E": None}), "malformed"),
        (frame({**UPDATE, "fs": "bad unit"}), "malformed"),
        (frame({**UPDATE, "fs": None}), "malformed"),
        (frame({**UPDATE, "a": {"m": "ORDER", "B": [{"a": "USDT"}]}}), "malformed"),
        (frame({**UPDATE, "a": {"m": "ORDER", "B": "x"}}), "malformed"),
        (frame({**LIABILITY, "T": 1.3e18}), "malformed"),
        (frame({**LIABILITY, "T": "1352286576452864727"}), "malformed"),
    ],
)
def test_frames_that_cannot_be_counted(text: bytes, kind: str):
    with pytest.raises(BadFrame) as caught:
        parse_frame(text)
    assert caught.value.kind == kind


def test_counters_sum_credits_and_debits_apart_per_book_asset_and_reason():
    state = StreamState("desk")
    count(state, UPDATE, now=100.0)
    funding = {
        **UPDATE,
        "fs": "CM",
        "a": {
            "m": "FUNDING_FEE",
            "B": [
                {"a": "BTC", "bc": "-0.001"},
                {"a": "BTC", "bc": "-0.002"},
                {"a": "BTC", "bc": "0.0005"},
            ],
        },
    }
    count(state, funding, now=101.0)
    balances = state.tally(BalanceTally)
    assert balances.credited == {
        ("UM", "USDT", "ORDER"): Decimal("50.12345678"),
        ("UM", "BUSD", "ORDER"): Decimal(0),
        ("CM", "BTC", "FUNDING_FEE"): Decimal("0.0005"),
    }
    assert balances.debited == {
        ("UM", "USDT", "ORDER"): Decimal(0),
        ("UM", "BUSD", "ORDER"): Decimal("49.12345678"),
        ("CM", "BTC", "FUNDING_FEE"): Decimal("0.003"),
    }
    assert state.last_event_time == 101.0


def test_the_latest_risk_event_by_its_time_sets_the_gauges():
    state = StreamState("desk")
    risk = state.tally(RiskTally)
    assert risk.events == {"MARGIN_CALL": 0, "REDUCE_ONLY": 0, "FORCE_LIQUIDATION": 0}
    later = RISK["E"] + 1000
    count(state, {**RISK, "E": later, "s": "REDUCE_ONLY", "u": "1.1"})
    count(state, {**RISK, "s": "MARGIN_CALL", "u": "1.4"})
    assert risk.events == {"MARGIN_CALL": 1, "REDUCE_ONLY": 1, "FORCE_LIQUIDATION": 0}
    assert (risk.last_uni_mmr, risk.last_time_ms) == (1.1, later)


def test_rendered_series_of_a_fresh_stream():
    text = b"".join(StreamState("desk").render('account="desk"').values()).decode()
    reconnects = "binance_pm_exporter_stream_reconnects_total"
    assert text.splitlines() == [
        'binance_pm_risk_level_events_total{account="desk",level="FORCE_LIQUIDATION"} 0.0',
        'binance_pm_risk_level_events_total{account="desk",level="MARGIN_CALL"} 0.0',
        'binance_pm_risk_level_events_total{account="desk",level="REDUCE_ONLY"} 0.0',
        'binance_pm_uni_mmr_drop_events_total{account="desk"} 0.0',
        'binance_pm_exporter_stream_up{account="desk"} 0.0',
        f'{reconnects}{{account="desk",reason="closed"}} 0.0',
        f'{reconnects}{{account="desk",reason="network"}} 0.0',
        f'{reconnects}{{account="desk",reason="silence"}} 0.0',
        f'{reconnects}{{account="desk",reason="garbage"}} 0.0',
        f'{reconnects}{{account="desk",reason="listen_key_expired"}} 0.0',
        f'{reconnects}{{account="desk",reason="renewal"}} 0.0',
        f'{reconnects}{{account="desk",reason="listen_key"}} 0.0',
        'binance_pm_exporter_stream_last_event_timestamp_seconds{account="desk"} 0.0',
        'binance_pm_exporter_stream_bad_frames_total{account="desk",kind="malformed"} 0.0',
        'binance_pm_exporter_stream_bad_frames_total{account="desk",kind="unknown_event"} 0.0',
        'binance_pm_exporter_stream_dropped_labels_total{account="desk"} 0.0',
    ]


NOW = 1736996475.556  # the local clock the frames below are read at (January 2025)


def unreadable(data: dict) -> BadFrame:
    with pytest.raises(BadFrame) as caught:
        parse_frame(frame(data), now=NOW)
    return caught.value


@pytest.mark.parametrize(
    "time_ms",
    [
        2**63 - 1,  # would pin the latest risk event until restart
        int(NOW * 1000) + 86_400_000 + 1,  # more than a day ahead of the local clock
        1_483_228_799_999,  # before 2017
        -1,
        "²",  # a Unicode digit: str.isdigit() says yes, int() says no
        "9" * 16,
        True,
    ],
)
def test_an_event_time_out_of_range_is_a_malformed_frame(time_ms: object):
    assert unreadable({**RISK, "E": time_ms}).kind == "malformed"


def test_an_event_time_within_a_day_ahead_is_read():
    ahead = int(NOW * 1000) + 86_400_000
    assert parse_frame(frame({**RISK, "E": ahead}), now=NOW)[1].time_ms == ahead


@pytest.mark.parametrize(
    "amount",
    ["1E+5000", "1e999999999", "-1e999999999", "1e15", "-1e15", "1e-999999999", "sNaN", "-Inf"],
)
def test_a_balance_change_of_an_absurd_magnitude_is_a_malformed_frame(amount: str):
    entry = {"a": "USDT", "bc": amount}
    update = {**UPDATE, "a": {"m": "ORDER", "B": [entry]}}
    assert unreadable(update).kind == "malformed"
    assert unreadable({**RISK, "u": amount}).kind == "malformed"


def test_the_largest_readable_balance_change_is_counted_finite():
    state = StreamState("desk")
    entry = {"a": "USDT", "bc": "999999999999999.999999"}
    count(state, {**UPDATE, "a": {"m": "ORDER", "B": [entry] * 3}})
    assert state.tally(BalanceTally).credited == {
        ("UM", "USDT", "ORDER"): Decimal("2999999999999999.999997")
    }
    assert state.rows()["binance_pm_balance_credited_total"] == [(("UM", "USDT", "ORDER"), 3e15)]


@pytest.mark.parametrize(
    ("field", "name"),
    [("a", "btc"), ("a", "BTC USDT"), ("a", "B" * 21), ("m", "order"), ("m", "A" * 41)],
)
def test_a_label_value_outside_binances_syntax_is_a_malformed_frame(field: str, name: str):
    entry = {"a": name if field == "a" else "BTC", "bc": "1"}
    reason = name if field == "m" else "ORDER"
    assert unreadable({**UPDATE, "a": {"m": reason, "B": [entry]}}).kind == "malformed"


def test_an_asset_with_digits_is_a_name():
    entry = {"a": "1000SATS", "bc": "1"}
    update = event({**UPDATE, "a": {"m": "ORDER", "B": [entry]}})
    assert isinstance(update, AccountUpdate)
    assert update.changes == (("1000SATS", Decimal(1)),)


def test_an_account_update_of_another_unit_is_counted_once_by_unit_not_malformed():
    state = StreamState("desk")
    for unit in ("MARGIN", "MARGIN", "OPTIONS"):
        count(state, {**UPDATE, "fs": unit, "a": {"m": "ORDER", "B": "not read"}})
    rows = state.rows()
    assert rows["binance_pm_exporter_stream_ignored_account_updates_total"] == [
        (("MARGIN",), 2.0),
        (("OPTIONS",), 1.0),
    ]
    assert rows["binance_pm_balance_credited_total"] == []
    assert state.take_values() == []


@pytest.mark.parametrize(
    "event_type",
    [
        "ALGO_UPDATE",
        "CONDITIONAL_ORDER_TRADE_UPDATE",
        "openOrderLoss",
        "outboundAccountPosition",
        "TRADE_LITE",
    ],
)
def test_documented_events_the_exporter_does_not_use_are_ignored_not_bad(event_type: str):
    assert event({"e": event_type, "E": 1736996475556}) == Ignored(event_type)


def test_the_risk_event_spelled_in_capitals_is_the_same_event():
    spelled = {**RISK, "e": "RISK_LEVEL_CHANGE"}
    assert event(spelled) == event(RISK)
    state = StreamState("desk")
    count(state, RISK)
    count(state, spelled)
    assert state.rows()["binance_pm_risk_level_events_total"][0] == (("MARGIN_CALL",), 2.0)


def test_cross_margin_wallet_movements_are_summed_apart_by_asset():
    state = StreamState("desk")
    for asset, delta in (("USDT", "100.5"), ("USDT", "-40.25"), ("BTC", -0.5), ("USDT", "2")):
        count(state, {"e": "balanceUpdate", "E": 1573200697110, "a": asset, "d": delta})
    rows = state.rows()
    assert rows["binance_pm_margin_balance_credited_total"] == [(("BTC",), 0.0), (("USDT",), 102.5)]
    assert rows["binance_pm_margin_balance_debited_total"] == [(("BTC",), 0.5), (("USDT",), 40.25)]


def test_a_cross_margin_movement_of_an_asset_over_the_cap_is_dropped_and_counted():
    state = StreamState("desk", LabelBudget(assets=1))
    for asset in ("USDT", "BTC"):
        count(state, {"e": "balanceUpdate", "E": 1573200697110, "a": asset, "d": "1"})
    assert state.rows()["binance_pm_margin_balance_credited_total"] == [(("USDT",), 1.0)]
    assert state.labels.dropped == 1


def test_uni_mmr_drops_are_counted_and_carry_their_uni_mmr_to_the_account_gauge():
    state = StreamState("desk")
    count(state, {"e": "uniMMRDrop", "E": 1736996475556, "u": "1.52"})
    count(state, {"e": "uniMMRDrop", "E": 1736996475557, "u": 1.44})
    assert state.rows()["binance_pm_uni_mmr_drop_events_total"] == [((), 2.0)]
    assert [effects[0].value for _, effects in state.take_values()] == [1.52, 1.44]


def order_update(book: str, client_id: str, execution: str = "TRADE") -> dict:
    """Shaped as Binance's PM "Event: Order Update" (futures fields, ``fs`` the book)."""
    order = {
        "s": "BTCUSDT" if book == "UM" else "BTCUSD_PERP",
        "c": client_id,
        "S": "SELL",
        "o": "LIMIT",
        "f": "IOC",
        "q": "0.250",
        "p": "60000",
        "x": execution,
        "X": "PARTIALLY_FILLED",
        "i": 8886774,
        "l": "0.125",
        "z": "0.125",
        "T": 1736996475550,
        "ps": "BOTH",
    }
    return {
        "e": "ORDER_TRADE_UPDATE",
        "fs": book,
        "E": 1736996475556,
        "T": 1736996475551,
        "o": order,
    }


def test_a_liquidation_fill_is_read_with_its_order_id_quantity_and_trade_time():
    got = event(order_update("UM", "autoclose-1736996475550123456"))
    assert got == OrderTradeUpdate(
        ForcedFill(
            "um_force_orders",
            "8886774",
            ("um", "BTCUSDT", "liquidation"),
            Decimal("0.125"),
            1736996475550,
        )
    )


def test_an_adl_fill_of_coin_m_is_read_as_adl():
    got = event(order_update("CM", "adl_autoclose-1736996475550123456"))
    assert isinstance(got, OrderTradeUpdate)
    assert got.fill is not None
    assert (got.fill.collector, got.fill.key) == ("cm_force_orders", ("cm", "BTCUSD_PERP", "adl"))


@pytest.mark.parametrize(
    ("book", "client_id", "execution"),
    [
        ("UM", "web_abc", "TRADE"),  # an ordinary order
        ("UM", "autoclose-1", "NEW"),  # not a fill
        ("MARGIN", "autoclose-1", "TRADE"),  # not a futures book
    ],
)
def test_other_order_updates_count_nothing(book: str, client_id: str, execution: str):
    assert event(order_update(book, client_id, execution)) == OrderTradeUpdate(None)


def test_an_order_update_whose_book_is_not_a_name_counts_nothing():
    for book in (["UM"], {"UM": 1}, None, 1):
        frame = {**order_update("UM", "autoclose-1"), "fs": book}
        assert event(frame) == OrderTradeUpdate(None)
