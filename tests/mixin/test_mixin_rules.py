"""The generated rule files: promtool checks, a unit test for every alert, and the conventions."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from exporter import bands
from exporter.collectors.account import STATUSES
from mixin import generate, rules
from mixin.config import DEFAULT_FOR, MixinConfig, from_mapping, load
from tests.helpers import REPO

PROMETHEUS = REPO / "prometheus"
UNIT_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning", "info"}


def alert_rules(document: dict) -> list[dict]:
    return [r for g in document["groups"] for r in g["rules"] if "alert" in r]


def committed_alerts() -> list[dict]:
    return alert_rules(yaml.safe_load((PROMETHEUS / "alerts.yml").read_text()))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def test_promtool_check_rules_accepts_the_rule_files(promtool):
    result = run(
        promtool, "check", "rules", str(PROMETHEUS / "rules.yml"), str(PROMETHEUS / "alerts.yml")
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(promtool):
    result = run(promtool, "test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_unit_tests_that_fire_and_stay_quiet():
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in committed_alerts()}
    assert names == set(DEFAULT_FOR)
    assert names - fires == set(), "alerts no unit test sees firing"
    assert names - quiet == set(), "alerts no unit test sees quiet"


def test_alerts_have_a_prefix_a_severity_and_annotations():
    for rule in committed_alerts():
        name = rule["alert"]
        assert re.fullmatch(r"BinancePM(?:[A-Z][A-Za-z0-9]*)+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        assert rule["for"] == DEFAULT_FOR[name]


def test_runbook_urls_point_at_headings_of_the_runbook():
    runbook = (REPO / "docs" / "runbook.md").read_text()
    # GitHub's anchors: the heading lowercased.
    anchors = {h.strip().lower() for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    for rule in committed_alerts():
        url = rule["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base.endswith("/docs/runbook.md"), url
        assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor} in docs/runbook.md"


def test_risk_descriptions_name_the_account_value_and_threshold():
    config = MixinConfig()
    for rule in committed_alerts():
        description = rule["annotations"]["description"]
        if rule["alert"].startswith(("BinancePMUniMMR", "BinancePMUM", "BinancePMPosition")):
            assert "{{ $labels.account }}" in description
            assert "$value" in description
    by_name = {r["alert"]: r for r in committed_alerts()}
    low = by_name["BinancePMUniMMRLow"]
    assert f"< {config.thresholds.uni_mmr_warning}" in low["expr"]
    assert f"threshold {config.thresholds.uni_mmr_warning}" in low["annotations"]["description"]


def test_uni_mmr_alerts_need_maintenance_margin():
    for rule in committed_alerts():
        # An alert on a pushed event (uniMMRDrop) reads no uniMMR threshold: no guard needed.
        if rule["alert"].startswith("BinancePMUniMMR") and not rule["alert"].endswith("Event"):
            assert (
                "\nand on (job, account) max by (job, account) "
                '(binance_pm_account_maint_margin{job="binance-pm-exporter"}) > 0'
            ) in rule["expr"]


def test_um_margin_ratio_alerts_only_judge_accounts_that_export_no_uni_mmr():
    # Portfolio Margin: a UM wallet may be negative (ratio +Inf) on a safe account; uniMMR decides.
    for rule in committed_alerts():
        if rule["alert"].startswith("BinancePMUMMarginRatio"):
            assert rule["expr"].endswith(
                '\nunless on (job, account) binance_pm_account_uni_mmr{job="binance-pm-exporter"}\n'
            ), rule["expr"]


def test_um_margin_ratio_alerts_match_uni_mmr_through_the_job_selector_and_overrides():
    config = from_mapping(
        {
            "job_selector": 'job="pm", env="prod"',
            "account_overrides": [{"accounts": ["desk2"], "thresholds": {}}],
        }
    )
    exprs = [
        r["expr"]
        for r in alert_rules(rules.alerts_file(config))
        if r["alert"] == "BinancePMUMMarginRatioHigh"
    ]
    assert exprs == [
        "max by (job, account, asset) "
        f'(binance_pm_um_asset_margin_ratio{{job="pm", env="prod", account{op}"desk2"}}) > 0.5\n'
        "unless on (job, account) "
        f'binance_pm_account_uni_mmr{{job="pm", env="prod", account{op}"desk2"}}\n'
        for op in ("!~", "=~")
    ]


def test_thresholds_and_job_selector_come_from_the_config():
    config = from_mapping(
        {"job_selector": 'job="pm", env="prod"', "thresholds": {"uni_mmr_warning": 1.7}}
    )
    files = generate.outputs(config)
    text = "".join(files.values())
    # The default selector is gone from the rules and from the dashboards' (escaped) JSON.
    assert 'job="binance-pm-exporter"' not in text
    assert 'job=\\"binance-pm-exporter\\"' not in text
    assert 'job=\\"pm\\", env=\\"prod\\"' in files[generate.DASHBOARDS / "overview.json"]
    for rule in alert_rules(yaml.safe_load(files[generate.ALERTS])):
        if rule["alert"] != "BinancePMExporterDown":
            assert 'job="pm", env="prod"' in rule["expr"], rule["alert"]
    low = next(
        r
        for r in alert_rules(yaml.safe_load(files[generate.ALERTS]))
        if r["alert"] == "BinancePMUniMMRLow"
    )
    assert "< 1.7\n" in low["expr"]
    assert "warning threshold 1.7:" in low["annotations"]["description"]


def test_for_durations_can_be_overridden_for_every_alert():
    config = dataclasses.replace(MixinConfig(), for_durations=dict.fromkeys(DEFAULT_FOR, "2s"))
    assert {r["for"] for r in alert_rules(rules.alerts_file(config))} == {"2s"}


def test_account_overrides_give_accounts_their_own_thresholds(tmp_path: Path, promtool):
    # The documented way: a YAML file of overrides given to `python -m mixin --config`.
    overrides = tmp_path / "mixin.yml"
    overrides.write_text(
        "account_overrides:\n"
        "  - accounts: [desk2, desk.3]\n"
        "    thresholds: {uni_mmr_warning: 1.8, uni_mmr_critical: 1.4}\n"
    )
    generate.write(load(overrides), tmp_path)
    tests_dir = tmp_path / "prometheus" / "tests"
    tests_dir.mkdir()
    shutil.copy(REPO / "tests" / "mixin" / "account_overrides_test.yml", tests_dir)
    result = run(promtool, "test", "rules", str(tests_dir / "account_overrides_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_overridden_account_is_judged_by_one_threshold_only():
    config = from_mapping(
        {"account_overrides": [{"accounts": ["desk2"], "thresholds": {"uni_mmr_warning": 1.8}}]}
    )
    lows = [r for r in alert_rules(rules.alerts_file(config)) if r["alert"] == "BinancePMUniMMRLow"]
    assert len(lows) == 2
    assert 'account!~"desk2"' in lows[0]["expr"] and "< 1.5" in lows[0]["expr"]
    assert 'account=~"desk2"' in lows[1]["expr"] and "< 1.8" in lows[1]["expr"]


def test_interest_threshold_comes_from_the_config_and_account_overrides():
    config = from_mapping(
        {
            "thresholds": {"cross_margin_interest_per_hour": 2.5},
            "account_overrides": [
                {"accounts": ["desk2"], "thresholds": {"cross_margin_interest_per_hour": 0.01}}
            ],
        }
    )
    rules_ = [
        r
        for r in alert_rules(rules.alerts_file(config))
        if r["alert"] == "BinancePMCrossMarginInterestHigh"
    ]
    assert [r["expr"].splitlines()[-1] for r in rules_] == ["> 2.5", "> 0.01"]
    assert 'account!~"desk2"' in rules_[0]["expr"] and 'account=~"desk2"' in rules_[1]["expr"]
    assert "threshold 0.01 {{ $labels.asset }} an hour." in rules_[1]["annotations"]["description"]


def test_balance_and_adl_alerts_aggregate_over_instance():
    # Two exporters polling one account (an HA pair) must not double an alert.
    for rule in committed_alerts():
        if rule["alert"] in {
            "BinancePMNegativeBalance",
            "BinancePMCrossMarginInterestHigh",
            "BinancePMPositionADLFirstInLine",
            "BinancePMPositionADLQuantileHigh",
        }:
            assert rule["expr"].startswith("max by (job, account, "), rule["alert"]
            assert "instance" not in rule["expr"], rule["alert"]


def test_the_mixin_groups_exactly_the_statuses_the_exporter_knows() -> None:
    """Every status the exporter exports has a severity in the alerts, and no other."""
    assert sorted(bands.KNOWN_STATUSES) == sorted(STATUSES)
    assert len(bands.KNOWN_STATUSES) == len(set(bands.KNOWN_STATUSES))


def test_the_committed_alerts_fire_at_the_bands_the_landing_page_colours_by() -> None:
    """exporter/bands.py is the one source: the committed alerts use its thresholds, each band
    starts exactly at its alert's threshold, and each status alert's severity is the status'
    band on the page."""
    exprs = {r["alert"]: r["expr"] for r in committed_alerts()}
    severity = {r["alert"]: r["labels"]["severity"] for r in committed_alerts()}

    def threshold(alert: str) -> float:
        found = re.search(r"\) < ([0-9.]+)\n", exprs[alert] + "\n")
        assert found is not None, exprs[alert]
        return float(found.group(1))

    uni_mmr = {
        "BinancePMUniMMRLow": (bands.UNI_MMR_WARNING, "warning"),
        "BinancePMUniMMRReduceOnly": (bands.UNI_MMR_CRITICAL, "critical"),
        "BinancePMUniMMRNearLiquidation": (bands.UNI_MMR_LIQUIDATION, "critical"),
    }
    for alert, (value, band) in uni_mmr.items():
        assert threshold(alert) == value, alert
        assert severity[alert] == band
        assert bands.uni_mmr_band(math.nextafter(value, 0), 1.0)[0] == band
    assert bands.uni_mmr_band(bands.UNI_MMR_WARNING, 1.0) == ("ok", "")
    distance = {
        "BinancePMPositionNearLiquidation": (bands.LIQUIDATION_DISTANCE_WARNING, "warning"),
        "BinancePMPositionLiquidationImminent": (bands.LIQUIDATION_DISTANCE_CRITICAL, "critical"),
    }
    for alert, (value, band) in distance.items():
        assert threshold(alert) == value, alert
        assert severity[alert] == band
        assert bands.liquidation_distance_band(math.nextafter(value, 0)) == band
    assert bands.liquidation_distance_band(bands.LIQUIDATION_DISTANCE_WARNING) == "ok"
    status_alerts = {
        alert: re.search(r'status(=~|!~|=)"([^"]*)"', expr)
        for alert, expr in exprs.items()
        if "binance_pm_account_status" in expr
    }
    for status in (*STATUSES, "SOMETHING_NEW"):
        firing = [
            severity[alert]
            for alert, m in status_alerts.items()
            if m is not None
            and (re.fullmatch(m.group(2), status) is not None) != (m.group(1) == "!~")
        ]
        assert firing == ([] if status == "NORMAL" else [bands.status_band(status)]), status


def accounts_in_unit_tests() -> set[str]:
    """Alerts whose firing examples in prometheus/tests/ carry an account label."""
    names = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                for alert in check.get("exp_alerts") or []:
                    if "account" in alert["exp_labels"]:
                        names.add(check["alertname"])
    return names


def test_every_alert_text_names_the_account_value_threshold_and_what_binance_does_next():
    per_account = accounts_in_unit_tests()
    assert "BinancePMUniMMRLow" in per_account and "BinancePMExporterDown" not in per_account
    for rule in committed_alerts():
        name, annotations = rule["alert"], rule["annotations"]
        for key in ("summary", "description"):
            text = annotations[key]
            if name in per_account:
                assert "{{ $labels.account }}" in text, (name, key)
            # The value: the figure, or for the status alerts the status itself.
            assert "$value" in text or "{{ $labels.status }}" in text, (name, key)
            assert "threshold" in text or comparison(rule["expr"]) in text, (name, key)
        assert "threshold" in annotations["description"], name
        assert "Next at Binance: " in annotations["description"], name


def comparison(expr: str) -> str:
    """The number the alert's expression compares with first (its threshold)."""
    found = re.search(r"[<>] ([0-9.]+)", expr)
    return found.group(1) if found else "no threshold in the expression"


def test_every_alert_has_the_kind_alertmanager_inhibits_by():
    for rule in committed_alerts():
        assert rule["labels"]["kind"] == rules.KIND[rule["alert"]], rule["alert"]
    assert set(rules.KIND) == set(DEFAULT_FOR)
