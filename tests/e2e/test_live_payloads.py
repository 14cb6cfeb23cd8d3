"""Live-shaped replies end to end: simulator (its live-like defaults) -> exporter -> /metrics.

Each test rebuilds, in the simulator, a reply shaped like one that live Portfolio Margin
accounts or Binance's own examples show, and pins the exact values /metrics gives for it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import orjson
import pytest

from exporter.simulator.accounts import SimAccount
from tests.helpers import ExporterThread, make_config, series, value, wait_for
from tests.replies import ACCOUNT_STATUSES, expected_um, um_samples

ACCOUNT = "/papi/v1/account"
UM = "/papi/v1/um/account"
RISK = "/papi/v1/um/positionRisk"
CM = "/papi/v1/cm/account"
CM_RISK = "/papi/v1/cm/positionRisk"

IDLE = {"name": "idle", "api_key": "idle-api-key-0123456789", "api_secret": "idle-secret-0123"}


def idle_account() -> SimAccount:
    """A funded PM account with no position and no open order: no maintenance margin."""
    return SimAccount(
        name=IDLE["name"],
        api_key=IDLE["api_key"],
        api_secret=IDLE["api_secret"],
        balances={"USDT": "87.31520964"},
    )


def test_account_without_positions_exports_binances_uni_mmr_sentinel(sim):
    sim.add_account(idle_account())
    config = make_config(sim.base_url, [IDLE], collectors=["account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_account_uni_mmr", account="idle"))
        samples = exp.samples()
    assert sim.last_payload("idle", ACCOUNT)["uniMMR"] == "99999999"
    assert value(samples, "binance_pm_account_uni_mmr", account="idle") == 99999999
    assert value(samples, "binance_pm_account_maint_margin", account="idle") == 0
    assert value(samples, "binance_pm_account_status", account="idle", status="NORMAL") == 1


def served_after(sim, account: str, path: str, since: int, polls: int = 2) -> bool:
    """At least ``polls`` replies served since request record ``since``: one was parsed."""
    served = [r for r in sim.requests[since:] if (r.account, r.path) == (account, path)]
    return len([r for r in served if r.status == 200]) >= polls


@pytest.mark.parametrize(
    ("style", "amount", "orders", "zero"),
    [("live", "0.0", "7.5", "0.0"), ("padded", "0.00", "7.50000000", "0.00000000")],
)
def test_each_number_style_exports_exactly_what_was_served(
    sim, accounts, style, amount, orders, zero
):
    sim.freeze_prices()
    sim.set_number_style(style)
    # ETCUSDT has 2 decimals of quantity: an open order without a position, and a side
    # opened at 0 without an order (flat, spelled like the order's amount).
    sim.open_position("oneway", "ETCUSDT", "BOTH", "0", "0", open_order_initial_margin="7.5")
    sim.open_position("oneway", "LINKUSDT", "BOTH", "0", "0")
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        since = len(sim.requests)
        wait_for(lambda: served_after(sim, "oneway", UM, since))
        served = sim.last_payload("oneway", UM)
        samples = exp.samples()
    etc = next(p for p in served["positions"] if p["symbol"] == "ETCUSDT")
    link = next(p for p in served["positions"] if p["symbol"] == "LINKUSDT")
    assert (etc["positionAmt"], etc["openOrderInitialMargin"]) == (amount, orders)
    assert (link["positionAmt"], link["openOrderInitialMargin"]) == (amount, zero)
    assert um_samples(samples, "oneway") == expected_um("oneway", served)
    etc_labels = {"account": "oneway", "symbol": "ETCUSDT", "position_side": "BOTH"}
    assert value(samples, "binance_pm_um_position_amount", **etc_labels) == 0
    assert value(samples, "binance_pm_um_position_open_order_initial_margin", **etc_labels) == 7.5
    assert not series(samples, "binance_pm_um_position_amount", symbol="LINKUSDT")


def bad_reply_exported(samples: dict) -> dict | None:
    """The samples once the reply without a readable uniMMR is on /metrics."""
    if series(samples, "binance_pm_account_equity") and not series(
        samples, "binance_pm_account_uni_mmr"
    ):
        return samples
    return None


@pytest.mark.parametrize(("bad", "counted"), [("abc", True), ("", False)], ids=["abc", "blank"])
def test_one_bad_account_field_costs_only_its_own_gauge(sim, accounts, bad, counted):
    """The SDK's example blanks two fields; here uniMMR alone is bad and nothing else is lost."""
    sim.freeze_prices()
    sim.set_status_override("oneway", "MARGIN_CALL")
    config = make_config(sim.base_url, accounts[:1], collectors=["account"])
    health = {"account": "oneway", "collector": "account"}
    with ExporterThread(config) as exp:
        wait_for(lambda: sim.last_payload("oneway", ACCOUNT) is not None)
        served = {**sim.last_payload("oneway", ACCOUNT), "uniMMR": bad}
        sim.set_fault("oneway", ACCOUNT, body=orjson.dumps(served))
        samples = wait_for(lambda: bad_reply_exported(exp.samples()))
    assert value(samples, "binance_pm_account_status", account="oneway", status="MARGIN_CALL") == 1
    for suffix, field in [
        ("equity", "accountEquity"),
        ("actual_equity", "actualEquity"),
        ("maint_margin", "accountMaintMargin"),
        ("total_available_balance", "totalAvailableBalance"),
    ]:
        assert value(samples, f"binance_pm_account_{suffix}", account="oneway") == float(
            served[field]
        )
    assert value(samples, "binance_pm_exporter_collector_up", **health) == 1
    skipped = value(samples, "binance_pm_exporter_skipped_fields_total", **health)
    assert (skipped > 0) == counted


