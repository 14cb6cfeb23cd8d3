"""Every way Binance spells a number reads the same, through every collector's decode and parse.

Binance's doc examples pad ("0.00000000", "0.000"), live replies trim ("0.0", "51977.4418063",
"500000.0"), and a zero sometimes carries a sign ("-0.0"). Each spelling must export the same
value, and a zero amount must count as flat on the fast path as on the general one.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from exporter.collectors import COLLECTORS, ParseOptions, Result, decode_json
from tests.replies import account_info, position_risk, um_asset, um_position

ZEROS: list[Any] = [
    "0",
    "0.0",
    "0.00",
    "0.000",
    "0.00000000",
    "-0",
    "-0.0",
    "-0.000",
    "-0.00000000",
    "0.000000000000",
    0,
    0.0,
]
# One figure, trimmed as live replies write it and padded as the docs' examples do.
FIGURES = {"51977.4418063": 51977.4418063, "51977.44180630": 51977.4418063, "500000.0": 500000.0}
FIGURES_PADDED = {"500000": 500000.0, "500000.00000000": 500000.0}


def parse(collector: str, payload: Any, options: ParseOptions, *, fast: bool) -> Result:
    """Through the collector's own decoder (fast) or the plain JSON one (general)."""
    c = COLLECTORS[collector]
    body = orjson.dumps(payload)
    decoded = c.decode(body, options) if fast else decode_json(body, options)
    return c.parse(decoded, options)


def rows(result: Result, family: str) -> dict[tuple[str, ...], float]:
    return dict(result.samples.get(family, []))


def positive_zero(value: float) -> bool:
    return value == 0 and math.copysign(1.0, value) == 1.0


def futures_asset(asset: str, zero: Any) -> dict[str, Any]:
    return um_asset(
        asset,
        crossWalletBalance="87.5",
        crossUnPnl=zero,
        maintMargin=zero,
        initialMargin=zero,
        positionInitialMargin=zero,
        openOrderInitialMargin=zero,
        updateTime=1700000000000,
    )


def futures_position(symbol: str, amount: Any, orders: Any, **fields: Any) -> dict[str, Any]:
    entry = um_position(
        symbol,
        initialMargin=orders,
        openOrderInitialMargin=orders,
        leverage="20",
        entryPrice="0.0",
        maxNotional="25000",
        maxQty="5000",
        positionAmt=amount,
    )
    entry.update(fields)
    return entry


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize("zero", ZEROS, ids=repr)
@pytest.mark.parametrize(("collector", "prefix"), [("um_account", "um"), ("cm_account", "cm")])
def test_futures_account_reads_every_zero_spelling_as_zero(
    collector: str, prefix: str, zero: Any, fast: bool
) -> None:
    payload = {
        "assets": [futures_asset("USDT", zero)],
        "positions": [
            futures_position("FLATUSDT", zero, zero),
            futures_position("ORDERUSDT", zero, "12.5"),
            futures_position("OPENUSDT", "3", zero, entryPrice="51230.0", updateTime=1),
        ],
    }

    result = parse(collector, payload, ParseOptions(), fast=fast)

    amounts = rows(result, f"binance_pm_{prefix}_position_amount")
    assert amounts == {("ORDERUSDT", "BOTH"): 0.0, ("OPENUSDT", "BOTH"): 3.0}
    assert positive_zero(amounts[("ORDERUSDT", "BOTH")])
    orders = rows(result, f"binance_pm_{prefix}_position_open_order_initial_margin")
    assert orders == {("ORDERUSDT", "BOTH"): 12.5, ("OPENUSDT", "BOTH"): 0.0}
    for suffix in ("maint_margin", "initial_margin", "cross_unrealized_pnl", "margin_ratio"):
        (only,) = rows(result, f"binance_pm_{prefix}_asset_{suffix}").values()
        assert positive_zero(only), suffix
    assert rows(result, f"binance_pm_{prefix}_asset_margin_balance") == {("USDT",): 87.5}
    assert result.skipped == 0


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize("zero", ZEROS, ids=repr)
def test_futures_account_keeps_every_zero_spelling_with_include_zero(zero: Any, fast: bool) -> None:
    payload = {"assets": [], "positions": [futures_position("FLATUSDT", zero, zero)]}

    result = parse("um_account", payload, ParseOptions(include_zero=True), fast=fast)

    (amount,) = rows(result, "binance_pm_um_position_amount").values()
    assert positive_zero(amount)


