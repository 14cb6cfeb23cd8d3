"""``make bench``: this exporter against the usual prometheus_client way, on the simulator.

Three kinds of process, each measured on its own (psutil): the simulator (``benchmarks.sim_runner``,
every account hedge mode with 20 open positions in a 430-symbol market, so each UM account reply
has 860 position entries), and one exporter at a time: ours through its real CLI
(``python -m exporter --config.file ...``) or the baseline (``benchmarks/baseline_exporter.py``),
both reading the same generated configuration (um_account only). For each scenario and exporter:

1. start it, wait until every account has been polled twice (steady state);
2. CPU per poll: process CPU time over a fixed number of polls (counted in the simulator's
   request log), with no scrapes running, divided by the polls;
3. scrape latency: 4 client threads on keep-alive connections scrape back to back, first
   without then with gzip, while polls go on at their configured rate; latency is request sent
   to last body byte; the body is not decompressed;
4. peak RSS: the kernel's high-water mark (VmHWM) of the exporter process at the end.

Then a 1,000-account check of ours alone at a 60 s interval (about 90 s): every account polled
every interval, polls spread evenly, no minute above the weight budget, scrapes served while
the second interval's polls go on.

Results go to ``benchmarks/results/`` (``results.json``, ``results.png``) and a table to stdout.
All traffic stays on 127.0.0.1; every process started here is stopped on the way out, errors
and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from benchmarks.sim_runner import credentials

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"
CLIENTS = 4
POSITION_ENTRIES = 860  # 430 UM symbols x LONG/SHORT in every reply
IMPLS = ("ours", "baseline")
CHECK_ACCOUNTS = 1000
CHECK_INTERVAL = 60.0
CHECK_OBSERVE = 88.0
WEIGHT_BUDGET = 6000
UM_ACCOUNT_WEIGHT = 5


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


def http_ok(port: int, path: str) -> bool:
    try:
        return httpx.get(f"http://{HOST}:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- measurements ----------------------------------------------------------------------------


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time of every thread of the process, in nanoseconds' precision where Linux has it.

    psutil's figure comes in clock ticks (10 ms), too coarse for a window of a few dozen
    polls; /proc/PID/task/*/schedstat counts each thread's time on the CPU in nanoseconds.
    Both exporters keep their threads for their whole life, so no thread's time is lost.
    """
    try:
        total = 0
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
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