def position(account: str, symbol: str, side: str) -> dict[str, str]:
    return {"account": account, "symbol": symbol, "position_side": side}


def test_um_account_alone_exports_notional_and_break_even(sim, accounts):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts[1:], collectors=["um_account"])
    long = position("hedge", "BTCUSDT", "LONG")
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_um_position_break_even_price", **long))
        samples = exp.samples()
    mark = sim.market.um["BTCUSDT"].mark
    # Entry 61000, long: plus the simulator's 0.04% round-trip fee.
    assert value(samples, "binance_pm_um_position_break_even_price", **long) == 61024.4
    assert value(samples, "binance_pm_um_position_notional", **long) == float(mark * Decimal("0.1"))
    short = position("hedge", "BTCUSDT", "SHORT")
    assert value(samples, "binance_pm_um_position_break_even_price", **short) == 61975.2
    assert not series(samples, "binance_pm_um_position_mark_price")


def test_with_both_um_collectors_notional_and_break_even_are_exported_once(sim, accounts):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts, collectors=["um_account", "um_position_risk"])
    xrp = position("hedge", "XRPUSDT", "LONG")
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_um_position_mark_price", **xrp))
        samples = exp.samples()  # parse_samples refuses a duplicate series
    risk = {(r["symbol"], r["positionSide"]): r for r in sim.last_payload("hedge", RISK)}
    um = {(p["symbol"], p["positionSide"]): p for p in sim.last_payload("hedge", UM)["positions"]}
    for key in [("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT"), ("XRPUSDT", "LONG")]:
        labels = position("hedge", *key)
        assert um[key]["breakEvenPrice"] == risk[key]["breakEvenPrice"]
        assert value(samples, "binance_pm_um_position_break_even_price", **labels) == float(
            um[key]["breakEvenPrice"]
        )
        assert value(samples, "binance_pm_um_position_notional", **labels) == float(
            um[key]["notional"]
        )
        assert value(samples, "binance_pm_um_position_mark_price", **labels) == float(
            risk[key]["markPrice"]
        )
    assert value(samples, "binance_pm_um_position_break_even_price", **xrp) == 0.5002
    # The one-way account's open order has no position: break-even and notional 0.
    sol = position("oneway", "SOLUSDT", "BOTH")
    assert value(samples, "binance_pm_um_position_break_even_price", **sol) == 0
    assert value(samples, "binance_pm_um_position_notional", **sol) == 0


def test_cm_account_exports_notional_value_and_break_even(sim, accounts):
    sim.freeze_prices()
    sim.open_position("oneway", "BTCUSD_PERP", "BOTH", "-12", "60000", 20)
    config = make_config(sim.base_url, accounts[:1], collectors=["cm_account"])
    btc = position("oneway", "BTCUSD_PERP", "BOTH")
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_cm_position_break_even_price", **btc))
        samples = exp.samples()
    served = next(p for p in sim.last_payload("oneway", CM)["positions"] if p["positionAmt"] != "0")
    mark = sim.market.cm["BTCUSD_PERP"].mark
    assert value(samples, "binance_pm_cm_position_break_even_price", **btc) == 59976
    assert value(samples, "binance_pm_cm_position_notional_value", **btc) == float(
        served["notionalValue"]
    )
    assert Decimal(served["notionalValue"]) == (-1200 / mark).quantize(
        Decimal("1E-8"), ROUND_HALF_UP
    )


def exported_positions(samples: dict, name: str, account: str) -> set[tuple[str, str]]:
    return {
        (dict(k[1])["symbol"], dict(k[1])["position_side"])
        for k in series(samples, name, account=account)
    }


