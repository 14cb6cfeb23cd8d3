"""Live-shaped replies end to end: simulator (its live-like defaults) -> exporter -> /metrics.

Each test rebuilds, in the simulator, a reply shaped like one that live Portfolio Margin
accounts or Binance's own examples show, and pins the exact values /metrics gives for it.
"""

from __future__ import annotations

from exporter.simulator.accounts import SimAccount
from tests.helpers import ExporterThread, make_config, series, value, wait_for

ACCOUNT = "/papi/v1/account"

IDLE = {"name": "idle", "api_key": "idle-api-key-0123456789", "api_secret": "idle-secret-0123"}


def idle_account() -> SimAccount:
    """A funded PM account with no position and no open order: no maintenance margin."""
    return SimAccount(
        name=IDLE["name"],
        api_key=IDLE["api_key"],
        api_secret=IDLE["api_secret"],
        balances={"USDT": "142.09091742"},
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
