"""Served payloads: Binance's field names, the full market, and numbers that agree exactly."""

from __future__ import annotations

import time
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import orjson
import pytest

from exporter.binance.signing import HmacSigner
from exporter.simulator.accounts import CM_RISK as CM_BOOK
from exporter.simulator.accounts import UM_RISK as UM_BOOK
from exporter.simulator.accounts import (
    SimAccount,
    UMPosition,
    compute_risk,
    position_risk_payload,
    templates,
)
from exporter.simulator.market import Market
from tests.replies import ACCOUNT_STATUSES

UM = "/papi/v1/um/account"
ACCOUNT = "/papi/v1/account"
RISK = "/papi/v1/um/positionRisk"
CM = "/papi/v1/cm/account"
CM_RISK = "/papi/v1/cm/positionRisk"

UM_POSITION_FIELDS = [
    "symbol",
    "initialMargin",
    "maintMargin",
    "unrealizedProfit",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "leverage",
    "entryPrice",
    "maxNotional",
    "bidNotional",
    "askNotional",
    "positionSide",
    "positionAmt",
    "updateTime",
    "notional",
    "breakEvenPrice",
]
ASSET_FIELDS = [
    "asset",
    "crossWalletBalance",
    "crossUnPnl",
    "maintMargin",
    "initialMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "updateTime",
]
# The order of live replies (ccxt's captures), with the fields they add beyond the docs.
RISK_FIELDS = [
    "symbol",
    "positionAmt",
    "entryPrice",
    "markPrice",
    "unRealizedProfit",
    "liquidationPrice",
    "leverage",
    "positionSide",
    "updateTime",
    "maxNotionalValue",
    "notional",
    "breakEvenPrice",
]
CM_POSITION_FIELDS = [
    "symbol",
    "initialMargin",
    "maintMargin",
    "unrealizedProfit",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "leverage",
    "entryPrice",
    "positionSide",
    "positionAmt",
    "maxQty",
    "updateTime",
    "notionalValue",
    "breakEvenPrice",
]
ACCOUNT_FIELDS = [
    "uniMMR",
    "accountEquity",
    "actualEquity",
    "accountInitialMargin",
    "accountMaintMargin",
    "accountStatus",
    "virtualMaxWithdrawAmount",
    "totalAvailableBalance",
    "totalMarginOpenLoss",
    "updateTime",
]


def q8(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)


def d(text: str) -> Decimal:
    return Decimal(text)


def by_key(entries: list[dict]) -> dict[tuple[str, str], dict]:
    return {(e["symbol"], e["positionSide"]): e for e in entries}


def test_field_names_and_order_follow_live_replies(papi):
    um = papi.json(UM)
    assert [list(a) for a in um["assets"]] == [ASSET_FIELDS] * len(um["assets"])
    assert {tuple(p) for p in um["positions"]} == {tuple(UM_POSITION_FIELDS)}
    assert [list(p) for p in papi.json(RISK)] == [RISK_FIELDS] * 2
    assert list(papi.json(ACCOUNT)) == ACCOUNT_FIELDS
    cm = papi.json(CM)
    assert {tuple(p) for p in cm["positions"]} == {tuple(CM_POSITION_FIELDS)}


def test_one_way_um_account_lists_every_symbol_once_as_both(papi):
    positions = papi.json(UM)["positions"]
    symbols = [p["symbol"] for p in positions]
    assert len(symbols) >= 400
    assert len(set(symbols)) == len(symbols)
    assert {p["positionSide"] for p in positions} == {"BOTH"}
    assert set(symbols) == set(papi.sim.market.um)


def test_hedge_um_account_lists_long_and_short_for_every_symbol(papi):
    positions = papi.json(UM, "ed")["positions"]
    keys = [(p["symbol"], p["positionSide"]) for p in positions]
    assert len(keys) == 2 * len(papi.sim.market.um)
    assert set(keys) == {(s, side) for s in papi.sim.market.um for side in ("LONG", "SHORT")}


