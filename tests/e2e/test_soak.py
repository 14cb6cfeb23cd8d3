"""A bounded fault soak: 20 accounts polled as fast as the budget allows, faults, hot scrapes.

Marked ``soak``: `make test` leaves it out, `make soak` runs it for 60 s (SOAK_SECONDS to change
that). All traffic is on 127.0.0.1, and everything stops by itself.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from exporter.simulator.accounts import SimAccount, UMPosition
from exporter.simulator.server import SimulatorThread
from tests.e2e.process import listening_port, start_exporter
from tests.helpers import parse_samples, value, wait_for

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
ACCOUNTS = 20
SCRAPERS = 5
SCRAPES_PER_SECOND = 20
PATHS = ("/papi/v1/um/account", "/papi/v1/account", "/papi/v1/um/positionRisk")
RETRY_AFTER = {429: 2, 418: 3}

pytestmark = pytest.mark.soak


def soak_accounts() -> list[SimAccount]:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    out = []
    for i in range(ACCOUNTS):
        hedge = i % 2 == 1
        positions = [
            UMPosition(s, "LONG" if hedge else "BOTH", "1", "100", 10) for s in symbols[: i % 4 + 1]
        ]
        out.append(
            SimAccount(
                name=f"acc{i:02d}",
                api_key=f"soak-key-{i:02d}-abcdefghijklmnop",
                api_secret=f"soak-secret-{i:02d}-abcdefghijklmnop",
                mode="hedge" if hedge else "one_way",
                balances={"USDT": "100000"},
                um_positions=positions,
            )
        )
    return out


class Scrapers:
    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SCRAPERS)]

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    reply = client.get(self.url)
                    if reply.status_code == 200 and reply.text.endswith("\n"):
                        self.ok += 1
                    else:
                        self.failed.append(f"HTTP {reply.status_code}")
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                self._stop.wait(max(0.0, 1 / SCRAPES_PER_SECOND - (time.monotonic() - started)))

    def __enter__(self) -> Scrapers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)


def inject_faults(sim: SimulatorThread, until: float, interval: float, seed: int = 7) -> None:
    """Random faults until ``until``; auth faults never hit one account twice running."""
    rng = random.Random(seed)
    names = [f"acc{i:02d}" for i in range(ACCOUNTS)]
    last_auth: dict[str, float] = {}
    while time.monotonic() < until:
        kind = rng.choice(["latency", "5xx", "429", "418", "skew", "auth", "malformed"])
        account, path = rng.choice(names), rng.choice(PATHS)
        if kind == "latency":
            sim.set_fault(account, path, latency=rng.uniform(0.1, 1.5), times=3)
        elif kind == "5xx":
            sim.set_fault(account, path, status=rng.choice([500, 502, 503]), times=1)
        elif kind in ("429", "418"):
            status = int(kind)
            sim.set_fault(account, path, status=status, retry_after=RETRY_AFTER[status], times=1)
        elif kind == "skew":
            sim.set_clock_skew(rng.choice([-8000, -3000, 3000, 8000, 0]))
        elif kind == "auth":
            if time.monotonic() - last_auth.get(account, -1e9) > 3 * interval:
                last_auth[account] = time.monotonic()
                sim.set_fault(account, path, status=401, code=-2015, times=1)
        else:
            sim.set_fault(account, path, malformed=True, times=1)
        time.sleep(rng.uniform(0.2, 0.8))
    sim.clear_faults()
    sim.set_clock_skew(0)


def test_fault_soak(tmp_path: Path) -> None:
    with SimulatorThread(soak_accounts(), tick_seconds=0.5, weight_limit=6000) as sim:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "base_url": sim.base_url,
                    "time_url": sim.time_url,
                    "poll_interval_seconds": "auto",
                    "auto_interval_min_seconds": 1,
                    "max_weight_per_minute": 6000,
                    "request_timeout_seconds": 2,
                    # What the faults hit; every collector recovers at the next poll interval.
                    "collectors": ["um_account", "account", "um_position_risk"],
                    "accounts": [
                        {"name": a.name, "api_key": a.api_key, "api_secret": a.api_secret}
                        for a in sim.simulator.accounts
                    ],
                }
            )
        )
        log_lines: list[str] = []
        proc = start_exporter(config)
        try:
            port = listening_port(proc, log_lines)
            drain = threading.Thread(
                target=lambda: log_lines.extend(iter(proc.stderr.readline, "")), daemon=True
            )
            drain.start()
            url = f"http://127.0.0.1:{port}/metrics"
            interval = value(
                parse_samples(httpx.get(url).text), "binance_pm_exporter_poll_interval_seconds"
            )
            assert interval == 7  # 20 x 30 weight a round within 90% of 6000/min
            exporter = psutil.Process(proc.pid)
            rss: list[tuple[float, int]] = []
            started = time.monotonic()
            faults_end = started + SOAK_SECONDS
            with Scrapers(url) as scrapers:
                injector = threading.Thread(
                    target=inject_faults, args=(sim, faults_end, interval), daemon=True
                )
                injector.start()
                while time.monotonic() < faults_end:
                    rss.append((time.monotonic() - started, exporter.memory_info().rss))
                    time.sleep(0.25)
                injector.join(5)
                faults_stopped = time.monotonic()
                # Every account is back within two intervals of the last fault.
                wait_for(
                    lambda: all(
                        value(
                            parse_samples(httpx.get(url).text),
                            "binance_pm_exporter_up",
                            account=f"acc{i:02d}",
                        )
                        == 1
                        for i in range(ACCOUNTS)
                    ),
                    timeout=2 * interval + 1,
                    interval=0.25,
                )
                recovered_in = time.monotonic() - faults_stopped
        finally:
            proc.terminate()
            proc.communicate(timeout=10) if proc.stdout else None
        requests = list(sim.requests)

    log = "".join(log_lines)
    assert proc.returncode == 0
    assert scrapers.failed == []
    assert scrapers.ok >= SCRAPERS * SCRAPES_PER_SECOND * SOAK_SECONDS * 0.5
    assert "Traceback" not in log and "exception" not in log.lower(), log[-3000:]
    assert recovered_in <= 2 * interval + 1

    papi = [r for r in requests if r.path.startswith("/papi/")]
    # Nothing was sent while a Retry-After was running (requests of the same poll already in
    # flight when the 429 came back arrive within a few milliseconds of it: not counted).
    in_flight = 0.05
    for r in papi:
        if r.status in RETRY_AFTER:
            end = r.time + RETRY_AFTER[r.status] - in_flight
            inside = [o for o in papi if r.time + in_flight < o.time < end]
            assert inside == [], f"{len(inside)} requests inside the Retry-After of {r}"
    # Weight stays under the budget in every minute-long window.
    times = [r.time for r in papi]
    for i, r in enumerate(papi):
        window = sum(o.weight for o in papi[i:] if o.time < r.time + 60)
        assert window <= 6000, f"{window} weight in the minute from {times[i]}"
    # Memory is flat: the last quarter's peak is within 10 MB of the first quarter's.
    quarter = SOAK_SECONDS / 4
    first = max(m for t, m in rss if t <= quarter)
    last = max(m for t, m in rss if t >= SOAK_SECONDS - quarter)
    assert last - first < 10 * 1024 * 1024, f"RSS grew {(last - first) / 2**20:.1f} MiB"
    faults_seen = {r.status for r in papi}
    assert {401, 418, 429}.issubset(faults_seen) or SOAK_SECONDS < 20
    assert re.search(r"reason=(http_5xx|timeout|bad_response)", log)
