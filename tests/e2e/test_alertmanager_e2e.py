"""End to end to a person: simulator -> exporter -> an HA pair of real Prometheus servers (the
shipped rules) -> a real Alertmanager (the shipped prometheus/alertmanager.example.yml, its
receivers pointed at a webhook in the test) -> the webhook.

The shipped settings are minutes (README, "Alerting"); here every interval is cut to seconds:
scrapes and evaluations 1 s, group_wait and group_interval 1 s (critical's group_wait 0s stays),
every ``for`` above zero 2 s (``for: 0m`` stays). Critical alerts reach the "page" receiver
(PagerDuty's API and a webhook), warnings the "chat" receiver (Slack's API).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exporter.simulator.demo import DEMO_COLLECTORS
from tests.e2e.stack import (
    Delivery,
    Stack,
    Webhook,
    alertmanager_config_for_test,
    demo_exporter_config,
    force_liquidation_frame,
    knob,
    rules_with_short_for,
    wait_for,
)

INTERVAL = "1s"
SHORT_FOR = "2s"
ACCOUNT = "demo-hedge"
# The demo's collectors but the forced-order ones (weight 50 each): at this test's 1 s polls the
# demo's whole set would plan more than the 6000 a minute one IP may use.
ALERTING_COLLECTORS = [
    c
    for c in DEMO_COLLECTORS
    if not (c if isinstance(c, str) else c["name"]).endswith("force_orders")
]
# uniMMR into the margin call band (below 1.5, above 1.2), held there, then into reduce-only
# (below 1.2); it holds above 1.1 (no liquidation alerts) until the recovery to 2.0.
WARNING_RAMP = {"start": 1.6, "end": 1.3, "duration_seconds": 3}
CRITICAL_RAMP = {"start": 1.3, "end": 1.15, "duration_seconds": 3}
WARNINGS = {"BinancePMUniMMRLow", "BinancePMAccountMarginCall"}
CRITICALS = {"BinancePMUniMMRReduceOnly", "BinancePMAccountReduceOnly"}
FORCE_LIQUIDATION = "BinancePMForceLiquidationEvent"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def start_stack(
    stack: Stack,
    webhook: Webhook,
    prometheus: str,
    alertmanager: str,
    replicas: tuple[str, ...],
    poll_interval: int = 1,
    stream: bool = False,
) -> tuple[str, str, str]:
    """The whole chain; the simulator's URL, Alertmanager's and the first Prometheus'."""
    sim_url, credentials = stack.simulator()
    streaming = (
        {"user_data_stream": True, "stream_url": sim_url.replace("http", "ws", 1) + "/pm/ws/"}
        if stream
        else {}
    )
    config = demo_exporter_config(
        sim_url,
        credentials,
        poll_interval_seconds=poll_interval,
        collectors=ALERTING_COLLECTORS,
        **streaming,
    )
    target = stack.exporter(config)
    am_config = alertmanager_config_for_test(stack.directory, webhook.url, INTERVAL)
    am_url = stack.alertmanager(alertmanager, am_config)
    rule_files = rules_with_short_for(stack.directory, SHORT_FOR)
    servers = [
        stack.prometheus(
            prometheus, f"prometheus-{replica}", rule_files, target, am_url, replica, INTERVAL
        )
        for replica in replicas
    ]
    return sim_url, am_url, servers[0]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        yield running
    finally:
        running.close()


def alert_names(delivery: Delivery) -> set[tuple[str, str]]:
    """The (alert name, account) pairs of one notification, whatever the integration's format."""
    body = delivery.body
    if delivery.path == "/webhook":
        return {(a["labels"]["alertname"], a["labels"].get("account", "")) for a in body["alerts"]}
    if delivery.path == "/pagerduty":
        details = body["payload"]["custom_details"]
        return {(details["alertname"], details["account"])}
    text = body["attachments"][0]["text"]
    return set(re.findall(r"^alert: (\w+), account: ([\w.-]*),", text, re.M))


def status(delivery: Delivery) -> str:
    body = delivery.body
    if delivery.path == "/webhook":
        return body["status"]
    if delivery.path == "/pagerduty":
        return "resolved" if body["event_action"] == "resolve" else "firing"
    return "resolved" if body["attachments"][0]["title"].startswith("RESOLVED") else "firing"


