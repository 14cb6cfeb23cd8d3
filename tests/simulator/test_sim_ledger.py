"""Balances, ADL quantiles and income history as served: Binance's shapes, rules and figures."""

from __future__ import annotations

from decimal import Decimal

import pytest

BALANCE = "/papi/v1/balance"
UM_ADL = "/papi/v1/um/adlQuantile"
CM_ADL = "/papi/v1/cm/adlQuantile"
UM_INCOME = "/papi/v1/um/income"
CM_INCOME = "/papi/v1/cm/income"
DAY_MS = 86_400_000

BALANCE_FIELDS = [
    "asset",
    "totalWalletBalance",
    "crossMarginAsset",
    "crossMarginBorrowed",
    "crossMarginFree",
    "crossMarginInterest",
    "crossMarginLocked",
    "umWalletBalance",
    "umUnrealizedPNL",
    "cmWalletBalance",
    "cmUnrealizedPNL",
    "updateTime",
    "negativeBalance",
]
INCOME_FIELDS = ["symbol", "incomeType", "income", "asset", "info", "time", "tranId", "tradeId"]


@pytest.fixture
def frozen(papi):
    """Marks pinned: BTCUSDT 64000, ETHUSDT 3400, BTCUSD_PERP 64000."""
    papi.sim.freeze_prices()
    papi.sim.set_mark_price("BTCUSDT", "64000")
    papi.sim.set_mark_price("ETHUSDT", "3400")
    papi.sim.set_mark_price("BTCUSD_PERP", "64000")
    return papi


def by_asset(rows):
    return {r["asset"]: r for r in rows}


def test_balance_lists_every_wallet_of_every_asset_with_the_docs_fields(frozen):
    papi = frozen
    papi.sim.set_cross_margin("hmac", "USDC", free="150", locked="50", borrowed="1000.5")
    reply = papi.get(BALANCE)
    assert papi.weight(reply) == 20
    rows = reply.json()
    assert [r["asset"] for r in rows] == ["USDT", "BTC", "USDC"]
    assert all(list(r) == BALANCE_FIELDS for r in rows)
    usdt, btc, usdc = rows
    # UM: BTC 0.5 long from 60000 at 64000 (+2000), ETH 3 short from 3500 at 3400 (+300).
    assert (usdt["umWalletBalance"], usdt["umUnrealizedPNL"]) == ("2000.0", "2300.0")
    assert (usdt["totalWalletBalance"], usdt["cmUnrealizedPNL"]) == ("2000.0", "")
    # COIN-M: 20 contracts of 100 USD from 64000 at 64000: no PnL, in BTC.
    assert (btc["umWalletBalance"], btc["cmWalletBalance"]) == ("0.05", "0.01")
    assert (btc["totalWalletBalance"], btc["cmUnrealizedPNL"]) == ("0.06", "0.0")
    assert usdc["crossMarginAsset"] == "200.0"
    assert (usdc["crossMarginBorrowed"], usdc["totalWalletBalance"]) == ("1000.5", "200.0")
    assert usdc["negativeBalance"] == "0.0"


def test_balance_of_one_asset_is_an_object_without_cross_margin_asset(frozen):
    frozen.sim.set_cross_margin("hmac", "USDC", free="150")
    one = frozen.json(BALANCE, params={"asset": "USDC"})
    assert list(one) == [f for f in BALANCE_FIELDS if f != "crossMarginAsset"]
    assert (one["asset"], one["crossMarginFree"]) == ("USDC", "150.0")


def test_a_loan_accrues_interest_at_its_hourly_rate(frozen):
    frozen.sim.set_cross_margin("hmac", "USDC", borrowed="2000", hourly_rate="0.00001")
    frozen.sim.accrue_interest(3)
    assert by_asset(frozen.json(BALANCE))["USDC"]["crossMarginInterest"] == "0.06"


