"""The PromQL the mixin ships: every dashboard query and variable, with variables filled."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from mixin.dashboards import panels

# What Grafana puts in place of the dashboard variables, for Prometheus to run the query as is:
# "All" accounts and assets, and rate and graph-step windows that hold a few 1 s scrapes.
SUBSTITUTIONS = {
    "$account": ".*",
    "$asset": ".*",
    "$__rate_interval": "10s",
    "$__interval": "10s",
}

LABEL_VALUES = re.compile(r"^label_values\((?P<series>.+),\s*(?P<label>\w+)\)$", re.S)


def dashboard_files(root: Path) -> list[Path]:
    return sorted((root / "grafana" / "dashboards").glob("*.json"))


def panel_queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    """(panel title and refId, expr) for every query of every panel."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"{panel['title']} [{target['refId']}]", target["expr"]


def variable_queries(dashboard: dict) -> Iterator[tuple[str, str, str]]:
    """(variable name, series selector, label) for every label_values() variable."""
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"])
            assert match, f"{variable['name']}: not a label_values() query"
            yield variable["name"], match["series"], match["label"]


def fill(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted variable in {expr!r}"
    return expr


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
