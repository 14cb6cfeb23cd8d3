"""``make bench``: this exporter against the usual prometheus_client way, on the simulator.

Three kinds of process, each measured on its own: the simulator (``benchmarks.sim_runner``, every
account hedge mode with 20 open positions in a 430-symbol market, so each UM account reply has
860 position entries), one exporter at a time: ours through its real CLI (``python -m exporter
--config.file ...``) or the baseline (``benchmarks/baseline_exporter.py``), both reading the same
generated configuration (um_account only), and real Prometheus servers. Scrapes send what
Prometheus sends: its ``Accept`` header (2.x's or 3.x's) and ``Accept-Encoding: gzip``.

1. Decode floor: the CPU of ``orjson.loads`` on one signed reply from the simulator, in-process.
2. For each scenario and exporter: start it, wait until every account has been polled twice;
   CPU per poll over a fixed number of polls (counted in the simulator's request log) while
   nothing scrapes; then 4 client threads on keep-alive connections scrape back to back with
   Prometheus 2.x's headers, then 3.x's, while polls go on; peak RSS (VmHWM) at the end.
3. An HA pair of Prometheus servers (``benchmarks.prometheus_pair``) scraping a fresh exporter
   every 5 s for a minute, at 100 accounts and at 1,000: each server's own scrape_duration_seconds,
   samples and up, and the exporter's CPU per minute over the same window.
4. 1,000 accounts at a 60 s interval, ours: every account polled on its slot, no minute above
   the weight budget, while 4 clients scrape back to back with Prometheus 2.x's headers for the
   whole second interval; then the HA pair in the third. The baseline at 1,000 gets the HA pair
   after its first interval.

Results go to ``benchmarks/results/`` (``results.json``, ``results.png``) and tables to stdout
(``benchmarks/report.py``). All traffic stays on 127.0.0.1; every process started here is
stopped on the way out, errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import yaml

from benchmarks import prometheus_pair, report
from benchmarks.sim_runner import credentials
from exporter.binance.signing import HmacSigner

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"
CLIENTS = 4
POSITION_ENTRIES = 860  # 430 UM symbols x LONG/SHORT in every reply
IMPLS = ("ours", "baseline")
CHECK_ACCOUNTS = 1000
CHECK_INTERVAL = 60.0
PAIR_ACCOUNTS = 100
WEIGHT_BUDGET = 6000
UM_ACCOUNT_WEIGHT = 5
UM_ACCOUNT = "/papi/v1/um/account"
DECODES = 200
# An exporter above this resident size in an HA-pair window is stopped early (the baseline at
# 1,000 accounts starts a new render for every scrape while the old ones still run).
RSS_GUARD_BYTES = 6 * 2**30

# What Prometheus sends when it scrapes (scrape/scrape.go; 3.x from its default
# scrape_protocols), with Accept-Encoding: gzip in both.
SCRAPERS = {
    "prometheus-2": {
        "Accept": "application/openmetrics-text;version=1.0.0,"
        "application/openmetrics-text;version=0.0.1;q=0.75,"
        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        "Accept-Encoding": "gzip",
    },
    "prometheus-3": {
        "Accept": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
        "application/openmetrics-text;version=0.0.1;q=0.4,"
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
        "text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
        "Accept-Encoding": "gzip",
    },
}


@dataclass(frozen=True)
class Scenario:
    key: str
    accounts: int
    include_zero: bool
    interval: float  # seconds; the shortest the 6000/min weight budget allows, at least 1
    cpu_polls: int  # polls in the CPU window

    @property
    def label(self) -> str:
        n = f"{self.accounts} account" + ("s" if self.accounts > 1 else "")
        return n + (", include_zero" if self.include_zero else "")


SCENARIOS = (
    Scenario("1", 1, False, 1.0, 20),
    Scenario("10", 10, False, 1.0, 100),
    Scenario("100", 100, False, 5.0, 200),
    Scenario("1z", 1, True, 1.0, 20),
    Scenario("10z", 10, True, 1.0, 100),
)


# -- processes -------------------------------------------------------------------------------


class Processes:
    """Every process this run starts; all of them are stopped on exit, whatever happened."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[subprocess.Popen, Path]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, _ in reversed(self.running):
            self.stop(proc)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        with open(log, "wb") as out:
            # This checkout's exporter, also for the baseline's signing import, whatever is
            # installed in the environment.
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.running.append((proc, log))
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.running = [(p, log) for p, log in self.running if p is not proc]

    def check(self, proc: subprocess.Popen) -> None:
        if proc.poll() is not None:
            log = next((log for p, log in self.running if p is proc), None)
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"process {proc.args} exited with {proc.returncode}:\n{tail}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# -- the simulator's request log -------------------------------------------------------------


