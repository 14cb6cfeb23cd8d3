"""End to end: a real Prometheus scraping the exporter on the simulator, with the mixin's rules
and alerts.

The simulator serves the demo accounts, and its falling-uni-mmr knob drives demo-hedge's uniMMR
from 1.6 to 1.0 in 12 s (0.05 a second: the warning's 1.5 two seconds in, reduce-only's 1.2 six
seconds after it, 1.1 two seconds later); the exporter polls it with every collector the dashboards
read. With 1 s scrapes and evaluations, and every ``for`` shortened through the mixin's config, the
uniMMR warning and then the critical alerts fire within the test. Meanwhile every recording rule
and every dashboard query must return data, except the queries for accounts without positions,
which the demo does not have. The exporter streams as the demo does, so the stream panels have
data too; the simulator's force_close knob liquidates a sliver of a position once the exporter
polls forced orders, so the Forced orders row has data.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.simulator.demo import (
    DEMO_COLLATERAL_RATE,
    DEMO_COLLECTORS,
    DEMO_MAX_WEIGHT_PER_MINUTE,
    DEMO_POLL_INTERVAL_SECONDS,
)
from mixin import rules
from mixin.config import DEFAULT_FOR, MixinConfig
from tests.e2e.stack import free_port, stop
from tests.helpers import REPO
from tests.mixin.queries import dashboard_files, fill, load, panel_queries, variable_queries

SCENARIO_SECONDS = 12
# Just above the warning's 1.5: the stretch from the knob's default 2.0 down to it only waits.
SCENARIO_START_UNI_MMR = 1.6
# Short enough to fire within the scenario, long enough to go through "pending".
E2E_FOR = "2s"
WARNING = "BinancePMUniMMRLow"
# Queries that name accounts without positions: every demo account holds positions.
EMPTY_ON_THE_DEMO = {("overview.json", "uniMMR now [B]")}
CRITICALS = ("BinancePMUniMMRReduceOnly", "BinancePMUniMMRNearLiquidation")
SCENARIO_ACCOUNT = "demo-hedge"


class PrometheusAPI:
    def __init__(self, url: str, simulator_url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=5)
        self.simulator_url = simulator_url

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
    simulator_port = free_port()
    credentials = tmp_path / "credentials"
    simulator_log = (tmp_path / "simulator.log").open("wb")
    exporter_log = (tmp_path / "exporter.log").open("wb")
    prometheus_log = (tmp_path / "prometheus.log").open("wb")
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.simulator",
            f"--port={simulator_port}",
            f"--credentials-dir={credentials}",
        ],
        cwd=REPO,
        stdout=simulator_log,
        stderr=subprocess.STDOUT,
    )
    processes = [simulator]
    try:
        sim_url = f"http://127.0.0.1:{simulator_port}"
        wait_until_up(simulator, tmp_path / "simulator.log", lambda: simulator_ready(sim_url))
        deadline = time.monotonic() + 10
        while not (credentials / "demo-hedge.pem").exists():
            assert time.monotonic() < deadline, "the simulator wrote no credentials"
            time.sleep(0.1)
        started = httpx.post(
            f"{sim_url}/_sim/falling_uni_mmr",
            json={
                "account": SCENARIO_ACCOUNT,
                "duration_seconds": SCENARIO_SECONDS,
                "start": SCENARIO_START_UNI_MMR,
            },
            timeout=5,
        )
        assert started.status_code == 200, started.text
        (tmp_path / "exporter.yml").write_text(
            yaml.safe_dump(exporter_config(sim_url, credentials), sort_keys=False)
        )
        exporter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                f"--config.file={tmp_path / 'exporter.yml'}",
                f"--web.listen-address=127.0.0.1:{exporter_port}",
            ],
            cwd=REPO,
            stdout=exporter_log,
            stderr=subprocess.STDOUT,
        )
        processes.append(exporter)
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
        processes.append(server)
        api = PrometheusAPI(f"http://127.0.0.1:{prometheus_port}", sim_url)
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
        for process in reversed(processes):
            stop(process)
        for log in (simulator_log, exporter_log, prometheus_log):
            log.close()


def simulator_ready(url: str) -> bool:
    try:
        return httpx.get(url + "/fapi/v1/time", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_until_up(process: subprocess.Popen, log: Path, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 15
    while not ready():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"not ready: {log.read_text()}"
        time.sleep(0.1)


def exporter_config(sim_url: str, credentials: Path) -> dict:
    """The demo's accounts, as the simulator wrote their keys, polled as the demo polls them."""
    return {
        "base_url": sim_url,
        "time_url": f"{sim_url}/fapi/v1/time",
        "poll_interval_seconds": DEMO_POLL_INTERVAL_SECONDS,
        "max_weight_per_minute": DEMO_MAX_WEIGHT_PER_MINUTE,
        "collectors": DEMO_COLLECTORS,
        # As the demo: the Collateral row needs the process-wide collateral rates.
        **DEMO_COLLATERAL_RATE,
        "sapi_base_url": sim_url,
        # As the demo: the exporter-health stream row needs streams (and events) to show.
        "user_data_stream": True,
        "stream_url": sim_url.replace("http://", "ws://", 1) + "/pm/ws/",
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
    }


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
    forced = False
    while not wanted <= first_seen.keys():
        forced = forced or force_an_order(api)
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

    # Funding records come every few seconds: the recording rules and panels that read them
    # get data a scrape or two after the first one, which may be after the alerts fired.
    deadline = start + SCENARIO_SECONDS + 15
    while missing := queries_without_data(api, recorded):
        forced = forced or force_an_order(api)
        assert time.monotonic() < deadline, "\n".join(missing)
        time.sleep(0.5)
    for path in dashboard_files(REPO):
        for panel, expr in panel_queries(load(path)):
            if (path.name, panel) in EMPTY_ON_THE_DEMO:
                assert not api.query(fill(expr)), f"{path.name}: {panel} has data: {expr}"


def force_an_order(api: PrometheusAPI) -> bool:
    """Binance liquidates a sliver of demo-oneway's BTCUSDT once the exporter's forced-order
    ledger exists (orders before it are not counted), for the Forced orders row to have data."""
    polled = api.query(
        "binance_pm_exporter_collector_last_success_timestamp_seconds"
        '{account="demo-oneway", collector="um_force_orders"} > 0'
    )
    if not polled:
        return False
    sim_url = api.simulator_url
    reply = httpx.post(
        f"{sim_url}/_sim/force_close",
        json={"account": "demo-oneway", "symbol": "BTCUSDT", "quantity": "0.001"},
        timeout=5,
    )
    assert reply.status_code == 200, reply.text
    return True


def queries_without_data(api: PrometheusAPI, recorded: list[str]) -> list[str]:
    """Every recording rule, dashboard variable and panel query that returns nothing yet."""
    missing = [f"recording rule {name} has no data" for name in recorded if not api.query(name)]
    for path in dashboard_files(REPO):
        dashboard = load(path)
        for name, series, label in variable_queries(dashboard):
            values = {r["metric"].get(label) for r in api.query(fill(series))}
            if not values - {None}:
                missing.append(f"{path.name}: variable {name} has no values")
        for panel, expr in panel_queries(dashboard):
            if (path.name, panel) not in EMPTY_ON_THE_DEMO and not api.query(fill(expr)):
                missing.append(f"{path.name}: {panel} has no data: {expr}")
    return missing
