"""Cancellation always wins: whatever a stream peer does, a stop or a reload ends in seconds."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.config import load_config
from exporter.simulator.server import SimulatorThread
from exporter.stream import connection
from tests.e2e.process import kill_if_running, listening_port, sigterm, start_exporter
from tests.e2e.stream.hostile import HostileStream, Mode
from tests.e2e.stream.support import ACCOUNTS, stop_and_leftovers
from tests.helpers import ExporterThread, value, wait_for

# Each peer behaviour, and what shows the exporter has met it.
PEERS: list[Mode] = ["expired", "hold", "no_handshake", "reset"]
BOUND_SECONDS = 5.0


@pytest.fixture(autouse=True)
def long_held_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our close frame waits far longer than any bound here: only a cancellation can end it."""
    monkeypatch.setattr(connection, "CLOSE_SECONDS", 60.0)


def write(path: Path, sim: SimulatorThread, stream_url: str) -> Path:
    raw = {
        "base_url": sim.base_url,
        "time_url": sim.time_url,
        "poll_interval_seconds": 60,
        "request_timeout_seconds": 2,
        "collectors": ["um_account"],
        "stream_url": stream_url,
        "stream_silence_seconds": 1,
        "accounts": [{**ACCOUNTS[0], "user_data_stream": True}, ACCOUNTS[1]],
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def met(hostile: HostileStream, mode: Mode) -> None:
    """Until the exporter is inside what the peer does to it (for a held close: in the close)."""
    if mode in ("expired", "hold"):
        assert hostile.close_seen.wait(10), "the exporter never closed the socket"
    else:
        wait_for(lambda: hostile.attempts >= 2)


@pytest.mark.parametrize("mode", PEERS)
def test_a_stop_ends_in_seconds_and_leaves_no_task(
    sim: SimulatorThread, hostile: HostileStream, tmp_path: Path, mode: Mode
):
    hostile.mode = mode
    config = load_config(write(tmp_path / "config.yaml", sim, hostile.url))
    exp = ExporterThread(config)
    with exp:
        met(hostile, mode)
        took, leftovers = stop_and_leftovers(exp)
        attempts = hostile.attempts
        assert took < BOUND_SECONDS
        assert leftovers == []
        time.sleep(0.5)  # a stream that outlived its stop would connect again by now
        assert hostile.attempts == attempts
        assert hostile.open == 0


@pytest.mark.parametrize("mode", PEERS)
def test_a_reload_that_moves_the_stream_ends_in_seconds(
    sim: SimulatorThread, hostile: HostileStream, tmp_path: Path, mode: Mode
):
    hostile.mode = mode
    path = write(tmp_path / "config.yaml", sim, hostile.url)
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        met(hostile, mode)
        write(path, sim, hostile.url + "moved/")  # another stream_url: the stream restarts
        attempts = hostile.attempts
        started = time.monotonic()
        reply = httpx.post(exp.url + "/-/reload", timeout=30)
        took = time.monotonic() - started
        assert reply.status_code == 200, reply.text
        assert took < BOUND_SECONDS
        samples = exp.samples()
        assert value(samples, "binance_pm_exporter_config_last_reload_successful") == 1
        # The new stream goes on trying its peer: the old one did not hold the reload.
        wait_for(lambda: hostile.attempts > attempts)


def test_sigterm_exits_0_in_seconds_while_the_peer_holds_our_close(
    sim: SimulatorThread, hostile: HostileStream, tmp_path: Path
):
    # The process keeps the real CLOSE_SECONDS: the signal comes while a close is held.
    hostile.mode = "expired"
    path = write(tmp_path / "config.yaml", sim, hostile.url)
    proc = start_exporter(path)
    try:
        listening_port(proc, [])
        hostile.close_seen.clear()
        assert hostile.close_seen.wait(10), "the exporter never closed the socket"
        _, err, took = sigterm(proc)
        assert proc.returncode == 0, err
        assert took < BOUND_SECONDS, err
    finally:
        kill_if_running(proc)
