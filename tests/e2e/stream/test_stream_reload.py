"""A reload starts, stops and keeps streams without touching the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from exporter.config import load_config
from exporter.simulator.server import SimulatorThread
from tests.e2e.stream.support import ACCOUNTS, LISTEN_KEY, connected, requests
from tests.helpers import ExporterThread, series, wait_for


def write(path: Path, sim: SimulatorThread, desk: bool, quiet: bool) -> None:
    raw: dict[str, Any] = {
        "base_url": sim.base_url,
        "time_url": sim.time_url,
        "poll_interval_seconds": 60,
        "collectors": ["um_account"],
        "stream_url": sim.simulator.stream_url,
        "user_data_stream": True,
        "accounts": [
            {**ACCOUNTS[0], "user_data_stream": desk},
            {**ACCOUNTS[1], "user_data_stream": quiet},
        ],
    }
    path.write_text(yaml.safe_dump(raw))


def streamed(exp: ExporterThread) -> dict[str, float]:
    found = series(exp.samples(), "binance_pm_exporter_stream_up")
    return {dict(k[1])["account"]: v for k, v in found.items()}


def test_a_reload_moves_the_stream_from_one_account_to_another(
    sim: SimulatorThread, tmp_path: Path
):
    path = tmp_path / "config.yaml"
    write(path, sim, desk=True, quiet=False)
    config = load_config(path)
    with ExporterThread(config, config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(lambda: connected(exp))
        assert streamed(exp) == {"desk": 1.0}
        write(path, sim, desk=False, quiet=True)
        reply = httpx.post(exp.url + "/-/reload", timeout=10)
        assert reply.status_code == 200, reply.text
        wait_for(lambda: streamed(exp) == {"quiet": 1.0})
        assert requests(sim, LISTEN_KEY, "DELETE") == 1
        assert requests(sim, LISTEN_KEY, "POST", account="quiet") == 1
