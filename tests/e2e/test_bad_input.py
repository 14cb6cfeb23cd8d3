"""Hostile payloads: arbitrary JSON, odd label values, huge and never-ending bodies.

What one unreadable field does: it leaves out its own gauge and is counted in
binance_pm_exporter_skipped_fields_total; an entry that cannot be placed (no symbol, a duplicate)
is skipped and counted in binance_pm_exporter_skipped_entries_total; the rest of the reply is
exported. A reply whose shape is wrong, or with nothing readable, is a bad_response (see README).
"""

from __future__ import annotations

import math
from decimal import Decimal

import orjson
import psutil
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.collectors import COLLECTORS, BadPayload, ParseOptions
from tests.helpers import ExporterThread, check_metrics, make_config, series, value, wait_for
from tests.replies import futures_account, um_asset, um_position

UM = "/papi/v1/um/account"

# Values Binance never sends but a broken proxy or a future API might.
weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "", " ", "abc", "0x10"]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
decimal_text = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=8, allow_nan=False
).map(lambda d: format(d, "f"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)

POSITION_KEYS = [
    "symbol", "positionSide", "positionAmt", "entryPrice", "leverage", "unrealizedProfit",
    "initialMargin", "maintMargin", "positionInitialMargin", "openOrderInitialMargin",
    "maxNotional", "maxQty", "updateTime", "markPrice", "liquidationPrice", "notional",
]  # fmt: skip
ASSET_KEYS = [
    "asset", "crossWalletBalance", "crossUnPnl", "maintMargin", "initialMargin",
    "positionInitialMargin", "openOrderInitialMargin", "updateTime",
]  # fmt: skip
ACCOUNT_KEYS = [
    "uniMMR", "accountEquity", "actualEquity", "accountInitialMargin", "accountMaintMargin",
    "accountStatus", "virtualMaxWithdrawAmount", "totalAvailableBalance", "totalMarginOpenLoss",
    "updateTime",
]  # fmt: skip


def near_miss(keys: list[str]) -> st.SearchStrategy[dict]:
    """Entries with the right keys and anything as values, some keys missing, extras added."""
    return st.fixed_dictionaries(
        {},
        optional={k: st.one_of(weird, decimal_text, st.sampled_from(["BTCUSDT", "BOTH"]))
                  for k in [*keys, "extra"]},
    )  # fmt: skip


payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "assets": st.one_of(weird, st.lists(near_miss(ASSET_KEYS), max_size=6)),
            "positions": st.one_of(weird, st.lists(near_miss(POSITION_KEYS), max_size=12)),
        },
    ),
    st.lists(near_miss(POSITION_KEYS), max_size=12),
    near_miss(ACCOUNT_KEYS),
)


def check_result(result) -> None:
    for family, rows in result.samples.items():
        for labels, v in rows:
            assert all(isinstance(x, str) for x in labels)
            assert isinstance(v, float)
            assert not math.isnan(v)
            if math.isinf(v):
                assert family.endswith("_margin_ratio") and v > 0
    assert result.skipped >= 0 and result.skipped_fields >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, include_zero=st.booleans())
def test_any_json_gives_samples_or_bad_payload_never_another_exception(payload, include_zero):
    options = ParseOptions(include_zero=include_zero)
    for collector in COLLECTORS.values():
        try:
            result = collector.parse(payload, options)
        except BadPayload:
            continue
        check_result(result)


