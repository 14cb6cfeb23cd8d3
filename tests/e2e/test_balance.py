"""Balances end to end: what the simulator served is what /metrics says."""

from __future__ import annotations

import orjson

from exporter.collectors.balance import COLLECTOR
from tests.helpers import ExporterThread, make_config, series, value, wait_for

P = "binance_pm_balance_"


def test_exported_balances_equal_what_the_simulator_served(sim, accounts) -> None:
    sim.freeze_prices()
    sim.set_cross_margin("oneway", "USDC", free="120.5", borrowed="1000", interest="0.25")
    sim.set_cross_margin("oneway", "ETH", free="0")  # an all-zero row: left out
    config = make_config(sim.base_url, accounts[:1], collectors=["balance"])
    with ExporterThread(config) as exporter:
        wait_for(lambda: series(exporter.samples(), P + "cross_margin_borrowed"))
        exporter.stop_polling()
        samples = exporter.samples()
    served = orjson.loads(orjson.dumps(sim.last_payload("oneway", COLLECTOR.path)))
    assert [r["asset"] for r in served] == ["USDT", "BTC", "BNB", "USDC", "ETH"]
    for row in served[:4]:
        labels = {"account": "oneway", "asset": row["asset"]}
        assert value(samples, P + "total_wallet_balance", **labels) == float(
            row["totalWalletBalance"]
        )
        assert value(samples, P + "cross_margin_interest", **labels) == float(
            row["crossMarginInterest"]
        )
        assert value(samples, P + "um_unrealized_pnl", **labels) == float(row["umUnrealizedPNL"])
        assert value(samples, P + "update_timestamp_seconds", **labels) == row["updateTime"] / 1000
    # USDT has no COIN-M contract: Binance's "" leaves the series out.
    assert not series(samples, P + "cm_unrealized_pnl", asset="USDT")
    assert not series(samples, P + "total_wallet_balance", asset="ETH")
