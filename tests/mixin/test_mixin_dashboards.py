"""The committed dashboards: valid through the SDK's models, and only queries the exporter backs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from exporter.render import all_families
from exporter.simulator.demo import demo_accounts
from mixin.dashboards import panels
from tests.helpers import REPO
from tests.mixin.new_collectors import NEW_PANELS, NEW_ROWS
from tests.mixin.queries import dashboard_files, fill, load, panel_queries, variable_queries

FILES = dashboard_files(REPO)
DASHBOARDS = {path.name: load(path) for path in FILES}

# PromQL words that look like names: keywords, and functions (followed by "(").
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left"}
KEYWORDS |= {"group_right", "bool", "offset", "inf", "nan"}


def known_metric_names() -> set[str]:
    names = {"up"}
    for family in all_families():
        if family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        else:
            names.add(family.name)
    rules = yaml.safe_load((REPO / "prometheus" / "rules.yml").read_text())
    names |= {r["record"] for g in rules["groups"] for r in g["rules"]}
    return names


def metric_names(expr: str) -> set[str]:
    """The series names an expression reads (not its labels, functions or keywords)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range durations
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word, rest = match.group(), expr[match.end() :].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue
        names.add(word)
    return names


def non_row_panels(dashboard: dict) -> list[dict]:
    return [p for p in panels(dashboard) if p["type"] != "row"]


