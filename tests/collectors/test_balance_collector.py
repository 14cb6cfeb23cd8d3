"""The balance collector: Binance's example rows exactly, blanks, zero rows, and over sockets."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.collectors import BadPayload, ParseOptions
from exporter.collectors.balance import parse

P = "binance_pm_balance_"
# Binance's docs example of GET /papi/v1/balance (its comments dropped).
DOCS_ROW = {
    "asset": "USDT",
    "totalWalletBalance": "122607.35137903",
    "crossMarginAsset": "92.27530794",
    "crossMarginBorrowed": "10.00000000",
    "crossMarginFree": "100.00000000",
    "crossMarginInterest": "0.72469206",
    "crossMarginLocked": "3.00000000",
    "umWalletBalance": "0.00000000",
    "umUnrealizedPNL": "23.72469206",
    "cmWalletBalance": "23.72469206",
    "cmUnrealizedPNL": "",
    "updateTime": 1617939110373,
    "negativeBalance": "0",
}
# A live capture's shape (ccxt): zeros as "0.0", a debt with no wallet, an all-zero-but-free row.
LIVE_ROWS = [
    {
        "asset": "USDC",
        "totalWalletBalance": "0.0",
        "crossMarginAsset": "0.0",
        "crossMarginBorrowed": "0.00014784",
        "crossMarginFree": "0.0",
        "crossMarginInterest": "0.00002402",
        "crossMarginLocked": "0.0",
        "umWalletBalance": "0.0",
        "umUnrealizedPNL": "0.0",
        "cmWalletBalance": "0.0",
        "cmUnrealizedPNL": "0.0",
        "updateTime": "0",
        "negativeBalance": "0.0",
    },
    {
        **DOCS_ROW,
        **{k: "0.0" for k in DOCS_ROW if k not in ("asset", "updateTime")},
        "asset": "ADA",
    },
]


def rows(result: Any, name: str) -> dict[tuple[str, ...], float]:
    return dict(result.samples[P + name])


def test_docs_example_is_exported_exactly_and_blank_is_absent() -> None:
    result = parse([DOCS_ROW], ParseOptions())
    usdt = ("USDT",)
    assert rows(result, "total_wallet_balance") == {usdt: 122607.35137903}
    assert rows(result, "cross_margin_asset") == {usdt: 92.27530794}
    assert rows(result, "cross_margin_borrowed") == {usdt: 10.0}
    assert rows(result, "cross_margin_free") == {usdt: 100.0}
    assert rows(result, "cross_margin_interest") == {usdt: 0.72469206}
    assert rows(result, "cross_margin_locked") == {usdt: 3.0}
    assert rows(result, "um_wallet_balance") == {usdt: 0.0}
    assert rows(result, "um_unrealized_pnl") == {usdt: 23.72469206}
    assert rows(result, "cm_wallet_balance") == {usdt: 23.72469206}
    assert rows(result, "cm_unrealized_pnl") == {}
    assert rows(result, "negative_balance") == {usdt: 0.0}
    assert rows(result, "update_timestamp_seconds") == {usdt: 1617939110.373}
    assert (result.skipped, result.skipped_fields) == (0, 0)


def test_an_all_zero_row_is_left_out_unless_include_zero() -> None:
    result = parse(LIVE_ROWS, ParseOptions())
    assert set(rows(result, "cross_margin_borrowed")) == {("USDC",)}
    assert rows(result, "update_timestamp_seconds") == {("USDC",): 0.0}
    shown = parse(LIVE_ROWS, ParseOptions(include_zero=True))
    assert set(rows(shown, "cross_margin_borrowed")) == {("USDC",), ("ADA",)}


def test_a_zero_row_with_an_unreadable_field_is_kept_and_the_field_counted() -> None:
    zero = {**LIVE_ROWS[1], "crossMarginFree": "n/a"}
    result = parse([zero], ParseOptions())
    assert rows(result, "total_wallet_balance") == {("ADA",): 0.0}
    assert result.skipped_fields == 1


def test_rows_without_an_asset_and_duplicates_are_skipped() -> None:
    result = parse([DOCS_ROW, {**DOCS_ROW, "asset": ""}, DOCS_ROW, "x"], ParseOptions())
    assert result.skipped == 3
    assert set(rows(result, "total_wallet_balance")) == {("USDT",)}


@pytest.mark.parametrize("payload", [{}, "x", None])
def test_a_reply_that_is_not_a_list_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        parse(payload, ParseOptions())


def test_a_reply_with_nothing_readable_is_bad() -> None:
    with pytest.raises(BadPayload):
        parse([{"asset": "USDT", "totalWalletBalance": "x"}], ParseOptions())


def test_an_empty_reply_is_fine() -> None:
    assert parse([], ParseOptions()).samples[P + "total_wallet_balance"] == []