def scrape(port: int, count: int, *, gzip: bool, cap_seconds: float) -> dict[str, Any]:
    """``count`` scrapes from CLIENTS threads, back to back, stopping early at ``cap_seconds``."""
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    lock = threading.Lock()
    left = [count]
    samples: list[tuple[float, int]] = []
    gzipped = [0]  # replies that came compressed: the server may answer a gzip request plainly
    errors = [0]
    deadline = time.monotonic() + cap_seconds

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        # One untimed scrape per client: connection set-up and first-request effects.
        conn.request("GET", "/metrics", headers=headers)
        conn.getresponse().read()
        try:
            while time.monotonic() < deadline:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                started = time.perf_counter()
                try:
                    conn.request("GET", "/metrics", headers=headers)
                    reply = conn.getresponse()
                    body = reply.read()
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
    return {
        "scrapes": len(samples),
        "capped": len(samples) < count,
        "errors": errors[0],
        "seconds": round(wall, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "max_ms": round(max(latencies) * 1000, 3),
        "bytes": int(percentile([b for _, b in samples], 50)),
        "gzip_replies": gzipped[0],
    }


def count_series(port: int) -> int:
    body = httpx.get(f"http://{HOST}:{port}/metrics", timeout=60).text
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


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


class Bench:
    def __init__(self, procs: Processes, workdir: Path, args: argparse.Namespace) -> None:
        self.procs = procs
        self.workdir = workdir
        self.args = args
        self.sim_url = ""
        self.simlog: SimLog | None = None

    def start_simulator(self, accounts: int) -> None:
        port, log_port = free_port(), free_port()
        argv = [sys.executable, "-m", "benchmarks.sim_runner", f"--accounts={accounts}"]
        proc = self.procs.start("simulator", [*argv, f"--port={port}", f"--log-port={log_port}"])
        self.sim_url = f"http://{HOST}:{port}"
        self.simlog = SimLog(log_port)
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

    def measure(self, impl: str, sc: Scenario) -> dict[str, Any]:
        assert self.simlog is not None
        config = write_config(self.workdir, self.sim_url, sc.accounts, sc.interval, sc.include_zero)
        port = free_port()
        started = time.time()
        proc = self.procs.start(f"{impl}-{sc.key}", exporter_argv(impl, config, port))
        ps = psutil.Process(proc.pid)
        try:
            names = {credentials(i)[0] for i in range(sc.accounts)}
            wait_until(
                lambda: self.polled(names, started, 2) and http_ok(port, "/metrics"),
                3 * sc.interval + 30,
                f"{impl}: every account polled twice",
                self.procs,
                proc,
            )
            # CPU per poll, no scrapes running.
            t0, cpu0 = time.time(), cpu_seconds(ps)
            wait_until(
                lambda: self.simlog.count(t0) >= sc.cpu_polls,
                sc.cpu_polls * sc.interval / sc.accounts * 2 + 30,
                f"{impl}: {sc.cpu_polls} polls",
                self.procs,
                proc,
            )
            t1, cpu1 = time.time(), cpu_seconds(ps)
            polls = self.simlog.count(t0, t1)
            cpu_ms = (cpu1 - cpu0) / polls * 1000
            series = count_series(port)
            rss_before = ps.memory_info().rss
            n, cap = self.args.scrapes, self.args.scrape_cap
            plain = scrape(port, n, gzip=False, cap_seconds=cap)
            gz = scrape(port, n, gzip=True, cap_seconds=cap)
            self.procs.check(proc)
            rss = peak_rss_bytes(proc.pid)
        finally:
            self.procs.stop(proc)
        return {
            "series": series,
            "cpu_window_polls": polls,
            "cpu_window_seconds": round(t1 - t0, 2),
            "cpu_ms_per_poll": round(cpu_ms, 3),
            "cpu_ms_per_1000_entries": round(cpu_ms * 1000 / POSITION_ENTRIES, 3),
            "scrape": plain,
            "scrape_gzip": gz,
            "rss_before_scrapes_mb": round(rss_before / 2**20, 1),
            "peak_rss_mb": round(rss / 2**20, 1),
        }

    def check_1000(self) -> dict[str, Any]:
        """1,000 accounts at 60 s, um_account only: schedule, weight and scrapes, ours only."""
        assert self.simlog is not None
        config = write_config(self.workdir, self.sim_url, CHECK_ACCOUNTS, CHECK_INTERVAL, False)
        port = free_port()
        started = time.time()
        proc = self.procs.start("ours-1000", exporter_argv("ours", config, port))
        ps = psutil.Process(proc.pid)
        try:
            wait_until(lambda: http_ok(port, "/healthz"), 30, "ours: listening", self.procs, proc)
            # CPU per poll in the first interval, before any scrape.
            time.sleep(max(0.0, started + 10 - time.time()))
            t0, cpu0 = time.time(), cpu_seconds(ps)
            time.sleep(max(0.0, started + 40 - time.time()))
            t1, cpu1 = time.time(), cpu_seconds(ps)
            polls = self.simlog.count(t0, t1)
            # Scrapes once every account has data, while the second interval's polls go on.
            time.sleep(max(0.0, started + CHECK_INTERVAL + 3 - time.time()))
            rss_before = ps.memory_info().rss
            series = count_series(port)
            plain = scrape(port, self.args.scrapes, gzip=False, cap_seconds=10)
            gz = scrape(port, self.args.scrapes, gzip=True, cap_seconds=8)
            time.sleep(max(0.0, started + CHECK_OBSERVE - time.time()))
            self.procs.check(proc)
            rss = peak_rss_bytes(proc.pid)
            ended = time.time()
        finally:
            self.procs.stop(proc)
        rows = [(t, a) for t, a, _ in self.simlog.polls(started) if t <= ended]
        schedule = analyse_schedule(rows, ended)
        return {
            "accounts": CHECK_ACCOUNTS,
            "interval_seconds": CHECK_INTERVAL,
            "observed_seconds": round(ended - started, 1),
            "series": series,
            "cpu_ms_per_poll": round((cpu1 - cpu0) / polls * 1000, 3) if polls else None,
            "cpu_window_polls": polls,
            "scrape": plain,
            "scrape_gzip": gz,
            "rss_before_scrapes_mb": round(rss_before / 2**20, 1),
            "peak_rss_mb": round(rss / 2**20, 1),
            **schedule,
        }


def analyse_schedule(rows: list[tuple[float, str]], ended: float) -> dict[str, Any]:
    by_account: dict[str, list[float]] = {}
    for t, account in sorted(rows):
        by_account.setdefault(account, []).append(t)
    firsts = sorted(times[0] for times in by_account.values())
    first_poll = firsts[0]
    # Accounts whose second slot fell inside the observation must have had their second poll.
    due_twice = [a for a, times in by_account.items() if times[0] + CHECK_INTERVAL + 2 < ended]
    missed = [a for a in due_twice if len(by_account[a]) < 2]
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
        "accounts_due_twice": len(due_twice),
        "accounts_missing_second_poll": len(missed),
        "poll_gap_min_seconds": round(min(gaps), 3) if gaps else None,
        "poll_gap_max_seconds": round(max(gaps), 3) if gaps else None,
        "polls_per_5s_min": min(per5),
        "polls_per_5s_max": max(per5),
        "polls_per_1s_max": max(per1),
        "max_weight_any_60s": worst,
        "weight_budget": WEIGHT_BUDGET,
    }


