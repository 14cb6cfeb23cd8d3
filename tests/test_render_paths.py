"""The published text and OpenMetrics bodies: same samples, valid, odd labels kept."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.collectors import COLLECTORS, ParseOptions
from exporter.negotiation import OPENMETRICS, TEXT
from exporter.render import Renderer
from exporter.self_metrics import GLOBAL_FAMILIES, global_sections
from exporter.snapshot import AccountState, ExporterStatus, Store
from tests import replies

Key = tuple[str, frozenset[tuple[str, str]]]

# Label values the escaping has to get right: quote, backslash, line feed, non-ASCII.
ODD_ASSET = 'U"S\\D\nT'
ODD_SYMBOL = 'A"B\\C\nDUSDT'
UNICODE_SYMBOL = "币安人生USDT"
ACCENTED_SYMBOL = "ŞİMÜSDT"


def um_asset(asset: str, wallet: str, pnl: str, maint: str) -> dict[str, Any]:
    return replies.um_asset(
        asset,
        crossWalletBalance=wallet,
        crossUnPnl=pnl,
        maintMargin=maint,
        initialMargin="12.5",
        positionInitialMargin="12.5",
    )


def um_position(symbol: str, side: str, amount: str = "0", **fields: Any) -> dict[str, Any]:
    entry = replies.um_position(symbol, side, leverage="20", entryPrice="0.0", positionAmt=amount)
    if amount != "0":
        entry.update(
            entryPrice="42000.1",
            unrealizedProfit="-12.34567891",
            initialMargin="525.25",
            maintMargin="42.0",
            positionInitialMargin="525.25",
            updateTime=1700000000123,
        )
    entry.update(fields)
    return entry


def um_payload(index: int) -> dict[str, Any]:
    return {
        "assets": [
            um_asset("USDT", "1000.5", "-12.25", "42.0"),
            um_asset(ODD_ASSET, "3.3", "0.1", "0"),
            # Margin balance below zero with maintenance margin: a ratio of +Inf.
            um_asset("BNB", "-5", "1", "2.5"),
        ],
        "positions": [
            um_position("BTCUSDT", "LONG", f"0.{index + 1}50"),
            um_position("BTCUSDT", "SHORT", "-0.100"),
            um_position(ODD_SYMBOL, "LONG", "12"),
            um_position(UNICODE_SYMBOL, "SHORT", "-3000"),
            um_position(ACCENTED_SYMBOL, "LONG"),  # flat: kept only with include_zero
            um_position("ETHUSDT", "LONG", openOrderInitialMargin="25.5"),  # open order only
            um_position("XRPUSDT", "SHORT"),  # flat
        ],
    }


def risk_entry(symbol: str, side: str, amount: str) -> dict[str, Any]:
    return replies.position_risk(
        symbol,
        side,
        entryPrice="42000.1",
        leverage="20",
        markPrice="42100.5",
        maxNotionalValue="250000",
        positionAmt=amount,
        notional="4210.05",
        unRealizedProfit="10.04",
        liquidationPrice="0",
        updateTime=1700000000123,
    )


ACCOUNT_PAYLOAD = replies.account_info(
    uniMMR="5.12345678",
    actualEquity="123000.5",
    accountStatus="MARGIN_CALL",
    totalMarginOpenLoss="0.00000000",
)

CM_PAYLOAD = {
    "assets": [um_asset("BTC", "0.5", "0.001", "0.0001")],
    "positions": [replies.cm_position()],
}


def build_store(include_zero: bool) -> Store:
    """Three accounts filled by the real collectors' parse functions, as the scheduler does."""
    status = ExporterStatus(
        version="1.2.3",
        planned_weight_per_minute=360.0,
        poll_interval_seconds=15.0,
        used_weight_1m=125.0,
        clock_offset_seconds=-0.0125,
        reload_success_time=1700000000.5,
    )
    store = Store(status)
    collectors = ("um_account", "account", "um_position_risk", "cm_account")
    for index, name in enumerate(("main", "desk-2", "desk_3.hedge")):
        state = AccountState(name, collectors)
        now = time.time()
        um = COLLECTORS["um_account"].parse(um_payload(index), ParseOptions(include_zero))
        state.set_data("um_account", um.samples, COLLECTORS["um_account"].families, now, 45.0)
        account = COLLECTORS["account"].parse(ACCOUNT_PAYLOAD, ParseOptions(include_zero))
        state.set_data("account", account.samples, COLLECTORS["account"].families, now, 45.0)
        risk_payload = [
            risk_entry("BTCUSDT", "LONG", "0.150"),
            risk_entry(UNICODE_SYMBOL, "SHORT", "-3000"),
            risk_entry(ODD_SYMBOL, "LONG", "12"),
        ]
        risk = COLLECTORS["um_position_risk"].parse(
            risk_payload, ParseOptions(include_zero, um.positions)
        )
        families = COLLECTORS["um_position_risk"].families
        state.set_data("um_position_risk", risk.samples, families, now, 45.0)
        if index != 1:  # one account without COIN-M data: its families have fewer accounts
            cm = COLLECTORS["cm_account"].parse(CM_PAYLOAD, ParseOptions(include_zero))
            state.set_data("cm_account", cm.samples, COLLECTORS["cm_account"].families, now, 45.0)
        health = state.health["um_account"]
        health.up, health.last_success = True, now
        for seconds in (0.01, 0.03, 0.3, 42.0):
            health.observe(seconds)
        health.errors["timeout"] += 2
        health.skipped += 1
        state.up, state.last_success = index != 2, now
        state.render_health()
        store.accounts[name] = state
    store.changed()
    return store