def of(deliveries: list[Delivery], path: str, state: str) -> dict[str, list[Delivery]]:
    """The notifications of the margin alerts the ramp raises, by alert name, for ACCOUNT.

    The ramp drains the account's wallet, so position and balance alerts of the account follow
    (and the demo's other account has its own); those are not what this test follows.
    """
    by_name: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        if delivery.path == path and status(delivery) == state:
            for name, account in alert_names(delivery):
                if name in WARNINGS | CRITICALS | {FORCE_LIQUIDATION}:
                    by_name.setdefault(
                        f"{name}" if account == ACCOUNT else f"{name}/{account}", []
                    ).append(delivery)
    return by_name


def assert_actionable_webhook(delivery: Delivery) -> None:
    """Alertmanager's own JSON: every alert carries what a person needs."""
    for alert in delivery.body["alerts"]:
        labels, annotations = alert["labels"], alert["annotations"]
        assert labels["account"] == ACCOUNT, labels
        assert labels["severity"] == "critical", labels
        assert "replica" not in labels, labels
        assert annotations["runbook_url"].endswith("#" + labels["alertname"].lower())
        assert ACCOUNT in annotations["summary"]
        assert "Next at Binance:" in annotations["description"]


def assert_actionable_pagerduty(delivery: Delivery) -> None:
    body = delivery.body
    assert body["routing_key"] == "test-routing-key"  # read from routing_key_file
    details = body["payload"]["custom_details"]
    assert details["account"] == ACCOUNT
    assert details["severity"] == "critical"
    assert details["runbook_url"].endswith("#" + details["alertname"].lower())
    assert body["links"][0]["href"] == details["runbook_url"]
    summary = body["payload"]["summary"]
    assert summary.startswith(f"Account {ACCOUNT}: "), summary
    assert "Next at Binance:" in details["description"]


def assert_actionable_slack(delivery: Delivery) -> None:
    attachment = delivery.body["attachments"][0]
    assert attachment["title"].startswith(f"[warning] Account {ACCOUNT}: "), attachment["title"]
    assert (
        attachment["title_link"].startswith("https://") and "#binancepm" in attachment["title_link"]
    )
    assert f"account: {ACCOUNT}, severity: warning, runbook: https://" in attachment["text"]
    assert "Next at Binance:" in attachment["text"]


def active(am_url: str) -> set[str]:
    """The ramp's alerts Alertmanager still holds as firing (muted or not) for ACCOUNT."""
    alerts = httpx.get(f"{am_url}/api/v2/alerts", timeout=5).json()
    return {
        a["labels"]["alertname"]
        for a in alerts
        if a["labels"].get("account") == ACCOUNT
        and a["labels"]["alertname"] in WARNINGS | CRITICALS
    }


def inhibited(am_url: str) -> set[str]:
    alerts = httpx.get(f"{am_url}/api/v2/alerts", timeout=5).json()
    return {
        a["labels"]["alertname"]
        for a in alerts
        if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
    }


