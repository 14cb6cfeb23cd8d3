"""The monitoring stack as real processes on 127.0.0.1: the simulator, the exporter, Prometheus,
Alertmanager and a webhook that records what Alertmanager delivers.

Every process gets a free port and a log file in the test's directory, and ``Stack.close``
stops them all (reverse order), so a failing test leaves nothing running.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from exporter.simulator.demo import DEMO_COLLECTORS, DEMO_MAX_WEIGHT_PER_MINUTE
from tests.helpers import REPO

SHIPPED_ALERTMANAGER = REPO / "prometheus" / "alertmanager.example.yml"
SHIPPED_RULES = (REPO / "prometheus" / "rules.yml", REPO / "prometheus" / "alerts.yml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_for(
    what: str, ready: Callable[[], bool], timeout: float = 15, seen: Callable[[], object] = str
) -> None:
    """Poll ``ready``; on time out, fail with what ``seen`` returns (what came instead)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {seen()}"
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@dataclass(frozen=True)
class Delivery:
    """One HTTP request Alertmanager made to the webhook."""

    at: float  # time.monotonic()
    path: str  # which receiver: /pagerduty, /webhook, /slack
    body: dict[str, Any]


class Webhook:
    """An HTTP server that records every JSON POST and answers 200."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with webhook._lock:
                    webhook.deliveries.append(Delivery(time.monotonic(), self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def summary(self) -> list[tuple[str, str]]:
        """Each delivery's path and its first 200 characters, for a failure message."""
        return [(d.path, json.dumps(d.body)[:200]) for d in self.received()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alertmanager_config_for_test(directory: Path, webhook_url: str, interval: str | None) -> Path:
    """A copy of the shipped Alertmanager configuration whose receivers all deliver to the
    webhook (one path per integration), with its waits shortened to ``interval`` (None: as
    shipped).

    The secrets stay in files, as shipped: the Slack URL and the PagerDuty routing key are
    written where the copy's ``*_file`` keys point.
    """
    config = yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
    (directory / "slack_api_url").write_text(f"{webhook_url}/slack\n")
    (directory / "pagerduty_routing_key").write_text("test-routing-key\n")
    for receiver in config["receivers"]:
        for pagerduty in receiver.get("pagerduty_configs", []):
            pagerduty["routing_key_file"] = str(directory / "pagerduty_routing_key")
            pagerduty["url"] = f"{webhook_url}/pagerduty"
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{webhook_url}/webhook"
        for slack in receiver.get("slack_configs", []):
            slack["api_url_file"] = str(directory / "slack_api_url")
    for route in [config["route"], *config["route"].get("routes", [])]:
        for key in ("group_wait", "group_interval"):
            if interval is not None and key in route and route[key] != "0s":
                route[key] = interval
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def rules_with_short_for(directory: Path, longest: str) -> list[Path]:
    """The shipped rule files, with every ``for`` longer than zero cut to ``longest`` (the
    recommended durations are minutes; a test waits seconds). ``for: 0m`` stays: it is what
    makes a page leave at once."""
    paths = []
    for shipped in SHIPPED_RULES:
        document = yaml.safe_load(shipped.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                if rule.get("for", "0m") not in ("0m", "0s"):
                    rule["for"] = longest
        path = directory / shipped.name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        paths.append(path)
    return paths


def demo_exporter_config(sim_url: str, credentials: Path, **extra: Any) -> dict:
    """The demo's two accounts, as the simulator wrote their keys."""
    return {
        "base_url": sim_url,
        "time_url": f"{sim_url}/fapi/v1/time",
        "max_weight_per_minute": DEMO_MAX_WEIGHT_PER_MINUTE,
        "collectors": DEMO_COLLECTORS,
        "accounts": [
            {
                "name": "demo-oneway",
                "api_key_file": str(credentials / "demo-oneway.api_key"),
                "api_secret_file": str(credentials / "demo-oneway.api_secret"),
            },
            {
                "name": "demo-hedge",
                "api_key_file": str(credentials / "demo-hedge.api_key"),
                "private_key_file": str(credentials / "demo-hedge.pem"),
            },
        ],
        **extra,
    }


@dataclass
class Stack:
    directory: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.directory / f"{name}.log").open("wb")
        self.logs.append(log)
        process = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def up(self, name: str, process: subprocess.Popen, url: str) -> None:
        def ready() -> bool:
            assert process.poll() is None, f"{name} exited:\n{self.log(name)}"
            return answers(url)

        wait_for(f"{name} at {url}", ready)

    def simulator(self) -> tuple[str, Path]:
        """The demo simulator; its URL and the directory of the accounts' credentials."""
        port, credentials = free_port(), self.directory / "credentials"
        process = self.spawn(
            "simulator",
            [
                sys.executable,
                "-m",
                "exporter.simulator",
                f"--port={port}",
                f"--credentials-dir={credentials}",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        self.up("simulator", process, url + "/fapi/v1/time")
        wait_for("the simulator's credentials", (credentials / "demo-hedge.pem").exists)
        return url, credentials

    def exporter(self, config: dict) -> str:
        port = free_port()
        path = self.directory / "exporter.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        process = self.spawn(
            "exporter",
            [
                sys.executable,
                "-m",
                "exporter",
                f"--config.file={path}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        self.up("exporter", process, url + "/metrics")
        return f"127.0.0.1:{port}"

    def alertmanager(self, binary: str, config: Path) -> str:
        port = free_port()
        process = self.spawn(
            "alertmanager",
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={self.directory / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                # One Alertmanager: no gossip port (the default listens on 0.0.0.0:9094).
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        self.up("alertmanager", process, url + "/-/ready")
        return url

    def prometheus(
        self,
        binary: str,
        name: str,
        rule_files: list[Path],
        exporter: str,
        alertmanager: str,
        replica: str,
        interval: str | None,
        evaluation: str | None = None,
    ) -> str:
        """One server of an HA pair: its own ``replica`` external label, dropped from the
        alerts it sends, as prometheus/prometheus.yml does. It scrapes every ``interval`` and
        evaluates every ``evaluation`` (by default ``interval`` too); None leaves Prometheus'
        default (1m)."""
        shipped = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
        timings = {"scrape_interval": interval, "evaluation_interval": evaluation or interval}
        config = {
            "global": {
                **{key: value for key, value in timings.items() if value is not None},
                "external_labels": {"replica": replica},
            },
            "rule_files": [str(p) for p in rule_files],
            "alerting": {
                "alert_relabel_configs": shipped["alerting"]["alert_relabel_configs"],
                "alertmanagers": [
                    {"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}
                ],
            },
            "scrape_configs": [
                {"job_name": "binance-pm-exporter", "static_configs": [{"targets": [exporter]}]}
            ],
        }
        path = self.directory / f"{name}.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        process = self.spawn(
            name,
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.directory / (name + '-data')}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        self.up(name, process, url + "/-/ready")
        return url

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        for log in self.logs:
            log.close()


def knob(sim_url: str, name: str, **arguments: Any) -> None:
    reply = httpx.post(f"{sim_url}/_sim/{name}", json=arguments, timeout=5)
    assert reply.status_code == 200, reply.text


def force_liquidation_frame() -> str:
    """A riskLevelChange into FORCE_LIQUIDATION, stamped now, as the user data stream sends it."""
    return json.dumps(
        {
            "e": "riskLevelChange",
            "E": int(time.time() * 1000),
            "u": "1.04",
            "s": "FORCE_LIQUIDATION",
            "eq": "1040",
            "ae": "1040",
            "m": "1000",
        }
    )
