"""What ``make mixin`` writes: every generated file, by path relative to the repository."""

from __future__ import annotations

from pathlib import Path

from mixin import dashboards, rules
from mixin.config import MixinConfig

REPO = Path(__file__).resolve().parent.parent
RULES = Path("prometheus/rules.yml")
ALERTS = Path("prometheus/alerts.yml")
DASHBOARDS = Path("grafana/dashboards")
# The Helm chart's copies: a chart can only read files inside itself.
CHART_FILES = Path("deploy/helm/binance-pm-exporter/files")


def outputs(config: MixinConfig) -> dict[Path, str]:
    files = {
        RULES: rules.to_yaml(rules.rules_file(config)),
        ALERTS: rules.to_yaml(rules.alerts_file(config)),
    }
    for name, text in dashboards.dashboards(config).items():
        files[DASHBOARDS / name] = text
    for path, text in list(files.items()):
        files[CHART_FILES / path.relative_to(path.parts[0])] = text
    return files


def write(config: MixinConfig, root: Path = REPO) -> list[Path]:
    """Write every output under ``root``; returns the paths whose content changed."""
    changed = []
    for path, text in outputs(config).items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(config: MixinConfig, root: Path = REPO) -> list[Path]:
    """Outputs whose file under ``root`` is missing or differs from what would be generated."""
    return [
        path
        for path, text in outputs(config).items()
        if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != text
    ]
