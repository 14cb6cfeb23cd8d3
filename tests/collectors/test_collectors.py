"""Collectors: Binance's documented payloads to exact samples, filters and untrustworthy input."""

from __future__ import annotations

import math
from typing import Any

import pytest

from exporter.collectors import COLLECTORS, DEFAULT_COLLECTORS, BadPayload, ParseOptions, Result
from tests.replies import (
    ACCOUNT_STATUSES,
    account_info,
    cm_position,
    futures_account,
    open_um_position,
    position_risk,
    um_asset,
    um_position,
)

UM = COLLECTORS["um_account"]
CM = COLLECTORS["cm_account"]
ACCOUNT = COLLECTORS["account"]
POSITION_RISK = COLLECTORS["um_position_risk"]
CM_POSITION_RISK = COLLECTORS["cm_position_risk"]
# The account detail's position figures the position-risk reply carries too.
SHARED = ("amount", "entry_price", "unrealized_pnl", "leverage")

DEFAULTS = ParseOptions()


def rows(result: Result, family: str) -> dict[tuple[str, ...], float]:
    found = dict(result.samples[family])
    assert len(found) == len(result.samples[family]), f"duplicate rows in {family}"
    return found


def value(result: Result, family: str, *labels: str) -> float:
    return rows(result, family)[labels]


# --- UM account: assets --------------------------------------------------------------------------


def test_um_asset_fields_are_exported_exactly() -> None:
    asset = um_asset(
        crossWalletBalance="23.72469206",
        crossUnPnl="1.5",
        maintMargin="0.25",
        initialMargin="3.125",
        positionInitialMargin="2.5",
        openOrderInitialMargin="0.625",
    )

    result = UM.parse(futures_account(assets=[asset]), DEFAULTS)

    assert value(result, "binance_pm_um_asset_cross_wallet_balance", "USDT") == 23.72469206
    assert value(result, "binance_pm_um_asset_cross_unrealized_pnl", "USDT") == 1.5
    assert value(result, "binance_pm_um_asset_maint_margin", "USDT") == 0.25
    assert value(result, "binance_pm_um_asset_initial_margin", "USDT") == 3.125
    assert value(result, "binance_pm_um_asset_position_initial_margin", "USDT") == 2.5
    assert value(result, "binance_pm_um_asset_open_order_initial_margin", "USDT") == 0.625


def test_um_asset_update_time_is_in_seconds() -> None:
    result = UM.parse(futures_account(assets=[um_asset(updateTime=1625474304765)]), DEFAULTS)

    assert value(result, "binance_pm_um_asset_update_timestamp_seconds", "USDT") == 1625474304.765


def test_um_asset_update_time_zero_stays_zero() -> None:
    result = UM.parse(futures_account(assets=[um_asset(updateTime=0)]), DEFAULTS)

    assert value(result, "binance_pm_um_asset_update_timestamp_seconds", "USDT") == 0


def test_margin_balance_is_wallet_plus_unrealized_pnl() -> None:
    asset = um_asset(crossWalletBalance="100.5", crossUnPnl="-20.25")

    result = UM.parse(futures_account(assets=[asset]), DEFAULTS)

    assert value(result, "binance_pm_um_asset_margin_balance", "USDT") == 80.25


def margin_ratio(wallet: str, unrealized: str, maint: str) -> float:
    """The margin ratio exported for one UM asset: its wallet, unrealized PnL, maint margin."""
    asset = um_asset(crossWalletBalance=wallet, crossUnPnl=unrealized, maintMargin=maint)
    result = UM.parse(futures_account(assets=[asset]), DEFAULTS)
    return value(result, "binance_pm_um_asset_margin_ratio", "USDT")


def test_margin_ratio_is_maint_margin_over_margin_balance() -> None:
    assert margin_ratio(wallet="100.5", unrealized="-20.25", maint="20.0625") == 0.25


def test_margin_ratio_is_0_without_maint_margin() -> None:
    assert margin_ratio(wallet="100", unrealized="0", maint="0") == 0


def test_margin_ratio_is_0_without_maint_margin_even_when_balance_is_negative() -> None:
    assert margin_ratio(wallet="-5", unrealized="0", maint="0") == 0


@pytest.mark.parametrize(("wallet", "pnl"), [("10", "-10"), ("10", "-30.5"), ("-1", "0")])
def test_margin_ratio_is_inf_when_balance_is_not_positive(wallet: str, pnl: str) -> None:
    assert margin_ratio(wallet=wallet, unrealized=pnl, maint="2") == math.inf


def test_unreadable_asset_field_leaves_out_only_what_needs_it() -> None:
    assets = [um_asset("USDT"), um_asset("BNB", crossWalletBalance="abc", maintMargin="0.5")]

    result = UM.parse(futures_account(assets=assets), DEFAULTS)

    assert rows(result, "binance_pm_um_asset_cross_wallet_balance") == {("USDT",): 23.72469206}
    # The margin balance and ratio need the wallet; BNB's other fields stay.
    assert set(rows(result, "binance_pm_um_asset_margin_balance")) == {("USDT",)}
    assert set(rows(result, "binance_pm_um_asset_margin_ratio")) == {("USDT",)}
    assert value(result, "binance_pm_um_asset_maint_margin", "BNB") == 0.5
    assert value(result, "binance_pm_um_asset_update_timestamp_seconds", "BNB") == 1625474304.765
    assert (result.skipped, result.skipped_fields) == (0, 1)


