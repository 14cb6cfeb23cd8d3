"""The real process: start-up, debug logs without secrets, readiness, SIGTERM."""

from __future__ import annotations

import signal
import socket

import httpx
import yaml

from tests.e2e.process import kill_if_running, listening_port, sigterm, start_exporter
from tests.helpers import HEDGE_KEY, ONEWAY_KEY, ONEWAY_SECRET, parse_samples, value, wait_for


def test_debug_log_of_a_full_run_holds_no_secret_and_sigterm_exits_cleanly(sim, accounts, tmp_path):
    wrong_key = dict(accounts[0], name="badkey", api_key="refused-key-never-logged-42")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "base_url": sim.base_url,
                "time_url": sim.time_url,
                "poll_interval_seconds": 1,
                "max_weight_per_minute": 6000,
                "accounts": [*accounts, wrong_key],
            }
        )
    )
    sim.set_fault("hedge", "/papi/v1/um/positionRisk", status=500, times=2)
    proc = start_exporter(config, "--log.level", "debug")
    lines: list[str] = []
    try:
        port = listening_port(proc, lines)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(url + "/metrics").status_code == 200)
        wait_for(
            lambda: (
                value(
                    parse_samples(httpx.get(url + "/metrics").text),
                    "binance_pm_exporter_up",
                    account="hedge",
                )
                == 1
            ),
            timeout=10,
        )
        assert httpx.get(url + "/healthz").text == "ok\n"
        assert httpx.get(url + "/readyz").status_code == 200  # badkey was attempted
        page = httpx.get(url + "/").text
        assert "badkey" in page and "auth" in page
        out, err, stopped_in = sigterm(proc)
    finally:
        kill_if_running(proc)
    log = "".join(lines) + err
    assert proc.returncode == 0
    assert stopped_in < 5
    assert "API key refused" in log and "account=badkey" in log
    assert "reason=http_5xx" in log
    assert "Traceback" not in log
    for secret in (ONEWAY_KEY, ONEWAY_SECRET, HEDGE_KEY, "refused-key-never-logged-42"):
        assert secret not in log + out
    # A query string holds the timestamp and the signature: neither may reach the log.
    assert "signature" not in log
    assert "recvWindow=" not in log and "timestamp=" not in log


def test_sigint_exits_cleanly(sim, accounts, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"base_url": sim.base_url, "time_url": sim.time_url, "accounts": accounts[:1]}
        )
    )
    proc = start_exporter(config)
    try:
        listening_port(proc, [])
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        kill_if_running(proc)
    assert proc.returncode == 0


def test_sigterm_during_the_first_clock_sync_exits_at_once(sim, accounts, tmp_path):
    # A time URL that accepts connections and never answers: start-up waits on it.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "base_url": sim.base_url,
                    "time_url": f"http://127.0.0.1:{silent.getsockname()[1]}/fapi/v1/time",
                    "request_timeout_seconds": 60,
                    "accounts": accounts[:1],
                }
            )
        )
        proc = start_exporter(config)
        try:
            listening_port(proc, [])  # logged before the first clock sync
            _, _, stopped_in = sigterm(proc)
        finally:
            kill_if_running(proc)
    assert proc.returncode == 0
    assert stopped_in < 5