@pytest.mark.timeout(90)
def test_a_falling_uni_mmr_warns_then_pages_once_through_an_ha_pair_and_resolves(
    stack, webhook, prometheus, alertmanager
):
    sim_url, am_url, _ = start_stack(stack, webhook, prometheus, alertmanager, ("a", "b"))
    # Into the margin call band, held there until both warnings reached chat (on a loaded
    # machine a straight ramp could reach reduce-only, whose criticals mute the warnings, before
    # the warnings' `for` has passed), then on into reduce-only.
    knob(sim_url, "falling_uni_mmr", account=ACCOUNT, **WARNING_RAMP)

    def warned() -> bool:
        return of(webhook.received(), "/slack", "firing").keys() >= WARNINGS

    wait_for("the warnings", warned, timeout=40, seen=webhook.summary)
    knob(sim_url, "falling_uni_mmr", account=ACCOUNT, **CRITICAL_RAMP)

    def paged() -> bool:
        got = webhook.received()
        return (
            of(got, "/pagerduty", "firing").keys() >= CRITICALS
            and of(got, "/webhook", "firing").keys() >= CRITICALS
        )

    wait_for("the critical pages", paged, timeout=40, seen=webhook.summary)
    # The uniMMR warning of the account is muted while its criticals fire (the status warning
    # resolved: the status moved on from MARGIN_CALL to REDUCE_ONLY).
    wait_for(
        "the uniMMR warning to be inhibited",
        lambda: "BinancePMUniMMRLow" in inhibited(am_url),
        timeout=10,
    )
    knob(sim_url, "falling_uni_mmr", account=ACCOUNT, start=2.0, end=2.0, duration_seconds=0)

    def resolved() -> bool:
        got = webhook.received()
        return (
            of(got, "/pagerduty", "resolved").keys() >= CRITICALS
            and of(got, "/webhook", "resolved").keys() >= CRITICALS
        )

    wait_for("the resolved notifications", resolved, timeout=30, seen=webhook.summary)
    # The warnings resolved while muted: Alertmanager sends no resolved notification for a
    # muted alert (docs/runbook.md, "Routing and inhibition"), but none is left active.
    wait_for(
        "no margin alert left", lambda: not active(am_url), timeout=10, seen=lambda: active(am_url)
    )
    time.sleep(3)  # a second copy from the other replica would come within group_interval
    got = webhook.received()

    # Warnings to chat, criticals to the pager, for this account only.
    warned, paged_at = of(got, "/slack", "firing"), of(got, "/pagerduty", "firing")
    assert warned.keys() == WARNINGS and paged_at.keys() == CRITICALS
    assert of(got, "/webhook", "firing").keys() == CRITICALS
    # In order: every warning reached chat before the first page.
    assert max(d.at for ds in warned.values() for d in ds) < min(
        d.at for ds in paged_at.values() for d in ds
    )
    # Each notification once, though both servers send every alert.
    for path in ("/slack", "/pagerduty", "/webhook"):
        for state in ("firing", "resolved"):
            for name, deliveries in of(got, path, state).items():
                assert len(deliveries) == 1, (path, state, name, [d.body for d in deliveries])
    for delivery in {
        id(d): d for ds in [*warned.values(), *paged_at.values()] for d in ds
    }.values():
        if status(delivery) == "firing":
            {
                "/webhook": assert_actionable_webhook,
                "/pagerduty": assert_actionable_pagerduty,
                "/slack": assert_actionable_slack,
            }[delivery.path](delivery)


@pytest.mark.timeout(60)
def test_a_pushed_force_liquidation_pages_before_the_next_poll(
    stack, webhook, prometheus, alertmanager
):
    # Polls a minute apart: only the stream can bring the event in time.
    sim_url, _, prometheus_url = start_stack(
        stack, webhook, prometheus, alertmanager, ("a",), poll_interval=60, stream=True
    )
    # Prometheus has the counter at 0 from a connected stream: increase() sees the event as one.
    wait_for("demo-oneway's stream", lambda: scraped(prometheus_url, STREAM_UP) == 1)
    wait_for("the counter at 0", lambda: scraped(prometheus_url, FORCE_LIQUIDATIONS) == 0)
    pushed = time.monotonic()
    knob(sim_url, "send_stream_frames", account="demo-oneway", frames=[force_liquidation_frame()])

    def paged() -> bool:
        return f"{FORCE_LIQUIDATION}/demo-oneway" in of(webhook.received(), "/webhook", "firing")

    # Well inside the minute to the next poll (the first was at start).
    wait_for("the force liquidation page", paged, timeout=30, seen=webhook.summary)
    (delivery,) = of(webhook.received(), "/webhook", "firing")[f"{FORCE_LIQUIDATION}/demo-oneway"]
    assert delivery.at - pushed < 30
    (alert,) = delivery.body["alerts"]
    assert alert["labels"]["account"] == "demo-oneway"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == (
        "Account demo-oneway: Binance pushed FORCE_LIQUIDATION (1 event(s) in 1h, threshold 0)"
    )
    assert alert["annotations"]["runbook_url"].endswith("#binancepmforceliquidationevent")
    assert f"{FORCE_LIQUIDATION}/demo-oneway" in of(webhook.received(), "/pagerduty", "firing")


STREAM_UP = 'binance_pm_exporter_stream_up{account="demo-oneway"}'
FORCE_LIQUIDATIONS = (
    'binance_pm_risk_level_events_total{account="demo-oneway", level="FORCE_LIQUIDATION"}'
)


def scraped(prometheus_url: str, series: str) -> float | None:
    reply = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": series}, timeout=5)
    result = reply.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None
