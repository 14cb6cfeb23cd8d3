"""The collateral rate parse: Binance's example, hostile entries, a reply that cannot be trusted."""

from __future__ import annotations

import pytest

from exporter.collectors import COLLECTORS, BadPayload, ParseOptions
from exporter.collectors._collateral_rate import NAME, RATE, parse

# Binance's example of GET /sapi/v1/portfolio/collateralRate (its trailing comma dropped).
DOCS = [
    {"asset": "USDC", "collateralRate": "1.0000"},
    {"asset": "BUSD", "collateralRate": "1.0000"},
]


def rates(payload: object) -> dict[str, float]:
    return {labels[0]: v for labels, v in parse(payload, ParseOptions()).samples[RATE]}


def test_binances_example_gives_one_rate_per_asset() -> None:
    assert rates(DOCS) == {"USDC": 1.0, "BUSD": 1.0}


def test_haircuts_are_exported_as_sent() -> None:
    payload = [
        {"asset": "BTC", "collateralRate": "0.9500"},
        {"asset": "SOL", "collateralRate": "0.9"},
    ]
    assert rates(payload) == {"BTC": 0.95, "SOL": 0.9}


def test_entries_without_an_asset_or_a_readable_rate_are_left_out_and_counted() -> None:
    payload = [
        {"asset": "BTC", "collateralRate": "0.9500"},
        {"asset": "", "collateralRate": "1.0000"},
        {"collateralRate": "1.0000"},
        {"asset": "ETH", "collateralRate": "NaN"},
        {"asset": "XRP", "collateralRate": "1.5"},  # above 1: not a haircut
        {"asset": "DOGE", "collateralRate": None},
        {"asset": "BTC", "collateralRate": "0.1"},  # a duplicate: the first stays
        "USDT",
    ]
    result = parse(payload, ParseOptions())
    assert result.samples[RATE] == [(("BTC",), 0.95)]
    assert result.skipped == 7


@pytest.mark.parametrize("payload", [{"asset": "BTC"}, "[]", None, [{"asset": "BTC"}]])
def test_a_reply_that_cannot_be_trusted_raises(payload: object) -> None:
    with pytest.raises(BadPayload):
        parse(payload, ParseOptions())


def test_an_empty_list_is_no_rates() -> None:
    assert parse([], ParseOptions()).samples == {RATE: []}


def test_it_is_not_a_per_account_collector() -> None:
    # Polled once per process on the SAPI host: no account's collectors list may name it.
    assert NAME not in COLLECTORS