def test_untouched_zero_positions_look_like_binances(papi):
    entry = by_key(papi.json(UM)["positions"])[("DOGEUSDT", "BOTH")]
    assert entry == {
        "symbol": "DOGEUSDT",
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": "0.00000000",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": "20",
        "entryPrice": "0.0",
        "maxNotional": "10000000",
        "bidNotional": "0",
        "askNotional": "0",
        "positionSide": "BOTH",
        "positionAmt": "0",
        "updateTime": 0,
        "notional": "0",
        "breakEvenPrice": "0.0",
    }


def test_untouched_coin_m_zero_positions_look_like_live_ones(papi):
    entry = by_key(papi.json(CM)["positions"])[("ETHUSD_PERP", "BOTH")]
    assert entry == {
        "symbol": "ETHUSD_PERP",
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": "0.00000000",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": "20",
        "entryPrice": "0.00000000",
        "positionSide": "BOTH",
        "positionAmt": "0",
        "maxQty": "5000",
        "updateTime": 0,
        "notionalValue": "0",
        "breakEvenPrice": "0.00000000",
    }


def test_break_even_is_the_entry_moved_by_a_round_trip_fee_and_notional_is_mark_times_amount(
    papi,
):
    papi.sim.freeze_prices()
    um = by_key(papi.json(UM)["positions"])
    risk = by_key(papi.json(RISK))
    long, short = um[("BTCUSDT", "BOTH")], um[("ETHUSDT", "BOTH")]
    assert (long["entryPrice"], long["breakEvenPrice"]) == ("60000.0", "60024.0")
    assert (short["entryPrice"], short["breakEvenPrice"]) == ("3500.0", "3498.6")
    for key, entry in [(("BTCUSDT", "BOTH"), long), (("ETHUSDT", "BOTH"), short)]:
        mark = papi.sim.market.um[key[0]].mark
        assert d(entry["notional"]) == q8(mark * d(entry["positionAmt"]))
        assert (risk[key]["notional"], risk[key]["breakEvenPrice"]) == (
            entry["notional"],
            entry["breakEvenPrice"],
        )
    assert um[("LINKUSDT", "BOTH")]["breakEvenPrice"] == "0.0"  # an open order: flat
    cm = by_key(papi.json(CM)["positions"])[("BTCUSD_PERP", "BOTH")]
    sym = papi.sim.market.cm["BTCUSD_PERP"]
    assert d(cm["notionalValue"]) == q8(Decimal(20 * 100) / sym.mark)
    assert cm["breakEvenPrice"] == "64025.6"


def test_open_order_without_position_has_margin_and_zero_amount(papi):
    entry = by_key(papi.json(UM)["positions"])[("LINKUSDT", "BOTH")]
    assert d(entry["positionAmt"]) == 0
    assert entry["openOrderInitialMargin"] == "12.5"
    assert entry["initialMargin"] == "12.5"
    assert entry["updateTime"] > 0
    assert "LINKUSDT" not in {p["symbol"] for p in papi.json(RISK)}


def test_position_figures_follow_mark_entry_and_leverage(papi):
    papi.sim.freeze_prices()
    market = papi.sim.market
    risk = by_key(papi.json(RISK))
    um = by_key(papi.json(UM)["positions"])
    for key in [("BTCUSDT", "BOTH"), ("ETHUSDT", "BOTH")]:
        r, u = risk[key], um[key]
        mark, entry, amount = d(r["markPrice"]), d(r["entryPrice"]), d(r["positionAmt"])
        assert mark == market.um[key[0]].mark
        assert d(r["unRealizedProfit"]) == q8((mark - entry) * amount)
        assert d(r["notional"]) == q8(mark * amount)
        notional = abs(d(r["notional"]))
        assert d(u["positionInitialMargin"]) == q8(notional / int(u["leverage"]))
        assert d(u["maintMargin"]) == q8(notional * market.um[key[0]].maint_margin_rate)
        assert d(u["initialMargin"]) == d(u["positionInitialMargin"]) + d(
            u["openOrderInitialMargin"]
        )
        assert u["unrealizedProfit"] == r["unRealizedProfit"]
    assert risk[("ETHUSDT", "BOTH")]["positionAmt"] == "-3.0"