# -- report ----------------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else math.inf


def ratios(ours: dict, base: dict) -> dict[str, float]:
    return {
        "scrape_p50": ratio(base["scrape"]["p50_ms"], ours["scrape"]["p50_ms"]),
        "scrape_p99": ratio(base["scrape"]["p99_ms"], ours["scrape"]["p99_ms"]),
        "scrape_gzip_p50": ratio(base["scrape_gzip"]["p50_ms"], ours["scrape_gzip"]["p50_ms"]),
        "scrape_gzip_p99": ratio(base["scrape_gzip"]["p99_ms"], ours["scrape_gzip"]["p99_ms"]),
        "cpu_per_poll": ratio(base["cpu_ms_per_poll"], ours["cpu_ms_per_poll"]),
        "peak_rss": ratio(base["peak_rss_mb"], ours["peak_rss_mb"]),
    }


def targets(scenarios: list[dict], check: dict | None) -> list[dict[str, Any]]:
    by_key = {s["key"]: s for s in scenarios}
    out = []

    def add(name: str, measured: str, ok: bool) -> None:
        out.append({"target": name, "measured": measured, "met": ok})

    if "100" in by_key:
        s = by_key["100"]
        p99 = s["ours"]["scrape"]["p99_ms"]
        add(
            "scrape p99 <= 2 ms at 100 accounts",
            f"{p99} ms (gzip {s['ours']['scrape_gzip']['p99_ms']} ms)",
            p99 <= 2,
        )
        rss, base_rss = s["ours"]["peak_rss_mb"], s["baseline"]["peak_rss_mb"]
        add("peak RSS <= 80 MB at 100 accounts", f"{rss} MB", rss <= 80)
        add("peak RSS <= baseline at 100 accounts", f"{rss} vs {base_rss} MB", rss <= base_rss)
    if "10z" in by_key:
        r = by_key["10z"]["ratios"]
        add(
            "scrape >= 10x faster than baseline at 10 accounts include_zero",
            f"p50 {r['scrape_p50']}x, p99 {r['scrape_p99']}x "
            f"(gzip p50 {r['scrape_gzip_p50']}x, p99 {r['scrape_gzip_p99']}x)",
            min(r["scrape_p50"], r["scrape_p99"]) >= 10,
        )
    polls = [s for s in scenarios if not s["include_zero"]]
    if polls:
        worst = max(s["ours"]["cpu_ms_per_poll"] for s in polls)
        least = min(s["ratios"]["cpu_per_poll"] for s in polls)
        add("CPU per full-market hedge poll <= 3 ms", f"at most {worst} ms", worst <= 3)
        add("CPU per poll >= 3x less than baseline", f"at least {least}x", least >= 3)
    if check is not None:
        ok_schedule = (
            check["accounts_polled"] == check["accounts"]
            and check["accounts_missing_second_poll"] == 0
            and check["max_weight_any_60s"] <= check["weight_budget"]
        )
        add(
            "1,000 accounts at 60 s: every account polled every interval, within the budget",
            f"{check['accounts_polled']} polled, {check['accounts_missing_second_poll']} of "
            f"{check['accounts_due_twice']} missed the second slot, gaps "
            f"{check['poll_gap_min_seconds']}-{check['poll_gap_max_seconds']} s, worst 60 s "
            f"{check['max_weight_any_60s']}/{check['weight_budget']}",
            ok_schedule,
        )
        p99 = check["scrape"]["p99_ms"]
        add("1,000 accounts: scrape p99 <= 2 ms", f"{p99} ms", p99 <= 2)
    return out


