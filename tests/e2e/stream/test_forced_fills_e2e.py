"""Forced orders the moment they fill: the simulator force-closes positions, its user data stream
pushes the fills (ORDER_TRADE_UPDATE), /metrics counts them before any poll of forceOrders, and
the poll that then finds the same orders counts nothing twice."""

from __future__ import annotations

from exporter.simulator.server import SimulatorThread
from tests.e2e.stream.support import connected, requests, stream_config, stream_value
from tests.helpers import ExporterThread, wait_for

ORDERS = "binance_pm_force_orders_total"
QUANTITY = "binance_pm_force_order_quantity_total"
FORCE = ("um_force_orders", "cm_force_orders")
PATHS = ("/papi/v1/um/forceOrders", "/papi/v1/cm/forceOrders")
LAST = "binance_pm_exporter_collector_last_success_timestamp_seconds"


def forced(exp: ExporterThread) -> dict[str, float | None]:
    return {
        "um orders": stream_value(exp, ORDERS, market="um", symbol="BTCUSDT", kind="liquidation"),
        "um quantity": stream_value(
            exp, QUANTITY, market="um", symbol="BTCUSDT", kind="liquidation"
        ),
        "cm orders": stream_value(exp, ORDERS, market="cm", symbol="BTCUSD_PERP", kind="adl"),
        "cm quantity": stream_value(exp, QUANTITY, market="cm", symbol="BTCUSD_PERP", kind="adl"),
    }


def poll_force_orders(exp: ExporterThread, sim: SimulatorThread) -> None:
    """A poll of both force-order collectors now, and its result served."""
    before = [requests(sim, p) for p in PATHS]
    success = [stream_value(exp, LAST, collector=c) for c in FORCE]
    exp.call(lambda: exp.exporter.scheduler.request_poll("desk", FORCE))
    wait_for(lambda: all(requests(sim, p) > n for p, n in zip(PATHS, before, strict=True)))
    wait_for(
        lambda: all(
            stream_value(exp, LAST, collector=c) != s for c, s in zip(FORCE, success, strict=True)
        )
    )


def test_a_forced_order_seen_by_the_stream_then_by_rest_counts_once(sim: SimulatorThread):
    collectors = ["um_account", *({"name": c, "interval_seconds": 60} for c in FORCE)]
    # Polls every 2 s: every group's first poll comes within 2 s of the start, so the force-order
    # collectors' next scheduled poll is a minute away, after this test.
    config = stream_config(sim, collectors=collectors, poll_interval_seconds=2)
    with ExporterThread(config) as exp:
        wait_for(lambda: connected(exp))
        wait_for(lambda: all(stream_value(exp, LAST, collector=c) for c in FORCE))
        poll_force_orders(exp, sim)  # the ledgers started: nothing before counts
        polls = [requests(sim, p) for p in PATHS]
        sim.force_close("desk", "BTCUSDT", "BOTH", "0.2")
        sim.force_close("desk", "BTCUSD_PERP", "BOTH", "3", kind="ADL")
        want = {"um orders": 1.0, "um quantity": 0.2, "cm orders": 1.0, "cm quantity": 3.0}
        wait_for(lambda: forced(exp) == want)
        assert [requests(sim, p) for p in PATHS] == polls  # the stream's alone
        poll_force_orders(exp, sim)  # REST now finds both orders: counted already
        assert forced(exp) == want
        # A second liquidation of the symbol counts on top, once more through both sources.
        sim.force_close("desk", "BTCUSDT", "BOTH", "0.05")
        want = {**want, "um orders": 2.0, "um quantity": 0.25}
        wait_for(lambda: forced(exp) == want)
        poll_force_orders(exp, sim)
        assert forced(exp) == want
