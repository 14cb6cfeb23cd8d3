"""Time to page: seconds from the simulator crossing a threshold to the webhook receiving the
notification, with the recommended settings and with Prometheus' and Alertmanager's defaults.

``python -m benchmarks.time_to_page`` (the second half of ``make bench``; 6 to 10 minutes).
Each setting gets a fresh chain of real processes on 127.0.0.1, started by the end-to-end
tests' own process code (``tests/e2e/stack.py``): the simulator (``benchmarks.sim_runner``), the
exporter through its CLI, one Prometheus with the shipped rule files, Alertmanager with the
shipped ``prometheus/alertmanager.example.yml`` (its receivers pointed at a webhook in this
process) and that webhook.

- **recommended**: the exporter's default poll interval (15 s), ``prometheus/prometheus.yml``'s
  scrape and evaluation intervals, the shipped ``for:`` durations and the example's waits
  (critical ``group_wait`` 0s);
- **defaults**: the same exporter and rules, Prometheus without ``scrape_interval`` or
  ``evaluation_interval`` (1m each) and the example with every route's waits removed
  (Alertmanager's ``group_wait`` 30s, ``group_interval`` 5m).

Two kinds of crossing, each on accounts of its own so that each crossing starts a fresh
Alertmanager group (a crossing never waits behind another's ``group_interval``):

- **poll**: uniMMR set to 1.15, below the 1.2 of ``BinancePMUniMMRReduceOnly``; these accounts
  have no user data stream, so nothing but the next poll brings the value in;
- **push**: a ``riskLevelChange`` FORCE_LIQUIDATION frame on the account's user data stream
  (``BinancePMForceLiquidationEvent``), once Prometheus holds the account's counter at 0.

The crossings of both kinds are spread at random over a window of several poll, scrape and
evaluation cycles, so they fall at every phase of them. A crossing's time to page runs from
just before the simulator's knob is called to the webhook's receipt of the first firing
notification naming that alert and account. Every wait is bounded; every process is stopped at
the end, also after an error, SIGTERM or Ctrl-C. Results: ``benchmarks/results/time_to_page.json``
and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks import prometheus_pair
from benchmarks.run import ROOT, environment
from benchmarks.sim_runner import credentials
from tests.e2e.stack import (
    SHIPPED_RULES,
    Stack,
    Webhook,
    alertmanager_config_for_test,
    force_liquidation_frame,
    free_port,
    knob,
    wait_for,
)

RESULTS = ROOT / "benchmarks" / "results"
SHIPPED_PROMETHEUS = ROOT / "prometheus" / "prometheus.yml"
POLL_ALERT = "BinancePMUniMMRReduceOnly"
PUSH_ALERT = "BinancePMForceLiquidationEvent"
CROSSED_UNI_MMR = 1.15  # below reduce-only's 1.2, above liquidation near's 1.1
EXPORTER_POLL_SECONDS = 15.0  # the exporter's default poll_interval_seconds
KINDS = ("poll", "push")


@dataclass(frozen=True)
class Settings:
    key: str
    scrape: str | None  # None: Prometheus' default (1m)
    evaluation: str | None
    alertmanager_defaults: bool
    window: float  # seconds over which the crossings are spread
    wait: float  # seconds the last crossing may take to page before it counts as missed

    def describe(self) -> dict[str, Any]:
        return {
            "poll_interval": f"{EXPORTER_POLL_SECONDS:g}s",
            "scrape_interval": self.scrape or "1m (default)",
            "evaluation_interval": self.evaluation or "1m (default)",
            "critical group_wait": "30s (default)" if self.alertmanager_defaults else "0s",
        }


def recommended() -> Settings:
    shipped = yaml.safe_load(SHIPPED_PROMETHEUS.read_text())["global"]
    return Settings(
        "recommended",
        shipped["scrape_interval"],
        shipped["evaluation_interval"],
        alertmanager_defaults=False,
        window=60.0,
        wait=120.0,
    )


DEFAULTS = Settings("defaults", None, None, alertmanager_defaults=True, window=120.0, wait=360.0)


@dataclass
class Crossing:
    kind: str  # "poll" or "push"
    account: str
    offset: float  # seconds into the window
    at: float = 0.0  # time.monotonic() just before the knob was called
    paged: float | None = None  # time.monotonic() of the first matching notification

    @property
    def alert(self) -> str:
        return POLL_ALERT if self.kind == "poll" else PUSH_ALERT

    @property
    def seconds(self) -> float | None:
        return None if self.paged is None else self.paged - self.at


def exporter_config(sim_url: str, accounts: list[tuple[str, bool]]) -> dict[str, Any]:
    """The `account` collector at the default poll interval; streams for the push accounts."""
    entries = []
    for index, (name, streamed) in enumerate(accounts):
        _, key, secret = credentials(index)
        entry: dict[str, Any] = {"name": name, "api_key": key, "api_secret": secret}
        if streamed:
            entry["user_data_stream"] = True
        entries.append(entry)
    return {
        "base_url": sim_url,
        "time_url": f"{sim_url}/fapi/v1/time",
        "stream_url": sim_url.replace("http", "ws", 1) + "/pm/ws/",
        "collectors": ["account"],
        "accounts": entries,
    }


def alertmanager_config(stack: Stack, webhook: Webhook, settings: Settings) -> Path:
    """The shipped example delivering to the webhook; under the defaults, without any wait."""
    path = alertmanager_config_for_test(stack.directory, webhook.url, None)
    if settings.alertmanager_defaults:
        config = yaml.safe_load(path.read_text())
        for route in [config["route"], *config["route"].get("routes", [])]:
            for key in ("group_wait", "group_interval", "repeat_interval"):
                route.pop(key, None)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def query(prometheus_url: str, expr: str) -> float | None:
    reply = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5)
    result = reply.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def first_pages(webhook: Webhook) -> dict[tuple[str, str], float]:
    """(alert, account) -> when its first firing notification reached the webhook receiver."""
    out: dict[tuple[str, str], float] = {}
    for delivery in webhook.received():
        if delivery.path != "/webhook":
            continue
        for alert in delivery.body.get("alerts", []):
            if alert.get("status") != "firing":
                continue
            key = (alert["labels"].get("alertname", ""), alert["labels"].get("account", ""))
            out[key] = min(out.get(key, delivery.at), delivery.at)
    return out


def measure(
    settings: Settings, alertmanager: str, crossings: int, rng: random.Random, step: Any
) -> dict[str, Any]:
    """One fresh chain under ``settings``, ``crossings`` crossings of each kind."""
    accounts = [(credentials(i)[0], i >= crossings) for i in range(2 * crossings)]
    with tempfile.TemporaryDirectory(prefix=f"pm-page-{settings.key}-") as tmp:
        stack, webhook = Stack(Path(tmp)), Webhook()
        try:
            port = free_port()
            simulator = stack.spawn(
                "simulator",
                [
                    sys.executable,
                    "-m",
                    "benchmarks.sim_runner",
                    f"--accounts={len(accounts)}",
                    f"--port={port}",
                    f"--log-port={free_port()}",
                ],
            )
            sim_url = f"http://127.0.0.1:{port}"
            stack.up("simulator", simulator, sim_url + "/fapi/v1/time")
            target = stack.exporter(exporter_config(sim_url, accounts))
            am_url = stack.alertmanager(alertmanager, alertmanager_config(stack, webhook, settings))
            prometheus_url = stack.prometheus(
                prometheus_pair.binary(),
                "prometheus",
                list(SHIPPED_RULES),
                target,
                am_url,
                "a",
                settings.scrape,
                settings.evaluation,
            )
            step(f"{settings.key}: waiting for Prometheus to hold every account")
            wait_for(
                "every account's uniMMR and every stream's counter at 0 in Prometheus",
                lambda: (
                    query(prometheus_url, "count(binance_pm_account_uni_mmr)") == len(accounts)
                    and query(
                        prometheus_url,
                        'count(binance_pm_risk_level_events_total{level="FORCE_LIQUIDATION"} == 0)',
                    )
                    == crossings
                ),
                timeout=180,
            )
            plan = [
                Crossing("push" if streamed else "poll", name, rng.uniform(0, settings.window))
                for name, streamed in accounts
            ]
            step(f"{settings.key}: {len(plan)} crossings over {settings.window:g} s")
            start = time.monotonic()
            for crossing in sorted(plan, key=lambda c: c.offset):
                time.sleep(max(0.0, start + crossing.offset - time.monotonic()))
                crossing.at = time.monotonic()
                if crossing.kind == "poll":
                    knob(
                        sim_url,
                        "falling_uni_mmr",
                        account=crossing.account,
                        start=CROSSED_UNI_MMR,
                        end=CROSSED_UNI_MMR,
                        duration_seconds=0,
                    )
                else:
                    knob(
                        sim_url,
                        "send_stream_frames",
                        account=crossing.account,
                        frames=[force_liquidation_frame()],
                    )
            deadline = time.monotonic() + settings.wait
            while time.monotonic() < deadline:
                pages = first_pages(webhook)
                for c in plan:
                    c.paged = pages.get((c.alert, c.account))
                if all(c.paged is not None for c in plan):
                    break
                time.sleep(0.5)
        finally:
            webhook.close()
            stack.close()
    return {
        "settings": settings.describe(),
        **{kind: summary([c for c in plan if c.kind == kind]) for kind in KINDS},
    }


def summary(crossings: list[Crossing]) -> dict[str, Any]:
    seconds = sorted(s for c in crossings if (s := c.seconds) is not None)
    return {
        "alert": crossings[0].alert,
        "crossings": len(crossings),
        "paged": len(seconds),
        "p50_seconds": round(statistics.median(seconds), 1) if seconds else None,
        "max_seconds": round(max(seconds), 1) if seconds else None,
        "seconds": [round(s, 2) for s in seconds],
    }


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's bounds for the recommended settings: (a) poll + scrape + 10 s, (b) scrape +
    10 s, against the worst crossing."""
    rec = results.get("recommended")
    if rec is None:
        return {}
    scrape = _seconds(rec["settings"]["scrape_interval"])
    bounds = {"poll": EXPORTER_POLL_SECONDS + scrape + 10, "push": scrape + 10}
    out = {}
    for kind, bound in bounds.items():
        row = rec[kind]
        met = row["max_seconds"] is not None and row["paged"] == row["crossings"]
        out[kind] = {"bound_seconds": bound, "met": met and row["max_seconds"] < bound}
    return out


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def table(results: dict[str, Any]) -> str:
    lines = [
        "| crossing | settings | p50 s | max s | paged/crossings |",
        "|---|---|---:|---:|---:|",
    ]
    for kind, what in (
        ("poll", "(a) uniMMR below 1.2, polled"),
        ("push", "(b) FORCE_LIQUIDATION pushed"),
    ):
        for key in ("recommended", "defaults"):
            if key in results:
                row = results[key][kind]
                lines.append(
                    f"| {what} | {key} | {row['p50_seconds']} | {row['max_seconds']} | "
                    f"{row['paged']}/{row['crossings']} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.time_to_page", description=__doc__)
    parser.add_argument("--crossings", type=int, default=12, help="per kind and settings")
    parser.add_argument("--settings", default="recommended,defaults")
    parser.add_argument("--seed", type=int, default=None, help="of the crossings' times")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, through every stack's close().
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    began = time.monotonic()

    def step(what: str) -> None:
        print(f"[{time.monotonic() - began:5.0f}s] {what}", flush=True)

    alertmanager = shutil.which("prometheus-alertmanager")  # Debian's name for it
    if alertmanager is None or not shutil.which(prometheus_pair.binary()):
        parser.error(
            "needs Prometheus and Alertmanager (apt-get install prometheus "
            "prometheus-alertmanager; or set PROMETHEUS)"
        )
    environ = environment()
    # "alertmanager, version 0.25.0 (branch: ...)": the version only.
    version = subprocess.run(
        [alertmanager, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    environ["alertmanager"] = " ".join((version.stdout + version.stderr).split()[2:3])
    chosen = {"recommended": recommended(), "defaults": DEFAULTS}
    results: dict[str, Any] = {}
    for key in args.settings.split(","):
        results[key] = measure(chosen[key], alertmanager, args.crossings, rng, step)
        step(f"{key}: " + json.dumps({k: results[key][k]["max_seconds"] for k in KINDS}))
    out = {
        "environment": environ,
        "seed": seed,
        "results": results,
        "targets": targets(results),
        "elapsed_seconds": round(time.monotonic() - began, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "time_to_page.json").write_text(json.dumps(out, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\n{out['elapsed_seconds']:.0f}s; results in {args.out / 'time_to_page.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
