"""The UM account collector end to end: simulator -> exporter -> /metrics over loopback."""

from __future__ import annotations

import httpx

from tests.helpers import (
    ExporterThread,
    check_metrics,
    make_config,
    parse_samples,
    series,
    value,
    wait_for,
)
from tests.replies import expected_um, um_samples

UM = "/papi/v1/um/account"


def _matches_served(exp: ExporterThread, sim, account: str, include_zero: bool = False) -> bool:
    payload = sim.last_payload(account, UM)
    if payload is None:
        return False
    return um_samples(exp.samples(), account) == expected_um(account, payload, include_zero)


def test_every_um_value_equals_the_served_payload_one_way_and_hedge(sim, accounts):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts, collectors=["um_account"])
    with ExporterThread(config) as exp:
        for account in ("oneway", "hedge"):
            wait_for(lambda a=account: _matches_served(exp, sim, a))
        samples = exp.samples()
    # Spot-check the shapes: one-way positions are BOTH, hedge positions LONG and SHORT.
    sides = {dict(k[1])["position_side"] for k in series(samples, "binance_pm_um_position_amount")}
    assert sides == {"BOTH", "LONG", "SHORT"}
    assert (
        value(
            samples,
            "binance_pm_um_position_amount",
            account="hedge",
            symbol="BTCUSDT",
            position_side="SHORT",
        )
        == -0.05
    )
    assert (
        value(
            samples,
            "binance_pm_um_position_entry_price",
            account="oneway",
            symbol="ETHUSDT",
            position_side="BOTH",
        )
        == 3000.0
    )


def test_flat_positions_are_left_out_but_open_orders_are_kept(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        samples = wait_for(lambda: series(exp.samples(), "binance_pm_um_position_amount"))
    symbols = {dict(k[1])["symbol"] for k in samples}
    assert symbols == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}  # SOLUSDT: an open order, amount 0
    served = sim.last_payload("oneway", UM)
    assert len(served["positions"]) >= 400  # the whole market came back


def test_include_zero_exports_every_symbol_of_the_market(sim, accounts):
    sim.freeze_prices()
    config = make_config(
        sim.base_url, accounts[:1], collectors=["um_account"], positions={"include_zero": True}
    )
    with ExporterThread(config) as exp:
        wait_for(lambda: _matches_served(exp, sim, "oneway", include_zero=True))
        amounts = series(exp.samples(), "binance_pm_um_position_amount")
    assert len(amounts) == len(sim.last_payload("oneway", UM)["positions"])


def test_closed_position_series_disappear(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    btc = {"account": "oneway", "symbol": "BTCUSDT", "position_side": "BOTH"}
    with ExporterThread(config) as exp:
        wait_for(lambda: series(exp.samples(), "binance_pm_um_position_amount", **btc))
        sim.call(sim.simulator.close_position, "oneway", "BTCUSDT", "BOTH")
        wait_for(lambda: not series(exp.samples(), "binance_pm_um_position_amount", **btc))
        samples = exp.samples()
    assert not [k for k in samples if ("symbol", "BTCUSDT") in k[1]]
    assert series(samples, "binance_pm_um_position_amount", symbol="ETHUSDT")


def test_stale_account_data_disappears_while_others_stay(sim, accounts):
    config = make_config(sim.base_url, accounts, collectors=["um_account"], stale_after_seconds=2)
    with ExporterThread(config) as exp:
        wait_for(
            lambda: series(exp.samples(), "binance_pm_um_asset_margin_balance", account="hedge")
        )
        sim.set_fault("hedge", UM, status=503)
        wait_for(
            lambda: (
                not series(exp.samples(), "binance_pm_um_asset_margin_balance", account="hedge")
            ),
            timeout=6,
        )
        samples = exp.samples()
    assert value(samples, "binance_pm_exporter_up", account="hedge") == 0
    assert value(samples, "binance_pm_exporter_up", account="oneway") == 1
    assert not [
        k for k in samples if k[0].startswith("binance_pm_um_") and ("account", "hedge") in k[1]
    ]
    assert series(samples, "binance_pm_um_asset_margin_balance", account="oneway")


def test_self_metrics_exist_from_the_first_scrape_with_zero_counters(sim, accounts):
    config = make_config(sim.base_url, accounts)
    exp = ExporterThread(config)
    with exp:
        # Stop the polls before they run so the scrape sees the initial state.
        exp.stop_polling()
        samples = exp.samples()
    reasons = {
        "timeout",
        "network",
        "http_5xx",
        "rate_limited",
        "ip_banned",
        "auth",
        "timestamp",
        "bad_response",
        "other",
    }
    for account in ("oneway", "hedge"):
        assert value(samples, "binance_pm_exporter_up", account=account) == 0
        assert (
            value(samples, "binance_pm_exporter_last_success_timestamp_seconds", account=account)
            == 0
        )
        errors = series(samples, "binance_pm_exporter_poll_errors_total", account=account)
        assert {dict(k[1])["reason"] for k in errors} == reasons
        assert len(errors) == len(reasons) * 4  # four default collectors
        assert set(errors.values()) == {0.0}
    assert (
        value(samples, "binance_pm_exporter_build_info", version=__import__("exporter").__version__)
        == 1
    )
    assert value(samples, "binance_pm_exporter_api_used_weight_1m") == 0
    assert ("binance_pm_exporter_clock_offset_seconds", frozenset()) in samples


def test_metrics_output_passes_promtool_check_metrics(sim, accounts):
    config = make_config(
        sim.base_url,
        accounts,
        collectors=["um_account", "account", "um_position_risk", "cm_account"],
    )
    with ExporterThread(config) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="hedge") == 1)
        text = exp.text()
    assert check_metrics(text) == ""


def test_openmetrics_when_asked_and_same_samples_as_text(sim, accounts):
    sim.freeze_prices()
    config = make_config(sim.base_url, accounts)
    with ExporterThread(config) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="hedge") == 1)
        exp.stop_polling()
        # OpenMetrics first: its first scrape waits for a publish of the final store, which
        # builds the text format (asked for above) too. The other way round, the text could be
        # the one published a moment before the last poll landed.
        om = exp.text(Accept="application/openmetrics-text; version=1.0.0")
        text = exp.text()
    assert om.endswith("# EOF\n")
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

    om_samples = {}
    for fam in om_parse(om):
        for s in fam.samples:
            om_samples[(s.name, frozenset(s.labels.items()))] = s.value

    def without_process(samples: dict) -> dict:  # computed at each format's own build
        return {
            k: v
            for k, v in samples.items()
            if not k[0].startswith("process_") and k[0] != "binance_pm_exporter_data_age_seconds"
        }

    assert without_process(om_samples) == without_process(parse_samples(text))


def test_gzip_is_served_when_accepted(sim, accounts):
    config = make_config(sim.base_url, accounts[:1])
    with ExporterThread(config) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        exp.stop_polling()
        # The first scrape of a new body gets it uncompressed while it is compressed in the
        # background; the next ones get the cached gzip.
        first = httpx.get(exp.url + "/metrics", headers={"Accept-Encoding": "gzip"})
        raw = wait_for(
            lambda: (
                (
                    r := httpx.get(exp.url + "/metrics", headers={"Accept-Encoding": "gzip"})
                ).headers.get("content-encoding")
                == "gzip"
                and r
            )
        )
        plain = exp.text()
    assert first.text == raw.text == plain  # httpx decoded them
    assert len(raw.content) == len(plain)
    assert int(raw.headers["content-length"]) < len(plain) / 5