def test_usdt_asset_carries_the_sums_over_positions(papi):
    um = papi.json(UM)
    usdt = next(a for a in um["assets"] if a["asset"] == "USDT")
    for field, position_field in [
        ("crossUnPnl", "unrealizedProfit"),
        ("maintMargin", "maintMargin"),
        ("initialMargin", "initialMargin"),
        ("positionInitialMargin", "positionInitialMargin"),
        ("openOrderInitialMargin", "openOrderInitialMargin"),
    ]:
        assert d(usdt[field]) == sum(d(p[position_field]) for p in um["positions"]), field
    btc = next(a for a in um["assets"] if a["asset"] == "BTC")
    assert btc["crossWalletBalance"] == "0.05"
    assert {btc[f] for f in ASSET_FIELDS[2:7]} == {"0.0"}


def test_uni_mmr_is_equity_over_maint_margin_to_8_decimals(papi):
    for account in ("hmac", "ed"):
        served = papi.json(ACCOUNT, account)
        ratio = d(served["accountEquity"]) / d(served["accountMaintMargin"])
        assert d(served["uniMMR"]) == ratio.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
        assert served["accountStatus"] == "NORMAL"


def test_account_figures_add_up_from_um_and_cm(papi):
    papi.sim.freeze_prices()
    market = papi.sim.market
    um, cm, account = papi.json(UM), papi.json(CM), papi.json(ACCOUNT)
    btc_price = market.um["BTCUSDT"].mark
    usdt = next(a for a in um["assets"] if a["asset"] == "USDT")
    cm_btc = next(a for a in cm["assets"] if a["asset"] == "BTC")
    assert d(account["accountMaintMargin"]) == d(usdt["maintMargin"]) + q8(
        d(cm_btc["maintMargin"]) * btc_price
    )
    assert d(account["accountInitialMargin"]) == d(usdt["initialMargin"]) + q8(
        d(cm_btc["initialMargin"]) * btc_price
    )
    # BTC is held in the UM wallet (0.05) and the COIN-M wallet (0.01) and counts at 95%.
    usdt_value = d(usdt["crossWalletBalance"]) + d(usdt["crossUnPnl"])
    btc_value = q8(
        (d("0.05") + d(cm_btc["crossWalletBalance"]) + d(cm_btc["crossUnPnl"])) * btc_price
    )
    assert d(account["actualEquity"]) == usdt_value + btc_value
    assert d(account["accountEquity"]) == usdt_value + q8(btc_value * d("0.95"))
    available = d(account["accountEquity"]) - d(account["accountInitialMargin"])
    assert d(account["totalAvailableBalance"]) == available


def test_cm_positions_are_inverse_contracts_margined_in_coin(papi):
    papi.sim.freeze_prices()
    cm = papi.json(CM)
    entry = by_key(cm["positions"])[("BTCUSD_PERP", "BOTH")]
    sym = papi.sim.market.cm["BTCUSD_PERP"]
    size = Decimal(20 * 100)
    assert entry["positionAmt"] == "20"
    assert entry["maxQty"] == "1000"
    assert d(entry["unrealizedProfit"]) == q8(size / Decimal(64000) - size / sym.mark)
    notional = q8(size / sym.mark)
    assert d(entry["positionInitialMargin"]) == q8(notional / 20)
    assert d(entry["maintMargin"]) == q8(notional * sym.maint_margin_rate)
    assert len(cm["positions"]) == len(papi.sim.market.cm)
    assert {"BTCUSD_PERP", "ETHUSD_PERP", "BNBUSD_PERP", "BTCUSD_261225"} <= {
        p["symbol"] for p in cm["positions"]
    }


