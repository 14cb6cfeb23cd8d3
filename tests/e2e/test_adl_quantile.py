"""ADL quantiles end to end: the simulator's quantiles on /metrics, for the exported positions."""

from __future__ import annotations

from exporter.collectors.um_adl_quantile import COLLECTOR as UM
from tests.helpers import ExporterThread, make_config, series, wait_for

UM_NAME = "binance_pm_um_position_adl_quantile"


def test_exported_quantiles_follow_the_simulator_and_the_exported_positions(sim, accounts) -> None:
    sim.freeze_prices()
    sim.set_mark_price("BTCUSDT", "66000")  # oneway's 0.25 long from 60000: quantile 4
    sim.set_mark_price("ETHUSDT", "3500")  # its 3 short from 3000 at 20x: a deep loss
    collectors = ["um_account", "um_adl_quantile"]
    config = make_config(sim.base_url, accounts, collectors=collectors)
    with ExporterThread(config) as exporter:
        wait_for(lambda: len(series(exporter.samples(), UM_NAME)) == 5)
        exporter.stop_polling()
        samples = exporter.samples()
    exported = {
        (dict(k[1])["account"], dict(k[1])["symbol"], dict(k[1])["position_side"]): v
        for k, v in series(samples, UM_NAME).items()
    }
    expected = {}
    for account, sides in (("oneway", ("BOTH",)), ("hedge", ("LONG", "SHORT"))):
        for entry in sim.last_payload(account, UM.path):
            for side in sides:
                expected[(account, entry["symbol"], side)] = float(entry["adlQuantile"][side])
    # Only the sides of open positions: oneway's BOTH, hedge's LONG and SHORT where held
    # (BTCUSDT both, XRPUSDT long only).
    del expected[("hedge", "XRPUSDT", "SHORT")]
    assert exported == expected
    assert exported[("oneway", "BTCUSDT", "BOTH")] == 4.0
    assert exported[("oneway", "ETHUSDT", "BOTH")] == 0.0


def test_without_the_account_detail_every_side_is_exported(sim, accounts) -> None:
    config = make_config(sim.base_url, accounts[:1], collectors=["um_adl_quantile"])
    with ExporterThread(config) as exporter:
        found = wait_for(lambda: series(exporter.samples(), UM_NAME))
    assert {dict(k[1])["position_side"] for k in found} == {"LONG", "SHORT", "BOTH"}
