"""Collateral rates end to end: the simulator's table on /metrics once per process, a knob-lowered
rate shows, and the poll spends the SAPI host's weight, not the PAPI one's."""

from __future__ import annotations

from exporter.collectors._collateral_rate import PATH, RATE
from exporter.simulator.market import COLLATERAL_RATES
from tests.helpers import ExporterThread, make_config, series, value, wait_for

COLLECTORS = ["um_account"]


def rates(samples: dict) -> dict[str, float]:
    found = series(samples, RATE)
    for _, labels in found:
        assert {k for k, _ in labels} == {"asset"}, labels  # no account label: process-wide
    return {dict(labels)["asset"]: v for (_, labels), v in found.items()}


def when(samples: dict, condition) -> dict | None:
    return samples if condition(samples) else None


def test_every_rate_the_simulator_serves_is_exported_once(sim, accounts) -> None:
    config = make_config(
        sim.base_url,
        accounts,
        collectors=COLLECTORS,
        sapi_base_url=sim.base_url,
        collateral_rate={"interval_seconds": 3},
    )
    with ExporterThread(config) as exporter:
        samples = wait_for(lambda: when(exporter.samples(), lambda s: rates(s)))
        assert rates(samples) == {asset: float(rate) for asset, rate in COLLATERAL_RATES.items()}
        assert rates(samples)["BTC"] == 0.95
        last = "binance_pm_exporter_process_poll_last_success_timestamp_seconds"
        assert value(samples, last, collector="collateral_rate") > 0
    calls = [r for r in sim.requests if r.path == PATH]
    # Once per process, with the first account's key alone: nothing signed, no parameters.
    assert {(r.account, r.status, r.weight, tuple(r.params)) for r in calls} == {
        ("oneway", 200, 50, ())
    }


def test_a_lowered_rate_shows_at_the_next_poll(sim, accounts) -> None:
    config = make_config(
        sim.base_url,
        accounts[:1],
        collectors=COLLECTORS,
        sapi_base_url=sim.base_url,
        collateral_rate={"interval_seconds": 1},
        sapi_max_weight_per_minute=3000,
    )
    with ExporterThread(config) as exporter:
        wait_for(lambda: rates(exporter.samples()).get("BTC") == 0.95)
        sim.set_collateral_rate("BTC", "0.8")
        samples = wait_for(lambda: when(exporter.samples(), lambda s: rates(s)["BTC"] == 0.8))
        assert rates(samples)["ETH"] == 0.95


def test_off_by_default_nothing_is_polled(sim, accounts) -> None:
    config = make_config(sim.base_url, accounts[:1], collectors=COLLECTORS)
    with ExporterThread(config) as exporter:
        wait_for(lambda: series(exporter.samples(), "binance_pm_exporter_up", account="oneway"))
        assert rates(exporter.samples()) == {}
    assert [r for r in sim.requests if r.path == PATH] == []
