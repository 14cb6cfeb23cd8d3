"""docker-compose.yml: every file it mounts exists, and the pieces point at each other."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import yaml

from tests.helpers import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def mounts(service: str) -> dict[PurePosixPath, Path]:
    """Container path -> host path of a service's bind mounts."""
    out = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        assert source.startswith("./"), f"{service}: {volume} is not a bind mount of the repo"
        out[PurePosixPath(target)] = REPO / source
    return out


def host_path(service: str, container_path: PurePosixPath) -> Path:
    """Where a path inside a service's container comes from on the host."""
    for target, source in mounts(service).items():
        if container_path == target or target in container_path.parents:
            return source / container_path.relative_to(target)
    raise AssertionError(f"{service}: {container_path} is not mounted")


def test_the_stack_has_the_exporter_prometheus_alertmanager_and_grafana():
    assert set(SERVICES) == {"exporter", "prometheus", "alertmanager", "grafana"}


def test_every_mounted_path_exists():
    for service in SERVICES:
        for target, source in mounts(service).items():
            assert source.exists(), f"{service}: {source} (mounted at {target}) is missing"


def test_the_exporter_is_built_from_the_repo_and_runs_the_falling_scenario():
    exporter = SERVICES["exporter"]
    assert (REPO / exporter["build"] / "Dockerfile").is_file()
    assert exporter["command"] == [
        "--demo",
        "--demo.scenario=falling-uni-mmr",
        "--demo.scenario-seconds=600",
        "--web.listen-address=:10091",
    ]


def flag(service: str, name: str) -> str:
    for arg in SERVICES[service]["command"]:
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{service}: no {name}")


def test_prometheus_loads_the_mixin_rules_scrapes_the_exporter_and_alerts():
    config_path = PurePosixPath(flag("prometheus", "--config.file"))
    config_file = host_path("prometheus", config_path)
    assert config_file == REPO / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(config_file.read_text())
    for rule_file in config["rule_files"]:
        # Relative rule files are read next to the config file.
        source = host_path("prometheus", config_path.parent / rule_file)
        assert source.resolve() in {
            (REPO / "prometheus" / "rules.yml").resolve(),
            (REPO / "prometheus" / "alerts.yml").resolve(),
        }
    assert len(config["rule_files"]) == 2
    scrape = config["scrape_configs"][0]
    assert scrape["job_name"] == "binance-pm-exporter"
    assert scrape["static_configs"][0]["targets"] == ["exporter:10091"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


def test_promtool_accepts_the_stacks_prometheus_config(promtool):
    result = subprocess.run(
        [promtool, "check", "config", str(REPO / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_runs_the_shipped_example_with_its_secret_files_mounted():
    path = host_path("alertmanager", PurePosixPath(flag("alertmanager", "--config.file")))
    assert path == REPO / "prometheus" / "alertmanager.example.yml"
    config = yaml.safe_load(path.read_text())
    assert config["route"]["receiver"] in {r["name"] for r in config["receivers"]}
    secrets = host_path("alertmanager", PurePosixPath("/etc/alertmanager/secrets"))
    assert secrets == REPO / "alertmanager-secrets"
    for receiver in config["receivers"]:
        for integration in receiver.get("pagerduty_configs", []):
            assert integration["routing_key_file"].startswith("/etc/alertmanager/secrets/")
        for integration in receiver.get("slack_configs", []):
            assert integration["api_url_file"].startswith("/etc/alertmanager/secrets/")


def test_grafana_provisions_the_data_source_and_the_generated_dashboards():
    provisioning = host_path("grafana", PurePosixPath("/etc/grafana/provisioning"))
    assert provisioning == REPO / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus" and datasource["isDefault"] is True
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "binance-pm.yml").read_text())[
        "providers"
    ]
    dashboards = host_path("grafana", PurePosixPath(provider["options"]["path"]))
    assert dashboards == REPO / "grafana" / "dashboards"
    assert sorted(p.name for p in dashboards.glob("*.json")) == [
        "exporter-health.json",
        "overview.json",
    ]
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path("grafana", PurePosixPath(home)).is_file()
