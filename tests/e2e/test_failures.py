"""Every failure class from the API is counted under its reason and never stops the loop."""

from __future__ import annotations

import itertools
import socket
from dataclasses import replace

import httpx
import pytest
from structlog.testing import capture_logs

from exporter.binance.errors import REASONS
from exporter.config import Secret
from tests.helpers import ExporterThread, make_config, series, value, wait_for

UM = "/papi/v1/um/account"
TIME = "/fapi/v1/time"


def errors(exp: ExporterThread, account: str, reason: str, collector: str = "um_account") -> float:
    return value(
        exp.samples(),
        "binance_pm_exporter_poll_errors_total",
        account=account,
        collector=collector,
        reason=reason,
    )


def up(exp: ExporterThread, account: str) -> float:
    return value(exp.samples(), "binance_pm_exporter_up", account=account)


def papi_requests(sim, since: float = 0.0) -> list:
    return [r for r in sim.requests if r.path != TIME and r.time >= since]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 502}, "http_5xx"),
        ({"status": 503, "code": -1001}, "http_5xx"),
        ({"malformed": True}, "bad_response"),
        ({"status": 200, "body": b"<html>maintenance</html>"}, "bad_response"),
        ({"status": 200, "body": b'{"assets": 5, "positions": []}'}, "bad_response"),
        ({"status": 200, "body": b"null"}, "bad_response"),
        ({"status": 400, "code": -1100, "msg": "Illegal characters"}, "other"),
    ],
)
def test_failure_is_counted_and_the_account_recovers(sim, accounts, fault, reason):
    config = make_config(sim.base_url, accounts, collectors=["um_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1)
        sim.set_fault("oneway", UM, **fault)
        wait_for(lambda: errors(exp, "oneway", reason) >= 1)
        assert up(exp, "oneway") == 0
        assert up(exp, "hedge") == 1
        sim.clear_faults()
        wait_for(lambda: up(exp, "oneway") == 1)
        for other in ("timeout", "network", "auth", "timestamp"):
            assert errors(exp, "oneway", other) == 0


def test_timeout_is_counted_and_does_not_delay_other_accounts(sim, accounts):
    config = make_config(
        sim.base_url, accounts, collectors=["um_account"], request_timeout_seconds=0.5
    )
    with ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "hedge") == 1)
        sim.set_fault("oneway", UM, latency=3.0)
        wait_for(lambda: errors(exp, "oneway", "timeout") >= 1)
        before = value(
            exp.samples(), "binance_pm_exporter_last_success_timestamp_seconds", account="hedge"
        )
        # The hedge account keeps its 1 s cadence while oneway's requests hang.
        wait_for(
            lambda: (
                value(
                    exp.samples(),
                    "binance_pm_exporter_last_success_timestamp_seconds",
                    account="hedge",
                )
                > before
            ),
            timeout=3,
        )
        assert up(exp, "oneway") == 0


def test_network_error_is_counted_when_the_api_is_unreachable(sim, accounts):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    config = make_config(dead, accounts[:1], collectors=["um_account"], time_url=sim.time_url)
    with ExporterThread(config) as exp:
        wait_for(lambda: errors(exp, "oneway", "network") >= 2)
        assert up(exp, "oneway") == 0