def test_asset_without_a_name_is_skipped_and_counted() -> None:
    assets = [um_asset("USDT"), um_asset(""), 7]

    result = UM.parse(futures_account(assets=assets), DEFAULTS)

    assert set(rows(result, "binance_pm_um_asset_cross_wallet_balance")) == {("USDT",)}
    assert (result.skipped, result.skipped_fields) == (2, 0)


def test_duplicate_asset_second_one_is_skipped_and_counted() -> None:
    assets = [um_asset("USDT", crossWalletBalance="1"), um_asset("USDT", crossWalletBalance="2")]

    result = UM.parse(futures_account(assets=assets), DEFAULTS)

    assert rows(result, "binance_pm_um_asset_cross_wallet_balance") == {("USDT",): 1.0}
    assert result.skipped == 1


# --- UM account: positions ---------------------------------------------------------------------


def test_um_position_fields_are_exported_exactly() -> None:
    result = UM.parse(futures_account(positions=[open_um_position()]), DEFAULTS)

    key = ("BTCUSDT", "BOTH")
    assert value(result, "binance_pm_um_position_amount", *key) == 0.25
    assert value(result, "binance_pm_um_position_entry_price", *key) == 42000.10
    assert value(result, "binance_pm_um_position_leverage", *key) == 20
    assert value(result, "binance_pm_um_position_unrealized_pnl", *key) == -12.5
    assert value(result, "binance_pm_um_position_initial_margin", *key) == 525.25
    assert value(result, "binance_pm_um_position_maint_margin", *key) == 42.0
    assert value(result, "binance_pm_um_position_position_initial_margin", *key) == 520.0
    assert value(result, "binance_pm_um_position_open_order_initial_margin", *key) == 5.25
    assert value(result, "binance_pm_um_position_max_notional", *key) == 5000000


def test_um_position_update_time_is_in_seconds() -> None:
    result = UM.parse(futures_account(positions=[open_um_position()]), DEFAULTS)

    assert (
        value(result, "binance_pm_um_position_update_timestamp_seconds", "BTCUSDT", "BOTH")
        == 1700000000.123
    )


def test_um_position_update_time_zero_stays_zero() -> None:
    result = UM.parse(futures_account(positions=[open_um_position(updateTime=0)]), DEFAULTS)

    assert value(result, "binance_pm_um_position_update_timestamp_seconds", "BTCUSDT", "BOTH") == 0


def test_negative_update_time_is_left_out_and_counted() -> None:
    positions = [open_um_position("BTCUSDT"), open_um_position("ETHUSDT", updateTime=-1)]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_amount")) == {
        ("BTCUSDT", "BOTH"),
        ("ETHUSDT", "BOTH"),
    }
    assert set(rows(result, "binance_pm_um_position_update_timestamp_seconds")) == {
        ("BTCUSDT", "BOTH")
    }
    assert (result.skipped, result.skipped_fields) == (0, 1)


def test_short_position_amount_is_negative() -> None:
    result = UM.parse(futures_account(positions=[open_um_position(positionAmt="-0.250")]), DEFAULTS)

    assert value(result, "binance_pm_um_position_amount", "BTCUSDT", "BOTH") == -0.25


def test_flat_position_is_dropped() -> None:
    positions = [open_um_position("BTCUSDT"), um_position("ETHUSDT")]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_amount")) == {("BTCUSDT", "BOTH")}
    assert result.skipped == 0


def test_flat_position_is_kept_with_include_zero() -> None:
    positions = [open_um_position("BTCUSDT"), um_position("ETHUSDT")]

    result = UM.parse(futures_account(positions=positions), ParseOptions(include_zero=True))

    assert rows(result, "binance_pm_um_position_amount") == {
        ("BTCUSDT", "BOTH"): 0.25,
        ("ETHUSDT", "BOTH"): 0.0,
    }


def test_zero_position_with_open_order_margin_is_kept() -> None:
    pending = um_position("ETHUSDT", openOrderInitialMargin="12.5")

    result = UM.parse(futures_account(positions=[pending]), DEFAULTS)

    assert value(result, "binance_pm_um_position_amount", "ETHUSDT", "BOTH") == 0
    assert value(result, "binance_pm_um_position_open_order_initial_margin", "ETHUSDT", "BOTH") == (
        12.5
    )