def test_cross_margin_counts_in_account_equity(frozen):
    before = Decimal(frozen.json("/papi/v1/account")["actualEquity"])
    frozen.sim.set_cross_margin("hmac", "USDC", free="500", borrowed="200", interest="0.5")
    after = Decimal(frozen.json("/papi/v1/account")["actualEquity"])
    assert after - before == Decimal("299.5")


def test_a_negative_wallet_shows_then_is_repaid_from_cross_margin_and_borrowed(frozen):
    papi = frozen
    papi.sim.add_income("rsa", "TRANSFER", "-1300", "USDT")  # wallet 1000 -> -300
    papi.sim.set_cross_margin("rsa", "USDT", free="100")
    row = by_asset(papi.json(BALANCE, "rsa"))["USDT"]
    assert (row["umWalletBalance"], row["negativeBalance"]) == ("-300.0", "300.0")
    assert row["totalWalletBalance"] == "-200.0"
    papi.sim.funding_round()  # repays first: 100 from free, 200 borrowed
    row = by_asset(papi.json(BALANCE, "rsa"))["USDT"]
    assert (row["umWalletBalance"], row["negativeBalance"]) == ("0.0", "0.0")
    assert (row["crossMarginFree"], row["crossMarginBorrowed"]) == ("0.0", "200.0")


def test_funding_pays_each_open_position_and_moves_the_wallet_by_the_records(frozen):
    papi = frozen
    wallet = Decimal(by_asset(papi.json(BALANCE))["USDT"]["umWalletBalance"])
    papi.sim.funding_round()
    records = papi.json(UM_INCOME, params={"incomeType": "FUNDING_FEE"})
    assert sorted(r["symbol"] for r in records) == ["BTCUSDT", "ETHUSDT"]  # not the open order
    assert {(r["asset"], r["info"], r["tradeId"]) for r in records} == {("USDT", "FUNDING_FEE", "")}
    paid = {r["symbol"]: Decimal(r["income"]) for r in records}
    # A long pays a positive rate and a short receives it: the sign follows -notional * rate.
    assert paid["BTCUSDT"] != 0 and paid["ETHUSDT"] != 0
    after = Decimal(by_asset(papi.json(BALANCE))["USDT"]["umWalletBalance"])
    assert after - wallet == sum(paid.values())
    cm = papi.json(CM_INCOME)
    assert [(r["symbol"], r["asset"], r["incomeType"]) for r in cm] == [
        ("BTCUSD_PERP", "BTC", "FUNDING_FEE")
    ]


def test_funding_rates_follow_the_seed(make_papi):
    def rates(seed: int) -> list[str]:
        papi = make_papi(seed=seed)
        papi.sim.freeze_prices()
        papi.sim.set_mark_price("BTCUSDT", "64000")
        papi.sim.set_mark_price("ETHUSDT", "3400")
        papi.sim.funding_round()
        papi.sim.funding_round()
        return [r["income"] for r in papi.json(UM_INCOME)]

    assert rates(7) == rates(7)
    assert rates(7) != rates(8)


def test_a_trade_books_its_commission_and_realized_pnl_with_its_trade_id(frozen):
    papi = frozen
    papi.sim.trade("hmac", "BTCUSDT", "BOTH", "-0.2", "65000")  # 0.5 long from 60000
    commission, realized = papi.json(UM_INCOME)
    assert (commission["incomeType"], realized["incomeType"]) == ("COMMISSION", "REALIZED_PNL")
    assert commission["income"] == "-2.6"  # 0.2 * 65000 * 0.0002
    assert realized["income"] == "1000.0"  # (65000 - 60000) * 0.2
    assert commission["tradeId"] == realized["tradeId"] != ""
    risk = papi.json("/papi/v1/um/positionRisk", params={"symbol": "BTCUSDT"})
    assert (risk[0]["positionAmt"], risk[0]["entryPrice"]) == ("0.3", "60000.0")


