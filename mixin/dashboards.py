"""The Grafana dashboards, built with grafana-foundation-sdk's builders from a ``MixinConfig``.

Every panel reads through the ``datasource`` variable, filters accounts with ``$account`` and the
config's job selector, and sets a unit. Panel ids are given in order, so regenerating is stable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from exporter.bands import (
    BINANCE_LIQUIDATION_UNI_MMR,
    BINANCE_MARGIN_CALL_UNI_MMR,
    BINANCE_REDUCE_ONLY_UNI_MMR,
)
from mixin.config import (
    MixinConfig,
)
from mixin.rules import (
    ADL_FIRST_IN_LINE,
    ADL_HIGH,
    FUNDING,
    INTEREST_WINDOW_HOURS,
    LIQUIDATION_DISTANCE,
    LIQUIDATION_DISTANCES,
    UM_MAINT_MARGIN,
    UM_MARGIN_BALANCE,
    UM_SYMBOL_PNL,
    UM_UNREALIZED_PNL,
    selector,
)

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
ACCOUNT = 'account=~"$account"'
ASSET = 'asset=~"$asset"'
REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def query(
    expr: str, legend: str = "__auto", *, ref: str = "A", instant: bool = False, table: bool = False
) -> Builder:
    """A Prometheus query; ``table``: instant, one column per label (legends do not apply)."""
    q = pb.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
    if table:
        return q.instant().format(pm.PromQueryFormat.TABLE)
    q = q.format(pm.PromQueryFormat.TIME_SERIES)
    return q.instant() if instant else q.range()


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=color) for value, color in steps])
    )


def legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.RIGHT)
        .show_legend(True)
        .calcs(["lastNotNull"])
    )


def graph(title: str, unit: str, *targets: Builder, description: str = "") -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .legend(legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
        .line_width(1)
        .fill_opacity(10)
        .span_nulls(False)
    )
    return panel.targets(list(targets))


def single(title: str, unit: str, *targets: Builder, description: str = "") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(cm.BigValueColorMode.VALUE)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .targets(list(targets))
    )


def fixed_color(color: str) -> list[dm.DynamicConfigValue]:
    return [dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})]


def up_down_mappings() -> list[dm.ValueMap]:
    return [
        dm.ValueMap(
            options={
                "0": dm.ValueMappingResult(text="DOWN", color="red", index=0),
                "1": dm.ValueMappingResult(text="UP", color="green", index=1),
            }
        )
    ]


def reload_mappings() -> list[dm.ValueMap]:
    return [
        dm.ValueMap(
            options={
                "0": dm.ValueMappingResult(text="REFUSED", color="red", index=0),
                "1": dm.ValueMappingResult(text="OK", color="green", index=1),
            }
        )
    ]


def up_timeline(title: str) -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit("none")
        .mappings(up_down_mappings())
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.9)
        .line_width(0)
        .fill_opacity(70)
        .legend(cb.VizLegendOptions().show_legend(False).display_mode(cm.LegendDisplayMode.LIST))
    )


def datasource_variable() -> db.DatasourceVariable:
    return db.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, label: str, series: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({series}, {name})")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


def base_dashboard(config: MixinConfig, uid: str, title: str, description: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(f"{config.dashboard_uid_prefix}-{uid}")
        .description(description)
        .tags(list(config.dashboard_tags))
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .refresh(config.dashboard_refresh)
        .time("now-6h", "now")
        .timezone("browser")
        .link(
            db.DashboardLink("Binance PM dashboards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(list(config.dashboard_tags))
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


class Layout:
    """Adds rows and panels to a dashboard in order, numbering them 1, 2, ..."""

    def __init__(self, dashboard: db.Dashboard) -> None:
        self.dashboard = dashboard
        self.next_id = 1

    def row(self, title: str) -> None:
        self.dashboard.with_row(db.Row(title).id(self._id()))

    def add(self, panel: Any, width: int, height: int = 8) -> None:
        self.dashboard.with_panel(panel.id(self._id()).span(width).height(height))

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def uni_mmr_thresholds(config: MixinConfig) -> db.ThresholdsConfig:
    # Binance's bands: liquidation, reduce-only, margin call, free trading.
    return thresholds(
        (None, "red"),
        (BINANCE_LIQUIDATION_UNI_MMR, "orange"),
        (BINANCE_REDUCE_ONLY_UNI_MMR, "yellow"),
        (BINANCE_MARGIN_CALL_UNI_MMR, "green"),
    )


def no_positions_mapping() -> list[dm.DynamicConfigValue]:
    # Query B is `maintenance margin == 0`: its only value, 0, reads "no positions".
    mapping = {
        "type": "value",
        "options": {"0": {"text": "no positions", "color": "blue", "index": 0}},
    }
    return [dm.DynamicConfigValue(id_val="mappings", value=[mapping])]


class PrometheusAnnotation(dm.AnnotationQuery):
    """An annotation query with the Prometheus data source's own fields, which the SDK's model
    leaves out: how each event is titled, its text and tags, and the query step."""

    def __init__(self, *, title: str, text: str, tag_keys: str, step: str, **fields: Any) -> None:
        super().__init__(**fields)
        self.title_format, self.text_format, self.tag_keys, self.step = title, text, tag_keys, step

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "titleFormat": self.title_format,
            "textFormat": self.text_format,
            "tagKeys": self.tag_keys,
            "step": self.step,
            "useValueForTime": False,
        }


class Built(Builder[dm.AnnotationQuery]):
    """A model the SDK has no builder for, handed over as one."""

    def __init__(self, model: dm.AnnotationQuery) -> None:
        self._model = model

    def build(self) -> dm.AnnotationQuery:
        return self._model


def risk_event_annotation(config: MixinConfig, uni_mmr_panel: int) -> Built:
    """The user data stream's riskLevelChange events, marked on the uniMMR graph only."""
    events = f"binance_pm_risk_level_events_total{selector(config, ACCOUNT)}"
    return Built(
        PrometheusAnnotation(
            name="Risk level events",
            datasource=DATASOURCE,
            enable=True,
            icon_color="red",
            filter_val=dm.AnnotationPanelFilter(exclude=False, ids=[uni_mmr_panel]),
            expr=f"increase({events}[$__rate_interval]) > 0",
            title="{{level}}",
            text="{{account}}: Binance pushed riskLevelChange {{level}}",
            tag_keys="account,level",
            step="30s",
        )
    )