@pytest.mark.parametrize("zero", ["0", "0.000", "0.00000000", "-0", "-0.000", 0, 0.0])
def test_zero_spellings_count_as_flat(zero: Any) -> None:
    flat = um_position("ETHUSDT", positionAmt=zero, openOrderInitialMargin=zero)

    result = UM.parse(futures_account(positions=[open_um_position(), flat]), DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_amount")) == {("BTCUSDT", "BOTH")}


def test_hedge_mode_long_and_short_are_separate_series() -> None:
    positions = [
        open_um_position("BTCUSDT", "LONG", positionAmt="0.5"),
        open_um_position("BTCUSDT", "SHORT", positionAmt="-0.2"),
    ]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    assert rows(result, "binance_pm_um_position_amount") == {
        ("BTCUSDT", "LONG"): 0.5,
        ("BTCUSDT", "SHORT"): -0.2,
    }


def test_result_positions_are_the_exported_keys_with_their_families() -> None:
    positions = [
        open_um_position("BTCUSDT", "LONG", notional="10500.025", breakEvenPrice="42016.9"),
        open_um_position("ETHUSDT", "SHORT", leverage="x"),
        um_position("XRPUSDT"),
    ]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    assert result.positions is not None
    assert set(result.positions) == {("BTCUSDT", "LONG"), ("ETHUSDT", "SHORT")}
    btc, eth = result.positions[("BTCUSDT", "LONG")], result.positions[("ETHUSDT", "SHORT")]
    assert {"binance_pm_um_position_notional", "binance_pm_um_position_break_even_price"} <= btc
    assert btc - eth == {
        "binance_pm_um_position_notional",
        "binance_pm_um_position_break_even_price",
        "binance_pm_um_position_leverage",
    }


MISSING = object()
UNPLACEABLE_POSITIONS = {
    "missing symbol": {"symbol": MISSING},
    "null symbol": {"symbol": None},
    "empty symbol": {"symbol": ""},
    "missing position side": {"positionSide": MISSING},
}
UNREADABLE_FIELDS = {
    "amount abc": ("positionAmt", "amount", "abc"),
    "amount NaN": ("positionAmt", "amount", "NaN"),
    "amount Infinity": ("positionAmt", "amount", "Infinity"),
    "amount null": ("positionAmt", "amount", None),
    "amount object": ("positionAmt", "amount", {"v": 1}),
    "entry price NaN": ("entryPrice", "entry_price", "NaN"),
    "missing leverage": ("leverage", "leverage", MISSING),
    "maint margin true": ("maintMargin", "maint_margin", True),
}


def broken_position(symbol: str, changes: dict[str, Any]) -> dict[str, Any]:
    bad = open_um_position(symbol)
    for key, field_value in changes.items():
        if field_value is MISSING:
            del bad[key]
        else:
            bad[key] = field_value
    return bad


@pytest.mark.parametrize("broken", UNPLACEABLE_POSITIONS.values(), ids=UNPLACEABLE_POSITIONS)
def test_position_without_symbol_or_side_is_skipped_and_counted(broken: dict[str, Any]) -> None:
    positions = [open_um_position("BTCUSDT"), broken_position("ETHUSDT", broken)]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_amount")) == {("BTCUSDT", "BOTH")}
    assert (result.skipped, result.skipped_fields) == (1, 0)


@pytest.mark.parametrize(
    ("field", "suffix", "bad"), UNREADABLE_FIELDS.values(), ids=UNREADABLE_FIELDS
)
def test_unreadable_position_field_leaves_out_only_its_own_gauge(
    field: str, suffix: str, bad: Any
) -> None:
    positions = [open_um_position("BTCUSDT"), broken_position("ETHUSDT", {field: bad})]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    eth = ("ETHUSDT", "BOTH")
    for family in UM.families:
        if family.labels == ("symbol", "position_side") and rows(result, family.name):
            has_eth = eth in rows(result, family.name)
            assert has_eth == (family.name != f"binance_pm_um_position_{suffix}"), family.name
    assert eth not in rows(result, f"binance_pm_um_position_{suffix}")
    assert (result.skipped, result.skipped_fields) == (0, 1)


def test_position_entry_that_is_not_an_object_is_skipped_and_counted() -> None:
    positions = [open_um_position("BTCUSDT"), "BTCUSDT"]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_amount")) == {("BTCUSDT", "BOTH")}
    assert result.skipped == 1


def test_duplicate_position_second_one_is_skipped_and_counted() -> None:
    positions = [
        open_um_position("BTCUSDT", positionAmt="0.1"),
        open_um_position("BTCUSDT", positionAmt="0.9"),
    ]

    result = UM.parse(futures_account(positions=positions), DEFAULTS)

    assert rows(result, "binance_pm_um_position_amount") == {("BTCUSDT", "BOTH"): 0.1}
    assert result.skipped == 1


def test_unreadable_fields_of_assets_and_positions_are_counted_together() -> None:
    payload = futures_account(
        assets=[um_asset("USDT"), um_asset("BNB", maintMargin="NaN", initialMargin=None)],
        positions=[open_um_position("BTCUSDT"), open_um_position("ETHUSDT", leverage="x")],
    )

    result = UM.parse(payload, DEFAULTS)

    assert (result.skipped, result.skipped_fields) == (0, 3)


def test_empty_string_field_is_absent_not_unreadable() -> None:
    payload = futures_account(
        assets=[um_asset("USDT", crossUnPnl="")],
        positions=[open_um_position("BTCUSDT", maxNotional="")],
    )

    result = UM.parse(payload, DEFAULTS)

    assert rows(result, "binance_pm_um_asset_cross_unrealized_pnl") == {}
    assert rows(result, "binance_pm_um_asset_margin_balance") == {}
    assert rows(result, "binance_pm_um_position_max_notional") == {}
    assert value(result, "binance_pm_um_position_amount", "BTCUSDT", "BOTH") == 0.25
    assert (result.skipped, result.skipped_fields) == (0, 0)


# --- UM account: payloads that cannot be trusted ------------------------------------------------


@pytest.mark.parametrize("payload", [[], "assets", None, 42], ids=["list", "str", "null", "int"])
def test_um_payload_that_is_not_an_object_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        UM.parse(payload, DEFAULTS)


def test_um_payload_without_assets_is_bad() -> None:
    with pytest.raises(BadPayload):
        UM.parse({"positions": [open_um_position()]}, DEFAULTS)


def test_um_payload_without_positions_is_bad() -> None:
    with pytest.raises(BadPayload):
        UM.parse({"assets": [um_asset()]}, DEFAULTS)


def test_um_payload_with_nothing_readable_is_bad() -> None:
    payload = futures_account(
        assets=[um_asset(""), 7], positions=[open_um_position(symbol=None), "BTCUSDT"]
    )

    with pytest.raises(BadPayload, match="could be read"):
        UM.parse(payload, DEFAULTS)


def test_um_payload_whose_only_entry_has_no_readable_field_is_bad() -> None:
    fields = {f: "x" for f in um_asset() if f != "asset"}

    with pytest.raises(BadPayload, match="could be read"):
        UM.parse(futures_account(assets=[um_asset(**fields)], positions=[]), DEFAULTS)


def test_um_payload_with_unreadable_assets_still_exports_its_positions() -> None:
    payload = futures_account(assets=[um_asset(crossWalletBalance="NaN"), 7])

    result = UM.parse(payload, DEFAULTS)

    assert value(result, "binance_pm_um_position_amount", "BTCUSDT", "BOTH") == 0.25
    assert (result.skipped, result.skipped_fields) == (1, 1)


def test_um_payload_with_only_flat_positions_is_fine() -> None:
    result = UM.parse(futures_account(positions=[um_position("BTCUSDT")]), DEFAULTS)

    assert rows(result, "binance_pm_um_position_amount") == {}
    assert result.skipped == 0


def test_um_samples_belong_to_declared_families() -> None:
    result = UM.parse(futures_account(), DEFAULTS)

    assert set(result.samples) == {f.name for f in UM.families}


# --- COIN-M account --------------------------------------------------------------------------


def test_cm_position_max_qty_is_exported() -> None:
    payload = {"assets": [um_asset("BTC")], "positions": [cm_position(maxQty="50")]}

    result = CM.parse(payload, DEFAULTS)

    assert value(result, "binance_pm_cm_position_max_qty", "BTCUSD_PERP", "BOTH") == 50


def test_cm_position_amount_is_in_contracts() -> None:
    payload = {"assets": [um_asset("BTC")], "positions": [cm_position(positionAmt="-3")]}

    result = CM.parse(payload, DEFAULTS)

    assert value(result, "binance_pm_cm_position_amount", "BTCUSD_PERP", "BOTH") == -3


def test_cm_asset_wallet_balance_is_exported_exactly() -> None:
    payload = {
        "assets": [um_asset("BTC", crossWalletBalance="0.00241969")],
        "positions": [cm_position()],
    }

    result = CM.parse(payload, DEFAULTS)

    assert value(result, "binance_pm_cm_asset_cross_wallet_balance", "BTC") == 0.00241969


def test_cm_has_no_max_notional() -> None:
    payload = {"assets": [um_asset("BTC")], "positions": [cm_position()]}

    result = CM.parse(payload, DEFAULTS)

    assert "binance_pm_cm_position_max_notional" not in result.samples
    assert set(result.samples) == {f.name for f in CM.families}


def test_cm_flat_position_is_dropped() -> None:
    payload = {
        "assets": [um_asset("BTC")],
        "positions": [cm_position("BTCUSD_PERP"), cm_position("ETHUSD_PERP", positionAmt="0")],
    }

    result = CM.parse(payload, DEFAULTS)

    assert set(rows(result, "binance_pm_cm_position_amount")) == {("BTCUSD_PERP", "BOTH")}


# --- Fields live replies carry beyond the docs ---------------------------------------------


def test_um_position_notional_and_break_even_are_exported_when_present() -> None:
    # A live entry (ccxt's capture) appends notional and breakEvenPrice, unpadded.
    entry = open_um_position(notional="10500.025", breakEvenPrice="42016.9")

    result = UM.parse(futures_account(positions=[entry]), DEFAULTS)

    key = ("BTCUSDT", "BOTH")
    assert value(result, "binance_pm_um_position_notional", *key) == 10500.025
    assert value(result, "binance_pm_um_position_break_even_price", *key) == 42016.9
    assert result.skipped_fields == 0


def test_um_position_without_the_live_fields_leaves_them_out_uncounted() -> None:
    result = UM.parse(futures_account(positions=[open_um_position()]), DEFAULTS)

    assert rows(result, "binance_pm_um_position_notional") == {}
    assert rows(result, "binance_pm_um_position_break_even_price") == {}
    assert result.skipped_fields == 0


def test_cm_position_notional_value_and_break_even_are_exported_when_present() -> None:
    entry = cm_position(notionalValue="0.00461538", breakEvenPrice="65026.7002")

    result = CM.parse({"assets": [um_asset("BTC")], "positions": [entry]}, DEFAULTS)

    key = ("BTCUSD_PERP", "BOTH")
    assert value(result, "binance_pm_cm_position_notional_value", *key) == 0.00461538
    assert value(result, "binance_pm_cm_position_break_even_price", *key) == 65026.7002


def test_families_two_collectors_share_are_declared_identically() -> None:
    declared: dict[str, Any] = {}
    for collector in COLLECTORS.values():
        for family in collector.families:
            assert declared.setdefault(family.name, family) == family, family.name
    assert declared["binance_pm_um_position_break_even_price"] in POSITION_RISK.families


# --- Account information ---------------------------------------------------------------------


def test_account_gauges_are_exported_exactly() -> None:
    payload = account_info(totalAvailableBalance="100.25", totalMarginOpenLoss="1.5")

    samples = ACCOUNT.parse(payload, DEFAULTS).samples

    assert samples["binance_pm_account_uni_mmr"] == [((), 5167.92171923)]
    assert samples["binance_pm_account_equity"] == [((), 122607.35137903)]
    assert samples["binance_pm_account_actual_equity"] == [((), 73.47428058)]
    assert samples["binance_pm_account_initial_margin"] == [((), 23.72469206)]
    assert samples["binance_pm_account_maint_margin"] == [((), 23.72469206)]
    assert samples["binance_pm_account_total_available_balance"] == [((), 100.25)]
    assert samples["binance_pm_account_virtual_max_withdraw_amount"] == [((), 1627523.32459208)]
    assert samples["binance_pm_account_total_margin_open_loss"] == [((), 1.5)]


def test_account_update_time_is_in_seconds() -> None:
    samples = ACCOUNT.parse(account_info(updateTime=1657707212154), DEFAULTS).samples

    assert samples["binance_pm_account_update_timestamp_seconds"] == [((), 1657707212.154)]


def test_account_update_time_zero_stays_zero() -> None:
    samples = ACCOUNT.parse(account_info(updateTime=0), DEFAULTS).samples

    assert samples["binance_pm_account_update_timestamp_seconds"] == [((), 0.0)]


def test_account_empty_string_fields_are_omitted() -> None:
    # Binance's own example has "" for these two.
    samples = ACCOUNT.parse(account_info(), DEFAULTS).samples

    assert "binance_pm_account_total_available_balance" not in samples
    assert "binance_pm_account_total_margin_open_loss" not in samples
    assert samples["binance_pm_account_uni_mmr"] == [((), 5167.92171923)]


def test_account_status_has_one_series_per_known_state() -> None:
    samples = ACCOUNT.parse(account_info(accountStatus="MARGIN_CALL"), DEFAULTS).samples

    assert dict(samples["binance_pm_account_status"]) == {
        ("NORMAL",): 0.0,
        ("MARGIN_CALL",): 1.0,
        ("SUPPLY_MARGIN",): 0.0,
        ("REDUCE_ONLY",): 0.0,
        ("ACTIVE_LIQUIDATION",): 0.0,
        ("FORCE_LIQUIDATION",): 0.0,
        ("BANKRUPTED",): 0.0,
    }


@pytest.mark.parametrize("status", ACCOUNT_STATUSES)
def test_account_status_current_state_is_the_only_1(status: str) -> None:
    samples = ACCOUNT.parse(account_info(accountStatus=status), DEFAULTS).samples

    ones = [labels for labels, v in samples["binance_pm_account_status"] if v == 1.0]
    assert ones == [(status,)]


def test_known_account_status_has_no_note() -> None:
    assert ACCOUNT.parse(account_info(accountStatus="NORMAL"), DEFAULTS).notes == []


def test_unknown_account_status_adds_its_own_series() -> None:
    samples = ACCOUNT.parse(account_info(accountStatus="FROZEN"), DEFAULTS).samples

    status = dict(samples["binance_pm_account_status"])
    assert status[("FROZEN",)] == 1.0
    assert len(status) == 8
    assert sum(status.values()) == 1.0


def test_unknown_account_status_adds_a_note() -> None:
    notes = ACCOUNT.parse(account_info(accountStatus="FROZEN"), DEFAULTS).notes

    assert notes == ["unknown account status 'FROZEN'"]


@pytest.mark.parametrize("payload", [[], "NORMAL", None], ids=["list", "str", "null"])
def test_account_payload_that_is_not_an_object_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        ACCOUNT.parse(payload, DEFAULTS)


ACCOUNT_FIELDS = {
    "uniMMR": "binance_pm_account_uni_mmr",
    "accountEquity": "binance_pm_account_equity",
    "actualEquity": "binance_pm_account_actual_equity",
    "accountInitialMargin": "binance_pm_account_initial_margin",
    "accountMaintMargin": "binance_pm_account_maint_margin",
    "virtualMaxWithdrawAmount": "binance_pm_account_virtual_max_withdraw_amount",
    "updateTime": "binance_pm_account_update_timestamp_seconds",
    "accountStatus": "binance_pm_account_status",
}


@pytest.mark.parametrize(
    "bad",
    ["abc", "NaN", None, MISSING, {"v": 1}],
    ids=lambda v: "missing" if v is MISSING else repr(v),
)
@pytest.mark.parametrize("field", ACCOUNT_FIELDS)
def test_unreadable_account_field_leaves_out_only_its_own_gauge(field: str, bad: Any) -> None:
    if field == "accountStatus" and isinstance(bad, str):
        bad = 5  # any text is a status (one Binance may add): only a non-string is unreadable
    payload = account_info()
    if bad is MISSING:
        del payload[field]
    else:
        payload[field] = bad

    result = ACCOUNT.parse(payload, DEFAULTS)

    assert set(result.samples) == set(ACCOUNT_FIELDS.values()) - {ACCOUNT_FIELDS[field]}
    assert (result.skipped, result.skipped_fields) == (0, 1)


@pytest.mark.parametrize("field", ACCOUNT_FIELDS)
def test_empty_account_field_is_absent_and_not_counted(field: str) -> None:
    result = ACCOUNT.parse(account_info(**{field: ""}), DEFAULTS)

    assert set(result.samples) == set(ACCOUNT_FIELDS.values()) - {ACCOUNT_FIELDS[field]}
    assert result.skipped_fields == 0


def test_account_payload_with_no_readable_field_is_bad() -> None:
    payload = {**dict.fromkeys(account_info(), "x"), "accountStatus": 7}

    with pytest.raises(BadPayload, match="no field could be read"):
        ACCOUNT.parse(payload, DEFAULTS)


def test_empty_account_object_is_bad() -> None:
    with pytest.raises(BadPayload):
        ACCOUNT.parse({}, DEFAULTS)


def test_account_samples_belong_to_declared_families() -> None:
    payload = account_info(totalAvailableBalance="1", totalMarginOpenLoss="2")

    samples = ACCOUNT.parse(payload, DEFAULTS).samples

    assert set(samples) == {f.name for f in ACCOUNT.families}


# --- Query UM Position Information -------------------------------------------------------------


def test_position_risk_fields_are_exported_exactly() -> None:
    result = POSITION_RISK.parse([position_risk()], DEFAULTS)

    key = ("BTCUSDT", "BOTH")
    assert value(result, "binance_pm_um_position_mark_price", *key) == 6679.50671178
    assert value(result, "binance_pm_um_position_liquidation_price", *key) == 5930.78
    assert value(result, "binance_pm_um_position_notional", *key) == 667.950671178


def test_position_risk_liquidation_price_0_is_exported_as_0() -> None:
    result = POSITION_RISK.parse([position_risk(liquidationPrice="0")], DEFAULTS)

    assert value(result, "binance_pm_um_position_liquidation_price", "BTCUSDT", "BOTH") == 0


def test_position_risk_without_um_positions_keeps_open_positions_only() -> None:
    payload = [
        position_risk("BTCUSDT", positionAmt="0.100"),
        position_risk("ETHUSDT", positionAmt="0.000"),
        position_risk("XRPUSDT", positionAmt="-0"),
        position_risk("SOLUSDT", positionAmt="-3"),
    ]

    result = POSITION_RISK.parse(payload, DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_mark_price")) == {
        ("BTCUSDT", "BOTH"),
        ("SOLUSDT", "BOTH"),
    }


def test_position_risk_with_um_account_keeps_its_positions_and_open_ones_it_lacks() -> None:
    payload = [
        position_risk("BTCUSDT", "LONG", positionAmt="0.1"),
        position_risk("BTCUSDT", "SHORT", positionAmt="-0.1"),
        position_risk("ETHUSDT", "LONG", positionAmt="0"),
    ]
    keep = {("BTCUSDT", "LONG"): frozenset(), ("ETHUSDT", "LONG"): frozenset()}

    result = POSITION_RISK.parse(payload, ParseOptions(provided=keep))

    # ETHUSDT LONG is flat but the UM account kept it (an open order), so it stays here too;
    # BTCUSDT SHORT is open though the UM account lacks it: kept, never lost.
    assert set(rows(result, "binance_pm_um_position_mark_price")) == {*keep, ("BTCUSDT", "SHORT")}
    assert rows(result, "binance_pm_um_position_amount") == {
        ("BTCUSDT", "LONG"): 0.1,
        ("BTCUSDT", "SHORT"): -0.1,
        ("ETHUSDT", "LONG"): 0.0,
    }


def test_position_risk_break_even_is_exported() -> None:
    result = POSITION_RISK.parse([position_risk(breakEvenPrice="6566.29")], DEFAULTS)

    assert value(result, "binance_pm_um_position_break_even_price", "BTCUSDT", "BOTH") == 6566.29


def test_position_risk_leaves_to_um_account_what_it_exported_for_the_position() -> None:
    payload = [
        position_risk("BTCUSDT", "LONG", breakEvenPrice="6566.29"),
        position_risk("ETHUSDT", "LONG", breakEvenPrice="3001.2"),
    ]
    # um_account gave BTCUSDT LONG its notional and break-even; ETHUSDT LONG's entry had none.
    given = frozenset(
        {"binance_pm_um_position_notional", "binance_pm_um_position_break_even_price"}
    )
    provided = {("BTCUSDT", "LONG"): given, ("ETHUSDT", "LONG"): frozenset()}

    result = POSITION_RISK.parse(payload, ParseOptions(provided=provided))

    eth = {("ETHUSDT", "LONG")}
    assert set(rows(result, "binance_pm_um_position_notional")) == eth
    assert set(rows(result, "binance_pm_um_position_break_even_price")) == eth
    both = {("BTCUSDT", "LONG"), ("ETHUSDT", "LONG")}
    assert set(rows(result, "binance_pm_um_position_mark_price")) == both
    assert set(rows(result, "binance_pm_um_position_liquidation_price")) == both


def test_an_open_position_risk_row_the_um_account_lacks_is_kept_whole() -> None:
    payload = [position_risk(positionAmt="1"), position_risk("ETHUSDT", positionAmt="0")]
    result = POSITION_RISK.parse(payload, ParseOptions(provided={}))

    assert set(rows(result, "binance_pm_um_position_mark_price")) == {("BTCUSDT", "BOTH")}
    assert value(result, "binance_pm_um_position_amount", "BTCUSDT", "BOTH") == 1.0
    assert result.skipped == 0


def test_position_risk_alone_gives_amount_entry_price_unrealized_pnl_and_leverage() -> None:
    row = position_risk(positionAmt="-0.25", entryPrice="61000.5", unRealizedProfit="-12.5")
    result = POSITION_RISK.parse([{**row, "leverage": "20"}], DEFAULTS)

    figures = {
        suffix: value(result, f"binance_pm_um_position_{suffix}", "BTCUSDT", "BOTH")
        for suffix in SHARED
    }
    assert figures == {
        "amount": -0.25,
        "entry_price": 61000.5,
        "unrealized_pnl": -12.5,
        "leverage": 20.0,
    }


def test_the_position_families_position_risk_shares_are_the_account_details() -> None:
    mine = {f.name: f for f in POSITION_RISK.families}
    detail = {f.name: f for f in UM.families}
    for suffix in SHARED:
        name = f"binance_pm_um_position_{suffix}"
        assert mine[name] == detail[name]


@pytest.mark.parametrize(
    ("field", "bad", "family"),
    [
        ("markPrice", "abc", "binance_pm_um_position_mark_price"),
        ("liquidationPrice", None, "binance_pm_um_position_liquidation_price"),
        ("notional", "Infinity", "binance_pm_um_position_notional"),
    ],
    ids=["mark abc", "liquidation null", "notional Infinity"],
)
def test_unreadable_position_risk_field_leaves_out_only_its_own_gauge(
    field: str, bad: Any, family: str
) -> None:
    payload = [position_risk("BTCUSDT"), position_risk("ETHUSDT", **{field: bad})]

    result = POSITION_RISK.parse(payload, DEFAULTS)

    for name in (f.name for f in POSITION_RISK.families):
        if rows(result, name):
            eth = ("ETHUSDT", "BOTH") in rows(result, name)
            assert eth == (name != family), name
    assert set(rows(result, family)) == {("BTCUSDT", "BOTH")}
    assert (result.skipped, result.skipped_fields) == (0, 1)


@pytest.mark.parametrize("broken", [{"symbol": ""}, {"positionAmt": "x"}], ids=["symbol", "amount"])
def test_position_risk_row_that_cannot_be_placed_is_skipped_and_counted(broken: dict) -> None:
    bad = position_risk("ETHUSDT")
    bad.update(broken)
    payload = [position_risk("BTCUSDT"), bad]

    result = POSITION_RISK.parse(payload, DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_mark_price")) == {("BTCUSDT", "BOTH")}
    assert (result.skipped, result.skipped_fields) == (1, 0)


def test_duplicate_position_risk_entry_second_one_is_skipped_and_counted() -> None:
    payload = [position_risk(markPrice="100"), position_risk(markPrice="200")]

    result = POSITION_RISK.parse(payload, DEFAULTS)

    assert rows(result, "binance_pm_um_position_mark_price") == {("BTCUSDT", "BOTH"): 100.0}
    assert result.skipped == 1


# Binance's own examples: a flat one-way row, and a hedge reply whose SHORT side is flat, each
# flat row with a liquidation price left over from elsewhere.
def flat_risk_entry(symbol: str = "BTCUSDT", side: str = "BOTH") -> dict[str, Any]:
    return position_risk(
        symbol,
        side,
        positionAmt="0.000",
        entryPrice="0.0",
        unRealizedProfit="0.00000000",
        notional="0",
        liquidationPrice="5930.78",
        updateTime=0,
    )


def test_flat_row_without_um_account_is_left_out() -> None:
    result = POSITION_RISK.parse([flat_risk_entry(), position_risk("ETHUSDT")], DEFAULTS)

    assert set(rows(result, "binance_pm_um_position_mark_price")) == {("ETHUSDT", "BOTH")}
    assert (result.skipped, result.skipped_fields) == (0, 0)


def test_flat_side_kept_for_its_open_orders_has_liquidation_price_0() -> None:
    payload = [position_risk("BTCUSDT", "LONG"), flat_risk_entry("BTCUSDT", "SHORT")]
    provided = {("BTCUSDT", "LONG"): frozenset(), ("BTCUSDT", "SHORT"): frozenset()}

    result = POSITION_RISK.parse(payload, ParseOptions(provided=provided))

    assert rows(result, "binance_pm_um_position_liquidation_price") == {
        ("BTCUSDT", "LONG"): 5930.78,
        ("BTCUSDT", "SHORT"): 0.0,
    }
    assert value(result, "binance_pm_um_position_mark_price", "BTCUSDT", "SHORT") == 6679.50671178
    assert value(result, "binance_pm_um_position_notional", "BTCUSDT", "SHORT") == 0


def test_unreadable_amount_leaves_out_the_liquidation_price_it_decides() -> None:
    payload = [position_risk(positionAmt="abc")]
    provided = {("BTCUSDT", "BOTH"): frozenset({"binance_pm_um_position_amount"})}

    result = POSITION_RISK.parse(payload, ParseOptions(provided=provided))

    assert rows(result, "binance_pm_um_position_liquidation_price") == {}
    assert value(result, "binance_pm_um_position_mark_price", "BTCUSDT", "BOTH") == 6679.50671178
    assert result.skipped_fields == 1


@pytest.mark.parametrize("payload", [{}, "[]", None], ids=["object", "str", "null"])
def test_position_risk_payload_that_is_not_an_array_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        POSITION_RISK.parse(payload, DEFAULTS)


def test_position_risk_payload_with_nothing_readable_is_bad() -> None:
    unreadable = position_risk(markPrice="NaN", liquidationPrice="x", notional=None)
    given = {("BTCUSDT", "BOTH"): frozenset(f"binance_pm_um_position_{s}" for s in SHARED)}

    with pytest.raises(BadPayload, match="could be read"):
        POSITION_RISK.parse(
            [unreadable, None, position_risk(symbol="")], ParseOptions(provided=given)
        )


def test_position_risk_empty_array_is_fine() -> None:
    result = POSITION_RISK.parse([], DEFAULTS)

    assert rows(result, "binance_pm_um_position_mark_price") == {}


def test_position_risk_samples_belong_to_declared_families() -> None:
    result = POSITION_RISK.parse([position_risk()], DEFAULTS)

    assert set(result.samples) == {f.name for f in POSITION_RISK.families}


# --- Query CM Position Information ---------------------------------------------------------------


def cm_risk_entry(symbol: str = "ETHUSD_PERP", side: str = "LONG", **fields: Any) -> dict:
    # A live row (ccxt's capture) carries breakEvenPrice beyond the docs.
    entry = {
        "symbol": symbol,
        "positionAmt": "2",
        "entryPrice": "2410.5",
        "markPrice": "2433.27169",
        "unRealizedProfit": "0.0000078",
        "liquidationPrice": "301.2",
        "leverage": "50",
        "positionSide": side,
        "updateTime": 1707371941861,
        "maxQty": "25",
        "notionalValue": "0.00821939",
        "breakEvenPrice": "2411.4642",
    }
    entry.update(fields)
    return entry


def test_cm_position_risk_is_a_weight_1_collector_off_by_default() -> None:
    assert (CM_POSITION_RISK.path, CM_POSITION_RISK.weight) == ("/papi/v1/cm/positionRisk", 1)
    assert CM_POSITION_RISK.follows == "cm_account"
    assert "cm_position_risk" not in DEFAULT_COLLECTORS
    assert "cm_account" not in DEFAULT_COLLECTORS


def test_cm_position_risk_fields_are_exported_exactly() -> None:
    result = CM_POSITION_RISK.parse([cm_risk_entry()], DEFAULTS)

    key = ("ETHUSD_PERP", "LONG")
    assert value(result, "binance_pm_cm_position_mark_price", *key) == 2433.27169
    assert value(result, "binance_pm_cm_position_liquidation_price", *key) == 301.2
    assert value(result, "binance_pm_cm_position_notional_value", *key) == 0.00821939
    assert value(result, "binance_pm_cm_position_break_even_price", *key) == 2411.4642
    assert set(result.samples) == {f.name for f in CM_POSITION_RISK.families}


def test_cm_position_risk_duplicate_row_is_skipped_and_counted() -> None:
    # Binance's hedge example lists the same LONG row twice.
    payload = [cm_risk_entry(markPrice="100"), cm_risk_entry(markPrice="200")]

    result = CM_POSITION_RISK.parse(payload, DEFAULTS)

    assert rows(result, "binance_pm_cm_position_mark_price") == {("ETHUSD_PERP", "LONG"): 100.0}
    assert result.skipped == 1


def test_cm_flat_side_kept_for_its_open_orders_has_liquidation_price_0() -> None:
    # The SDK's flat row: amount "0" and a leftover liquidation price.
    flat = cm_risk_entry(
        "BTCUSD_PERP", "BOTH", positionAmt="0", entryPrice="0.0", liquidationPrice="6204.5"
    )
    given = frozenset({"binance_pm_cm_position_notional_value"})
    provided = {("BTCUSD_PERP", "BOTH"): given}

    result = CM_POSITION_RISK.parse([flat], ParseOptions(provided=provided))

    key = ("BTCUSD_PERP", "BOTH")
    assert value(result, "binance_pm_cm_position_liquidation_price", *key) == 0
    assert rows(result, "binance_pm_cm_position_notional_value") == {}  # cm_account gave it
    assert value(result, "binance_pm_cm_position_break_even_price", *key) == 2411.4642
