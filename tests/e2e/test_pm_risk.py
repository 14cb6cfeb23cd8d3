"""uniMMR, account status, mark and liquidation prices, COIN-M, per-collector health."""

from __future__ import annotations

from tests.helpers import ExporterThread, make_config, series, value, wait_for
from tests.replies import ACCOUNT_STATUSES

ACCOUNT = "/papi/v1/account"
RISK = "/papi/v1/um/positionRisk"
CM = "/papi/v1/cm/account"
ACCOUNT_FIELDS = {
    "uni_mmr": "uniMMR",
    "equity": "accountEquity",
    "actual_equity": "actualEquity",
    "initial_margin": "accountInitialMargin",
    "maint_margin": "accountMaintMargin",
    "total_available_balance": "totalAvailableBalance",
    "virtual_max_withdraw_amount": "virtualMaxWithdrawAmount",
    "total_margin_open_loss": "totalMarginOpenLoss",
}


def account_metrics_match(exp: ExporterThread, sim, account: str) -> bool:
    served = sim.last_payload(account, ACCOUNT)
    if served is None:
        return False
    samples = exp.samples()
    try:
        got = {
            f: value(samples, f"binance_pm_account_{f}", account=account) for f in ACCOUNT_FIELDS
        }
        updated = value(samples, "binance_pm_account_update_timestamp_seconds", account=account)
    except AssertionError:
        return False
    want = {f: float(served[field]) for f, field in ACCOUNT_FIELDS.items()}
    return got == want and updated == served["updateTime"] / 1000


def statuses(exp: ExporterThread, account: str) -> dict[str, float]:
    found = series(exp.samples(), "binance_pm_account_status", account=account)
    return {dict(k[1])["status"]: v for k, v in found.items()}


def test_account_metrics_equal_the_served_account_information(sim, accounts):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts, collectors=["account"])
    with ExporterThread(config) as exp:
        for account in ("oneway", "hedge"):
            wait_for(lambda a=account: account_metrics_match(exp, sim, a))
        served = sim.last_payload("hedge", ACCOUNT)
        uni_mmr = value(exp.samples(), "binance_pm_account_uni_mmr", account="hedge")
    equity, maint = float(served["accountEquity"]), float(served["accountMaintMargin"])
    assert abs(uni_mmr - equity / maint) < 1e-8


def test_status_is_one_series_per_state_with_one_for_the_current(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: statuses(exp, "oneway").get("NORMAL") == 1)
        assert statuses(exp, "oneway") == {s: float(s == "NORMAL") for s in ACCOUNT_STATUSES}
        sim.set_status_override("oneway", "REDUCE_ONLY")
        wait_for(lambda: statuses(exp, "oneway").get("REDUCE_ONLY") == 1)
        assert statuses(exp, "oneway") == {s: float(s == "REDUCE_ONLY") for s in ACCOUNT_STATUSES}


def test_a_status_binance_adds_later_shows_as_its_own_series(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["account"])
    with ExporterThread(config) as exp:
        sim.set_status_override("oneway", "PARTIAL_LIQUIDATION")
        wait_for(lambda: statuses(exp, "oneway").get("PARTIAL_LIQUIDATION") == 1)
        assert statuses(exp, "oneway") == {
            **{s: 0.0 for s in ACCOUNT_STATUSES},
            "PARTIAL_LIQUIDATION": 1.0,
        }


def position_risk_matches(exp: ExporterThread, sim, account: str, keep: set) -> bool:
    """Mark and liquidation prices of the kept rows, and every open row's notional, as served."""
    served = sim.last_payload(account, RISK)
    if served is None:
        return False
    samples = exp.samples()
    want = {}
    for p in served:
        key = (p["symbol"], p["positionSide"])
        if key not in keep:
            continue
        labels = frozenset({"account": account, "symbol": key[0], "position_side": key[1]}.items())
        want[("binance_pm_um_position_mark_price", labels)] = float(p["markPrice"])
        want[("binance_pm_um_position_liquidation_price", labels)] = float(p["liquidationPrice"])
        want[("binance_pm_um_position_notional", labels)] = float(p["notional"])
    names = {
        "binance_pm_um_position_mark_price",
        "binance_pm_um_position_liquidation_price",
        "binance_pm_um_position_notional",
    }
    got = {k: v for k, v in samples.items() if k[0] in names and ("account", account) in k[1]}
    # An open order without a position (kept by um_account) has its notional from um_account.
    got = {k: v for k, v in got.items() if k in want or k[0] != "binance_pm_um_position_notional"}
    return bool(want) and got == want


def test_position_risk_adds_mark_liquidation_and_notional_to_kept_positions(sim, accounts):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts)
    hedge_open = {("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT"), ("XRPUSDT", "LONG")}
    with ExporterThread(config) as exp:
        wait_for(lambda: position_risk_matches(exp, sim, "hedge", hedge_open))
        # The one-way account's open order (SOLUSDT, amount 0) is kept by the UM filter.
        oneway = {("BTCUSDT", "BOTH"), ("ETHUSDT", "BOTH")}
        wait_for(lambda: position_risk_matches(exp, sim, "oneway", oneway))
        samples = exp.samples()
    eth = {"account": "oneway", "symbol": "ETHUSDT", "position_side": "BOTH"}
    liq = value(samples, "binance_pm_um_position_liquidation_price", **eth)
    mark = value(samples, "binance_pm_um_position_mark_price", **eth)
    assert liq > mark > 0  # a short is liquidated above the mark
    # The hedge account's equity covers any move of its small long: Binance gives "0" (none).
    btc = {"account": "hedge", "symbol": "BTCUSDT", "position_side": "LONG"}
    assert value(samples, "binance_pm_um_position_liquidation_price", **btc) == 0


