"""/readyz means serving: ready once every account's first round of polls was attempted, a
refused key included, which shows in ``up`` and on the landing page instead."""

from __future__ import annotations

import httpx

from tests.helpers import ExporterThread, make_config, value, wait_for

UM = "/papi/v1/um/account"


def readyz(exp: ExporterThread) -> httpx.Response:
    return httpx.get(exp.url + "/readyz", timeout=5)


def auth_errors(exp: ExporterThread) -> float:
    return value(
        exp.samples(),
        "binance_pm_exporter_poll_errors_total",
        account="badkey",
        collector="um_account",
        reason="auth",
    )


def test_a_refused_key_does_not_keep_the_exporter_unready(sim, accounts):
    refused = dict(accounts[0], name="badkey", api_key="refused-key-0123456789")
    # The good account's first poll answers late: readiness waits for that round.
    sim.set_fault("oneway", UM, latency=3.0, times=1)
    config = make_config(
        sim.base_url, [accounts[0], refused], collectors=["um_account"], request_timeout_seconds=5
    )
    with ExporterThread(config) as exp:
        wait_for(lambda: auth_errors(exp) >= 1)
        waiting = readyz(exp)
        assert (waiting.status_code, waiting.text) == (
            503,
            "not ready, first poll pending: oneway\n",
        )
        wait_for(lambda: readyz(exp).status_code == 200)
        assert readyz(exp).text == "ready\n"
        samples = exp.samples()
        assert value(samples, "binance_pm_exporter_up", account="oneway") == 1
        assert value(samples, "binance_pm_exporter_up", account="badkey") == 0
        assert auth_errors(exp) >= 1
        page = exp.text("/")
        row = page[page.index('<tr id="account-badkey">') :].split("</tr>", 1)[0]
        assert "<li>failing collector: um_account</li>" in row
        assert "um_account: auth: HTTP 401 code -2015" in row


def test_readiness_stays_once_reached_while_an_account_fails(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: readyz(exp).status_code == 200)
        sim.set_fault("oneway", UM, status=401)
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 0)
        assert readyz(exp).status_code == 200
