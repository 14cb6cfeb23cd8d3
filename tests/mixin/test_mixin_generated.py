"""The generated files are committed, and CI fails when regenerating would change one."""

from __future__ import annotations

from pathlib import Path

from mixin.__main__ import main
from mixin.config import MixinConfig
from mixin.generate import outputs, stale
from tests.helpers import REPO


def test_committed_files_are_what_make_mixin_generates():
    assert stale(MixinConfig()) == [], "generated files are out of date: run make mixin"


def test_make_mixin_writes_the_rules_alerts_and_dashboards():
    assert sorted(map(str, outputs(MixinConfig()))) == [
        "deploy/helm/binance-pm-exporter/files/alerts.yml",
        "deploy/helm/binance-pm-exporter/files/dashboards/exporter-health.json",
        "deploy/helm/binance-pm-exporter/files/dashboards/overview.json",
        "deploy/helm/binance-pm-exporter/files/rules.yml",
        "grafana/dashboards/exporter-health.json",
        "grafana/dashboards/overview.json",
        "prometheus/alerts.yml",
        "prometheus/rules.yml",
    ]
    assert "\nmixin: " in (REPO / "Makefile").read_text()


def test_check_fails_on_a_changed_file_and_passes_after_regenerating(tmp_path: Path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    alerts = tmp_path / "prometheus" / "alerts.yml"
    alerts.write_text(alerts.read_text().replace("< 1.5", "< 1.4"))
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert "prometheus/alerts.yml is out of date" in capsys.readouterr().err
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0


def test_a_bad_config_file_exits_2_naming_the_key(tmp_path: Path, capsys):
    config = tmp_path / "mixin.yml"
    config.write_text("thresholds: {uni_mmr_warning: high}\n")
    assert main(["--config", str(config), "--out", str(tmp_path)]) == 2
    assert "thresholds.uni_mmr_warning" in capsys.readouterr().err
    assert not (tmp_path / "prometheus").exists()
