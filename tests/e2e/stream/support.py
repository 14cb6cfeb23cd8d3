"""The streaming desk the stream's end-to-end tests share: its accounts, its config, and reads of
its stream series."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from exporter.config import Config
from exporter.simulator.accounts import CMPosition, SimAccount, UMPosition
from exporter.simulator.server import SimulatorThread
from tests.helpers import ExporterThread, make_config, series, value, wait_for

KEY = "streamKey0123456789"
SECRET = "stream-secret-0123456789abcdef"
QUIET_KEY = "quietKey0123456789"
QUIET_SECRET = "quiet-secret-0123456789abcdef"
LISTEN_KEY = "/papi/v1/listenKey"


def stream_account() -> SimAccount:
    return SimAccount(
        name="desk",
        api_key=KEY,
        api_secret=SECRET,
        balances={"USDT": "10000", "BTC": "0.1"},
        cm_balances={"BTC": "0.05"},
        um_positions=[UMPosition("BTCUSDT", "BOTH", "0.5", "60000", 10)],
        cm_positions=[CMPosition("BTCUSD_PERP", "BOTH", "10", "64000", 20)],
    )


def quiet_account() -> SimAccount:
    return SimAccount(name="quiet", api_key=QUIET_KEY, api_secret=QUIET_SECRET)


ACCOUNTS = [
    {"name": "desk", "api_key": KEY, "api_secret": SECRET},
    {"name": "quiet", "api_key": QUIET_KEY, "api_secret": QUIET_SECRET},
]


def stream_config(sim: SimulatorThread, accounts: list[dict] | None = None, **raw: Any) -> Config:
    """Polls every 60 s (so an early poll stands out), the stream on for ``desk`` only."""
    options: dict[str, Any] = {
        "poll_interval_seconds": 60,
        "collectors": ["um_account", "account", "cm_account"],
        "stream_url": sim.simulator.stream_url,
        "stream_keepalive_seconds": 30,
        "stream_silence_seconds": 5,
    }
    options.update(raw)
    if accounts is None:
        accounts = [{**ACCOUNTS[0], "user_data_stream": True}, ACCOUNTS[1]]
    return make_config(sim.base_url, accounts, **options)


def stream_value(exp: ExporterThread, name: str, **labels: str) -> float | None:
    """The value of one series of account desk, None while it is not exposed."""
    try:
        return value(exp.samples(), name, account="desk", **labels)
    except AssertionError:
        return None


def wait_value(exp: ExporterThread, name: str, expected: float, **labels: str) -> None:
    wait_for(lambda: stream_value(exp, name, **labels) == expected)


def wait_funding_credited(exp: ExporterThread, total: float) -> None:
    """Until the stream has counted desk's UM funding fees received in USDT up to ``total``."""
    wait_value(
        exp,
        "binance_pm_balance_credited_total",
        total,
        book="UM",
        asset="USDT",
        reason="FUNDING_FEE",
    )


def connected(exp: ExporterThread) -> bool:
    return stream_value(exp, "binance_pm_exporter_stream_up") == 1


def requests(sim: SimulatorThread, path: str, method: str = "GET", account: str = "desk") -> int:
    return sum(
        1
        for r in sim.requests
        if r.path == path and r.method == method and r.account == account and r.status == 200
    )


def reconnects(exp: ExporterThread) -> dict[str, float]:
    found = series(exp.samples(), "binance_pm_exporter_stream_reconnects_total", account="desk")
    return {dict(k[1])["reason"]: v for k, v in found.items() if v}


def stop_and_leftovers(exp: ExporterThread) -> tuple[float, list[str]]:
    """Stop the exporter on its loop: how long the stop took, and the tasks still there after."""

    async def stop() -> tuple[float, list[str]]:
        started = time.monotonic()
        await exp.exporter.stop()
        took = time.monotonic() - started
        me = asyncio.current_task()
        return took, sorted(t.get_name() for t in asyncio.all_tasks() if t is not me)

    return exp.run(stop(), timeout=30)