def test_liquidation_price_is_where_uni_mmr_would_reach_one(papi):
    papi.sim.freeze_prices()
    account = papi.json(ACCOUNT)
    btc = by_key(papi.json(RISK))[("BTCUSDT", "BOTH")]
    equity, maint = d(account["accountEquity"]), d(account["accountMaintMargin"])
    mark, amount = d(btc["markPrice"]), d(btc["positionAmt"])
    assert d(btc["liquidationPrice"]) == q8(mark - (equity - maint) / amount)
    assert d(btc["liquidationPrice"]) < mark  # a long is liquidated below the mark


def test_liquidation_price_moves_with_the_mark(papi):
    papi.sim.freeze_prices()
    before = by_key(papi.json(RISK))[("ETHUSDT", "BOTH")]["liquidationPrice"]
    papi.sim.set_mark_price("ETHUSDT", "3600")
    after = by_key(papi.json(RISK))[("ETHUSDT", "BOTH")]
    assert after["markPrice"] == "3600.0"
    assert after["liquidationPrice"] != before


def test_no_liquidation_price_is_served_as_zero(papi):
    # The hedge account is so well funded its long would need a negative price.
    risk = by_key(papi.json(RISK, "ed"))
    assert risk[("SOLUSDT", "LONG")]["liquidationPrice"] == "0"


def test_account_without_maint_margin_serves_binances_sentinel(papi):
    served = papi.json(ACCOUNT, "rsa")
    assert served["uniMMR"] == "99999999"
    assert served["accountMaintMargin"] == "0.0"
    assert served["accountStatus"] == "NORMAL"


@pytest.mark.parametrize("status", ACCOUNT_STATUSES)
def test_status_override_serves_every_documented_status_also_over_http(papi, status):
    papi.sim.set_status_override("hmac", status)
    assert papi.json(ACCOUNT)["accountStatus"] == status
    papi.sim.set_status_override("hmac", None)
    reply = papi.http.post("/_sim/status_override", json={"account": "hmac", "status": status})
    assert reply.status_code == 200
    assert papi.json(ACCOUNT)["accountStatus"] == status


def test_status_override_serves_any_string(papi):
    papi.sim.set_status_override("hmac", "SOMETHING_NEW")
    assert papi.json(ACCOUNT)["accountStatus"] == "SOMETHING_NEW"
    papi.sim.set_status_override("hmac", None)
    assert papi.json(ACCOUNT)["accountStatus"] == "NORMAL"


def test_position_risk_lists_open_positions_and_filters_by_symbol(papi):
    keys = [(p["symbol"], p["positionSide"]) for p in papi.json(RISK, "ed")]
    assert keys == [("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT"), ("SOLUSDT", "LONG")]
    only = papi.json(RISK, "ed", params={"symbol": "SOLUSDT"})
    assert [p["symbol"] for p in only] == ["SOLUSDT"]


def test_flat_rows_are_off_by_default_and_every_symbol_in_one_way_mode_when_on(papi):
    papi.sim.freeze_prices()
    assert len(papi.json(RISK)) == 2
    papi.sim.set_flat_position_rows()
    rows = papi.json(RISK)
    assert [r["symbol"] for r in rows] == list(papi.sim.market.um)
    assert {r["positionSide"] for r in rows} == {"BOTH"}
    risk = by_key(rows)
    assert d(risk[("BTCUSDT", "BOTH")]["positionAmt"]) == d("0.5")
    ltc, mark = risk[("LTCUSDT", "BOTH")], papi.sim.market.um["LTCUSDT"].mark
    assert (ltc["positionAmt"], ltc["entryPrice"], ltc["notional"]) == ("0.0", "0.0", "0")
    assert (ltc["updateTime"], ltc["breakEvenPrice"]) == (0, "0.0")
    # Binance leaves a liquidation price on a flat row; the simulator serves 92.4% of the mark.
    assert d(ltc["markPrice"]) == mark
    assert d(ltc["liquidationPrice"]) == q8(mark * d("0.924")) > 0
    # The open order without a position is a flat row too, with its leverage and update time.
    link = risk[("LINKUSDT", "BOTH")]
    assert (d(link["positionAmt"]), link["leverage"]) == (0, "10")
    assert link["updateTime"] > 0 and d(link["liquidationPrice"]) > 0
    assert [r["symbol"] for r in papi.json(RISK, params={"symbol": "DOGEUSDT"})] == ["DOGEUSDT"]


