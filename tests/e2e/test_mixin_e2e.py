"""End to end: a real Prometheus scraping the exporter's demo, with the mixin's rules and alerts.

The demo's falling-uni-mmr scenario drives demo-hedge's uniMMR from 2.0 to 1.0 in 20 s; with 1 s
scrapes and evaluations, and every ``for`` shortened through the mixin's config, the uniMMR warning
and then the critical alerts fire within the test. Meanwhile every recording rule and every
dashboard query must return data, except the queries for accounts without positions, which the
demo does not have.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from mixin import rules
from mixin.config import DEFAULT_FOR, MixinConfig
from tests.helpers import REPO
from tests.mixin.queries import dashboard_files, fill, load, panel_queries, variable_queries

SCENARIO_SECONDS = 20
# Short enough to fire within the scenario, long enough to go through "pending".
E2E_FOR = "2s"
WARNING = "BinancePMUniMMRLow"
# Queries that name accounts without positions: every demo account holds positions.
EMPTY_ON_THE_DEMO = {("overview.json", "uniMMR now [B]")}
CRITICALS = ("BinancePMUniMMRReduceOnly", "BinancePMUniMMRNearLiquidation")


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


class PrometheusAPI:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=5)

    def get(self, path: str, **params: str) -> dict:
        reply = self.client.get(path, params=params)
        reply.raise_for_status()
        body = reply.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        return self.get("/api/v1/alerts")["alerts"]


@pytest.fixture
def stack(tmp_path: Path, prometheus: str) -> Iterator[PrometheusAPI]:
    exporter_port, prometheus_port = free_port(), free_port()
    config = dataclasses.replace(MixinConfig(), for_durations=dict.fromkeys(DEFAULT_FOR, E2E_FOR))
    (tmp_path / "rules.yml").write_text(rules.to_yaml(rules.rules_file(config)))
    (tmp_path / "alerts.yml").write_text(rules.to_yaml(rules.alerts_file(config)))
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": ["rules.yml", "alerts.yml"],
                "scrape_configs": [
                    {
                        "job_name": "binance-pm-exporter",
                        "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                    }
                ],
            }
        )
    )
    exporter_log = (tmp_path / "exporter.log").open("wb")
    prometheus_log = (tmp_path / "prometheus.log").open("wb")
    exporter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--demo",
            "--demo.scenario=falling-uni-mmr",
            f"--demo.scenario-seconds={SCENARIO_SECONDS}",
            f"--web.listen-address=127.0.0.1:{exporter_port}",
        ],
        cwd=REPO,
        stdout=exporter_log,
        stderr=subprocess.STDOUT,
    )
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        stdout=prometheus_log,
        stderr=subprocess.STDOUT,
    )
    api = PrometheusAPI(f"http://127.0.0.1:{prometheus_port}")
    try:
        deadline = time.monotonic() + 15
        while True:
            assert exporter.poll() is None, (tmp_path / "exporter.log").read_text()
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                if api.client.get("/-/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.2)
        yield api
    finally:
        stop(server)
        stop(exporter)
        exporter_log.close()
        prometheus_log.close()


def firing(api: PrometheusAPI) -> set[tuple[str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("account", ""))
        for a in api.alerts()
        if a["state"] == "firing"
    }


@pytest.mark.timeout(55)
def test_falling_uni_mmr_fires_warning_then_critical_and_every_query_has_data(stack):
    api = stack
    first_seen: dict[str, float] = {}
    start = time.monotonic()
    wanted = {WARNING, *CRITICALS}
    while not wanted <= first_seen.keys():
        assert time.monotonic() - start < SCENARIO_SECONDS + 15, (
            f"alerts that never fired: {sorted(wanted - first_seen.keys())}"
        )
        for name, account in firing(api):
            if name in wanted:
                assert account == "demo-hedge", f"{name} fired for {account}"
                first_seen.setdefault(name, time.monotonic())
        time.sleep(0.25)
    for critical in CRITICALS:
        assert first_seen[WARNING] < first_seen[critical]

    rule_groups = api.get("/api/v1/rules")["groups"]
    for group in rule_groups:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    recorded = [r["name"] for g in rule_groups for r in g["rules"] if r["type"] == "recording"]
    assert len(recorded) == len(rules.rules_file(MixinConfig())["groups"][0]["rules"])
    for name in recorded:
        assert api.query(name), f"recording rule {name} has no data"

    for path in dashboard_files(REPO):
        dashboard = load(path)
        for name, series, label in variable_queries(dashboard):
            values = {r["metric"].get(label) for r in api.query(fill(series))}
            assert values - {None}, f"{path.name}: variable {name} has no values"
        for panel, expr in panel_queries(dashboard):
            if (path.name, panel) in EMPTY_ON_THE_DEMO:
                assert not api.query(fill(expr)), f"{path.name}: {panel} has data: {expr}"
            else:
                assert api.query(fill(expr)), f"{path.name}: {panel} has no data: {expr}"