def overview(config: MixinConfig) -> dm.Dashboard:
    s = selector(config, ACCOUNT)
    s_asset = selector(config, ACCOUNT, ASSET)
    t = config.thresholds
    d = base_dashboard(
        config,
        "overview",
        "Binance PM / Overview",
        "Portfolio Margin risk per account: uniMMR, status, equity, UM assets and positions, "
        "loans, funding and the ADL queue.",
    )
    d.with_variable(datasource_variable())
    d.with_variable(
        label_variable("account", "Account", f"binance_pm_exporter_up{selector(config)}")
    )
    d.with_variable(label_variable("asset", "UM asset", f"binance_pm_um_asset_margin_balance{s}"))
    layout = Layout(d)
    # Without maintenance margin (no positions or loans) Binance's uniMMR is a sentinel, "99999999",
    # exported as sent. Drawn, it would flatten every other account's line, so the uniMMR panels
    # read only accounts with maintenance margin and name the others "no positions".
    uni_mmr = f"binance_pm_account_uni_mmr{s}\nand binance_pm_account_maint_margin{s} > 0"
    no_positions = f"binance_pm_account_maint_margin{s} == 0"

    layout.row("Margin risk")
    d.annotation(risk_event_annotation(config, uni_mmr_panel=layout.next_id))
    layout.add(
        graph(
            "uniMMR",
            "none",
            query(uni_mmr, "{{account}}"),
            description="Adjusted equity / maintenance margin. Binance: above "
            f"{BINANCE_MARGIN_CALL_UNI_MMR} free trading, margin call below, reduce-only below "
            f"{BINANCE_REDUCE_ONLY_UNI_MMR}, liquidation at {BINANCE_LIQUIDATION_UNI_MMR} and "
            "below. Accounts without maintenance margin (no positions or loans; Binance then "
            "reports uniMMR 99999999) are left out: uniMMR now names them.",
        )
        .thresholds(uni_mmr_thresholds(config))
        .thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.LINE_AND_AREA)
        )
        .decimals(3)
        .axis_soft_min(1)
        .axis_soft_max(3),
        width=14,
    )
    layout.add(
        single(
            "uniMMR now",
            "none",
            query(uni_mmr, "{{account}}", ref="A", instant=True),
            query(no_positions, "{{account}}", ref="B", instant=True),
            description='Each account\'s uniMMR, or "no positions" for an account without '
            "maintenance margin, for which Binance reports uniMMR 99999999.",
        )
        .thresholds(uni_mmr_thresholds(config))
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .decimals(3)
        .override_by_query("B", no_positions_mapping()),
        width=5,
    )
    layout.add(
        single(
            "Account status",
            "none",
            query(f"binance_pm_account_status{s} == 1", "{{account}}: {{status}}", instant=True),
            description="Binance's accountStatus; anything but NORMAL is alerted on.",
        )
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("red"))
        .override_by_regexp(".*: NORMAL", fixed_color("green"))
        .override_by_regexp(".*: (MARGIN_CALL|SUPPLY_MARGIN)", fixed_color("yellow")),
        width=5,
    )

    layout.row("Account (USD)")
    layout.add(
        graph(
            "Equity and maintenance margin",
            "currencyUSD",
            query(f"binance_pm_account_equity{s}", "{{account}} equity", ref="A"),
            query(f"binance_pm_account_actual_equity{s}", "{{account}} actual equity", ref="B"),
            query(f"binance_pm_account_initial_margin{s}", "{{account}} initial margin", ref="C"),
            query(f"binance_pm_account_maint_margin{s}", "{{account}} maint. margin", ref="D"),
        ),
        width=14,
    )
    layout.add(
        single(
            "UM totals (USD-margined assets)",
            "currencyUSD",
            query(f"{UM_MARGIN_BALANCE}{s}", "{{account}} margin balance", ref="A", instant=True),
            query(f"{UM_UNREALIZED_PNL}{s}", "{{account}} unrealized PnL", ref="B", instant=True),
            query(f"{UM_MAINT_MARGIN}{s}", "{{account}} maint. margin", ref="C", instant=True),
            description="Sums over the UM assets " + ", ".join(config.usd_assets) + ".",
        ).color_mode(cm.BigValueColorMode.NONE),
        width=10,
    )

    layout.row("UM assets")
    for title, metric in (
        ("UM margin balance by asset", "binance_pm_um_asset_margin_balance"),
        ("UM wallet balance by asset", "binance_pm_um_asset_cross_wallet_balance"),
        ("UM unrealized PnL by asset", "binance_pm_um_asset_cross_unrealized_pnl"),
    ):
        layout.add(
            graph(
                title,
                "short",
                query(f"{metric}{s_asset}", "{{account}} {{asset}}"),
                description="In units of the asset.",
            ),
            width=8,
        )
    layout.add(
        graph(
            "UM margin ratio by asset",
            "percentunit",
            query(f"binance_pm_um_asset_margin_ratio{s_asset}", "{{account}} {{asset}}"),
            description="Maintenance margin / margin balance; +Inf when the margin balance is "
            "zero or negative. Under Portfolio Margin the account's other collateral covers a "
            "negative UM wallet: uniMMR, not this ratio, says how close the account is to "
            "liquidation.",
        )
        .thresholds(
            thresholds(
                (None, "green"),
                (t.margin_ratio_warning, "orange"),
                (t.margin_ratio_critical, "red"),
            )
        )
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED))
        .min(0),
        width=12,
    )
    layout.add(
        graph(
            "Distance to liquidation",
            "percentunit",
            *(
                query(
                    f"{LIQUIDATION_DISTANCES[market]}{s}",
                    f"{{{{account}}}} {{{{symbol}}}} {{{{position_side}}}} ({label})",
                    ref=REF_IDS[i],
                )
                for i, (market, label) in enumerate(MARKETS)
            ),
            description="|mark - liquidation price| / mark, for UM and COIN-M positions with a "
            "liquidation price.",
        )
        .thresholds(
            thresholds(
                (None, "red"),
                (t.liquidation_distance_critical, "orange"),
                (t.liquidation_distance_warning, "green"),
            )
        )
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED))
        .min(0),
        width=12,
    )

    layout.row("UM positions")
    layout.add(positions_table(config), width=24, height=10)
    layout.add(
        graph(
            "Unrealized PnL by symbol",
            "currencyUSD",
            query(f"{UM_SYMBOL_PNL}{s}", "{{account}} {{symbol}}"),
        ),
        width=24,
    )
    loans_and_funding(config, layout)
    forced_orders(config, layout)
    collateral(config, layout)
    return d.build()


