"""Stream values in the gauges at once, newest wins against the polls: simulator and exporter
over real sockets, polls every 60 s and no early polls (the budget leaves no headroom), so
every change seen here before a poll came from the stream."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from exporter.simulator.server import SimulatorThread
from tests.e2e.stream.support import connected, requests, stream_config, stream_value, wait_value
from tests.helpers import ExporterThread, series, wait_for

UM_ACCOUNT = "/papi/v1/um/account"
WALLET = "binance_pm_um_asset_cross_wallet_balance"
AMOUNT = "binance_pm_um_position_amount"
ENTRY = "binance_pm_um_position_entry_price"
PNL = "binance_pm_um_position_unrealized_pnl"
MARK = "binance_pm_um_position_mark_price"
COLLECTORS = ["um_account", "um_position_risk", "account", "balance"]


def quiet_config(sim: SimulatorThread) -> Any:
    """Polls every 60 s and a weight budget the plan fills: events poll nothing early."""
    planned = stream_config(sim, collectors=COLLECTORS).planned_weight_per_minute()
    return stream_config(sim, collectors=COLLECTORS, max_weight_per_minute=math.ceil(planned))


def now_ms() -> int:
    return int(time.time() * 1000)


def account_update(at: int, balances: list[dict], positions: list[dict]) -> str:
    event = {
        "e": "ACCOUNT_UPDATE",
        "fs": "UM",
        "E": at,
        "T": at,
        "i": "",
        "a": {"m": "ORDER", "B": balances, "P": positions},
    }
    return orjson.dumps(event).decode()


def usdt(wallet: str, cross: str) -> dict:
    return {"a": "USDT", "wb": wallet, "cw": cross, "bc": "0"}


def position(symbol: str, amount: str, entry: str = "0", pnl: str = "0") -> dict:
    return {"s": symbol, "pa": amount, "ep": entry, "cr": "0", "up": pnl, "ps": "BOTH"}


def started(sim: SimulatorThread) -> ExporterThread:
    exp = ExporterThread(quiet_config(sim)).__enter__()
    wait_for(lambda: connected(exp) and stream_value(exp, WALLET, asset="USDT") is not None)
    return exp


def poll_now(exp: ExporterThread, sim: SimulatorThread) -> None:
    """A poll of the UM account detail now, and its result served."""
    before = requests(sim, UM_ACCOUNT)
    last = "binance_pm_exporter_collector_last_success_timestamp_seconds"
    success = stream_value(exp, last, collector="um_account")
    exp.call(lambda: exp.exporter.scheduler.request_poll("desk", ["um_account"]))
    wait_for(lambda: requests(sim, UM_ACCOUNT) > before)
    wait_for(lambda: stream_value(exp, last, collector="um_account") != success)


def test_an_account_update_is_served_before_the_next_poll(sim: SimulatorThread):
    exp = started(sim)
    try:
        polls = requests(sim, UM_ACCOUNT)
        frame = account_update(
            now_ms(), [usdt("12345.5", "12000.25")], [position("BTCUSDT", "0.75", "61000", "150.5")]
        )
        sim.send_stream_frames("desk", [frame])
        wait_value(exp, WALLET, 12000.25, asset="USDT")
        samples = exp.samples()
        assert requests(sim, UM_ACCOUNT) == polls  # no poll brought it
    finally:
        exp.__exit__()

    def one(name: str, **labels: str) -> float:
        return series(samples, name, account="desk", **labels).popitem()[1]

    assert one("binance_pm_balance_um_wallet_balance", asset="USDT") == 12345.5
    assert one(AMOUNT, symbol="BTCUSDT", position_side="BOTH") == 0.75
    assert one(ENTRY, symbol="BTCUSDT", position_side="BOTH") == 61000.0
    assert one(PNL, symbol="BTCUSDT", position_side="BOTH") == 150.5


def test_a_poll_older_than_the_stream_value_does_not_roll_it_back(sim: SimulatorThread):
    exp = started(sim)
    try:
        # The event is timed 30 s ahead: the poll sent now is older than it.
        ahead = now_ms() + 30_000
        sim.send_stream_frames("desk", [account_update(ahead, [usdt("1", "777.5")], [])])
        wait_value(exp, WALLET, 777.5, asset="USDT")
        poll_now(exp, sim)
        assert stream_value(exp, WALLET, asset="USDT") == 777.5
    finally:
        exp.__exit__()


def test_a_poll_newer_than_the_stream_value_overrides_it(sim: SimulatorThread):
    exp = started(sim)
    try:
        polled = stream_value(exp, WALLET, asset="USDT")
        sim.send_stream_frames("desk", [account_update(now_ms(), [usdt("1", "777.5")], [])])
        wait_value(exp, WALLET, 777.5, asset="USDT")
        time.sleep(0.01)  # the poll is sent strictly after the event
        poll_now(exp, sim)
        assert stream_value(exp, WALLET, asset="USDT") == polled == 10000.0
    finally:
        exp.__exit__()


def test_positions_opened_and_closed_by_events(sim: SimulatorThread):
    exp = started(sim)
    btc = {"symbol": "BTCUSDT", "position_side": "BOTH"}
    eth = {"symbol": "ETHUSDT", "position_side": "BOTH"}
    try:
        assert stream_value(exp, MARK, **btc) is not None
        at = now_ms()
        opened = account_update(at, [], [position("ETHUSDT", "2", "3000", "10")])
        sim.send_stream_frames("desk", [opened])
        wait_value(exp, AMOUNT, 2.0, **eth)
        assert (stream_value(exp, ENTRY, **eth), stream_value(exp, PNL, **eth)) == (3000.0, 10.0)
        assert stream_value(exp, MARK, **eth) is None  # comes with the next poll
        closed = account_update(at + 1, [], [position("ETHUSDT", "0"), position("BTCUSDT", "0")])
        sim.send_stream_frames("desk", [closed])
        wait_for(lambda: stream_value(exp, AMOUNT, **eth) is None)
        samples = exp.samples()
    finally:
        exp.__exit__()
    for name in (AMOUNT, ENTRY, PNL, MARK, "binance_pm_um_position_liquidation_price"):
        assert series(samples, name, account="desk") == {}, name


def test_risk_and_liability_events_are_served_in_the_account_and_balance_gauges(
    sim: SimulatorThread,
):
    exp = started(sim)
    risk = {
        "e": "RISK_LEVEL_CHANGE",
        "E": now_ms(),
        "u": 1.04,
        "s": "MARGIN_CALL",
        "eq": "30.23416728",
        "ae": "31.5",
        "m": "15.11708371",
    }
    liability = {
        "e": "liabilityChange",
        "E": now_ms(),
        "a": "USDT",
        "t": "BORROW",
        "T": 1352286576452864727,
        "p": "250.5",
        "i": "0.25",
        "l": "250.75",
    }
    try:
        sim.send_stream_frames("desk", [orjson.dumps(risk).decode()])
        sim.send_stream_frames("desk", [orjson.dumps(liability).decode()])
        wait_value(exp, "binance_pm_balance_cross_margin_interest", 0.25, asset="USDT")
        samples = exp.samples()
    finally:
        exp.__exit__()

    def one(name: str, **labels: str) -> float:
        return series(samples, name, account="desk", **labels).popitem()[1]

    assert one("binance_pm_account_uni_mmr") == 1.04
    assert one("binance_pm_account_equity") == 30.23416728
    assert one("binance_pm_account_actual_equity") == 31.5
    assert one("binance_pm_account_maint_margin") == 15.11708371
    assert one("binance_pm_balance_cross_margin_borrowed", asset="USDT") == 250.5


def test_data_age_follows_the_newest_value_the_stream_pushed(sim: SimulatorThread):
    exp = started(sim)
    age = "binance_pm_exporter_data_age_seconds"
    try:
        polled_age = stream_value(exp, age, collector="account")
        assert polled_age is not None and polled_age >= 0
        # An event timed ahead of every clock: the newest value is not older than now.
        ahead = now_ms() + 30_000
        sim.send_stream_frames("desk", [account_update(ahead, [usdt("1", "2")], [])])
        wait_value(exp, age, 0.0, collector="um_account")
        time.sleep(1.5)  # the exposition is built anew at least every second
        account_age = stream_value(exp, age, collector="account")
        assert account_age is not None and account_age > polled_age  # only polled: it grows
        assert stream_value(exp, age, collector="um_account") == 0.0
    finally:
        exp.__exit__()


def test_a_uni_mmr_drop_is_counted_and_its_uni_mmr_served_at_once(sim: SimulatorThread):
    exp = started(sim)
    drop = {"e": "uniMMRDrop", "E": now_ms(), "u": "1.31"}
    try:
        assert stream_value(exp, "binance_pm_uni_mmr_drop_events_total") == 0
        sim.send_stream_frames("desk", [orjson.dumps(drop).decode()])
        wait_value(exp, "binance_pm_uni_mmr_drop_events_total", 1.0)
        assert stream_value(exp, "binance_pm_account_uni_mmr") == 1.31
    finally:
        exp.__exit__()


def test_the_simulators_own_pushes_reach_the_gauges_before_a_poll(sim: SimulatorThread):
    exp = started(sim)
    eth = {"symbol": "ETHUSDT", "position_side": "BOTH"}
    try:
        polls = requests(sim, UM_ACCOUNT)
        sim.open_position("desk", "ETHUSDT", "BOTH", "2", "3000", 10)
        sim.set_cross_margin("desk", "USDT", free="500", locked="20")
        wait_value(exp, AMOUNT, 2.0, **eth)
        wait_value(exp, "binance_pm_margin_balance_credited_total", 520.0, asset="USDT")
        assert stream_value(exp, ENTRY, **eth) == 3000.0
        assert requests(sim, UM_ACCOUNT) == polls
    finally:
        exp.__exit__()