def test_um_adl_quantile_one_way_gives_both_and_moves_with_pnl(frozen):
    papi = frozen
    reply = papi.get(UM_ADL)
    assert papi.weight(reply) == 5
    entries = {e["symbol"]: e["adlQuantile"] for e in reply.json()}
    assert list(entries) == ["BTCUSDT", "ETHUSDT"]  # SOLUSDT is an open order, no position
    assert entries["BTCUSDT"] == {"LONG": 0, "SHORT": 0, "BOTH": 4}  # roe 0.625 at 10x: score 6.25
    papi.sim.set_mark_price("BTCUSDT", "60300")  # roe 0.0497 at 10x: score 0.497
    assert papi.json(UM_ADL, params={"symbol": "BTCUSDT"}) == [
        {"symbol": "BTCUSDT", "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": 3}}
    ]
    papi.sim.set_mark_price("BTCUSDT", "59000")  # a loss: roe -0.169, score -0.0169
    assert papi.json(UM_ADL, params={"symbol": "BTCUSDT"})[0]["adlQuantile"]["BOTH"] == 1
    papi.sim.set_mark_price("BTCUSDT", "50000")  # roe -2, score -0.2
    assert papi.json(UM_ADL, params={"symbol": "BTCUSDT"})[0]["adlQuantile"]["BOTH"] == 0


def test_adl_quantile_in_hedge_mode_shares_one_value_and_marks_hedge(frozen):
    papi = frozen
    papi.sim.open_position("ed", "ETHUSD_PERP", "LONG", "5", "3300", 10)
    (um,) = [e for e in papi.json(UM_ADL, "ed") if e["symbol"] == "BTCUSDT"]
    assert list(um["adlQuantile"]) == ["LONG", "SHORT", "HEDGE"]
    assert um["adlQuantile"]["LONG"] == um["adlQuantile"]["SHORT"]
    assert um["adlQuantile"]["HEDGE"] == 0
    (cm,) = papi.json(CM_ADL, "ed")
    assert cm["symbol"] == "ETHUSD_PERP"
    assert list(cm["adlQuantile"]) == ["LONG", "SHORT", "HEDGE", "BOTH"]


def test_income_is_oldest_first_with_the_docs_fields_and_ids_unique_per_type(frozen):
    papi = frozen
    now = papi.sim.clock_ms()
    papi.sim.add_income("hmac", "COMMISSION", "-0.01", "USDT", "BTCUSDT", time_ms=now - 2000)
    papi.sim.add_income("hmac", "TRANSFER", "-0.375", "USDT", time_ms=now - 3000)
    reply = papi.get(UM_INCOME)
    assert papi.weight(reply) == 30
    transfer, commission = reply.json()
    assert list(transfer) == INCOME_FIELDS
    assert transfer == {
        "symbol": "",
        "incomeType": "TRANSFER",
        "income": "-0.375",
        "asset": "USDT",
        "info": "TRANSFER",
        "time": now - 3000,
        "tranId": "9689322392",
        "tradeId": "",
    }
    # tranId is unique within an income type only: the first of each type share it.
    assert commission["tranId"] == transfer["tranId"]


def test_income_pages_by_limit_from_start_time_inclusive(frozen):
    papi = frozen
    now = papi.sim.clock_ms()
    papi.sim.add_income("hmac", "FUNDING_FEE", "0.5", "USDT", "BTCUSDT", count=250, time_ms=now)
    papi.sim.add_income("hmac", "FUNDING_FEE", "0.5", "USDT", "BTCUSDT", time_ms=now - 1)
    assert len(papi.json(UM_INCOME)) == 100  # the default limit
    assert len(papi.json(UM_INCOME, params={"startTime": str(now), "limit": "1000"})) == 250
    assert papi.json(UM_INCOME, params={"startTime": str(now + 1)}) == []


@pytest.mark.parametrize("page", ["3", "0", "x"])
def test_income_ignores_page_and_answers_the_first_page_again(frozen, page):
    papi = frozen
    now = papi.sim.clock_ms()
    papi.sim.add_income("hmac", "FUNDING_FEE", "0.5", "USDT", "BTCUSDT", count=250, time_ms=now)
    first = papi.json(UM_INCOME, params={"startTime": str(now)})
    again = papi.json(UM_INCOME, params={"startTime": str(now), "page": page})
    assert [r["tranId"] for r in again] == [str(9689322392 + i) for i in range(100)]
    assert again == first