def test_both_dashboards_are_committed():
    assert sorted(DASHBOARDS) == ["exporter-health.json", "overview.json"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_round_trips_through_the_sdk_models(name):
    register_default_plugins()
    model = dm.Dashboard.from_json(DASHBOARDS[name])
    for panel in non_row_panels(DASHBOARDS[name]):
        assert panel["targets"], panel["title"]
    for panel in model.panels or []:
        if isinstance(panel, dm.Panel):
            # Decoded as typed Prometheus queries, not the SDK's bag for unknown ones.
            assert all(isinstance(t, pm.Dataquery) for t in panel.targets or []), panel.title
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    # The SDK's annotation model has no Prometheus-specific fields: everything else round-trips.
    expected = json.loads(json.dumps(DASHBOARDS[name]))
    for annotation in expected.get("annotations", {}).get("list", []):
        for key in ("titleFormat", "textFormat", "tagKeys", "step", "useValueForTime"):
            annotation.pop(key, None)
    assert again == expected


def test_the_overview_marks_risk_level_events_on_the_uni_mmr_graph_only():
    dashboard = DASHBOARDS["overview.json"]
    (annotation,) = dashboard["annotations"]["list"]
    uni_mmr = next(p for p in panels(dashboard) if p["title"] == "uniMMR")
    assert annotation["filter"] == {"exclude": False, "ids": [uni_mmr["id"]]}
    assert annotation["expr"] == (
        'increase(binance_pm_risk_level_events_total{job="binance-pm-exporter", '
        'account=~"$account"}[$__rate_interval]) > 0'
    )
    assert annotation["titleFormat"] == "{{level}}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_has_the_required_fields(name):
    dashboard = DASHBOARDS[name]
    assert dashboard["uid"] and len(dashboard["uid"]) <= 40
    assert dashboard["title"] and dashboard["schemaVersion"] >= 36
    for panel in panels(dashboard):
        assert panel["type"] and panel["title"], panel
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
        assert panel["gridPos"]["x"] >= 0 and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    for panel in non_row_panels(dashboard):
        assert isinstance(panel["options"], dict), panel["title"]
        for target in panel["targets"]:
            assert target["refId"] and target["expr"], panel["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_ids_are_unique(name):
    ids = [p["id"] for p in panels(DASHBOARDS[name])]
    assert len(ids) == len(set(ids))
    assert 0 not in ids


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_do_not_overlap(name):
    taken: set[tuple[int, int]] = set()
    for panel in panels(DASHBOARDS[name]):
        g = panel["gridPos"]
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_sets_a_unit(name):
    for panel in non_row_panels(DASHBOARDS[name]):
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_data_source_is_a_variable(name):
    dashboard = DASHBOARDS[name]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in non_row_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_no_account_is_hard_coded(name):
    text = json.dumps(DASHBOARDS[name])
    for account in demo_accounts()[0]:
        assert account.name not in text
    for _, expr in panel_queries(DASHBOARDS[name]):
        for matcher in re.findall(r"account\s*(?:=~|!~|!=|=)\s*\"[^\"]*\"", expr):
            assert matcher == 'account=~"$account"', expr


def test_overview_has_the_account_and_asset_variables_and_the_uni_mmr_bands():
    dashboard = DASHBOARDS["overview.json"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == [
        "datasource",
        "account",
        "asset",
    ]
    uni_mmr = next(p for p in panels(dashboard) if p["title"] == "uniMMR")
    steps = uni_mmr["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 1.05, 1.2, 1.5]
    titles = {p["title"] for p in panels(dashboard)}
    assert {"Account status", "Open positions", "Unrealized PnL by symbol"} <= titles


def test_positions_table_shows_every_column():
    table = next(p for p in panels(DASHBOARDS["overview.json"]) if p["type"] == "table")
    organize = next(t for t in table["transformations"] if t["id"] == "organize")
    columns = set(organize["options"]["renameByName"].values())
    assert columns == {
        "Amount",
        "Entry price",
        "Mark price",
        "Liquidation price",
        "Distance to liquidation",
        "Leverage",
        "Unrealized PnL",
        "Initial margin",
        "Maint. margin",
        "Side",
    }


def test_every_query_reads_metrics_the_exporter_exposes():
    known = known_metric_names()
    for name, dashboard in DASHBOARDS.items():
        exprs = [expr for _, expr in panel_queries(dashboard)]
        exprs += [series for _, series, _ in variable_queries(dashboard)]
        for expr in exprs:
            unknown = metric_names(expr) - known
            assert not unknown, f"{name}: {expr} reads {unknown}"


def test_metric_names_finds_series_but_not_labels_or_functions():
    expr = (
        'histogram_quantile(0.9, sum by (le, account) (rate(foo_bucket{account=~"$a"}[5m])))'
        " and on(account) bar > 0"
    )
    assert metric_names(expr) == {"foo_bucket", "bar"}


def titled(dashboard: dict, title: str) -> dict:
    (panel,) = [p for p in panels(dashboard) if p["title"] == title]
    return panel


def test_uni_mmr_panels_leave_out_accounts_without_maintenance_margin_and_name_them():
    # With no positions Binance reports uniMMR "99999999" (exported as sent): drawn, it would
    # flatten every other account's line. The graph and the stat read only accounts with
    # maintenance margin; the stat's query B names the others "no positions".
    overview = DASHBOARDS["overview.json"]
    s = '{job="binance-pm-exporter", account=~"$account"}'
    with_positions = f"binance_pm_account_uni_mmr{s}\nand binance_pm_account_maint_margin{s} > 0"
    assert [t["expr"] for t in titled(overview, "uniMMR")["targets"]] == [with_positions]
    now = titled(overview, "uniMMR now")
    assert {t["refId"]: t["expr"] for t in now["targets"]} == {
        "A": with_positions,
        "B": f"binance_pm_account_maint_margin{s} == 0",
    }
    (override,) = now["fieldConfig"]["overrides"]
    assert override["matcher"] == {"id": "byFrameRefID", "options": "B"}
    assert override["properties"] == [
        {
            "id": "mappings",
            "value": [
                {
                    "type": "value",
                    "options": {"0": {"text": "no positions", "color": "blue", "index": 0}},
                }
            ],
        }
    ]
    # The raw series stays as Binance sends it: no panel clamps or rescales uniMMR.
    for _, expr in panel_queries(overview):
        assert "clamp" not in expr


def test_uni_mmr_panel_queries_on_an_account_without_positions(tmp_path: Path, promtool):
    # Prometheus runs the panels' queries against "idle", an account without positions as the
    # live API reports it (uniMMR 99999999, maintenance margin 0), next to an account at 1.3.
    overview = DASHBOARDS["overview.json"]
    exprs = {name: expr for name, expr in panel_queries(overview) if name.startswith("uniMMR")}
    assert sorted(exprs) == ["uniMMR [A]", "uniMMR now [A]", "uniMMR now [B]"]
    labels = 'job="binance-pm-exporter", instance="pm:10091"'
    series = {
        f'binance_pm_account_uni_mmr{{{labels}, account="idle"}}': 99999999,
        f'binance_pm_account_maint_margin{{{labels}, account="idle"}}': 0,
        f'binance_pm_account_uni_mmr{{{labels}, account="main"}}': 1.3,
        f'binance_pm_account_maint_margin{{{labels}, account="main"}}': 1000,
    }
    main = f'binance_pm_account_uni_mmr{{{labels}, account="main"}}'
    idle = f'binance_pm_account_maint_margin{{{labels}, account="idle"}}'
    expected = {
        "uniMMR [A]": [(main, 1.3)],
        "uniMMR now [A]": [(main, 1.3)],
        "uniMMR now [B]": [(idle, 0)],
    }
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": str(v)} for k, v in series.items()],
                "promql_expr_test": [
                    {
                        "expr": fill(exprs[name]),
                        "eval_time": "0m",
                        "exp_samples": [{"labels": lbl, "value": v} for lbl, v in samples],
                    }
                    for name, samples in expected.items()
                ],
            }
        ],
    }
    path = tmp_path / "uni_mmr_panels_test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def row_panels(dashboard: dict, row: str) -> list[dict]:
    """The panels under a row, up to the next row."""
    out: list[dict] = []
    inside = False
    for panel in panels(dashboard):
        if panel["type"] == "row":
            inside = panel["title"] == row
        elif inside:
            out.append(panel)
    return out


def test_loans_and_funding_row_shows_loans_negative_balances_funding_and_adl():
    overview = DASHBOARDS["overview.json"]
    row = row_panels(overview, "Loans and funding")
    assert [p["title"] for p in row] == [
        "Cross margin borrowed",
        "Cross margin interest",
        "Negative balance",
        "Funding by symbol",
        "Funding per day",
        "ADL quantile",
    ]
    titles = {p["title"] for r in NEW_ROWS for p in row_panels(overview, r)}
    queries = {
        ("overview.json", name): expr
        for name, expr in panel_queries(overview)
        if name.split(" [")[0] in titles
    }
    # The list of panels that need the new collectors is these rows' panels, exactly.
    assert set(queries) == set(NEW_PANELS)
    s = '{job="binance-pm-exporter", account=~"$account"}'
    interest = titled(overview, "Cross margin interest")
    assert [t["expr"] for t in interest["targets"]] == [
        f"binance_pm_balance_cross_margin_interest{s}",
        f"delta(binance_pm_balance_cross_margin_interest{s}[3h]) / 3",
    ]
    steps = interest["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [st["value"] for st in steps] == [None, 1.0]  # the alert's default threshold


def test_funding_by_symbol_counts_an_ha_pair_once_and_draws_paid_below_zero():
    funding = titled(DASHBOARDS["overview.json"], "Funding by symbol")
    sel = '{job="binance-pm-exporter", account=~"$account", income_type="FUNDING_FEE"}'
    assert {t["refId"]: t["expr"] for t in funding["targets"]} == {
        "A": f"max by (account, asset, symbol) "
        f"(increase(binance_pm_um_income_received_total{sel}[$__interval]))",
        "B": f"-max by (account, asset, symbol) "
        f"(increase(binance_pm_um_income_paid_total{sel}[$__interval]))",
        "C": f"max by (account, asset, symbol) "
        f"(increase(binance_pm_cm_income_received_total{sel}[$__interval]))",
        "D": f"-max by (account, asset, symbol) "
        f"(increase(binance_pm_cm_income_paid_total{sel}[$__interval]))",
    }
    assert funding["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"
    per_day = titled(DASHBOARDS["overview.json"], "Funding per day")
    s = '{job="binance-pm-exporter", account=~"$account"}'
    assert [t["expr"] for t in per_day["targets"]] == [
        f"account_asset:binance_pm_um_funding_received:increase1d{s}",
        f"-account_asset:binance_pm_um_funding_paid:increase1d{s}",
        f"account_asset:binance_pm_cm_funding_received:increase1d{s}",
        f"-account_asset:binance_pm_cm_funding_paid:increase1d{s}",
    ]


def test_adl_panel_marks_quantiles_3_and_4():
    adl = titled(DASHBOARDS["overview.json"], "ADL quantile")
    defaults = adl["fieldConfig"]["defaults"]
    assert [st["value"] for st in defaults["thresholds"]["steps"]] == [None, 3, 4]
    assert (defaults["min"], defaults["max"]) == (0, 4)
    assert [t["expr"] for t in adl["targets"]] == [
        'binance_pm_um_position_adl_quantile{job="binance-pm-exporter", account=~"$account"}',
        'binance_pm_cm_position_adl_quantile{job="binance-pm-exporter", account=~"$account"}',
    ]


def test_exporter_health_has_a_user_data_stream_row_per_account_and_replica():
    health = DASHBOARDS["exporter-health.json"]
    row = row_panels(health, "User data stream")
    s = '{job="binance-pm-exporter", account=~"$account"}'
    assert {p["title"]: [t["expr"] for t in p["targets"]] for p in row} == {
        "Stream up": [f"binance_pm_exporter_stream_up{s}"],
        "Stream reconnects by reason": [
            "sum by (account, reason) "
            f"(rate(binance_pm_exporter_stream_reconnects_total{s}[$__rate_interval]))"
        ],
        "Time since last stream event": [
            f"time() - (binance_pm_exporter_stream_last_event_timestamp_seconds{s} > 0)"
        ],
        "Bad stream frames": [
            "sum by (account, kind) "
            f"(rate(binance_pm_exporter_stream_bad_frames_total{s}[$__rate_interval]))"
        ],
    }
    # One connection per replica: an HA pair shows both, so a replica that lost it stands out.
    assert titled(health, "Stream up")["targets"][0]["legendFormat"] == "{{account}} {{instance}}"


def test_forced_orders_row_draws_the_counters_once_for_an_ha_pair():
    # A counter series is born at its first forced order: increase() would miss that order, so
    # the row draws the counters themselves, the max over an HA pair's replicas.
    row = row_panels(DASHBOARDS["overview.json"], "Forced orders")
    s = '{job="binance-pm-exporter", account=~"$account"}'
    by_order = "max by (account, market, symbol, kind)"
    assert {p["title"]: [t["expr"] for t in p["targets"]] for p in row} == {
        "Forced orders": [f"{by_order} (binance_pm_force_orders_total{s})"],
        "Forced order quantity": [f"{by_order} (binance_pm_force_order_quantity_total{s})"],
    }
    for panel in row:
        assert panel["targets"][0]["legendFormat"] == "{{account}} {{market}} {{symbol}} {{kind}}"
