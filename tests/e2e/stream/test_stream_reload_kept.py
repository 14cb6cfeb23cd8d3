"""A reload that leaves an account's key and the stream URL alone keeps its listen key and its
socket; new timings apply to the running socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from exporter.config import load_config
from exporter.simulator.server import SimulatorThread
from tests.e2e.stream.support import ACCOUNTS, LISTEN_KEY, connected, reconnects, requests
from tests.helpers import ExporterThread, value, wait_for


def write(path: Path, sim: SimulatorThread, **changes: Any) -> None:
    raw: dict[str, Any] = {
        "base_url": sim.base_url,
        "time_url": sim.time_url,
        "poll_interval_seconds": 60,
        "collectors": ["um_account"],
        "stream_url": sim.simulator.stream_url,
        "stream_keepalive_seconds": 30,
        "stream_silence_seconds": 5,
        "accounts": [{**ACCOUNTS[0], "user_data_stream": True}, ACCOUNTS[1]],
        **changes,
    }
    path.write_text(yaml.safe_dump(raw))


def sockets_opened(sim: SimulatorThread) -> int:
    return sim.call(lambda: sim.simulator.streams.connections)


def reloaded(exp: ExporterThread) -> None:
    reply = httpx.post(exp.url + "/-/reload", timeout=10)
    assert reply.status_code == 200, reply.text
    assert value(exp.samples(), "binance_pm_exporter_config_last_reload_successful") == 1


def test_a_reload_of_other_settings_and_timings_keeps_the_key_and_the_socket(
    sim: SimulatorThread, tmp_path: Path
):
    path = tmp_path / "config.yaml"
    write(path, sim)
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(lambda: connected(exp))
        write(path, sim, poll_interval_seconds=30, collectors=["um_account", "account"])
        reloaded(exp)
        write(path, sim, stream_keepalive_seconds=1, stream_silence_seconds=4)
        reloaded(exp)
        # The new keepalive is followed by the running socket (its next wake, within a ping).
        wait_for(lambda: requests(sim, LISTEN_KEY, "PUT") >= 2)
        assert requests(sim, LISTEN_KEY, "POST") == 1
        assert requests(sim, LISTEN_KEY, "DELETE") == 0
        assert sockets_opened(sim) == 1
        assert reconnects(exp) == {}
        assert connected(exp)