def test_liquidation_price_moves_with_the_mark_price(sim, accounts):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account", "um_position_risk"])
    labels = {"account": "oneway", "symbol": "ETHUSDT", "position_side": "BOTH"}
    with ExporterThread(config) as exp:
        first = wait_for(
            lambda: series(exp.samples(), "binance_pm_um_position_liquidation_price", **labels)
        )
        sim.set_mark_price("ETHUSDT", "3100")
        wait_for(
            lambda: value(exp.samples(), "binance_pm_um_position_mark_price", **labels) == 3100
        )
        second = series(exp.samples(), "binance_pm_um_position_liquidation_price", **labels)
    assert list(first.values()) != list(second.values())
    assert min(first.values()) > 0 and min(second.values()) > 0


def test_without_um_account_position_risk_keeps_non_zero_positions(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_position_risk"])
    with ExporterThread(config) as exp:
        found = wait_for(lambda: series(exp.samples(), "binance_pm_um_position_mark_price"))
    assert {dict(k[1])["symbol"] for k in found} == {"BTCUSDT", "ETHUSDT"}


def test_cm_account_metrics_equal_the_served_payload(sim, accounts):
    sim.freeze_prices()
    sim.call(sim.simulator.open_position, "oneway", "BTCUSD_PERP", "BOTH", "12", "60000", 20)
    config = make_config(sim.base_url, accounts[:1], collectors=["cm_account"])
    labels = {"account": "oneway", "symbol": "BTCUSD_PERP", "position_side": "BOTH"}

    def matches() -> bool:
        served = sim.last_payload("oneway", CM)
        if served is None:
            return False
        pos = next(p for p in served["positions"] if p["symbol"] == "BTCUSD_PERP")
        samples = exp.samples()
        try:
            return (
                value(samples, "binance_pm_cm_position_amount", **labels)
                == float(pos["positionAmt"])
                and value(samples, "binance_pm_cm_position_max_qty", **labels)
                == float(pos["maxQty"])
                and value(samples, "binance_pm_cm_position_unrealized_pnl", **labels)
                == float(pos["unrealizedProfit"])
            )
        except AssertionError:
            return False

    with ExporterThread(config) as exp:
        wait_for(matches)
        samples = exp.samples()
    assert not series(samples, "binance_pm_um_position_amount")
    assert series(samples, "binance_pm_cm_asset_margin_balance", account="oneway")


def test_per_account_collectors_override_the_global_list(sim, accounts):
    hedge = dict(accounts[1], collectors=["um_account"])
    config = make_config(sim.base_url, [accounts[0], hedge])
    with ExporterThread(config) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="hedge") == 1)
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        samples = exp.samples()
    assert series(samples, "binance_pm_account_uni_mmr", account="oneway")
    assert not series(samples, "binance_pm_account_uni_mmr", account="hedge")
    collectors = {
        dict(k[1])["collector"]
        for k in series(samples, "binance_pm_exporter_collector_up", account="hedge")
    }
    assert collectors == {"um_account"}
    assert not [r for r in sim.requests if r.account == "hedge" and r.path == ACCOUNT]
    assert (
        value(samples, "binance_pm_exporter_planned_weight_per_minute") == (30 + 5) * 60 + 20
    )  # balance: 20 a minute


def test_a_failing_collector_fails_alone(sim, accounts):
    config = make_config(
        sim.base_url,
        accounts[:1],
        stale_after_seconds=2,
        collectors=["um_account", "account", "um_position_risk"],
    )
    with ExporterThread(config) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        sim.set_fault("oneway", ACCOUNT, status=500)
        wait_for(lambda: not series(exp.samples(), "binance_pm_account_uni_mmr"), timeout=6)
        samples = exp.samples()
        last_all = value(
            samples, "binance_pm_exporter_last_success_timestamp_seconds", account="oneway"
        )
        um_last = value(
            samples,
            "binance_pm_exporter_collector_last_success_timestamp_seconds",
            account="oneway",
            collector="um_account",
        )
        assert um_last > last_all  # um_account kept succeeding after the account collector broke

        def collector_up(name: str) -> float:
            return value(
                samples, "binance_pm_exporter_collector_up", account="oneway", collector=name
            )

        assert collector_up("account") == 0
        assert collector_up("um_account") == 1
        assert collector_up("um_position_risk") == 1
        assert value(samples, "binance_pm_exporter_up", account="oneway") == 0
        assert series(samples, "binance_pm_um_asset_margin_balance", account="oneway")
        assert series(samples, "binance_pm_um_position_mark_price", account="oneway")
        errors = value(
            samples,
            "binance_pm_exporter_poll_errors_total",
            account="oneway",
            collector="account",
            reason="http_5xx",
        )
        assert errors >= 1
        assert (
            value(
                samples,
                "binance_pm_exporter_poll_errors_total",
                account="oneway",
                collector="um_account",
                reason="http_5xx",
            )
            == 0
        )


def test_auto_interval_stretches_to_fit_the_budget(sim, accounts):
    # 2 accounts x 30 weight = 60 per round; auto plans for 90% of 120/min = 108, of which
    # balance (2 x 20 every 60 s) takes 40: one round in ceil(60 x 60 / 68) = 53 s.
    config = make_config(
        sim.base_url, accounts, poll_interval_seconds="auto", max_weight_per_minute=120
    )
    with ExporterThread(config) as exp:
        samples = exp.samples()
    assert value(samples, "binance_pm_exporter_poll_interval_seconds") == 53
    assert value(samples, "binance_pm_exporter_planned_weight_per_minute") == 60 * 60 / 53 + 40
