"""Capacity from freshness: how old the served data is at scrape time, and the weight it costs.

``python -m benchmarks.freshness`` (part of ``make bench``; about 5 minutes). Two set-ups on the
same simulated accounts (each with UM and COIN-M positions, marks walking every second, mark
price streams at Binance's 1 s), each a fresh simulator and exporter in this process, on
127.0.0.1:

- **(a) polls every 15 s, no streams** (the exporter's default interval);
- **(b) polls every 60 s with both streams** (``user_data_stream`` and ``market_stream``).

After every account's collectors have been polled once, ``/metrics`` is scraped once a second
for the measuring window; each scrape records ``binance_pm_exporter_data_age_seconds`` of each
account and collector: ``um_position_risk`` holds the UM mark, ``um_account`` the UM unrealized
PnL, ``cm_position_risk`` and ``cm_account`` the COIN-M ones, ``account`` the uniMMR. The weight
is every request's weight the simulator booked in the window (polls and listen keys), per
account-minute. Results: ``benchmarks/results/freshness.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from benchmarks.run import ROOT, environment
from exporter.collectors import DEFAULT_COLLECTORS
from exporter.simulator.accounts import CMPosition, SimAccount, UMPosition
from exporter.simulator.server import SimulatorThread
from tests.helpers import ExporterThread, make_config, parse_samples

RESULTS = ROOT / "benchmarks" / "results"
AGE = "binance_pm_exporter_data_age_seconds"
SOURCES = {
    "um_position_risk": "UM mark price",
    "um_account": "UM unrealized PnL",
    "cm_position_risk": "COIN-M mark price",
    "cm_account": "COIN-M unrealized PnL",
    "account": "uniMMR",
}
COLLECTORS = sorted({*DEFAULT_COLLECTORS, *SOURCES})


def accounts(count: int) -> list[SimAccount]:
    return [
        SimAccount(
            name=f"fund{i}",
            api_key=f"key-fund{i}",
            api_secret=f"secret-fund{i}",
            balances={"USDT": "100000", "BTC": "1"},
            cm_balances={"BTC": "0.5"},
            um_positions=[
                UMPosition("BTCUSDT", "BOTH", "0.5", "60000", 10),
                UMPosition("ETHUSDT", "BOTH", "-4", "3500", 10),
            ],
            cm_positions=[CMPosition("BTCUSD_PERP", "BOTH", "10", "64000", 20)],
        )
        for i in range(count)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(setup: str, count: int, window: float) -> dict[str, Any]:
    streams = setup == "b"
    with SimulatorThread(accounts(count), tick_seconds=1.0) as sim:
        raw: dict[str, Any] = {
            "poll_interval_seconds": 60 if streams else 15,
            "collectors": COLLECTORS,
            "max_weight_per_minute": 6000,
        }
        if streams:
            raw |= {
                "stream_url": sim.simulator.stream_url,
                "market_stream": True,
                "um_market_stream_url": sim.simulator.um_market_stream_url,
                "cm_market_stream_url": sim.simulator.cm_market_stream_url,
            }
        entries = [
            {
                "name": f"fund{i}",
                "api_key": f"key-fund{i}",
                "api_secret": f"secret-fund{i}",
                "user_data_stream": streams,
            }
            for i in range(count)
        ]
        with ExporterThread(make_config(sim.base_url, entries, **raw)) as exp:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # every account's collectors polled once
                ages = [k for k in parse_samples(exp.text()) if k[0] == AGE]
                if len(ages) >= count * len(COLLECTORS):
                    break
                time.sleep(1)
            else:
                raise SystemExit(f"setup {setup}: not every collector was polled in 120 s")
            began = sim.call(lambda: time.time())
            seen: dict[str, list[float]] = {c: [] for c in SOURCES}
            scrapes = 0
            until = time.monotonic() + window
            while time.monotonic() < until:
                for (name, labels), value in parse_samples(exp.text()).items():
                    collector = dict(labels).get("collector")
                    if name == AGE and collector in seen:
                        seen[collector].append(value)
                scrapes += 1
                time.sleep(1)
            weight = sim.call(
                lambda: sum(r.weight for r in sim.simulator.requests if r.time >= began)
            )
    minutes = window / 60
    return {
        "setup": setup,
        "accounts": count,
        "window_seconds": window,
        "scrapes": scrapes,
        "weight_per_account_minute": weight / count / minutes,
        "age_seconds": {
            c: {"p50": statistics.median(v), "p99": percentile(v, 0.99), "n": len(v)}
            for c, v in seen.items()
            if v
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--window", type=float, default=120.0, help="seconds measured per setup")
    args = parser.parse_args()
    runs = [measure(s, args.accounts, args.window) for s in ("a", "b")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"environment": environment(), "runs": runs}
    (RESULTS / "freshness.json").write_text(json.dumps(out, indent=2) + "\n")
    print("| source | (a) p50 | (a) p99 | (b) p50 | (b) p99 |")
    print("|---|---:|---:|---:|---:|")
    for collector, label in SOURCES.items():
        cells = []
        for run in runs:
            age = run["age_seconds"].get(collector)
            cells += [f"{age['p50']:.1f}", f"{age['p99']:.1f}"] if age else ["-", "-"]
        print(f"| {label} (`{collector}`) | " + " | ".join(cells) + " |")
    weights = " | ".join(f"{r['weight_per_account_minute']:.1f}" for r in runs)
    print(f"| weight per account-minute | {weights} |")


if __name__ == "__main__":
    main()