MARKETS = (("um", "UM"), ("cm", "COIN-M"))


def loans_and_funding(config: MixinConfig, layout: Layout) -> None:
    """Cross margin loans, negative balances, funding and the ADL queue (the balance, income and
    ADL collectors): amounts in units of each asset, so never summed across assets."""
    s = selector(config, ACCOUNT)
    layout.row("Loans and funding")
    layout.add(
        graph(
            "Cross margin borrowed",
            "short",
            query(f"binance_pm_balance_cross_margin_borrowed{s}", "{{account}} {{asset}}"),
            description="Principal borrowed in the Cross Margin wallet (crossMarginBorrowed), in "
            "units of the asset.",
        ),
        width=8,
    )
    interest = f"binance_pm_balance_cross_margin_interest{s}"
    hours = INTEREST_WINDOW_HOURS
    layout.add(
        graph(
            "Cross margin interest",
            "short",
            query(interest, "{{account}} {{asset}} owed", ref="A"),
            query(
                f"delta({interest}[{hours}h]) / {hours}",
                "{{account}} {{asset}} per hour",
                ref="B",
            ),
            description="Interest owed on the Cross Margin loan (crossMarginInterest; Binance adds "
            f"an hour's interest at the start of each hour), and its growth per hour over {hours} "
            "hours, in units of the asset. The dashed line is the alert's threshold.",
        )
        .thresholds(
            thresholds((None, "green"), (config.thresholds.cross_margin_interest_per_hour, "blue"))
        )
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED)),
        width=8,
    )
    layout.add(
        graph(
            "Negative balance",
            "short",
            query(f"abs(binance_pm_balance_negative_balance{s})", "{{account}} {{asset}}"),
            description="The size of Binance's negativeBalance, in units of the asset (drawn "
            "without its sign, which Binance's page never states); anything but 0 is alerted on.",
        )
        .thresholds(thresholds((None, "green"), (0.00000001, "red")))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.AREA))
        .min(0),
        width=8,
    )
    funding = selector(config, ACCOUNT, 'income_type="FUNDING_FEE"')
    by_symbol = "max by (account, asset, symbol)"  # an HA pair's exporters count the same fees
    per_symbol = []
    for market, label in MARKETS:
        for way, sign in (("received", ""), ("paid", "-")):
            counter = f"binance_pm_{market}_income_{way}_total{funding}"
            per_symbol.append(
                query(
                    f"{sign}{by_symbol} (increase({counter}[$__interval]))",
                    f"{{{{account}}}} {{{{symbol}}}} {label} {way} ({{{{asset}}}})",
                    ref=REF_IDS[len(per_symbol)],
                )
            )
    layout.add(
        graph(
            "Funding by symbol",
            "short",
            *per_symbol,
            description="Funding fees received (up) and paid (down) in each interval of the graph, "
            "in the margin asset. Counted from the exporter's start.",
        )
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .interval("1m"),
        width=12,
    )
    per_day = []
    for market, label in MARKETS:
        for way, sign in (("received", ""), ("paid", "-")):
            per_day.append(
                query(
                    f"{sign}{FUNDING[(market, way)]}{s}",
                    f"{{{{account}}}} {label} {way} ({{{{asset}}}})",
                    ref=REF_IDS[len(per_day)],
                )
            )
    layout.add(
        graph(
            "Funding per day",
            "short",
            *per_day,
            description="Funding fees received (up) and paid (down) over the last 24 hours, per "
            "account and margin asset (the recording rules account_asset:..._funding_...).",
        ),
        width=12,
    )
    layout.add(
        graph(
            "ADL quantile",
            "none",
            *(
                query(
                    f"binance_pm_{market}_position_adl_quantile{s}",
                    f"{{{{account}}}} {{{{symbol}}}} {{{{position_side}}}} ({label})",
                    ref=REF_IDS[i],
                )
                for i, (market, label) in enumerate(MARKETS)
            ),
            description="Binance's auto-deleveraging queue for each open position, 0 to 4: 4 is "
            "first in line (alerted on, as is 3).",
        )
        .thresholds(thresholds((None, "green"), (ADL_HIGH, "orange"), (ADL_FIRST_IN_LINE, "red")))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED))
        .decimals(0)
        .min(0)
        .max(ADL_FIRST_IN_LINE),
        width=24,
    )


