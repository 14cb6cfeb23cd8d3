"""Mark prices into the served positions, end to end: the simulator's mark stream moves each open
position's mark and unrealized PnL on /metrics before the next poll (polls every 60 s), a newer
poll overrides the stream, and a stream that goes down leaves the served values to the polls."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx

from exporter.config import Config
from exporter.simulator.accounts import SimAccount, UMPosition
from exporter.simulator.market import Market
from exporter.simulator.server import SimulatorThread
from tests.e2e.stream.support import ACCOUNTS, requests, stream_value
from tests.helpers import ExporterThread, make_config, series, value, wait_for

INTERVAL = 0.1  # the simulator's mark push interval here (Binance: 1 s)
COLLECTORS = ["um_account", "um_position_risk", "cm_account", "cm_position_risk"]
UP = "binance_pm_exporter_market_stream_up"
UM_MARK = "binance_pm_um_position_mark_price"
UM_PNL = "binance_pm_um_position_unrealized_pnl"
CM_MARK = "binance_pm_cm_position_mark_price"
CM_PNL = "binance_pm_cm_position_unrealized_pnl"
UM_RISK = "/papi/v1/um/positionRisk"
UM_ACCOUNT = "/papi/v1/um/account"


def marks_config(
    sim: SimulatorThread, accounts: list[dict[str, Any]] | None = None, **raw: Any
) -> Config:
    options: dict[str, Any] = {
        "poll_interval_seconds": 60,
        "collectors": COLLECTORS,
        "market_stream": True,
        "um_market_stream_url": sim.simulator.um_market_stream_url,
        "cm_market_stream_url": sim.simulator.cm_market_stream_url,
        "stream_silence_seconds": 1,
    }
    options.update(raw)
    return make_config(sim.base_url, ACCOUNTS if accounts is None else accounts, **options)


def market_up(exp: ExporterThread, market: str) -> bool:
    try:
        return value(exp.samples(), UP, market=market) == 1
    except AssertionError:
        return False


def started(sim: SimulatorThread) -> ExporterThread:
    sim.set_market_stream_interval(INTERVAL)
    exp = ExporterThread(marks_config(sim)).__enter__()
    wait_for(lambda: market_up(exp, "um") and market_up(exp, "cm"))
    wait_for(lambda: stream_value(exp, CM_MARK, symbol="BTCUSD_PERP", position_side="BOTH"))
    return exp


def position(exp: ExporterThread, mark: str, pnl: str, symbol: str) -> tuple[float, float] | None:
    got = (
        stream_value(exp, mark, symbol=symbol, position_side="BOTH"),
        stream_value(exp, pnl, symbol=symbol, position_side="BOTH"),
    )
    return None if None in got else got  # type: ignore[return-value]


def test_mark_and_pnl_follow_the_stream_before_the_next_poll(sim: SimulatorThread):
    exp = started(sim)
    try:
        polls = requests(sim, UM_RISK), requests(sim, UM_ACCOUNT)
        sim.set_mark_price("BTCUSDT", "70000.5")
        sim.set_mark_price("BTCUSD_PERP", "80000.0")
        # desk: UM BTCUSDT 0.5 at 60000 (linear), COIN-M BTCUSD_PERP 10 contracts of 100 USD at
        # 64000 (inverse).
        um = (70000.5, 0.5 * (70000.5 - 60000))
        cm = (80000.0, 10 * 100 * (1 / 64000 - 1 / 80000))
        wait_for(lambda: position(exp, UM_MARK, UM_PNL, "BTCUSDT") == um)
        wait_for(lambda: position(exp, CM_MARK, CM_PNL, "BTCUSD_PERP") == cm)
        assert um == (70000.5, 5000.25)
        assert (requests(sim, UM_RISK), requests(sim, UM_ACCOUNT)) == polls  # no poll since
        # The quiet account holds no position: nothing was pushed into it.
        assert series(exp.samples(), UM_MARK, account="quiet") == {}
    finally:
        exp.__exit__(None, None, None)


def poll_now(exp: ExporterThread, sim: SimulatorThread, collectors: list[str]) -> None:
    before = requests(sim, UM_RISK)
    last = "binance_pm_exporter_collector_last_success_timestamp_seconds"
    success = stream_value(exp, last, collector="um_position_risk")
    exp.call(lambda: exp.exporter.scheduler.request_poll("desk", collectors))
    wait_for(lambda: requests(sim, UM_RISK) > before)
    wait_for(lambda: stream_value(exp, last, collector="um_position_risk") != success)


def test_a_stream_gone_down_leaves_its_marks_until_a_newer_poll_overrides(sim: SimulatorThread):
    exp = started(sim)
    try:
        sim.set_mark_price("BTCUSDT", "70000.5")
        wait_for(lambda: position(exp, UM_MARK, UM_PNL, "BTCUSDT") == (70000.5, 5000.25))
        sim.set_market_stream_silent(True, "um")
        wait_for(lambda: not market_up(exp, "um"))
        sim.set_mark_price("BTCUSDT", "71000")  # the stream is silent: only a poll tells it
        time.sleep(5 * INTERVAL)
        # Down: nothing withdrawn, nothing stale early; the last marks stay served.
        assert position(exp, UM_MARK, UM_PNL, "BTCUSDT") == (70000.5, 5000.25)
        poll_now(exp, sim, ["um_account", "um_position_risk"])
        wait_for(lambda: position(exp, UM_MARK, UM_PNL, "BTCUSDT") == (71000.0, 5500.0))
    finally:
        exp.__exit__(None, None, None)


def test_marks_of_the_stream_are_not_pushed_into_an_account_without_market_stream(
    sim: SimulatorThread,
):
    sim.set_market_stream_interval(INTERVAL)
    accounts = [{**ACCOUNTS[0], "market_stream": False}, {**ACCOUNTS[1], "market_stream": True}]
    with ExporterThread(marks_config(sim, accounts, market_stream=False)) as exp:
        wait_for(lambda: market_up(exp, "um"))
        wait_for(lambda: stream_value(exp, UM_MARK, symbol="BTCUSDT", position_side="BOTH"))
        polled = position(exp, UM_MARK, UM_PNL, "BTCUSDT")
        sim.set_mark_price("BTCUSDT", "70000.5")
        time.sleep(10 * INTERVAL)  # a push would be served by now
        assert position(exp, UM_MARK, UM_PNL, "BTCUSDT") == polled


SYMBOLS_PER_ACCOUNT = 250
LOAD_ACCOUNTS = 4  # 1,000 positions


def load_accounts(symbols: list[str]) -> list[SimAccount]:
    return [
        SimAccount(
            name=f"load{i}",
            api_key=f"key-load{i}",
            api_secret=f"secret-load{i}",
            balances={"USDT": "1000000"},
            um_positions=[
                UMPosition(s, "BOTH", Decimal(i + 1), Decimal("1"), 5)
                for s in symbols[:SYMBOLS_PER_ACCOUNT]
            ],
        )
        for i in range(LOAD_ACCOUNTS)
    ]


def test_scrapes_stay_served_while_a_thousand_positions_follow_the_marks():
    symbols = sorted(Market().um)[:SYMBOLS_PER_ACCOUNT]
    with SimulatorThread(load_accounts(symbols), tick_seconds=0.1) as sim:
        sim.set_market_stream_interval(INTERVAL)  # every mark moves each tick: 10 frames a second
        accounts = [
            {"name": f"load{i}", "api_key": f"key-load{i}", "api_secret": f"secret-load{i}"}
            for i in range(LOAD_ACCOUNTS)
        ]
        config = marks_config(
            sim,
            accounts,
            collectors=["um_account", "um_position_risk"],
            poll_interval_seconds=600,  # slots 150 s apart: no poll but those asked for here
        )
        with ExporterThread(config) as exp:
            scheduler = exp.exporter.scheduler
            assert scheduler is not None
            for account in accounts:  # now, not at their slots spread over the 60 s
                exp.call(
                    lambda a=account["name"]: scheduler.request_poll(
                        a, ["um_account", "um_position_risk"]
                    )
                )
            wait_for(lambda: market_up(exp, "um"), timeout=20)
            wait_for(
                lambda: len(series(exp.samples(), UM_MARK)) == LOAD_ACCOUNTS * SYMBOLS_PER_ACCOUNT,
                timeout=20,
            )
            polls = [requests(sim, UM_RISK, account=a["name"]) for a in accounts]
            scrapes, slowest, until = 0, 0.0, time.monotonic() + 3
            while time.monotonic() < until:
                began = time.perf_counter()
                reply = httpx.get(exp.url + "/metrics", timeout=10)
                slowest = max(slowest, time.perf_counter() - began)
                assert reply.status_code == 200
                assert reply.text.count(UM_PNL + "{") == LOAD_ACCOUNTS * SYMBOLS_PER_ACCOUNT
                scrapes += 1
            print(f"\n{scrapes} scrapes of 1,000 moving positions in 3 s, slowest {slowest:.3f} s")
            sim.freeze_prices()
            marks = sim.call(lambda: {s: sim.simulator.market.um[s].mark for s in symbols})

            def expected() -> dict[tuple[str, str], tuple[float, float]]:
                return {
                    (f"load{i}", s): (float(m), (i + 1) * (float(m) - 1.0))
                    for i in range(LOAD_ACCOUNTS)
                    for s, m in marks.items()
                }

            def served() -> dict[tuple[str, str], tuple[float, float]]:
                samples = exp.samples()
                return {
                    (a, s): (
                        value(samples, UM_MARK, account=a, symbol=s, position_side="BOTH"),
                        value(samples, UM_PNL, account=a, symbol=s, position_side="BOTH"),
                    )
                    for a, s in expected()
                }

            wait_for(lambda: served() == expected(), timeout=20, interval=0.5)
            # All of it from the stream: no poll since the positions were first served.
            assert [requests(sim, UM_RISK, account=a["name"]) for a in accounts] == polls