position_rows = st.lists(
    st.tuples(
        st.text(alphabet="ABCDEFGHXYZ019", min_size=1, max_size=6),
        st.sampled_from(["BOTH", "LONG", "SHORT"]),
        st.lists(decimal_text, min_size=9, max_size=9),
        st.integers(min_value=0, max_value=2**41),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(rows=position_rows, bad_index=st.integers(min_value=0, max_value=19))
def test_good_fields_are_exact_and_one_unreadable_field_is_left_out_alone(rows, bad_index):
    fields = [
        "positionAmt",
        "entryPrice",
        "leverage",
        "unrealizedProfit",
        "initialMargin",
        "maintMargin",
        "positionInitialMargin",
        "openOrderInitialMargin",
        "maxNotional",
    ]
    positions, expected = [], {}
    for symbol, side, numbers, updated in rows:
        entry = {"symbol": symbol, "positionSide": side, "updateTime": updated}
        entry.update(zip(fields, numbers, strict=True))
        positions.append(entry)
        if (symbol, side) not in expected:  # a duplicate key: the first one wins
            expected[(symbol, side)] = [float(n) for n in numbers]
    bad = bad_index % len(positions)
    positions[bad] = dict(positions[bad], entryPrice="NaN")
    first_of_key = next(
        i
        for i, p in enumerate(positions)
        if (p["symbol"], p["positionSide"]) == (rows[bad][0], rows[bad][1])
    )
    payload = {"assets": [], "positions": positions}
    result = COLLECTORS["um_account"].parse(payload, ParseOptions(include_zero=True))
    bad_key = (rows[bad][0], rows[bad][1])
    got = {labels: v for labels, v in result.samples["binance_pm_um_position_entry_price"]}
    # The unreadable entry price costs only that gauge, and only if its entry was exported.
    assert got == {k: v[1] for k, v in expected.items() if k != bad_key or first_of_key != bad}
    amounts = dict(result.samples["binance_pm_um_position_amount"])
    assert amounts == {k: v[0] for k, v in expected.items()}
    assert result.skipped == len(positions) - len(expected)  # duplicates
    assert result.skipped_fields == (1 if first_of_key == bad else 0)


def test_odd_label_values_are_escaped_and_unknown_symbols_just_work(sim, accounts):
    symbols = ['QUOTE"USDT', "BACK\\SLASH", "NEW\nLINE", "ÄPFEL币USDT", "BRANDNEWUSDT"]
    fields = {
        "positionAmt": "1.5",
        "entryPrice": "2",
        "leverage": "3",
        "unrealizedProfit": "-4.25",
        "initialMargin": "5",
        "maintMargin": "6",
        "positionInitialMargin": "5",
        "openOrderInitialMargin": "0",
        "maxNotional": "7",
        "updateTime": 1700000000000,
    }
    body = orjson.dumps(futures_account(
        assets=[um_asset('US"DT', crossWalletBalance="1", crossUnPnl="0", maintMargin="0",
                         initialMargin="0", positionInitialMargin="0", openOrderInitialMargin="0",
                         updateTime=0)],
        positions=[um_position(s, **fields) for s in symbols],
    ))  # fmt: skip
    sim.set_fault("oneway", UM, status=200, body=body)
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        found = wait_for(lambda: series(exp.samples(), "binance_pm_um_position_amount"))
        text = exp.text()
        samples = exp.samples()
    assert {dict(k[1])["symbol"] for k in found} == set(symbols)
    assert value(samples, "binance_pm_um_asset_cross_wallet_balance", account="oneway",
                 asset='US"DT') == 1  # fmt: skip
    assert check_metrics(text) == ""


def test_a_huge_body_is_cut_off_without_memory_growth(sim, accounts):
    config = make_config(
        sim.base_url, accounts[:1], collectors=["um_account"], request_timeout_seconds=5,
        max_response_bytes=8 * 1024 * 1024,
    )  # fmt: skip
    me = psutil.Process()
    with ExporterThread(config) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        before = me.memory_info().rss
        sim.huge_body(UM, 300 * 1024 * 1024, account="oneway", times=2)
        errors = {"account": "oneway", "collector": "um_account", "reason": "bad_response"}
        wait_for(
            lambda: value(exp.samples(), "binance_pm_exporter_poll_errors_total", **errors) >= 2,
            timeout=8,
        )
        grown = me.memory_info().rss - before
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
    assert grown < 40 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"


def test_a_trickling_body_is_cut_off_by_the_request_timeout(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"],
                         request_timeout_seconds=1)  # fmt: skip
    with ExporterThread(config) as exp:
        sim.trickle(UM, 1.0, account="oneway", times=1)
        errors = {"account": "oneway", "collector": "um_account", "reason": "timeout"}
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_poll_errors_total", **errors)
                 == 1, timeout=5)  # fmt: skip
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