def test_flat_row_with_a_leftover_liquidation_price_is_exported_as_0(sim, accounts):
    """Binance's flat rows: only the side an open order keeps is exported, liquidation 0."""
    sim.freeze_prices()
    sim.set_flat_position_rows()
    config = make_config(sim.base_url, accounts, collectors=["um_account", "um_position_risk"])
    sol = position("oneway", "SOLUSDT", "BOTH")
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_um_position_mark_price", **sol))
        wait_for(
            lambda: series(exp.samples(), "binance_pm_um_position_mark_price", account="hedge")
        )
        samples = exp.samples()
    served = {(r["symbol"], r["positionSide"]): r for r in sim.last_payload("oneway", RISK)}
    assert len(served) == len(sim.market.um)  # every symbol, flat ones included
    leftover = served[("SOLUSDT", "BOTH")]
    assert Decimal(leftover["positionAmt"]) == 0 and Decimal(leftover["liquidationPrice"]) > 0
    assert value(samples, "binance_pm_um_position_liquidation_price", **sol) == 0
    assert value(samples, "binance_pm_um_position_mark_price", **sol) == float(
        leftover["markPrice"]
    )
    name = "binance_pm_um_position_liquidation_price"
    assert exported_positions(samples, name, "oneway") == {
        ("BTCUSDT", "BOTH"),
        ("ETHUSDT", "BOTH"),
        ("SOLUSDT", "BOTH"),
    }
    # Hedge mode: XRPUSDT's flat SHORT side is served, but nothing keeps it.
    hedge_rows = {(r["symbol"], r["positionSide"]) for r in sim.last_payload("hedge", RISK)}
    assert ("XRPUSDT", "SHORT") in hedge_rows
    assert exported_positions(samples, name, "hedge") == {
        ("BTCUSDT", "LONG"),
        ("BTCUSDT", "SHORT"),
        ("XRPUSDT", "LONG"),
    }
    eth = position("oneway", "ETHUSDT", "BOTH")
    assert value(samples, name, **eth) == float(served[("ETHUSDT", "BOTH")]["liquidationPrice"])


def test_cm_position_risk_exports_coin_m_mark_liquidation_and_notional(sim, accounts):
    sim.freeze_prices()
    sim.set_flat_position_rows()
    sim.open_position("oneway", "BTCUSD_PERP", "BOTH", "-12", "60000", 20)
    sim.open_position(
        "oneway", "ETHUSD_PERP", "BOTH", "0", "0", 10, open_order_initial_margin="0.02"
    )
    collectors = ["cm_account", "cm_position_risk"]
    config = make_config(sim.base_url, accounts[:1], collectors=collectors)
    btc, eth = position("oneway", "BTCUSD_PERP", "BOTH"), position("oneway", "ETHUSD_PERP", "BOTH")
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_cm_position_mark_price", **eth))
        samples = exp.samples()  # no duplicate series although both serve notional and break-even
    served = {(r["symbol"], r["positionSide"]): r for r in sim.last_payload("oneway", CM_RISK)}
    row = served[("BTCUSD_PERP", "BOTH")]
    for suffix, field in [
        ("mark_price", "markPrice"),
        ("liquidation_price", "liquidationPrice"),
        ("notional_value", "notionalValue"),
        ("break_even_price", "breakEvenPrice"),
    ]:
        assert value(samples, f"binance_pm_cm_position_{suffix}", **btc) == float(row[field])
    assert float(row["liquidationPrice"]) > float(row["markPrice"])  # a short
    assert Decimal(served[("ETHUSD_PERP", "BOTH")]["liquidationPrice"]) > 0
    assert value(samples, "binance_pm_cm_position_liquidation_price", **eth) == 0
    name = "binance_pm_cm_position_mark_price"
    assert exported_positions(samples, name, "oneway") == {
        ("BTCUSD_PERP", "BOTH"),
        ("ETHUSD_PERP", "BOTH"),
    }
    assert [r.weight for r in sim.requests if r.path == CM_RISK][:1] == [1]


def current_status(samples: dict, account: str) -> list[str]:
    found = series(samples, "binance_pm_account_status", account=account)
    return [dict(k[1])["status"] for k, v in found.items() if v == 1]


def test_every_documented_status_can_be_served_and_is_exported(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["account"])
    with ExporterThread(config) as exp:
        for status in ACCOUNT_STATUSES:
            sim.set_status_override("oneway", status)
            wait_for(lambda s=status: current_status(exp.samples(), "oneway") == [s])
            found = series(exp.samples(), "binance_pm_account_status", account="oneway")
            assert len(found) == len(ACCOUNT_STATUSES)