def forced_orders(config: MixinConfig, layout: Layout) -> None:
    """Orders Binance forced on the accounts (the forced-order collectors), counted from the
    exporter's start: a series is born at its first order, so the counters themselves are drawn
    (an increase() would miss that first order)."""
    s = selector(config, ACCOUNT)
    by_order = "max by (account, market, symbol, kind)"  # an HA pair counts the same orders
    legend_format = "{{account}} {{market}} {{symbol}} {{kind}}"
    layout.row("Forced orders")
    for title, counter, description in (
        (
            "Forced orders",
            "binance_pm_force_orders_total",
            "Orders Binance forced on the account since the exporter started: liquidations "
            "(paged on) and auto-deleveraging (warned on), by market and symbol. A new line or a "
            "step is a new forced order.",
        ),
        (
            "Forced order quantity",
            "binance_pm_force_order_quantity_total",
            "Executed quantity of those orders since the exporter started (UM and margin: the "
            "base asset; COIN-M: contracts).",
        ),
    ):
        layout.add(
            graph(
                title,
                "short",
                query(f"{by_order} ({counter}{s})", legend_format),
                description=description,
            )
            .line_interpolation(cm.LineInterpolation.STEP_AFTER)
            .min(0),
            width=12,
        )


def collateral(config: MixinConfig, layout: Layout) -> None:
    """Binance's collateral rates (the process-wide collateral_rate poll): no account label."""
    layout.row("Collateral")
    rate = f"binance_pm_collateral_rate{selector(config, ASSET)}"
    layout.add(
        graph(
            "Collateral rates",
            "percentunit",
            query(f"max by (asset) ({rate})", "{{asset}}"),
            description="The share of each asset's value that counts as equity in uniMMR "
            "(Binance's haircut), the same for every account. A drop of an asset an account "
            "holds lowers its uniMMR at once (alerted on).",
        )
        .line_interpolation(cm.LineInterpolation.STEP_AFTER)
        .min(0)
        .max(1),
        width=24,
    )