def test_flat_rows_in_hedge_mode_are_the_other_side_of_held_symbols(papi):
    papi.sim.set_flat_position_rows()
    keys = [(r["symbol"], r["positionSide"]) for r in papi.json(RISK, "ed")]
    assert keys == [
        ("BTCUSDT", "LONG"),
        ("BTCUSDT", "SHORT"),
        ("SOLUSDT", "LONG"),
        ("SOLUSDT", "SHORT"),
    ]
    flat = by_key(papi.json(RISK, "ed"))[("SOLUSDT", "SHORT")]
    assert (flat["positionAmt"], flat["updateTime"]) == ("0", 0)
    assert d(flat["liquidationPrice"]) > 0


def test_flat_rows_knob_is_reachable_over_http(papi):
    assert papi.http.post("/_sim/flat_position_rows", json={"enabled": True}).status_code == 200
    assert len(papi.json(RISK)) == len(papi.sim.market.um)
    assert papi.http.post("/_sim/flat_position_rows", json={"enabled": False}).status_code == 200
    assert len(papi.json(RISK)) == 2


def test_cm_position_risk_serves_coin_m_rows_in_a_live_replys_shape(papi):
    papi.sim.freeze_prices()
    papi.sim.open_position("hmac", "BTCUSD_PERP", "BOTH", "-20", "64000", 20)
    rows = papi.json(CM_RISK)
    assert [list(r) for r in rows] == [
        [
            "symbol",
            "positionAmt",
            "entryPrice",
            "markPrice",
            "unRealizedProfit",
            "liquidationPrice",
            "leverage",
            "positionSide",
            "updateTime",
            "maxQty",
            "notionalValue",
            "breakEvenPrice",
        ]
    ]
    (row,) = rows
    cm = by_key(papi.json(CM)["positions"])[("BTCUSD_PERP", "BOTH")]
    assert (row["positionAmt"], row["entryPrice"], row["maxQty"]) == ("-20", "64000.0", "1000")
    for risk_field, account_field in [
        ("notionalValue", "notionalValue"),
        ("breakEvenPrice", "breakEvenPrice"),
        ("unRealizedProfit", "unrealizedProfit"),
    ]:
        assert row[risk_field] == cm[account_field]
    account = papi.json(ACCOUNT)
    equity, maint = d(account["accountEquity"]), d(account["accountMaintMargin"])
    mark, exposure = d(row["markPrice"]), d(row["notionalValue"])
    # A short is liquidated above the mark, where uniMMR would reach 1.
    assert d(row["liquidationPrice"]) == q8(mark - (equity - maint) / exposure) > mark


def test_cm_position_risk_has_flat_rows_too_when_asked(papi):
    papi.sim.set_flat_position_rows()
    rows = by_key(papi.json(CM_RISK))
    assert set(rows) == {(s, "BOTH") for s in papi.sim.market.cm}
    flat = rows[("ETHUSD_PERP", "BOTH")]
    assert (flat["positionAmt"], flat["notionalValue"], flat["updateTime"]) == ("0", "0", 0)
    assert d(flat["liquidationPrice"]) > 0


def test_opened_position_appears_and_closed_one_returns_to_zero(papi):
    papi.sim.open_position("hmac", "SOLUSDT", "BOTH", "-12", "150.5", 3)
    opened = by_key(papi.json(RISK))[("SOLUSDT", "BOTH")]
    assert (opened["positionAmt"], opened["entryPrice"], opened["leverage"]) == (
        "-12",
        "150.5",
        "3",
    )
    assert opened["updateTime"] > 0
    papi.sim.close_position("hmac", "SOLUSDT", "BOTH")
    assert ("SOLUSDT", "BOTH") not in by_key(papi.json(RISK))
    entry = by_key(papi.json(UM)["positions"])[("SOLUSDT", "BOTH")]
    assert (entry["positionAmt"], entry["updateTime"]) == ("0", 0)