@pytest.mark.parametrize(
    ("uni_mmr", "status"),
    [(1.3, "MARGIN_CALL"), (1.1, "REDUCE_ONLY"), (1.02, "FORCE_LIQUIDATION"), (1.0, "BANKRUPTED")],
)
def test_status_follows_uni_mmr_through_binances_levels(sim, accounts, uni_mmr, status):
    sim.falling_uni_mmr("oneway", duration_seconds=0, start=uni_mmr, end=uni_mmr)
    config = make_config(sim.base_url, accounts[:1], collectors=["account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: current_status(exp.samples(), "oneway") == [status])
        exported = value(exp.samples(), "binance_pm_account_uni_mmr", account="oneway")
    assert abs(exported - uni_mmr) < 2e-8


def help_line(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"# HELP {name} "))


def test_help_texts_give_units_and_pm_meaning(sim, accounts):
    sim.open_position("oneway", "BTCUSD_PERP", "BOTH", "3", "60000", 20)
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account", "cm_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_cm_position_max_qty"))
        text = exp.text()
    max_qty = help_line(text, "binance_pm_cm_position_max_qty")
    assert "base asset" in max_qty and "contract" not in max_qty
    assert "contracts" in help_line(text, "binance_pm_cm_position_amount")
    assert "base asset" in help_line(text, "binance_pm_um_position_amount")
    ratio = help_line(text, "binance_pm_um_asset_margin_ratio")
    assert "shares collateral across wallets" in ratio and "uniMMR decides" in ratio


UM_V2 = "/papi/v2/um/account"
V1_ONLY = ("leverage", "entry_price", "max_notional", "position_initial_margin",
           "open_order_initial_margin")  # fmt: skip
# What the position-risk reply carries too: it gives them once v2 no longer does.
FROM_RISK = ("leverage", "entry_price")


def test_a_retired_um_account_v1_falls_back_to_v2_keeping_what_v2_gives(sim, accounts, capfd):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts, collectors=["um_account", "um_position_risk"])
    with ExporterThread(config) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="hedge") == 1)
        before = exp.samples()
        sim.retire_endpoint(UM, UM_V2)
        name = "binance_pm_exporter_endpoint_fallbacks_total"

        def moved(account: str) -> bool:
            return value(exp.samples(), name, account=account, collector="um_account") == 1

        wait_for(lambda: moved("oneway") and moved("hedge"))
        # Two more polls on v2: nothing lost, nothing counted as an error.
        polled = len([r for r in sim.requests if r.path == UM_V2])
        wait_for(lambda: len([r for r in sim.requests if r.path == UM_V2]) >= polled + 4)
        after = exp.samples()
    # Each account asked v1 once after its retirement (-5000), then only v2. Told apart by the
    # reply, not by time: a poll may land between the retirement and a look at the log.
    requests = [r for r in sim.requests if r.path in (UM, UM_V2)]
    assert [r.account for r in requests if r.path == UM and r.code == -5000] in (
        ["oneway", "hedge"],
        ["hedge", "oneway"],
    )
    assert all(r.status == 200 for r in requests if r.path == UM_V2)
    for account in ("oneway", "hedge"):
        assert value(after, "binance_pm_exporter_up", account=account) == 1
        errors = series(after, "binance_pm_exporter_poll_errors_total", account=account)
        assert set(errors.values()) == {0.0}
        v2 = {
            k: v for k, v in um_samples(after, account).items()
            if not any(k[0].endswith(f"_position_{f}") for f in V1_ONLY)
        }  # fmt: skip
        v1 = um_samples(before, account)
        # Every series v2 can give keeps its value; the v1-only ones are gone.
        for key, val in v2.items():
            if key in v1 and "update_timestamp" not in key[0]:
                assert val == v1[key], key
        for field in V1_ONLY:
            gone = series(after, f"binance_pm_um_position_{field}", account=account) == {}
            assert gone == (field not in FROM_RISK), field
            assert series(before, f"binance_pm_um_position_{field}", account=account) != {}
    # The position-risk collector now gives the break-even price, leverage and entry price v2
    # no longer has.
    assert value(after, "binance_pm_um_position_leverage", account="oneway",
                 symbol="BTCUSDT", position_side="BOTH") == 10  # fmt: skip
    assert value(after, "binance_pm_um_position_break_even_price", account="oneway",
                 symbol="BTCUSDT", position_side="BOTH") > 0  # fmt: skip
    assert capfd.readouterr().out.count("Binance retired the endpoint") == 2