# Positions table: (column, query, unit); the first query's labels name the rows.
POSITION_COLUMNS = (
    ("Amount", "binance_pm_um_position_amount", "short"),
    ("Entry price", "binance_pm_um_position_entry_price", "none"),
    ("Mark price", "binance_pm_um_position_mark_price", "none"),
    ("Liquidation price", "binance_pm_um_position_liquidation_price", "none"),
    ("Distance to liquidation", LIQUIDATION_DISTANCE, "percentunit"),
    ("Leverage", "binance_pm_um_position_leverage", "suffix:x"),
    ("Unrealized PnL", "binance_pm_um_position_unrealized_pnl", "currencyUSD"),
    ("Initial margin", "binance_pm_um_position_initial_margin", "currencyUSD"),
    ("Maint. margin", "binance_pm_um_position_maint_margin", "currencyUSD"),
)


def positions_table(config: MixinConfig) -> table.Panel:
    s = selector(config, ACCOUNT)
    panel = (
        table.Panel()
        .title("Open positions")
        .description("One row per position (symbol and side); liquidation price 0: none.")
        .datasource(DATASOURCE)
        .unit("none")
        .show_header(True)
        .sort_by([cb.TableSortByFieldState().display_name("Distance to liquidation")])
    )
    rename = {}
    for i, (column, metric, unit) in enumerate(POSITION_COLUMNS):
        ref = REF_IDS[i]
        panel.with_target(query(f"{metric}{s}", column, ref=ref, table=True))
        rename[f"Value #{ref}"] = column
        panel.override_by_name(column, [dm.DynamicConfigValue(id_val="unit", value=unit)])
    hidden = {"Time": True, "job": True, "instance": True, "__name__": True}
    order = ["account", "symbol", "position_side", *(c for c, _, _ in POSITION_COLUMNS)]
    panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    panel.with_transformation(
        dm.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": hidden,
                "indexByName": {name: i for i, name in enumerate(order)},
                "renameByName": {**rename, "position_side": "Side"},
            },
        )
    )
    return panel


