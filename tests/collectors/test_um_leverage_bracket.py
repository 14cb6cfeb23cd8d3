"""The UM leverage bracket collector: Binance's example, the symbols held, hostile entries."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.collectors import COLLECTORS, DEFAULT_COLLECTORS, BadPayload, ParseOptions
from exporter.collectors.um_leverage_bracket import COLLECTOR

P = "binance_pm_um_leverage_bracket_"
# Binance's docs example of GET /papi/v1/um/leverageBracket (figures are JSON numbers,
# notionalCoef a string), and a second symbol the account does not hold.
DOCS = [
    {
        "symbol": "ETHUSDT",
        "notionalCoef": "4.0",
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": 75,
                "notionalCap": 10000,
                "notionalFloor": 0,
                "maintMarginRatio": 0.0065,
                "cum": 0,
            },
            {
                "bracket": 2,
                "initialLeverage": 50,
                "notionalCap": 50000,
                "notionalFloor": 10000,
                "maintMarginRatio": 0.01,
                "cum": 35,
            },
        ],
    },
    {
        "symbol": "BTCUSDT",
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": 125,
                "notionalCap": 50000,
                "notionalFloor": 0,
                "maintMarginRatio": 0.004,
                "cum": 0,
            }
        ],
    },
]
HOLDS_ETH = {("ETHUSDT", "LONG"): frozenset(), ("ETHUSDT", "SHORT"): frozenset()}


def parse(payload: Any, provided: Any = HOLDS_ETH) -> Any:
    return COLLECTOR.parse(payload, ParseOptions(provided=provided))


def test_the_brackets_of_a_held_symbol_are_exported_exactly() -> None:
    result = parse(DOCS)
    assert result.samples == {
        P + "initial_leverage": [(("ETHUSDT", "1"), 75.0), (("ETHUSDT", "2"), 50.0)],
        P + "notional_floor": [(("ETHUSDT", "1"), 0.0), (("ETHUSDT", "2"), 10000.0)],
        P + "notional_cap": [(("ETHUSDT", "1"), 10000.0), (("ETHUSDT", "2"), 50000.0)],
        P + "maint_margin_ratio": [(("ETHUSDT", "1"), 0.0065), (("ETHUSDT", "2"), 0.01)],
        P + "maint_amount": [(("ETHUSDT", "1"), 0.0), (("ETHUSDT", "2"), 35.0)],
        P + "notional_coefficient": [(("ETHUSDT",), 4.0)],
    }
    assert (result.skipped, result.skipped_fields) == (0, 0)


def test_symbols_without_a_position_and_an_account_without_positions_export_nothing() -> None:
    assert all(rows == [] for rows in parse(DOCS, provided={}).samples.values())
    # Without the account detail's positions (not enabled, or stale) nothing is known to be held.
    assert all(rows == [] for rows in parse(DOCS, provided=None).samples.values())
    btc = parse(DOCS, {("BTCUSDT", "BOTH"): frozenset()}).samples
    assert btc[P + "initial_leverage"] == [(("BTCUSDT", "1"), 125.0)]
    assert btc[P + "notional_coefficient"] == []  # Binance sent none for it


def test_an_unreadable_figure_is_left_out_and_counted() -> None:
    bad = [dict(DOCS[0], brackets=[dict(DOCS[0]["brackets"][0], maintMarginRatio="x", cum=None)])]
    result = parse(bad)
    assert result.samples[P + "maint_margin_ratio"] == []
    assert result.samples[P + "initial_leverage"] == [(("ETHUSDT", "1"), 75.0)]
    assert result.skipped_fields == 2


@pytest.mark.parametrize("number", [0, -1, "1", 1.0, None, True])
def test_a_bracket_without_a_whole_number_from_1_is_skipped(number: Any) -> None:
    bad = [dict(DOCS[0], brackets=[dict(DOCS[0]["brackets"][0], bracket=number)])]
    result = parse(bad)
    assert result.samples[P + "initial_leverage"] == []
    assert result.skipped == 1


def test_entries_without_symbol_or_brackets_and_duplicates_are_skipped() -> None:
    result = parse([7, {"symbol": "ETHUSDT"}, DOCS[0], DOCS[0]])
    assert result.skipped == 3
    assert len(result.samples[P + "initial_leverage"]) == 2


@pytest.mark.parametrize("payload", [{}, "x", [7], [{"symbol": ""}]])
def test_a_reply_with_no_usable_entry_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        parse(payload)


def test_it_is_registered_off_by_default_following_the_account_detail_by_symbol() -> None:
    assert COLLECTORS["um_leverage_bracket"] is COLLECTOR
    assert "um_leverage_bracket" not in DEFAULT_COLLECTORS
    assert COLLECTOR.default_interval == 600
    assert (COLLECTOR.path, COLLECTOR.weight) == ("/papi/v1/um/leverageBracket", 1)
    assert (COLLECTOR.follows, COLLECTOR.follow_key) == ("um_account", "symbol")