def test_last_payload_is_exactly_what_was_served(papi):
    for path in (UM, ACCOUNT, RISK, CM, CM_RISK):
        served = papi.json(path, "ed")
        assert papi.sim.last_payload("ed", path) == served
    assert papi.sim.last_payload("rsa", UM) is None
    papi.get(UM, "rsa", recv_window=70000)  # an error is not a payload
    assert papi.sim.last_payload("rsa", UM) is None


def test_marks_move_on_ticks_unless_frozen(make_papi):
    papi = make_papi(tick_seconds=0.02)
    first = papi.sim.market.um["BTCUSDT"].mark
    time.sleep(0.15)
    assert papi.sim.call(lambda: papi.sim.market.ticks) >= 3
    papi.sim.freeze_prices()
    frozen = papi.sim.call(lambda: dict((s, u.mark) for s, u in papi.sim.market.um.items()))
    time.sleep(0.1)
    now = papi.sim.call(lambda: dict((s, u.mark) for s, u in papi.sim.market.um.items()))
    assert now == frozen
    assert frozen["BTCUSDT"] != first or frozen["ETHUSDT"] != Market().um["ETHUSDT"].mark


def test_price_walk_is_deterministic_for_a_seed():
    def walk(seed: int) -> list[Decimal]:
        market = Market(seed)
        for _ in range(20):
            market.tick()
        return [s.mark for s in market.um.values()]

    assert walk(7) == walk(7)
    assert walk(7) != walk(8)
    assert list(Market(1).um) == list(Market(2).um)  # the symbol list never depends on it


def test_numbers_are_spelled_as_live_replies_spell_them(papi):
    papi.sim.freeze_prices()
    papi.sim.set_mark_price("BTCUSDT", "65432.1")
    papi.sim.open_position("hmac", "BTCUSDT", "BOTH", "0.010", "43120", 10)
    risk = by_key(papi.json(RISK))[("BTCUSDT", "BOTH")]
    assert (risk["positionAmt"], risk["entryPrice"], risk["markPrice"]) == (
        "0.01",
        "43120.0",
        "65432.1",
    )
    assert (risk["maxNotionalValue"], risk["notional"]) == ("80000000.0", "654.321")
    account = papi.json(ACCOUNT, "rsa")
    assert (account["accountMaintMargin"], account["accountEquity"]) == ("0.0", "1000.0")
    cm = by_key(papi.json(CM)["positions"])[("BTCUSD_PERP", "BOTH")]
    assert (cm["positionAmt"], cm["entryPrice"]) == ("20", "64000.0")


def test_padded_style_spells_numbers_as_binances_doc_examples(papi):
    papi.sim.freeze_prices()
    papi.sim.set_number_style("padded")
    papi.sim.set_mark_price("BTCUSDT", "65432.1")
    papi.sim.open_position("hmac", "BTCUSDT", "BOTH", "0.010", "43120", 10)
    risk = by_key(papi.json(RISK))[("BTCUSDT", "BOTH")]
    assert (risk["positionAmt"], risk["entryPrice"], risk["markPrice"]) == (
        "0.010",
        "43120",
        "65432.10000000",
    )
    assert (risk["maxNotionalValue"], risk["notional"]) == ("80000000", "654.32100000")
    account = papi.json(ACCOUNT, "rsa")
    assert (account["accountMaintMargin"], account["uniMMR"]) == ("0.00000000", "99999999")
    papi.sim.set_number_style("live")
    assert papi.json(ACCOUNT, "rsa")["accountMaintMargin"] == "0.0"


def test_number_style_is_reachable_over_http_and_checked(papi):
    assert papi.http.post("/_sim/number_style", json={"style": "padded"}).status_code == 200
    assert papi.json(ACCOUNT, "rsa")["accountEquity"] == "1000.00000000"
    refused = papi.http.post("/_sim/number_style", json={"style": "trimmed"})
    assert refused.status_code == 400 and "number style" in refused.json()["error"]