def exporter_health(config: MixinConfig) -> dm.Dashboard:
    s = selector(config, ACCOUNT)
    g = selector(config)
    d = base_dashboard(
        config,
        "exporter",
        "Binance PM / Exporter health",
        "Is binance-pm-exporter polling every account: up, staleness, latency, errors, "
        "request weight and clock offset.",
    )
    d.with_variable(datasource_variable())
    d.with_variable(label_variable("account", "Account", f"binance_pm_exporter_up{g}"))
    layout = Layout(d)

    layout.row("Accounts")
    layout.add(
        up_timeline("Account up")
        .description("1 when every collector of the account's last poll succeeded.")
        .targets([query(f"binance_pm_exporter_up{s}", "{{account}}")]),
        width=12,
    )
    layout.add(
        up_timeline("Collector up")
        .description("1 when the collector's last request for the account succeeded.")
        .targets([query(f"binance_pm_exporter_collector_up{s}", "{{account}} {{collector}}")]),
        width=12,
    )
    layout.add(
        graph(
            "Time since last success",
            "s",
            query(
                f"time() - (binance_pm_exporter_last_success_timestamp_seconds{s} > 0)",
                "{{account}}",
                ref="A",
            ),
            query(
                f"time() - (binance_pm_exporter_collector_last_success_timestamp_seconds{s} > 0)",
                "{{account}} {{collector}}",
                ref="B",
            ),
            description="Accounts that never succeeded are left out (see Account up).",
        )
        .thresholds(thresholds((None, "green"), (config.no_success_seconds, "red")))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED)),
        width=24,
    )

    layout.row("Polls")
    buckets = (
        "sum by (le, account, collector) "
        f"(rate(binance_pm_exporter_poll_duration_seconds_bucket{s}[$__rate_interval]))"
    )
    layout.add(
        graph(
            "Poll duration",
            "s",
            *(
                query(
                    f"histogram_quantile({q}, {buckets})",
                    f"p{p} {{{{account}}}} {{{{collector}}}}",
                    ref=r,
                )
                for q, p, r in ((0.5, 50, "A"), (0.9, 90, "B"), (0.99, 99, "C"))
            ),
            description="Request plus parse time per collector.",
        ),
        width=12,
    )
    layout.add(
        graph(
            "Poll errors by reason",
            "reqps",
            query(
                "sum by (account, reason) "
                f"(rate(binance_pm_exporter_poll_errors_total{s}[$__rate_interval]))",
                "{{account}} {{reason}}",
            ),
            description="Failed requests per second.",
        ),
        width=12,
    )
    layout.add(
        graph(
            "Skipped entries",
            "cps",
            query(
                "sum by (account, collector) "
                f"(rate(binance_pm_exporter_skipped_entries_total{s}[$__rate_interval]))",
                "{{account}} {{collector}}",
            ),
            description="Malformed or duplicate entries left out of good replies, per second.",
        ),
        width=12,
    )
    layout.add(
        single(
            "Poll interval",
            "s",
            query(f"binance_pm_exporter_poll_interval_seconds{g}", "{{instance}}", instant=True),
        ).color_mode(cm.BigValueColorMode.NONE),
        width=4,
    )
    layout.add(
        single(
            "Version",
            "none",
            query(f"binance_pm_exporter_build_info{g}", "{{version}}", instant=True),
        )
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.NONE),
        width=4,
    )
    layout.add(
        single(
            "Last config reload",
            "none",
            query(
                f"binance_pm_exporter_config_last_reload_successful{g}",
                "{{instance}}",
                instant=True,
            ),
            description="REFUSED: the last reload was refused and the exporter runs on the "
            "configuration it had (BinancePMExporterReloadRefused after 5 minutes).",
        ).mappings(reload_mappings()),
        width=4,
    )

    layout.row("Binance API")
    layout.add(
        graph(
            "Request weight per minute",
            "short",
            query(
                f"binance_pm_exporter_api_used_weight_1m{g}",
                "used by the IP ({{instance}})",
                ref="A",
            ),
            query(
                f"binance_pm_exporter_planned_weight_per_minute{g}",
                "planned by the exporter ({{instance}})",
                ref="B",
            ),
            query(f"vector({config.api_weight_limit})", "Binance limit per IP", ref="C"),
            description="X-MBX-USED-WEIGHT-1M counts every client on the IP; the plan is this "
            "exporter's share.",
        )
        .thresholds(
            thresholds(
                (None, "green"),
                (config.api_weight_warning, "orange"),
                (config.api_weight_limit, "red"),
            )
        )
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED))
        .min(0),
        width=12,
    )
    layout.add(
        graph(
            "Clock offset",
            "s",
            query(f"binance_pm_exporter_clock_offset_seconds{g}", "{{instance}}"),
            description="Binance server time minus local time.",
        ),
        width=12,
    )

    stream_row(layout, s)
    shards_row(layout, g)
    return d.build()