def risk_row(symbol: str, amount: Any, liquidation: Any, notional: Any) -> dict[str, Any]:
    """A position risk row as live replies give it, with the UM and the COIN-M notional."""
    return position_risk(
        symbol,
        positionAmt=amount,
        entryPrice="51230.0",
        markPrice="51977.4418063",
        unRealizedProfit="7.47441806",
        liquidationPrice=liquidation,
        leverage="100",
        updateTime=1712000000000,
        maxNotionalValue="500000.0",
        maxQty="15",
        notional=notional,
        notionalValue=notional,
        breakEvenPrice="51250.492",
    )


@pytest.mark.parametrize("zero", ZEROS, ids=repr)
@pytest.mark.parametrize(
    ("collector", "prefix"), [("um_position_risk", "um"), ("cm_position_risk", "cm")]
)
def test_position_risk_reads_every_zero_spelling_as_zero(
    collector: str, prefix: str, zero: Any
) -> None:
    payload = [
        risk_row("FLAT", zero, "6113.84211457", zero),  # flat, a leftover liquidation price
        risk_row("ORDER", zero, "6113.84211457", zero),  # flat, kept for its open orders
        risk_row("OPEN", "0.01", zero, "519.77441806"),  # open, no liquidation price
    ]
    kept = {("ORDER", "BOTH"): frozenset(), ("OPEN", "BOTH"): frozenset()}

    alone = parse(collector, payload, ParseOptions(), fast=True)
    following = parse(collector, payload, ParseOptions(provided=kept), fast=True)

    assert set(rows(alone, f"binance_pm_{prefix}_position_mark_price")) == {("OPEN", "BOTH")}
    liquidation = rows(following, f"binance_pm_{prefix}_position_liquidation_price")
    assert liquidation == {("ORDER", "BOTH"): 0.0, ("OPEN", "BOTH"): 0.0}
    assert all(positive_zero(v) for v in liquidation.values())
    notional = "notional" if prefix == "um" else "notional_value"
    assert rows(following, f"binance_pm_{prefix}_position_{notional}") == {
        ("ORDER", "BOTH"): 0.0,
        ("OPEN", "BOTH"): 519.77441806,
    }
    assert (following.skipped, following.skipped_fields) == (0, 0)


@pytest.mark.parametrize("zero", ZEROS, ids=repr)
def test_account_reads_every_zero_spelling_as_zero(zero: Any) -> None:
    payload = account_info(
        uniMMR="99999999",
        accountEquity="87.31520964",
        actualEquity="87.3302118",
        accountInitialMargin=zero,
        accountMaintMargin=zero,
        virtualMaxWithdrawAmount="87.31520964",
        totalAvailableBalance="87.31520964",
        totalMarginOpenLoss=zero,
        updateTime=1775000000000,
    )

    samples = parse("account", payload, ParseOptions(), fast=True).samples

    for name in (
        "binance_pm_account_initial_margin",
        "binance_pm_account_maint_margin",
        "binance_pm_account_total_margin_open_loss",
    ):
        [((), exported)] = samples[name]
        assert positive_zero(exported), name
    assert samples["binance_pm_account_uni_mmr"] == [((), 99999999.0)]


@pytest.mark.parametrize(("spelled", "expected"), {**FIGURES, **FIGURES_PADDED}.items())
def test_trimmed_and_padded_figures_read_the_same(spelled: str, expected: float) -> None:
    payload = {
        "assets": [futures_asset("USDT", "0")],
        "positions": [futures_position("OPENUSDT", "1", "0", entryPrice=spelled)],
    }

    result = parse("um_account", payload, ParseOptions(), fast=True)

    assert rows(result, "binance_pm_um_position_entry_price") == {("OPENUSDT", "BOTH"): expected}
