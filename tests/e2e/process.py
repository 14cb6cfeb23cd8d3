"""The exporter as a real process: start it, find its port, stop it, run the command line.

Every end-to-end test that needs a subprocess goes through these, so a change in how the
exporter starts or logs its address is one edit here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.helpers import REPO, ExporterThread, parse_samples, series, value


def start_exporter(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(config),
            "--web.listen-address",
            "127.0.0.1:0",
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sigterm(proc: subprocess.Popen) -> tuple[str, str, float]:
    """SIGTERM, then the process' output and how long it took to exit."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    return out, err, time.monotonic() - started


def kill_if_running(proc: subprocess.Popen) -> None:
    """Clean-up after a test that failed before the process exited: kill it, drain its pipes."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def listening_port(proc: subprocess.Popen, lines: list[str]) -> int:
    assert proc.stderr is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        found = re.search(r"event=listening address=\S*:(\d+)", line)
        if found:
            return int(found.group(1))
    raise AssertionError("the exporter did not log its listening address:\n" + "".join(lines))


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_exporter(
    *args: str, env: dict[str, str] | None = None, load_timeout: float | None = None
) -> Run:
    """The command line in a subprocess; ``load_timeout`` lowers LOAD_TIMEOUT_SECONDS."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    command = ["-m", "exporter"]
    if load_timeout is not None:
        command = [
            "-c",
            f"import sys, exporter.files; exporter.files.LOAD_TIMEOUT_SECONDS = {load_timeout}; "
            "from exporter.cli import main; sys.exit(main())",
        ]
    # A hang (a refusal that never comes) fails at the timeout.
    done = subprocess.run(
        [sys.executable, *command, *args],
        cwd=REPO,
        env={**base_env, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def write_config(directory: Path, text: str) -> Path:
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_sim_config(path: Path, sim, accounts: list[dict], **extra) -> Path:
    raw = {
        "base_url": sim.base_url,
        "time_url": sim.time_url,
        "poll_interval_seconds": 1,
        "max_weight_per_minute": 6000,
        "collectors": ["um_account"],
        "accounts": accounts,
        **extra,
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def reload(exp: ExporterThread) -> httpx.Response:
    return httpx.post(exp.url + "/-/reload", timeout=10)


def up_value(exp: ExporterThread, account: str) -> float:
    return value(exp.samples(), "binance_pm_exporter_up", account=account)


def up_accounts(exp: ExporterThread) -> set[str]:
    samples = exp.samples()
    return {dict(k[1])["account"] for k, v in series(samples, "binance_pm_exporter_up").items()}


class Watcher:
    """Scrapes continuously and remembers any scrape that lacked the account's data."""

    def __init__(self, exp: ExporterThread, account: str) -> None:
        self.exp, self.account = exp, account
        self.gaps = 0
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            samples = parse_samples(httpx.get(self.exp.url + "/metrics", timeout=5).text)
            self.scrapes += 1
            if not series(samples, "binance_pm_um_asset_margin_balance", account=self.account):
                self.gaps += 1

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