def table(scenarios: list[dict]) -> str:
    head = (
        f"{'scenario':<28}{'exporter':<10}{'series':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'gz p50':>9}{'gz p99':>9}{'KiB':>9}{'gz KiB':>8}{'gz hit':>7}{'scrapes':>10}"
        f"{'CPU/poll':>10}{'/1k ent':>9}{'RSS MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for s in scenarios:
        for impl in IMPLS:
            m = s[impl]
            sp, gz = m["scrape"], m["scrape_gzip"]
            lines.append(
                f"{s['label']:<28}{impl:<10}{m['series']:>8}{sp['p50_ms']:>9.2f}"
                f"{sp['p99_ms']:>9.2f}{gz['p50_ms']:>9.2f}{gz['p99_ms']:>9.2f}"
                f"{sp['bytes'] / 1024:>9.0f}{gz['bytes'] / 1024:>8.0f}"
                f"{gz['gzip_replies'] / max(1, gz['scrapes']):>7.0%}"
                f"{sp['scrapes']:>5}/{gz['scrapes']:<4}"
                f"{m['cpu_ms_per_poll']:>10.2f}{m['cpu_ms_per_1000_entries']:>9.2f}"
                f"{m['peak_rss_mb']:>8.1f}"
            )
        r = s["ratios"]
        lines.append(
            f"{'':<28}{'ratio':<10}{'':>8}{r['scrape_p50']:>8.1f}x{r['scrape_p99']:>8.1f}x"
            f"{r['scrape_gzip_p50']:>8.1f}x{r['scrape_gzip_p99']:>8.1f}x{'':>34}"
            f"{r['cpu_per_poll']:>9.1f}x{'':>9}{r['peak_rss']:>7.1f}x"
        )
    return "\n".join(lines)


def chart(scenarios: list[dict], check: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [s["label"].replace(", include_zero", "\ninclude_zero") for s in scenarios]

    def gzip_share(m: dict) -> str:
        gz = m["scrape_gzip"]
        return f"{gz['p99_ms']:.3g}\n{gz['gzip_replies'] / max(1, gz['scrapes']):.0%} gz"

    panels = (
        ("Scrape p99, text (ms, log)", lambda m: m["scrape"]["p99_ms"], True, None),
        (
            "Scrape p99 asking for gzip (ms, log; share of replies gzipped)",
            lambda m: m["scrape_gzip"]["p99_ms"],
            True,
            gzip_share,
        ),
        ("CPU per poll per account (ms)", lambda m: m["cpu_ms_per_poll"], False, None),
        ("Peak RSS (MB)", lambda m: m["peak_rss_mb"], False, None),
    )
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    width = 0.38
    xs = range(len(scenarios))
    for ax, (title, get, log, describe) in zip(axes.flat, panels, strict=True):
        for k, (impl, color) in enumerate((("ours", "#2a7ab9"), ("baseline", "#d9822b"))):
            values = [get(s[impl]) for s in scenarios]
            xs_impl = [x + (k - 0.5) * width for x in xs]
            bars = ax.bar(xs_impl, values, width, label=impl, color=color)
            if describe is None:
                ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
            else:
                ax.bar_label(bars, [describe(s[impl]) for s in scenarios], fontsize=7, padding=1)
        ax.set_title(title)
        ax.set_xticks(list(xs), labels, fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.margins(y=0.15)
        ax.legend(fontsize=8)
    note = "binance-pm-exporter vs prometheus_client baseline: simulator over loopback, hedge "
    note += "mode, 860 position entries per reply, 20 open positions per account"
    if check is not None:
        note += (
            f"\n1,000 accounts at 60 s (ours): scrape p99 {check['scrape']['p99_ms']} ms, "
            f"CPU/poll {check['cpu_ms_per_poll']} ms, peak RSS {check['peak_rss_mb']} MB, "
            f"worst 60 s weight {check['max_weight_any_60s']}/{check['weight_budget']}"
        )
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
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
    parser.add_argument("--scenarios", default=",".join(s.key for s in SCENARIOS))
    parser.add_argument("--scrapes", type=int, default=500, help="per scenario, exporter, mode")
    parser.add_argument(
        "--scrape-cap", type=float, default=15.0, help="seconds at most per scrape run"
    )
    parser.add_argument("--skip-1000", action="store_true", help="skip the 1,000-account check")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--replot", action="store_true", help="only redraw results.png from results.json"
    )
    args = parser.parse_args(argv)
    if args.replot:
        report = json.loads((args.out / "results.json").read_text())
        chart(report["scenarios"], report["check_1000"], args.out / "results.png")
        return 0
    chosen = [s for s in SCENARIOS if s.key in args.scenarios.split(",")]
    signal.signal(signal.SIGTERM, _raise_exit)
    began = time.monotonic()
    results: list[dict[str, Any]] = []
    check = None
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp, Processes(Path(tmp)) as procs:
        bench = Bench(procs, Path(tmp), args)
        bench.start_simulator(CHECK_ACCOUNTS if not args.skip_1000 else 100)
        for sc in chosen:
            row: dict[str, Any] = {
                "key": sc.key,
                "label": sc.label,
                "accounts": sc.accounts,
                "include_zero": sc.include_zero,
                "poll_interval_seconds": sc.interval,
            }
            for impl in IMPLS:
                print(f"[{time.monotonic() - began:5.0f}s] {sc.label}: {impl}", flush=True)
                row[impl] = bench.measure(impl, sc)
            row["ratios"] = ratios(row["ours"], row["baseline"])
            results.append(row)
        if not args.skip_1000:
            print(f"[{time.monotonic() - began:5.0f}s] 1,000-account check", flush=True)
            check = bench.check_1000()
    elapsed = time.monotonic() - began
    report = {
        "environment": environment(),
        "method": {
            "clients": CLIENTS,
            "scrapes_per_run": args.scrapes,
            "scrape_cap_seconds": args.scrape_cap,
            "position_entries_per_reply": POSITION_ENTRIES,
            "open_positions_per_account": 20,
        },
        "scenarios": results,
        "check_1000": check,
        "targets": targets(results, check),
        "elapsed_seconds": round(elapsed, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    if results:
        chart(results, check, args.out / "results.png")
    print()
    print(table(results))
    if check is not None:
        print("\n1,000-account check (ours):")
        for k, v in check.items():
            print(f"  {k}: {v}")
    print("\nTargets:")
    for t in report["targets"]:
        print(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['measured']}")
    print(f"\n{elapsed:.0f}s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