class SimLog:
    def __init__(self, port: int) -> None:
        self.url = f"http://{HOST}:{port}/polls"

    def polls(self, since: float) -> list[tuple[float, str, int]]:
        rows = httpx.get(self.url, params={"since": repr(since)}, timeout=30).json()
        return [(t, a, s) for t, a, s in rows if s == 200]

    def count(self, since: float, until: float = math.inf) -> int:
        return sum(1 for t, _, _ in self.polls(since) if t <= until)


def wait_until(condition, timeout: float, what: str, procs: Processes, proc=None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            procs.check(proc)
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")


def sleep_until(wall: float, procs: Processes, proc: subprocess.Popen) -> None:
    """Sleep until wall-clock ``wall``, checking that ``proc`` is still alive."""
    while (left := wall - time.time()) > 0:
        procs.check(proc)
        time.sleep(min(left, 1.0))


def http_ok(port: int, path: str) -> bool:
    try:
        return httpx.get(f"http://{HOST}:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def listening(port: int) -> bool:
    """Whether something accepts connections on ``port``; asks for nothing (no /metrics)."""
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


# -- measurements ----------------------------------------------------------------------------


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time of the process's live threads, in nanoseconds' precision where Linux has it.

    psutil's figure comes in clock ticks (10 ms), too coarse for a window of a few dozen
    polls; /proc/PID/task/*/schedstat counts each thread's time on the CPU in nanoseconds. It
    misses threads that end inside the window, so it is only used where both exporters keep
    their threads (polling, nothing scraping); see ``process_cpu_seconds``.
    """
    try:
        total = 0
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        return process_cpu_seconds(proc)


def process_cpu_seconds(proc: psutil.Process) -> float:
    """CPU time of the whole process, ended threads included (/proc/PID/stat, 10 ms ticks).

    What a scrape costs the baseline is spent on a thread that prometheus_client's
    ThreadingHTTPServer starts for the connection and that ends with it, so a window with
    scrapes is measured here; over a minute the ticks' resolution is well under 1%.
    """
    t = proc.cpu_times()
    return t.user + t.system


def peak_rss_bytes(pid: int) -> int:
    """The kernel's high-water mark of the resident set (Linux), else the current RSS."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return psutil.Process(pid).memory_info().rss


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def get_metrics(
    conn: http.client.HTTPConnection, headers: dict[str, str]
) -> tuple[http.client.HTTPResponse, bytes]:
    """GET /metrics with exactly ``headers`` (http.client adds only Host)."""
    conn.putrequest("GET", "/metrics", skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    reply = conn.getresponse()
    return reply, reply.read()


def warm_up(port: int, headers: dict[str, str], timeout: float) -> int:
    """Scrape until a reply comes gzipped (a format's first build, then its gzip's); its series.

    That is where a Prometheus scraping every few seconds is after its first scrape. The
    series are the sample lines of the reply, the format ``headers`` negotiate.
    """
    deadline = time.monotonic() + timeout
    conn = http.client.HTTPConnection(HOST, port, timeout=max(timeout, 60))
    try:
        while True:
            reply, body = get_metrics(conn, headers)
            compressed = reply.getheader("Content-Encoding") == "gzip"
            if reply.status == 200 and (compressed or time.monotonic() > deadline):
                text = gzip.decompress(body) if compressed else body
                return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
            if time.monotonic() > deadline:
                raise RuntimeError(f"/metrics answered {reply.status} for {timeout:g}s")
            time.sleep(0.05)
    finally:
        conn.close()


def scrape(port: int, headers: dict[str, str], *, count: int | None, until: float) -> dict:
    """Scrapes from CLIENTS threads back to back: ``count`` in all, or until monotonic ``until``.

    Latency runs from the request being sent to the last byte of the body; the body is not
    decompressed. One untimed scrape per client first (connection set-up).
    """
    lock = threading.Lock()
    left = [math.inf if count is None else count]
    samples: list[tuple[float, int]] = []
    gzipped = [0]  # replies that came compressed: the server may answer a gzip request plainly
    types: Counter[str] = Counter()
    errors = [0]

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            get_metrics(conn, headers)
            while time.monotonic() < until:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                started = time.perf_counter()
                try:
                    reply, body = get_metrics(conn, headers)
                except (OSError, http.client.HTTPException):
                    errors[0] += 1
                    conn.close()
                    continue
                elapsed = time.perf_counter() - started
                if reply.status != 200:
                    errors[0] += 1
                    continue
                with lock:
                    samples.append((elapsed, len(body)))
                    gzipped[0] += reply.getheader("Content-Encoding") == "gzip"
                    types[reply.getheader("Content-Type", "")] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    latencies = [s for s, _ in samples]
    if not latencies:
        raise RuntimeError(f"no scrape succeeded in {wall:.1f}s ({errors[0]} errors)")
    return {
        "scrapes": len(samples),
        "capped": count is not None and len(samples) < count,
        "errors": errors[0],
        "seconds": round(wall, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "max_ms": round(max(latencies) * 1000, 3),
        "bytes": int(percentile([b for _, b in samples], 50)),
        "gzip_share": round(gzipped[0] / len(samples), 4),
        "content_type": types.most_common(1)[0][0],
        "content_types": dict(types),
    }


def decode_floor(sim_url: str) -> dict[str, Any]:
    """CPU of ``orjson.loads`` on one full-market reply: what any poll must at least spend.

    The reply is fetched the way both exporters ask for it (signed query, API key header).
    Measured on this thread's CPU clock, median of DECODES decodes.
    """
    _, key, secret = credentials(0)
    query = f"recvWindow=5000&timestamp={int(time.time() * 1000)}"
    url = f"{sim_url}{UM_ACCOUNT}?{query}&signature={HmacSigner(secret).sign(query)}"
    reply = httpx.get(url, headers={"X-MBX-APIKEY": key}, timeout=30)
    reply.raise_for_status()
    body = reply.content
    cpu, wall = [], []
    for _ in range(DECODES):
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        orjson.loads(body)
        cpu.append(time.thread_time_ns() - c0)
        wall.append(time.perf_counter_ns() - w0)
    return {
        "reply_bytes": len(body),
        "position_entries": len(orjson.loads(body)["positions"]),
        "decodes": DECODES,
        "cpu_ms_median": round(statistics.median(cpu) / 1e6, 3),
        "wall_ms_median": round(statistics.median(wall) / 1e6, 3),
    }


def write_config(directory: Path, sim_url: str, accounts: int, interval: float, zero: bool) -> Path:
    config = {
        "base_url": sim_url,
        "time_url": sim_url + "/fapi/v1/time",
        "poll_interval_seconds": interval,
        "max_weight_per_minute": WEIGHT_BUDGET,
        "collectors": ["um_account"],
        "positions": {"include_zero": zero},
        "accounts": [
            {"name": name, "api_key": key, "api_secret": secret}
            for name, key, secret in map(credentials, range(accounts))
        ],
    }
    path = directory / f"config-{accounts}-{interval:g}-{int(zero)}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def exporter_argv(impl: str, config: Path, port: int) -> list[str]:
    listen = f"{HOST}:{port}"
    if impl == "ours":
        return [
            sys.executable,
            "-m",
            "exporter",
            f"--config.file={config}",
            f"--web.listen-address={listen}",
            "--log.level=warn",
        ]
    script = str(ROOT / "benchmarks" / "baseline_exporter.py")
    return [sys.executable, script, f"--config.file={config}", f"--web.listen-address={listen}"]


@dataclass
class Running:
    """One exporter process under test."""

    impl: str
    proc: subprocess.Popen
    ps: psutil.Process
    port: int
    started: float  # wall clock
    accounts: int
    interval: float


class Bench:
    def __init__(self, procs: Processes, workdir: Path, args: argparse.Namespace) -> None:
        self.procs = procs
        self.workdir = workdir
        self.args = args
        self.sim_url = ""
        self.simlog: SimLog | None = None
        self.sim_ps: psutil.Process | None = None

    def start_simulator(self, accounts: int) -> None:
        port, log_port = free_port(), free_port()
        argv = [sys.executable, "-m", "benchmarks.sim_runner", f"--accounts={accounts}"]
        proc = self.procs.start("simulator", [*argv, f"--port={port}", f"--log-port={log_port}"])
        self.sim_url = f"http://{HOST}:{port}"
        self.simlog = SimLog(log_port)
        self.sim_ps = psutil.Process(proc.pid)
        wait_until(
            lambda: http_ok(port, "/fapi/v1/time") and http_ok(log_port, "/polls"),
            60,
            "the simulator",
            self.procs,
            proc,
        )

    def polled(self, names: set[str], since: float, times: int) -> bool:
        assert self.simlog is not None
        counts = dict.fromkeys(names, 0)
        for _, account, _ in self.simlog.polls(since):
            if account in counts:
                counts[account] += 1
        return min(counts.values()) >= times

    def start_exporter(
        self, impl: str, name: str, accounts: int, interval: float, zero: bool = False
    ) -> Running:
        config = write_config(self.workdir, self.sim_url, accounts, interval, zero)
        port = free_port()
        started = time.time()
        proc = self.procs.start(name, exporter_argv(impl, config, port))
        run = Running(impl, proc, psutil.Process(proc.pid), port, started, accounts, interval)
        # Only a connection: a scrape would make ours publish that format from then on.
        wait_until(lambda: listening(port), 30, f"{name}: listening", self.procs, proc)
        return run

    def wait_polled(self, run: Running, times: int) -> None:
        names = {credentials(i)[0] for i in range(run.accounts)}
        wait_until(
            lambda: self.polled(names, run.started, times),
            times * run.interval + 30,
            f"{run.impl}: every account polled {times} times",
            self.procs,
            run.proc,
        )

    def cpu_per_poll(self, run: Running, t0: float, cpu0: float) -> dict[str, Any]:
        assert self.simlog is not None
        t1, cpu1 = time.time(), cpu_seconds(run.ps)
        polls = self.simlog.count(t0, t1)
        cpu_ms = (cpu1 - cpu0) / polls * 1000 if polls else math.nan
        return {
            "cpu_window_polls": polls,
            "cpu_window_seconds": round(t1 - t0, 2),
            "cpu_ms_per_poll": round(cpu_ms, 3),
            "cpu_ms_per_1000_entries": round(cpu_ms * 1000 / POSITION_ENTRIES, 3),
        }

    def measure(self, impl: str, sc: Scenario) -> dict[str, Any]:
        assert self.simlog is not None
        run = self.start_exporter(
            impl, f"{impl}-{sc.key}", sc.accounts, sc.interval, sc.include_zero
        )
        try:
            self.wait_polled(run, 2)
            # CPU per poll, nothing scraping.
            t0, cpu0 = time.time(), cpu_seconds(run.ps)
            wait_until(
                lambda: self.simlog.count(t0) >= sc.cpu_polls,
                sc.cpu_polls * sc.interval / sc.accounts * 2 + 30,
                f"{impl}: {sc.cpu_polls} polls",
                self.procs,
                run.proc,
            )
            cpu = self.cpu_per_poll(run, t0, cpu0)
            rss_before = run.ps.memory_info().rss
            runs: dict[str, Any] = {}
            series = 0
            for scraper, headers in SCRAPERS.items():
                series = warm_up(run.port, headers, timeout=30)
                until = time.monotonic() + self.args.scrape_cap
                runs[scraper] = scrape(run.port, headers, count=self.args.scrapes, until=until)
            self.procs.check(run.proc)
            rss = peak_rss_bytes(run.proc.pid)
        finally:
            self.procs.stop(run.proc)
        return {
            "series": series,
            **cpu,
            "scrape": runs,
            "rss_before_scrapes_mb": round(rss_before / 2**20, 1),
            "peak_rss_mb": round(rss / 2**20, 1),
        }

    def pair_window(self, run: Running) -> dict[str, Any]:
        """The HA pair scrapes ``run`` for the window; its CPU, polls and the pair's view."""
        assert self.simlog is not None
        job = f"{run.impl}-{run.accounts}"
        target = f"{HOST}:{run.port}"
        servers = prometheus_pair.start(self.procs, self.workdir, job, target, free_port)
        try:
            pss = [psutil.Process(server.proc.pid) for server in servers]
            prom0 = sum(map(process_cpu_seconds, pss))
            t0, cpu0, live0 = time.time(), process_cpu_seconds(run.ps), cpu_seconds(run.ps)
            rss_peak, guarded = 0, False
            while time.time() < t0 + self.args.prometheus_seconds:
                self.procs.check(run.proc)
                for server in servers:
                    self.procs.check(server.proc)
                rss = run.ps.memory_info().rss
                rss_peak = max(rss_peak, rss)
                if rss > RSS_GUARD_BYTES:
                    guarded = True
                    break
                time.sleep(1.0)
            t1, cpu1, live1 = time.time(), process_cpu_seconds(run.ps), cpu_seconds(run.ps)
            prom1 = sum(map(process_cpu_seconds, pss))
            seconds = max(1, round(t1 - t0))
            # A scrape started inside the window is recorded when it ends (timeout at most).
            time.sleep(prometheus_pair.SCRAPE_TIMEOUT + 1)
            seen = [prometheus_pair.observed(s, job, t1, seconds) for s in servers]
        finally:
            for server in servers:
                self.procs.stop(server.proc)
        polls = self.simlog.count(t0, t1)
        expected = run.accounts * (t1 - t0) / run.interval
        scrapes = sum(r["scrapes"] for r in seen)
        worst_p50 = [r["scrape_duration_p50_ms"] for r in seen if r["scrape_duration_p50_ms"]]
        worst_max = [r["scrape_duration_max_ms"] for r in seen if r["scrape_duration_max_ms"]]
        return {
            "window_seconds": round(t1 - t0, 1),
            "stopped_by_rss_guard": guarded,
            "cpu_seconds": round(cpu1 - cpu0, 3),
            "cpu_seconds_per_minute": round((cpu1 - cpu0) * 60 / (t1 - t0), 3),
            # What the threads alive at the end spent: less when threads ended in the window.
            "live_threads_cpu_seconds_per_minute": round((live1 - live0) * 60 / (t1 - t0), 3),
            # Prometheus' own work (decompress, parse, append), which its scrape_duration holds.
            "prometheus_pair_cpu_seconds_per_minute": round((prom1 - prom0) * 60 / (t1 - t0), 3),
            "prometheus_cpu_ms_per_scrape": round((prom1 - prom0) * 1000 / scrapes, 1)
            if scrapes
            else None,
            "polls": polls,
            "polls_expected": round(expected),
            "rss_peak_mb": round(rss_peak / 2**20, 1),
            "replicas": seen,
            # The worse replica's figures.
            "scrape_duration_p50_ms": max(worst_p50) if worst_p50 else None,
            "scrape_duration_max_ms": max(worst_max) if worst_max else None,
            "up_min": min((r["up_min"] for r in seen if r["up_min"] is not None), default=None),
            "samples_scraped_max": max((r["samples_scraped_max"] or 0) for r in seen),
        }

    def pair_run(self, impl: str, accounts: int, interval: float) -> dict[str, Any]:
        """A fresh exporter, every account polled twice, then the HA pair's window."""
        run = self.start_exporter(impl, f"{impl}-pair-{accounts}", accounts, interval)
        try:
            self.wait_polled(run, 2)
            return self.pair_window(run)
        finally:
            self.procs.stop(run.proc)

    def first_interval_cpu(self, run: Running) -> dict[str, Any]:
        """CPU per poll from 10 s to 40 s after the start, in the first interval: no scrapes."""
        sleep_until(run.started + 10, self.procs, run.proc)
        t0, cpu0 = time.time(), cpu_seconds(run.ps)
        sleep_until(run.started + 40, self.procs, run.proc)
        return self.cpu_per_poll(run, t0, cpu0)

    def check_1000(self) -> dict[str, Any]:
        """1,000 accounts at 60 s, ours: slots and weight while 4 clients scrape all through the
        second interval, then the HA pair in the third."""
        assert self.simlog is not None
        run = self.start_exporter("ours", "ours-1000", CHECK_ACCOUNTS, CHECK_INTERVAL)
        headers = SCRAPERS["prometheus-2"]
        try:
            cpu = self.first_interval_cpu(run)
            first_poll = min(t for t, _, _ in self.simlog.polls(run.started))
            # Scrape from just before the second interval's first poll to just after its last.
            scrape_from = first_poll + CHECK_INTERVAL - 1
            scrape_to = first_poll + 2 * CHECK_INTERVAL + 1
            sleep_until(scrape_from - 3, self.procs, run.proc)
            warm_up(run.port, headers, timeout=30)
            sleep_until(scrape_from, self.procs, run.proc)
            rss_before = run.ps.memory_info().rss
            who = {
                "exporter": run.ps,
                "scraping_clients": psutil.Process(),
                "simulator": self.sim_ps,
            }
            cpu_before = {name: process_cpu_seconds(ps) for name, ps in who.items()}
            scraped = scrape(
                run.port, headers, count=None, until=time.monotonic() + scrape_to - time.time()
            )
            scrape_end = time.time()
            # Where the two cores went while the clients scraped (cores: CPU s per s).
            scraped["cpu_cores"] = {
                name: round((process_cpu_seconds(ps) - cpu_before[name]) / scraped["seconds"], 2)
                for name, ps in who.items()
            }
            series = warm_up(run.port, headers, timeout=30)  # every account has data now
            pair = self.pair_window(run) if not self.args.skip_prometheus else None
            self.procs.check(run.proc)
            rss = peak_rss_bytes(run.proc.pid)
            ended = time.time()
        finally:
            self.procs.stop(run.proc)
        rows = [(t, a) for t, a, _ in self.simlog.polls(run.started) if t <= ended]
        return {
            "accounts": CHECK_ACCOUNTS,
            "interval_seconds": CHECK_INTERVAL,
            "observed_seconds": round(ended - run.started, 1),
            "series": series,
            **cpu,
            "scrape_window": [
                round(scrape_from - first_poll, 1),
                round(scrape_end - first_poll, 1),
            ],
            "scrape": scraped,
            "rss_before_scrapes_mb": round(rss_before / 2**20, 1),
            "peak_rss_mb": round(rss / 2**20, 1),
            **analyse_schedule(rows, scrape_from, scrape_end),
            "prometheus": pair,
        }

    def baseline_1000(self) -> dict[str, Any]:
        """The baseline at 1,000 accounts: its first interval, then the HA pair."""
        run = self.start_exporter("baseline", "baseline-1000", CHECK_ACCOUNTS, CHECK_INTERVAL)
        try:
            cpu = self.first_interval_cpu(run)
            self.wait_polled(run, 1)
            pair = self.pair_window(run)
            self.procs.check(run.proc)
            rss = peak_rss_bytes(run.proc.pid)
        finally:
            self.procs.stop(run.proc)
        return {**cpu, "peak_rss_mb": round(rss / 2**20, 1), "prometheus": pair}


def analyse_schedule(rows: list[tuple[float, str]], scrape_from: float, scrape_to: float) -> dict:
    """Slots, spread and weight of a 1,000-account run; gaps of the polls made while scraping."""
    by_account: dict[str, list[float]] = {}
    for t, account in sorted(rows):
        by_account.setdefault(account, []).append(t)
    firsts = sorted(times[0] for times in by_account.values())
    first_poll = firsts[0]
    # Every account's second slot falls inside the scraped window: each must have been polled.
    due = [a for a, times in by_account.items() if scrape_from < times[0] + CHECK_INTERVAL]
    due = [a for a in due if by_account[a][0] + CHECK_INTERVAL + 1 < scrape_to]
    missed = [a for a in due if len(by_account[a]) < 2]
    scraped_gaps = [
        b - a
        for times in by_account.values()
        for a, b in pairwise(times)
        if scrape_from <= b <= scrape_to
    ]
    gaps = [b - a for times in by_account.values() for a, b in pairwise(times)]
    # Evenness over the first interval: polls per 5 s and per 1 s.
    per5 = [0] * 12
    per1 = [0] * 60
    for t in firsts:
        k = int(t - first_poll)
        if k < 60:
            per5[k // 5] += 1
            per1[k] += 1
    # The weight of every 60 s sliding window, starting at each request.
    times = sorted(t for t, _ in rows)
    worst, j = 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + 60:
            j += 1
        worst = max(worst, (j - i) * UM_ACCOUNT_WEIGHT)
    return {
        "accounts_polled": len(by_account),
        "first_interval_span_seconds": round(firsts[-1] - first_poll, 2),
        "accounts_due_while_scraping": len(due),
        "accounts_missing_poll_while_scraping": len(missed),
        "polls_while_scraping": len(scraped_gaps),
        "poll_gap_min_seconds": round(min(scraped_gaps), 3) if scraped_gaps else None,
        "poll_gap_max_seconds": round(max(scraped_gaps), 3) if scraped_gaps else None,
        "poll_gap_all_min_seconds": round(min(gaps), 3) if gaps else None,
        "poll_gap_all_max_seconds": round(max(gaps), 3) if gaps else None,
        "polls_per_5s_min": min(per5),
        "polls_per_5s_max": max(per5),
        "polls_per_1s_max": max(per1),
        "max_weight_any_60s": worst,
        "weight_budget": WEIGHT_BUDGET,
    }


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    def run(*argv: str) -> str:
        try:
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return (done.stdout or done.stderr).strip()

    # "prometheus, version 2.42.0+ds (branch: ...)": the version only.
    prometheus = run(prometheus_pair.binary(), "--version").split()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": run("git", "rev-parse", "--short", "HEAD"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "prometheus": prometheus[2] if len(prometheus) > 2 else "",
        "packages": {p: version(p) for p in ("prometheus-client", "httpx", "aiohttp", "orjson")},
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--scenarios",
        default=",".join(s.key for s in SCENARIOS),
        help="comma-separated keys (1,10,100,1z,10z); empty for none",
    )
    parser.add_argument("--scrapes", type=int, default=500, help="per scenario, exporter, header")
    parser.add_argument(
        "--scrape-cap", type=float, default=15.0, help="seconds at most per scrape run"
    )
    parser.add_argument("--skip-1000", action="store_true", help="skip the 1,000-account runs")
    parser.add_argument(
        "--skip-prometheus", action="store_true", help="skip every run with the HA pair"
    )
    parser.add_argument(
        "--skip-baseline-1000", action="store_true", help="skip the baseline at 1,000 accounts"
    )
    parser.add_argument(
        "--prometheus-seconds", type=float, default=60.0, help="window of each HA-pair run"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--replot", action="store_true", help="only redraw results.png from results.json"
    )
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads((args.out / "results.json").read_text())
        report.chart(saved, args.out / "results.png")
        return 0
    chosen = [s for s in SCENARIOS if s.key in args.scenarios.split(",")]
    if not args.skip_prometheus and not os.access(prometheus_pair.binary(), os.X_OK):
        parser.error(
            f"no Prometheus at {prometheus_pair.binary()} (apt-get install prometheus, or set "
            "PROMETHEUS), or pass --skip-prometheus"
        )
    signal.signal(signal.SIGTERM, _raise_exit)
    began = time.monotonic()

    def step(what: str) -> None:
        print(f"[{time.monotonic() - began:5.0f}s] {what}", flush=True)

    results: list[dict[str, Any]] = []
    pairs: dict[str, dict[str, Any]] = {}
    check = base_1000 = None
    environ = environment()
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp, Processes(Path(tmp)) as procs:
        bench = Bench(procs, Path(tmp), args)
        bench.start_simulator(CHECK_ACCOUNTS if not args.skip_1000 else PAIR_ACCOUNTS)
        step("decode floor")
        floor = decode_floor(bench.sim_url)
        for sc in chosen:
            row: dict[str, Any] = {
                "key": sc.key,
                "label": sc.label,
                "accounts": sc.accounts,
                "include_zero": sc.include_zero,
                "poll_interval_seconds": sc.interval,
            }
            for impl in IMPLS:
                step(f"{sc.label}: {impl}")
                row[impl] = bench.measure(impl, sc)
            row["ratios"] = report.ratios(row["ours"], row["baseline"])
            results.append(row)
        if not args.skip_prometheus:
            pair_interval = next(s.interval for s in SCENARIOS if s.accounts == PAIR_ACCOUNTS)
            pairs[str(PAIR_ACCOUNTS)] = {}
            for impl in IMPLS:
                step(f"{PAIR_ACCOUNTS} accounts, HA pair of Prometheus: {impl}")
                pairs[str(PAIR_ACCOUNTS)][impl] = bench.pair_run(impl, PAIR_ACCOUNTS, pair_interval)
        if not args.skip_1000:
            step("1,000 accounts: ours (4 clients through the second interval, then the pair)")
            check = bench.check_1000()
            if check["prometheus"] is not None:
                pairs[str(CHECK_ACCOUNTS)] = {"ours": check["prometheus"]}
            if not args.skip_prometheus and not args.skip_baseline_1000:
                step("1,000 accounts: baseline (first interval, then the pair)")
                base_1000 = bench.baseline_1000()
                pairs[str(CHECK_ACCOUNTS)]["baseline"] = base_1000["prometheus"]
    for pair in pairs.values():
        if "ours" in pair and "baseline" in pair:
            pair["cpu_ratio"] = report.ratio(
                pair["baseline"]["cpu_seconds_per_minute"], pair["ours"]["cpu_seconds_per_minute"]
            )
    elapsed = time.monotonic() - began
    out = {
        "environment": environ,
        "method": {
            "clients": CLIENTS,
            "scrapers": SCRAPERS,
            "scrapes_per_run": args.scrapes,
            "scrape_cap_seconds": args.scrape_cap,
            "position_entries_per_reply": POSITION_ENTRIES,
            "open_positions_per_account": 20,
            "prometheus_pair": {
                "replicas": len(prometheus_pair.REPLICAS),
                "scrape_interval_seconds": prometheus_pair.SCRAPE_INTERVAL,
                "scrape_timeout_seconds": prometheus_pair.SCRAPE_TIMEOUT,
                "window_seconds": args.prometheus_seconds,
            },
        },
        "decode_floor": floor,
        "scenarios": results,
        "prometheus": pairs,
        "check_1000": check,
        "baseline_1000": base_1000,
        "elapsed_seconds": None,
    }
    out["targets"] = report.targets(out)
    out["elapsed_seconds"] = round(elapsed, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    report.chart(out, args.out / "results.png")
    print()
    print(report.text(out))
    print(f"\n{elapsed:.0f}s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