def stream_row(layout: Layout, s: str) -> None:
    """The user data stream of the accounts that asked for it: one connection per replica."""
    layout.row("User data stream")
    layout.add(
        up_timeline("Stream up")
        .description(
            "1 while the account's user data stream is connected, per replica (each keeps its "
            "own connection). Only accounts with user_data_stream have the stream."
        )
        .targets([query(f"binance_pm_exporter_stream_up{s}", "{{account}} {{instance}}")]),
        width=12,
    )
    layout.add(
        graph(
            "Stream reconnects by reason",
            "cps",
            query(
                "sum by (account, reason) "
                f"(rate(binance_pm_exporter_stream_reconnects_total{s}[$__rate_interval]))",
                "{{account}} {{reason}}",
            ),
            description="New connections per second, by why the previous one ended "
            "(renewal: the exporter's own, before Binance's 24-hour cut).",
        ),
        width=12,
    )
    layout.add(
        graph(
            "Time since last stream event",
            "s",
            query(
                f"time() - (binance_pm_exporter_stream_last_event_timestamp_seconds{s} > 0)",
                "{{account}} {{instance}}",
            ),
            description="Binance pushes only on changes: a quiet account is normal. Accounts "
            "whose stream never carried an event are left out.",
        ),
        width=12,
    )
    layout.add(
        graph(
            "Bad stream frames",
            "cps",
            query(
                "sum by (account, kind) "
                f"(rate(binance_pm_exporter_stream_bad_frames_total{s}[$__rate_interval]))",
                "{{account}} {{kind}}",
            ),
            description="Frames not counted per second: malformed, or an event type newer "
            "than the exporter (unknown_event).",
        ),
        width=12,
    )


def shards_row(layout: Layout, g: str) -> None:
    """Replicas that split the accounts (--shard.count): all shards there, all accounts polled."""
    layout.row("Shards")
    layout.add(
        single(
            "Shards reporting",
            "none",
            query(
                f'count(count_values("shard", binance_pm_exporter_shard_index{g}))',
                "reporting",
                ref="A",
                instant=True,
            ),
            query(f"max(binance_pm_exporter_shards{g})", "configured", ref="B", instant=True),
            description="Distinct shard indices reporting, and --shard.count (1: no sharding).",
        ),
        width=6,
    )
    layout.add(
        single(
            "Accounts polled",
            "none",
            query(
                f"count(count by (account) (binance_pm_exporter_up{g}))",
                "polled",
                ref="A",
                instant=True,
            ),
            query(
                f"max(binance_pm_exporter_accounts_configured{g})",
                "configured",
                ref="B",
                instant=True,
            ),
            description="Distinct accounts polled across replicas (an HA pair counts once), and "
            "the accounts in the configuration.",
        ),
        width=6,
    )
    layout.add(
        graph(
            "Accounts owned per replica",
            "none",
            query(f"binance_pm_exporter_accounts_owned{g}", "{{instance}}"),
            description="The accounts each replica's shard owns and polls.",
        ).min(0),
        width=12,
    )


DASHBOARDS = {"overview.json": overview, "exporter-health.json": exporter_health}


def to_json(dashboard: dm.Dashboard) -> str:
    return json.dumps(dashboard, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def dashboards(config: MixinConfig) -> dict[str, str]:
    return {name: to_json(build(config)) for name, build in DASHBOARDS.items()}


def panels(dashboard: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every panel of a dashboard JSON, rows and their collapsed panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])