def test_income_filters_by_symbol_and_type(frozen):
    papi = frozen
    papi.sim.add_income("hmac", "FUNDING_FEE", "0.5", "USDT", "BTCUSDT")
    papi.sim.add_income("hmac", "FUNDING_FEE", "-0.25", "USDT", "ETHUSDT")
    papi.sim.add_income("hmac", "COMMISSION", "-0.1", "USDT", "ETHUSDT")
    found = papi.json(UM_INCOME, params={"symbol": "ETHUSDT", "incomeType": "FUNDING_FEE"})
    assert [r["income"] for r in found] == ["-0.25"]


def test_income_windows_default_to_seven_days_and_keep_three_months(frozen):
    papi = frozen
    now = papi.sim.clock_ms()
    for days in (1, 8, 89, 91):
        papi.sim.add_income("hmac", "TRANSFER", str(days), "USDT", time_ms=now - days * DAY_MS)
    assert [r["income"] for r in papi.json(UM_INCOME)] == ["1.0"]
    since = str(now - 100 * DAY_MS)
    kept = papi.json(UM_INCOME, params={"startTime": since})
    assert [r["income"] for r in kept] == ["89.0", "8.0", "1.0"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "1001"}, -1130),
        ({"limit": "0"}, -1130),
        ({"startTime": "abc"}, -1100),
        ({"startTime": "2000", "endTime": "1000"}, -1128),
    ],
)
def test_income_refuses_bad_parameters_as_binance_does(papi, params, code):
    reply = papi.get(UM_INCOME, params=params)
    assert papi.error(reply)[:2] == (400, code)
    assert papi.weight(reply) == 30


def test_cm_income_refuses_more_than_200_days(papi):
    now = papi.sim.clock_ms()
    params = {"startTime": str(now - 201 * DAY_MS), "endTime": str(now)}
    assert papi.error(papi.get(CM_INCOME, params=params))[:2] == (400, -1127)
    assert papi.get(UM_INCOME, params=params).status_code == 200


@pytest.mark.parametrize("path", [BALANCE, UM_ADL, CM_ADL, UM_INCOME, CM_INCOME])
def test_new_endpoints_check_the_signature(papi, path):
    reply = papi.get(
        path, params={"limit": "5"} if "income" in path else None, signer=None, after_signature="0"
    )
    assert papi.error(reply)[:2] == (400, -1022)


def test_force_orders_are_served_in_binances_shapes_by_market_and_kind(frozen):
    papi = frozen
    papi.sim.force_close("hmac", "BTCUSDT", "BOTH", "0.05")
    papi.sim.force_close("hmac", "ETHUSDT", "BOTH", "1", kind="ADL")
    papi.sim.add_margin_force_order("hmac", "BNBUSDT", "1.5", "600")
    um = papi.json("/papi/v1/um/forceOrders")
    assert [(r["symbol"], r["executedQty"], r["side"]) for r in um] == [
        ("BTCUSDT", "0.05", "SELL"),
        ("ETHUSDT", "1", "BUY"),
    ]
    assert um[0]["clientOrderId"].startswith("autoclose-")
    assert um[1]["clientOrderId"].startswith("adl_autoclose")
    adl = papi.json("/papi/v1/um/forceOrders", params={"autoCloseType": "ADL"})
    assert [r["orderId"] for r in adl] == [um[1]["orderId"]]
    assert papi.json("/papi/v1/cm/forceOrders") == []
    margin = papi.json("/papi/v1/margin/forceOrders")
    assert margin["total"] == 1
    assert [(r["symbol"], r["executedQty"]) for r in margin["rows"]] == [("BNBUSDT", "1.5")]
    second = papi.json("/papi/v1/margin/forceOrders", params={"current": "2"})
    assert second == {"rows": [], "total": 1}