def samples_of(families) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for family in families:
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


@pytest.fixture(params=[False, True], ids=["open-positions", "include-zero"])
def renderer(request: pytest.FixtureRequest) -> Renderer:
    return Renderer(build_store(request.param))


def bodies(renderer: Renderer) -> dict[str, str]:
    """Both formats as the publisher builds them (in its worker thread)."""
    asyncio.run(renderer.publish({TEXT: False, OPENMETRICS: False}))
    return {fmt: p.body.decode() for fmt, p in renderer.published.items()}


def test_text_and_openmetrics_bodies_give_the_same_samples(renderer: Renderer) -> None:
    built = bodies(renderer)
    text_samples = samples_of(parse_text(built[TEXT]))
    assert samples_of(parse_openmetrics(built[OPENMETRICS])) == text_samples
    assert built[OPENMETRICS].endswith("# EOF\n")
    # Counters: the OpenMetrics family has no _total, its samples do; the text family has it.
    assert "# TYPE binance_pm_exporter_poll_errors counter\n" in built[OPENMETRICS]
    assert "# TYPE binance_pm_exporter_poll_errors_total counter\n" in built[TEXT]
    assert (
        "binance_pm_exporter_poll_errors_total",
        frozenset({("account", "main"), ("collector", "um_account"), ("reason", "timeout")}),
    ) in text_samples
    # The standard process metrics, for fd alerts.
    assert {"process_open_fds", "process_max_fds", "process_cpu_seconds_total"} <= {
        name for name, _ in text_samples
    }


def test_only_the_sample_lines_are_shared_between_formats(renderer: Renderer) -> None:
    built = bodies(renderer)
    lines = {
        fmt: [ln for ln in body.splitlines() if not ln.startswith("#")]
        for fmt, body in built.items()
    }
    process = ("process_",)
    assert [ln for ln in lines[TEXT] if not ln.startswith(process)] == [
        ln for ln in lines[OPENMETRICS] if not ln.startswith(process)
    ]


def test_text_path_parses_and_keeps_odd_label_values(renderer: Renderer) -> None:
    found = samples_of(parse_text(bodies(renderer)[TEXT]))
    symbols = {dict(labels).get("symbol") for _, labels in found}
    assets = {dict(labels).get("asset") for _, labels in found}
    assert {ODD_SYMBOL, UNICODE_SYMBOL, "BTCUSDT"} <= symbols
    assert ODD_ASSET in assets
    ratio = found[
        (
            "binance_pm_um_asset_margin_ratio",
            frozenset({("account", "main"), ("asset", "BNB")}),
        )
    ]
    assert ratio == math.inf


def test_include_zero_decides_whether_flat_positions_are_exported() -> None:
    def flat_series(include_zero: bool) -> int:
        text = bodies(Renderer(build_store(include_zero)))[TEXT]
        found = samples_of(parse_text(text))
        return sum(
            1
            for name, labels in found
            if name == "binance_pm_um_position_amount"
            and dict(labels)["symbol"] in (ACCENTED_SYMBOL, "XRPUSDT")
        )

    assert flat_series(False) == 0
    assert flat_series(True) == 3 * 2  # two flat positions in each of the three accounts


def test_the_process_wide_gauges_are_one_line_each_in_exposition_order() -> None:
    status = ExporterStatus(
        version="1.2.3",
        planned_weight_per_minute=12.5,
        poll_interval_seconds=15.0,
        used_weight_1m=7.0,
        clock_offset_seconds=-0.25,
        reload_successful=False,
        reload_success_time=1700000000.5,
        shard_index=1,
        shard_count=3,
        accounts_configured=5,
        accounts_owned=2,
    )
    sections = global_sections(status)
    assert [fam for fam, _ in sections] == list(GLOBAL_FAMILIES)
    assert b"".join(line for _, lines in sections for line in lines).decode().splitlines() == [
        "binance_pm_exporter_api_used_weight_1m 7.0",
        "binance_pm_exporter_clock_offset_seconds -0.25",
        "binance_pm_exporter_planned_weight_per_minute 12.5",
        "binance_pm_exporter_poll_interval_seconds 15.0",
        "binance_pm_exporter_config_last_reload_successful 0.0",
        "binance_pm_exporter_config_last_reload_success_timestamp_seconds 1700000000.5",
        "binance_pm_exporter_shard_index 1.0",
        "binance_pm_exporter_shards 3.0",
        "binance_pm_exporter_accounts_configured 5.0",
        "binance_pm_exporter_accounts_owned 2.0",
        'binance_pm_exporter_build_info{version="1.2.3"} 1.0',
    ]