def test_served_decimals_are_plain_strings_without_exponent(papi):
    um = papi.json(UM, "ed")
    for entry in um["positions"] + um["assets"]:
        for key, value in entry.items():
            if key not in ("symbol", "asset", "positionSide", "updateTime"):
                assert isinstance(value, str) and "E" not in value and not value.startswith("-0.0")
                Decimal(value)


def test_full_market_payload_reuses_the_cached_zero_entries(papi):
    papi.json(UM, "ed")
    stored = papi.sim.call(papi.sim.simulator.served_payload, "ed", UM)
    cached, index = templates(papi.sim.market).um["hedge"]
    open_keys = {("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT"), ("SOLUSDT", "LONG")}
    shared = [i for i, entry in enumerate(stored.entries) if entry is cached[i]]
    assert len(shared) == len(cached) - len(open_keys)
    assert {k for k, i in index.items() if i not in shared} == open_keys


def test_a_hundred_hedge_accounts_are_served_quickly(make_papi):
    accounts = [
        SimAccount(
            f"bench{i}",
            f"benchKey{i}",
            api_secret=f"secret{i}",
            mode="hedge",
            balances={"USDT": "100000"},
            um_positions=[
                UMPosition(symbol, side, amount, "100", 10)
                for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT")
                for side, amount in (("LONG", "1"), ("SHORT", "-1"))
            ],
        )
        for i in range(100)
    ]
    papi = make_papi(accounts)
    started = time.monotonic()
    for i in range(100):
        reply = papi.get(UM, api_key=f"benchKey{i}", signer=HmacSigner(f"secret{i}"))
        assert reply.status_code == 200
    # About 1 ms each here; the bound only catches an accidental per-symbol recomputation.
    assert time.monotonic() - started < 5


def test_positions_must_fit_the_accounts_mode(papi):
    with pytest.raises(ValueError, match="one_way"):
        papi.sim.open_position("hmac", "BTCUSDT", "LONG", "1", "60000")
    with pytest.raises(ValueError, match="SHORT"):
        papi.sim.open_position("ed", "BTCUSDT", "SHORT", "1", "60000")


def test_open_order_and_coin_m_positions_can_be_opened(papi):
    papi.sim.open_position("ed", "ADAUSDT", "SHORT", "0", "0", open_order_initial_margin="7")
    papi.sim.open_position("ed", "ETHUSD_PERP", "LONG", "5", "3300", 10)
    entry = by_key(papi.json(UM, "ed")["positions"])[("ADAUSDT", "SHORT")]
    assert (entry["positionAmt"], entry["openOrderInitialMargin"]) == ("0", "7.0")
    cm = by_key(papi.json(CM, "ed")["positions"])[("ETHUSD_PERP", "LONG")]
    assert (cm["positionAmt"], cm["leverage"]) == ("5", "10")
    assert [a["asset"] for a in papi.json(CM, "ed")["assets"]] == ["ETH"]


def test_flat_rows_of_both_books_differ_only_in_the_books_fields():
    market, account = Market(), SimAccount(name="x", api_key="k", api_secret="s")
    risk = compute_risk(account, market, 0.0)
    um, cm = (
        orjson.loads(
            bytes(position_risk_payload(book, account, risk, market, symbol, flat_rows=True))
        )
        for book, symbol in ((UM_BOOK, "BTCUSDT"), (CM_BOOK, "BTCUSD_PERP"))
    )
    shared = {"entryPrice": "0.0", "unRealizedProfit": "0.00000000", "positionSide": "BOTH"}
    assert [{k: row[0][k] for k in shared} for row in (um, cm)] == [shared, shared]
    assert [k for k in um[0] if k not in cm[0]] == ["maxNotionalValue", "notional"]
    assert [k for k in cm[0] if k not in um[0]] == ["maxQty", "notionalValue"]
    assert (um[0]["positionAmt"], um[0]["breakEvenPrice"], um[0]["notional"]) == ("0.0", "0.0", "0")
    assert (cm[0]["positionAmt"], cm[0]["breakEvenPrice"], cm[0]["notionalValue"]) == (
        "0",
        "0.00000000",
        "0",
    )