@pytest.mark.parametrize(("status", "reason"), [(429, "rate_limited"), (418, "ip_banned")])
def test_retry_after_stops_every_account_on_the_base_url(sim, accounts, status, reason):
    config = make_config(sim.base_url, accounts, collectors=["um_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1 and up(exp, "hedge") == 1)
        sim.set_fault("oneway", UM, status=status, retry_after=3, times=1)
        hit = wait_for(lambda: [r for r in sim.requests if r.status == status])[0]
        # Both accounts poll every second; after the window both come back.
        wait_for(lambda: papi_requests(sim, hit.time + 3.0), timeout=6)
        wait_for(lambda: up(exp, "oneway") == 1 and up(exp, "hedge") == 1, timeout=4)
        assert errors(exp, "oneway", reason) == 1
        assert errors(exp, "hedge", reason) == 0  # skipped polls are not failed requests
    inside = [r for r in papi_requests(sim, hit.time) if r.time < hit.time + 3.0 and r is not hit]
    assert inside == []


def test_missing_retry_after_means_sixty_seconds(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        sim.set_fault("oneway", UM, status=429, times=1)
        wait_for(lambda: errors(exp, "oneway", "rate_limited") == 1)
        remaining = exp.call(lambda: exp.exporter.scheduler.client.gate.remaining())
    assert 55 < remaining <= 60


def test_timestamp_rejection_resyncs_the_clock_and_retries_once(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1)
        # The server's clock jumps 10 s behind ours: our timestamps are now "ahead" (-1021).
        sim.set_clock_skew(-10_000)
        wait_for(lambda: errors(exp, "oneway", "timestamp") == 1)
        samples = wait_for(lambda: s if _polled_after_skew(s := exp.samples()) else None)
        assert value(samples, "binance_pm_exporter_up", account="oneway") == 1
        assert -10.5 < value(samples, "binance_pm_exporter_clock_offset_seconds") < -9.5
        assert errors(exp, "oneway", "timestamp") == 1
    rejected = [r for r in sim.requests if r.code == -1021]
    assert len(rejected) == 1


def _polled_after_skew(samples: dict) -> bool:
    return (
        value(samples, "binance_pm_exporter_up", account="oneway") == 1
        and value(samples, "binance_pm_exporter_clock_offset_seconds") < -9
    )


def test_refused_key_backs_off_exponentially_and_a_success_resets_it(sim, accounts):
    wrong = dict(accounts[0], api_secret="not-the-secret-at-all")
    config = make_config(sim.base_url, [wrong], collectors=["um_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: errors(exp, "oneway", "auth") >= 3, timeout=8)
        refused = [r.time for r in papi_requests(sim) if r.account == "oneway"]
        gaps = [b - a for a, b in itertools.pairwise(refused)]
        # From the 1 s interval, doubling: 1 s, then 2 s (then 4, 8, ... up to 10 minutes).
        # Only lower bounds: a loaded machine may poll late, never early.
        assert gaps[0] >= 0.9 and gaps[1] >= 1.9
        assert up(exp, "oneway") == 0
        # The key starts working (as if the user fixed it at Binance): back to every second.
        sim.call(
            lambda: setattr(sim.simulator.account("oneway"), "api_secret", wrong["api_secret"])
        )
        wait_for(lambda: up(exp, "oneway") == 1, timeout=10)
        start = len(papi_requests(sim))
        wait_for(lambda: len(papi_requests(sim)) >= start + 3, timeout=4.5)


def test_entry_without_symbol_is_skipped_and_an_unreadable_field_left_out(sim, accounts):
    position = (
        b'"positionSide": "BOTH", "entryPrice": "3000", "leverage": "20",'
        b' "unrealizedProfit": "5", "initialMargin": "300", "maintMargin": "30",'
        b' "positionInitialMargin": "300", "openOrderInitialMargin": "0",'
        b' "maxNotional": "1000000", "updateTime": 1700000000000'
    )
    body = (
        b'{"assets": [{"asset": "USDT", "crossWalletBalance": "10", "crossUnPnl": "1",'
        b' "maintMargin": "2", "initialMargin": "3", "positionInitialMargin": "3",'
        b' "openOrderInitialMargin": "0", "updateTime": 1700000000000}],'
        b' "positions": [{"symbol": "BTCUSDT", "positionAmt": "abc", ' + position + b"},"
        b' {"positionAmt": "1", ' + position + b"},"
        b' {"symbol": "ETHUSDT", "positionAmt": "2", ' + position + b"}]}"
    )
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    counted = {"account": "oneway", "collector": "um_account"}
    with ExporterThread(config) as exp:
        sim.set_fault("oneway", UM, status=200, body=body)
        wait_for(
            lambda: value(exp.samples(), "binance_pm_exporter_skipped_fields_total", **counted)
        )
        samples = exp.samples()
    assert value(samples, "binance_pm_exporter_skipped_entries_total", **counted) >= 1
    assert (
        value(samples, "binance_pm_um_asset_margin_balance", account="oneway", asset="USDT") == 11
    )
    assert value(samples, "binance_pm_um_asset_margin_ratio", account="oneway", asset="USDT") == (
        2 / 11
    )
    amounts = series(samples, "binance_pm_um_position_amount", account="oneway")
    assert [dict(k[1])["symbol"] for k in amounts] == ["ETHUSDT"]
    btc = {"account": "oneway", "symbol": "BTCUSDT", "position_side": "BOTH"}
    assert value(samples, "binance_pm_um_position_entry_price", **btc) == 3000
    assert value(samples, "binance_pm_exporter_up", account="oneway") == 1


def test_a_retry_rejected_again_counts_one_timestamp_error(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1)
        # The request and its retry after the resync are both refused with -1021.
        sim.set_fault("oneway", UM, status=400, code=-1021, times=2)
        wait_for(lambda: [r for r in sim.requests if r.code == -1021][1:])
        wait_for(lambda: up(exp, "oneway") == 1)
        assert errors(exp, "oneway", "timestamp") == 1
        histogram = value(
            exp.samples(),
            "binance_pm_exporter_poll_duration_seconds_count",
            account="oneway",
            collector="um_account",
        )
    refused = [r for r in sim.requests if r.code == -1021]
    assert len(refused) == 2 and histogram >= 2


def test_an_unexpected_exception_is_counted_as_other_shown_and_logged_once(sim, accounts):
    config = make_config(sim.base_url, accounts, collectors=["um_account"])
    # httpx cannot put a non-ASCII key in a header: it raises UnicodeEncodeError, not an
    # HTTPError. Built past parse_config, which may refuse such a key at load.
    odd_key = replace(config.accounts[0], api_key=Secret("oneway-k\u00e9y-0123456789"))
    config = replace(config, accounts=(odd_key, *config.accounts[1:]))
    with capture_logs() as logs, ExporterThread(config) as exp:
        samples = wait_for(lambda: s if _polls(s := exp.samples(), "oneway") >= 3 else None)
        page = httpx.get(exp.url + "/", timeout=5).text
    labels = {"account": "oneway", "collector": "um_account"}
    counts = {
        reason: value(samples, "binance_pm_exporter_poll_errors_total", reason=reason, **labels)
        for reason in REASONS
    }
    assert counts == {**dict.fromkeys(REASONS, 0.0), "other": _polls(samples, "oneway")}
    assert value(samples, "binance_pm_exporter_collector_up", **labels) == 0
    assert value(samples, "binance_pm_exporter_up", account="oneway") == 0
    assert value(samples, "binance_pm_exporter_up", account="hedge") == 1
    assert "um_account: other: unexpected error: UnicodeEncodeError" in page
    assert "Traceback" not in page and "codec" not in page
    [line] = [e for e in logs if e.get("account") == "oneway" and e["log_level"] != "debug"]
    assert line["event"] == "poll failed" and line["reason"] == "other"
    assert line["error"] == "unexpected error: UnicodeEncodeError"
    assert line["detail"].startswith("'ascii' codec can't encode character")
    assert "exc_info" not in line


def _polls(samples: dict, account: str) -> float:
    return value(
        samples,
        "binance_pm_exporter_poll_duration_seconds_count",
        account=account,
        collector="um_account",
    )
