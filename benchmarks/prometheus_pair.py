"""Two real Prometheus servers (an HA pair) scraping one exporter, and what they saw.

Each server runs from ``/usr/bin/prometheus`` (or ``$PROMETHEUS``) with its own configuration, its
own TSDB directory under the benchmark's temporary directory and its own port on 127.0.0.1. Both
scrape the same single target every 5 s with a 5 s timeout, the way an HA pair does. They
differ only in an external ``replica`` label, which is also what makes them scrape at different
offsets in the interval (Prometheus seeds each target's offset with its external labels), as two
real replicas do.

What the pair saw comes from each server's own HTTP API: ``scrape_duration_seconds`` (request,
body, Prometheus' parse and append), ``scrape_samples_scraped`` and ``up`` of the job over the
window.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

SCRAPE_INTERVAL = 5.0
SCRAPE_TIMEOUT = 5.0
REPLICAS = ("a", "b")
READY_TIMEOUT = 60.0


def binary() -> str:
    return os.environ.get("PROMETHEUS", "/usr/bin/prometheus")


@dataclass
class Server:
    replica: str
    port: int
    proc: Any  # subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def write_config(directory: Path, job: str, target: str, replica: str) -> Path:
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL:g}s",
            "scrape_timeout": f"{SCRAPE_TIMEOUT:g}s",
            "evaluation_interval": "1m",
            "external_labels": {"replica": replica},
        },
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
    }
    path = directory / f"prometheus-{job}-{replica}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start(procs: Any, workdir: Path, job: str, target: str, free_port: Any) -> list[Server]:
    """Start the pair (``procs`` stops them, whatever happens) and wait until both are ready."""
    servers = []
    for replica in REPLICAS:
        config = write_config(workdir, job, target, replica)
        tsdb = workdir / f"tsdb-{job}-{replica}"
        port = free_port()
        argv = [
            binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        servers.append(Server(replica, port, procs.start(f"prometheus-{job}-{replica}", argv)))
    deadline = time.monotonic() + READY_TIMEOUT
    for server in servers:
        while not _ready(server):
            procs.check(server.proc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus {server.replica} not ready in {READY_TIMEOUT:g}s")
            time.sleep(0.2)
    return servers


def _ready(server: Server) -> bool:
    try:
        return httpx.get(server.url + "/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _query(server: Server, expr: str, at: float) -> float | None:
    reply = httpx.get(
        server.url + "/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=30
    )
    reply.raise_for_status()
    result = reply.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def observed(server: Server, job: str, until: float, seconds: int) -> dict[str, Any]:
    """What one server recorded about ``job`` in the ``seconds`` before ``until``."""
    window = f'{{job="{job}"}}[{seconds}s]'

    def q(expr: str) -> float | None:
        return _query(server, expr, until)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    samples = q(f"max_over_time(scrape_samples_scraped{window})")
    scrapes = q(f"count_over_time(up{window})")
    return {
        "replica": server.replica,
        "scrapes": int(scrapes) if scrapes is not None else 0,
        "up_min": q(f"min_over_time(up{window})"),
        "up_avg": q(f"avg_over_time(up{window})"),
        "scrape_duration_p50_ms": ms(
            q(f"quantile_over_time(0.5, scrape_duration_seconds{window})")
        ),
        "scrape_duration_max_ms": ms(q(f"max_over_time(scrape_duration_seconds{window})")),
        "samples_scraped_max": int(samples) if samples is not None else None,
    }
