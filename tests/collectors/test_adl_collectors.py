"""The ADL quantile collectors: Binance's examples, the HEDGE marker, missing keys, the leader's
positions, and over sockets."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.collectors import BadPayload, ParseOptions
from exporter.collectors.cm_adl_quantile import COLLECTOR as CM
from exporter.collectors.um_adl_quantile import COLLECTOR as UM

UM_NAME = "binance_pm_um_position_adl_quantile"
CM_NAME = "binance_pm_cm_position_adl_quantile"
# Binance's docs example of GET /papi/v1/um/adlQuantile.
UM_DOCS = [
    {"symbol": "ETHUSDT", "adlQuantile": {"LONG": 3, "SHORT": 3, "BOTH": 0}},
    {"symbol": "BTCUSDT", "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": 2}},
]
# Binance's SDK example of GET /papi/v1/cm/adlQuantile: hedge mode, with the HEDGE marker.
CM_SDK = [
    {"symbol": "BTCUSD_201225", "adlQuantile": {"LONG": 3, "SHORT": 3, "HEDGE": 0, "BOTH": 0}}
]


def quantiles(result: Any, name: str = UM_NAME) -> dict[tuple[str, ...], float]:
    return dict(result.samples[name])


def test_without_the_account_detail_every_side_present_is_exported() -> None:
    result = UM.parse(UM_DOCS, ParseOptions())
    assert quantiles(result) == {
        ("ETHUSDT", "LONG"): 3.0,
        ("ETHUSDT", "SHORT"): 3.0,
        ("ETHUSDT", "BOTH"): 0.0,
        ("BTCUSDT", "LONG"): 0.0,
        ("BTCUSDT", "SHORT"): 0.0,
        ("BTCUSDT", "BOTH"): 2.0,
    }


def test_only_the_positions_the_account_detail_exported_are_kept() -> None:
    provided = {("BTCUSDT", "BOTH"): frozenset(), ("SOLUSDT", "BOTH"): frozenset()}
    result = UM.parse(UM_DOCS, ParseOptions(provided=provided))
    assert quantiles(result) == {("BTCUSDT", "BOTH"): 2.0}


def test_the_hedge_marker_is_not_a_side() -> None:
    result = CM.parse(CM_SDK, ParseOptions())
    assert quantiles(result, CM_NAME) == {
        ("BTCUSD_201225", "LONG"): 3.0,
        ("BTCUSD_201225", "SHORT"): 3.0,
        ("BTCUSD_201225", "BOTH"): 0.0,
    }


def test_a_missing_side_has_no_series_and_is_no_error() -> None:
    provided = {("BTCUSDT", "LONG"): frozenset(), ("BTCUSDT", "SHORT"): frozenset()}
    reply = [{"symbol": "BTCUSDT", "adlQuantile": {"LONG": 1}}]
    result = UM.parse(reply, ParseOptions(provided=provided))
    assert quantiles(result) == {("BTCUSDT", "LONG"): 1.0}
    assert (result.skipped, result.skipped_fields) == (0, 0)


@pytest.mark.parametrize("bad", [5, -1, 1.5, "x", None, True])
def test_a_quantile_that_is_not_0_to_4_is_unreadable(bad: Any) -> None:
    reply = [{"symbol": "BTCUSDT", "adlQuantile": {"BOTH": bad, "LONG": 4}}]
    result = UM.parse(reply, ParseOptions())
    assert quantiles(result) == {("BTCUSDT", "LONG"): 4.0}
    assert result.skipped_fields == 1


def test_entries_without_symbol_or_quantiles_and_duplicates_are_skipped() -> None:
    reply = [*UM_DOCS, {"symbol": "XRPUSDT"}, {"adlQuantile": {}}, UM_DOCS[0], 7]
    result = UM.parse(reply, ParseOptions())
    assert result.skipped == 4
    assert len(quantiles(result)) == 6


@pytest.mark.parametrize("payload", [{}, [7], [{"symbol": ""}]])
def test_a_reply_with_no_usable_entry_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        UM.parse(payload, ParseOptions())
