"""The market streams end to end: one socket per market for the process, marks that follow the
simulator, silence treated as down, and a stop that no peer can hold."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from exporter.config import Config, load_config
from exporter.simulator.server import SimulatorThread
from exporter.stream import connection
from exporter.stream.marks import Mark
from tests.e2e.stream.hostile import HostileStream
from tests.e2e.stream.support import ACCOUNTS, stop_and_leftovers
from tests.helpers import ExporterThread, desk, make_config, value, wait_for

INTERVAL = 0.1  # the simulator's push interval here (Binance: 1 s)
UP = "binance_pm_exporter_market_stream_up"
LAST_EVENT = "binance_pm_exporter_market_stream_last_event_timestamp_seconds"


def market_config(sim: SimulatorThread, accounts: list[dict] | None = None, **raw: Any) -> Config:
    options: dict[str, Any] = {
        "poll_interval_seconds": 60,
        "collectors": ["um_account", "cm_account"],
        "market_stream": True,
        "um_market_stream_url": sim.simulator.um_market_stream_url,
        "cm_market_stream_url": sim.simulator.cm_market_stream_url,
        "stream_silence_seconds": 1,
    }
    options.update(raw)
    return make_config(sim.base_url, ACCOUNTS if accounts is None else accounts, **options)


def market_value(exp: ExporterThread, name: str, market: str) -> float | None:
    try:
        return value(exp.samples(), name, market=market)
    except AssertionError:
        return None


def sockets(sim: SimulatorThread) -> dict[str, int]:
    return sim.call(
        lambda: {
            "open": len(sim.simulator.mark_streams.sockets),
            **sim.simulator.mark_streams.connections,
        }
    )


def book_mark(exp: ExporterThread, market: str, symbol: str) -> Mark | None:
    return exp.call(lambda: exp.exporter.marks.mark(market, symbol))  # type: ignore[arg-type]


@pytest.fixture
def fast_marks(sim: SimulatorThread) -> SimulatorThread:
    sim.set_market_stream_interval(INTERVAL)
    return sim


def test_marks_follow_the_simulator_within_a_couple_of_intervals(fast_marks: SimulatorThread):
    sim = fast_marks
    with ExporterThread(market_config(sim)) as exp:
        wait_for(lambda: market_value(exp, UP, "um") == 1 and market_value(exp, UP, "cm") == 1)
        for um, cm in (("70000.5", "64000.1"), ("69999.25", "63999.9")):
            sim.set_mark_price("BTCUSDT", um)
            sim.set_mark_price("BTCUSD_PERP", cm)
            # Two intervals on an idle machine; the bound leaves room for a busy one.
            wait_for(
                lambda um=um: (book_mark(exp, "um", "BTCUSDT") or Mark(0, 0)).price == float(um),
                timeout=50 * INTERVAL,
                interval=INTERVAL / 5,
            )
            wait_for(
                lambda cm=cm: (
                    (book_mark(exp, "cm", "BTCUSD_PERP") or Mark(0, 0)).price == float(cm)
                ),
                timeout=50 * INTERVAL,
                interval=INTERVAL / 5,
            )
        mark = book_mark(exp, "um", "BTCUSDT")
        assert mark is not None and abs(mark.event_ms - sim.clock_ms()) < 5_000
        last = market_value(exp, LAST_EVENT, "um")
        assert last is not None and abs(last - time.time()) < 5


def test_one_socket_per_market_for_fifty_accounts(fast_marks: SimulatorThread):
    sim = fast_marks
    accounts = [desk(f"desk{i}") for i in range(50)]
    with ExporterThread(market_config(sim, accounts)) as exp:
        wait_for(lambda: market_value(exp, UP, "um") == 1 and market_value(exp, UP, "cm") == 1)
        time.sleep(10 * INTERVAL)  # any second socket would be open by now
        assert sockets(sim) == {"open": 2, "um": 1, "cm": 1, "bare": 0}
        assert set(exp.exporter.market_streams.connections) == {"um", "cm"}  # type: ignore[union-attr]


def test_no_market_stream_without_an_account_that_wants_it(fast_marks: SimulatorThread):
    sim = fast_marks
    accounts = [{**ACCOUNTS[0], "market_stream": False}, ACCOUNTS[1]]
    with ExporterThread(market_config(sim, accounts, market_stream=False)) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="desk") == 1)
        assert market_value(exp, UP, "um") is None
        assert sockets(sim)["open"] == 0


def test_usds_m_on_the_bare_ws_path_is_silent_and_down(fast_marks: SimulatorThread):
    sim = fast_marks
    config = market_config(sim, um_market_stream_url=sim.simulator.um_bare_market_stream_url)
    with capture_logs() as logs, ExporterThread(config) as exp:
        wait_for(lambda: market_value(exp, UP, "cm") == 1)
        wait_for(lambda: sockets(sim)["bare"] >= 2, timeout=15)  # silent, so connected again
        assert market_value(exp, UP, "um") == 0
        assert market_value(exp, LAST_EVENT, "um") == 0
        assert exp.call(lambda: dict(exp.exporter.marks.marks("um"))) == {}
    said = [e for e in logs if "connected but silent" in e["event"]]
    assert len(said) == 1  # once, however many times it reconnected


def test_a_stream_that_goes_silent_goes_down_and_comes_back(fast_marks: SimulatorThread):
    sim = fast_marks
    with ExporterThread(market_config(sim)) as exp:
        wait_for(lambda: market_value(exp, UP, "um") == 1)
        sim.set_market_stream_silent(True, "um")
        wait_for(lambda: market_value(exp, UP, "um") == 0)
        assert book_mark(exp, "um", "BTCUSDT") is None  # polls are the only source again
        assert market_value(exp, UP, "cm") == 1
        sim.set_market_stream_silent(False, "um")
        wait_for(lambda: market_value(exp, UP, "um") == 1)
        assert book_mark(exp, "um", "BTCUSDT") is not None


def test_a_dropped_connection_is_opened_again(fast_marks: SimulatorThread):
    sim = fast_marks
    with ExporterThread(market_config(sim)) as exp:
        wait_for(lambda: market_value(exp, UP, "cm") == 1)
        sim.drop_market_stream("cm")
        wait_for(lambda: sockets(sim)["cm"] == 2 and market_value(exp, UP, "cm") == 1)


def test_garbage_is_counted_never_raised(fast_marks: SimulatorThread):
    sim = fast_marks
    with ExporterThread(market_config(sim)) as exp:
        wait_for(lambda: market_value(exp, UP, "cm") == 1)
        odd = '[{"e":"markPriceUpdate","E":1,"s":"BTCUSD_PERP","p":"1"}]'
        sim.send_market_stream_frames("cm", ["not json", odd, "{}"])
        bad = "binance_pm_exporter_market_stream_bad_frames_total"
        wait_for(lambda: market_value(exp, bad, "cm") == 3)
        assert market_value(exp, UP, "cm") == 1
        assert sockets(sim)["cm"] == 1


def write(path: Path, sim: SimulatorThread, **raw: Any) -> Path:
    config = {
        "base_url": sim.base_url,
        "time_url": sim.time_url,
        "poll_interval_seconds": 60,
        "request_timeout_seconds": 2,
        "collectors": ["um_account", "cm_account"],
        "market_stream": True,
        "um_market_stream_url": sim.simulator.um_market_stream_url,
        "cm_market_stream_url": sim.simulator.cm_market_stream_url,
        "stream_silence_seconds": 1,
        "accounts": ACCOUNTS,
        **raw,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_reload_starts_and_stops_markets_as_the_accounts_ask(
    fast_marks: SimulatorThread, tmp_path: Path
):
    sim = fast_marks
    path = write(tmp_path / "config.yaml", sim, collectors=["um_account"])
    with ExporterThread(load_config(path), config_path=str(path)) as exp:
        wait_for(lambda: market_value(exp, UP, "um") == 1)
        assert market_value(exp, UP, "cm") is None
        write(path, sim)
        assert exp.run(exp.exporter.reload())[0]
        wait_for(lambda: market_value(exp, UP, "cm") == 1)
        assert sockets(sim)["um"] == 1  # kept: same URL
        write(path, sim, market_stream=False)
        assert exp.run(exp.exporter.reload())[0]
        wait_for(
            lambda: market_value(exp, UP, "um") is None and market_value(exp, UP, "cm") is None
        )
        wait_for(lambda: sockets(sim)["open"] == 0)


def test_a_stop_ends_in_seconds_with_a_peer_holding_our_close(
    sim: SimulatorThread, hostile: HostileStream, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(connection, "CLOSE_SECONDS", 60.0)  # only a cancellation can end it
    hostile.mode = "hold"
    url = hostile.url + "!markPrice@arr@1s"
    config = market_config(sim, um_market_stream_url=url, cm_market_stream_url=url)
    with ExporterThread(config) as exp:
        assert hostile.close_seen.wait(10), "the exporter never closed the silent socket"
        took, leftovers = stop_and_leftovers(exp)
        attempts = hostile.attempts
        assert took < 5.0
        assert leftovers == []
        time.sleep(0.5)  # a stream that outlived its stop would connect again by now
        assert hostile.attempts == attempts
        assert hostile.open == 0
