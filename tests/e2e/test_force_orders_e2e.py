"""Forced orders end to end: the simulator's liquidations and auto-deleveraging of UM, COIN-M and
margin on /metrics, each once, none from before the start."""

from __future__ import annotations

from exporter.simulator.demo import demo_accounts, demo_simulator
from exporter.simulator.server import SimulatorThread
from tests.helpers import ExporterThread, make_config, series, value, wait_for

ORDERS = "binance_pm_force_orders_total"
QUANTITY = "binance_pm_force_order_quantity_total"
NAMES = ("um_force_orders", "cm_force_orders", "margin_force_orders")
# Weight 50 a poll for UM and COIN-M: every 2 s is 3060 weight a minute with margin's.
COLLECTORS = [
    {"name": n, "interval_seconds": 2 if n != "margin_force_orders" else 1} for n in NAMES
]


def polls(exporter: ExporterThread, collector: str) -> int:
    samples = exporter.samples()
    return int(
        value(
            samples,
            "binance_pm_exporter_poll_duration_seconds_count",
            account="oneway",
            collector=collector,
        )
    )


def counted(exporter: ExporterThread) -> dict[tuple[str, str, str, str], float]:
    out = {}
    for name in (ORDERS, QUANTITY):
        for key, v in series(exporter.samples(), name).items():
            labels = dict(key[1])
            out[(name, labels["market"], labels["symbol"], labels["kind"])] = v
    return out


def test_forced_orders_after_the_start_are_counted_once_by_market_symbol_and_kind(
    sim, accounts
) -> None:
    sim.trade("oneway", "BTCUSD_PERP", "BOTH", "5")
    sim.force_close("oneway", "BTCUSDT", "BOTH", "0.05")  # before the start: never counted
    config = make_config(
        sim.base_url, accounts[:1], collectors=COLLECTORS, max_weight_per_minute=6000
    )
    with ExporterThread(config) as exporter:
        wait_for(lambda: all(polls(exporter, n) >= 1 for n in NAMES))
        sim.force_close("oneway", "BTCUSDT", "BOTH", "0.1")
        sim.force_close("oneway", "BTCUSDT", "BOTH", "0.02")
        sim.force_close("oneway", "ETHUSDT", "BOTH", "1", kind="ADL")
        sim.force_close("oneway", "BTCUSD_PERP", "BOTH", "2")
        sim.add_margin_force_order("oneway", "BNBUSDT", "1.5", "600")
        want = {
            (ORDERS, "um", "BTCUSDT", "liquidation"): 2.0,
            (QUANTITY, "um", "BTCUSDT", "liquidation"): 0.12,
            (ORDERS, "um", "ETHUSDT", "adl"): 1.0,
            (QUANTITY, "um", "ETHUSDT", "adl"): 1.0,
            (ORDERS, "cm", "BTCUSD_PERP", "liquidation"): 1.0,
            (QUANTITY, "cm", "BTCUSD_PERP", "liquidation"): 2.0,
            (ORDERS, "margin", "BNBUSDT", "liquidation"): 1.0,
            (QUANTITY, "margin", "BNBUSDT", "liquidation"): 1.5,
        }
        wait_for(lambda: counted(exporter) == want)
        seen = {n: polls(exporter, n) for n in NAMES}
        wait_for(lambda: all(polls(exporter, n) >= seen[n] + 1 for n in NAMES))
        assert counted(exporter) == want
    weights = {r.path: r.weight for r in sim.requests if "forceOrders" in r.path}
    assert weights == {
        "/papi/v1/um/forceOrders": 50,
        "/papi/v1/cm/forceOrders": 50,
        "/papi/v1/margin/forceOrders": 1,
    }


def test_the_demo_scenario_forces_orders_of_every_kind() -> None:
    accounts, _ = demo_accounts()
    with SimulatorThread(
        accounts, tick_seconds=0.05, liquidation_seconds=0.1, trade_seconds=None
    ) as sim:
        name = accounts[0].name

        def orders() -> list:
            return sim.call(lambda: list(sim.simulator.account(name).force_orders.orders))

        wait_for(lambda: len(orders()) >= 3)
        forced = orders()
    assert {(o.market, o.auto_close_type) for o in forced} == {
        ("um", "LIQUIDATION"),
        ("um", "ADL"),
        ("margin", "LIQUIDATION"),
    }
    assert demo_simulator(accounts).liquidation_seconds > 0
