"""prometheus/alertmanager.example.yml: amtool accepts it, and what it routes and mutes is what
the README and the runbook say, checked with amtool's own router."""

from __future__ import annotations

import subprocess

import yaml

from tests.helpers import REPO

EXAMPLE = REPO / "prometheus" / "alertmanager.example.yml"


def amtool_run(amtool: str, *args: str) -> str:
    done = subprocess.run([amtool, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_amtool_check_config_accepts_the_example(amtool):
    assert "SUCCESS" in amtool_run(amtool, "check-config", str(EXAMPLE))


def test_severities_route_to_page_chat_and_nobody(amtool):
    def route(severity: str) -> str:
        return amtool_run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={EXAMPLE}",
            "alertname=BinancePMUniMMRLow",
            "account=main",
            f"severity={severity}",
        )

    assert (route("critical"), route("warning"), route("info")) == ("page", "chat", "none")


def test_critical_pages_at_once_grouped_by_alert_and_account():
    config = yaml.safe_load(EXAMPLE.read_text())
    assert config["route"]["group_by"] == ["alertname", "account"]
    (critical,) = [r for r in config["route"]["routes"] if r["matchers"] == ['severity="critical"']]
    assert critical["group_wait"] == "0s"


def test_secrets_are_read_from_files_never_inline():
    receivers = {r["name"]: r for r in yaml.safe_load(EXAMPLE.read_text())["receivers"]}
    (pagerduty,) = receivers["page"]["pagerduty_configs"]
    (slack,) = receivers["chat"]["slack_configs"]
    assert "routing_key_file" in pagerduty and "routing_key" not in pagerduty
    assert "service_key" not in pagerduty
    assert "api_url_file" in slack and "api_url" not in slack


def test_inhibition_mutes_warnings_of_the_same_account_and_kind():
    (rule,) = yaml.safe_load(EXAMPLE.read_text())["inhibit_rules"]
    assert rule["source_matchers"] == ['severity="critical"']
    assert rule["target_matchers"] == ['severity=~"warning|info"']
    assert rule["equal"] == ["account", "kind", "symbol", "position_side", "asset"]
