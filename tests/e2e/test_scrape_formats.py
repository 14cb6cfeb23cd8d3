"""/metrics over a real socket with the headers real clients send: format, gzip, validity."""

from __future__ import annotations

import gzip
import http.client
from dataclasses import dataclass

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from exporter.negotiation import OPENMETRICS, TEXT
from tests.helpers import (
    PROMETHEUS_2,
    PROMETHEUS_3,
    ExporterThread,
    check_metrics,
    make_config,
    parse_samples,
    value,
    wait_for,
)

HEADERS = {
    "prometheus-2": ({"Accept": PROMETHEUS_2, "Accept-Encoding": "gzip"}, OPENMETRICS),
    "prometheus-3": ({"Accept": PROMETHEUS_3, "Accept-Encoding": "gzip"}, OPENMETRICS),
    "text-plain": ({"Accept": "text/plain"}, TEXT),
    "any": ({"Accept": "*/*"}, TEXT),
    "none": ({}, TEXT),
}


@pytest.fixture(scope="module")
def exporter():
    from exporter.simulator.server import SimulatorThread
    from tests.helpers import oneway_account

    with SimulatorThread([oneway_account()], tick_seconds=0.2) as sim:
        sim.freeze_prices()
        config = make_config(sim.base_url, [
            {"name": "oneway", "api_key": "oneway-api-key-0123456789",
             "api_secret": "oneway-secret-abcdefghijklmnopqrstuvwxyz"},
        ])  # fmt: skip
        with ExporterThread(config) as exp:
            wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
            exp.stop_polling()
            yield exp


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    content: bytes  # as sent: still gzipped if it was


def get(exp: ExporterThread, headers: dict[str, str]) -> Reply:
    """Exactly the client's headers (an HTTP library would add its own Accept-Encoding)."""
    conn = http.client.HTTPConnection("127.0.0.1", exp.exporter.port, timeout=10)
    try:
        conn.putrequest("GET", "/metrics", skip_accept_encoding=True)
        for name, val in headers.items():
            conn.putheader(name, val)
        conn.endheaders()
        reply = conn.getresponse()
        found = {k.lower(): v for k, v in reply.getheaders()}
        return Reply(reply.status, found, reply.read())
    finally:
        conn.close()


def without_process(body: str) -> list[str]:
    return [line for line in body.splitlines() if "process_" not in line]


def decoded(reply: Reply) -> str:
    if reply.headers.get("content-encoding") == "gzip":
        return gzip.decompress(reply.content).decode()
    return reply.content.decode()


@pytest.mark.parametrize("client", list(HEADERS))
def test_every_client_gets_a_complete_valid_exposition(exporter, client):
    headers, fmt = HEADERS[client]
    reply = wait_for(lambda: (r := get(exporter, headers)).status_code == 200 and r)
    assert reply.headers["vary"] == "Accept, Accept-Encoding"
    wants_gzip = "Accept-Encoding" in headers
    body = decoded(reply)
    if fmt == OPENMETRICS:
        assert reply.headers["content-type"].startswith(
            "application/openmetrics-text; version=1.0.0"
        )
        families = {f.name: f for f in parse_openmetrics(body)}  # raises on any error
        assert body.endswith("# EOF\n")
        assert families["binance_pm_exporter_poll_errors"].type == "counter"
    else:
        assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert check_metrics(body) == ""
    samples = parse_samples(body) if fmt == TEXT else None
    if samples is not None:
        assert value(samples, "binance_pm_um_asset_cross_wallet_balance", account="oneway",
                     asset="USDT") == 25000.0  # fmt: skip
    if wants_gzip:
        # The first scrape of a body may be plain while its gzip is made; the next is gzip.
        again = wait_for(
            lambda: (r := get(exporter, headers)).headers.get("content-encoding") == "gzip" and r
        )
        # Possibly a later publish: the same data, the process metrics read anew.
        assert without_process(decoded(again)) == without_process(body)
    else:
        assert "content-encoding" not in reply.headers


def test_prometheus_gets_the_published_bytes_and_no_scrape_builds(exporter):
    headers = HEADERS["prometheus-2"][0]
    wait_for(lambda: get(exporter, headers).headers.get("content-encoding") == "gzip")
    renderer = exporter.exporter.renderer
    builds = exporter.call(lambda: renderer.builds)
    replies = [get(exporter, headers) for _ in range(30)]
    published = exporter.call(lambda: renderer.published[OPENMETRICS])
    assert exporter.call(lambda: renderer.builds) == builds
    assert {r.content for r in replies} == {published.gzip}
    assert gzip.decompress(published.gzip) == published.body


def test_refusing_every_format_gets_406(exporter):
    reply = get(exporter, {"Accept": "text/plain;q=0, application/openmetrics-text;q=0"})
    assert reply.status_code == 406
    assert reply.headers["vary"] == "Accept, Accept-Encoding"


def test_gzip_q_zero_is_honoured(exporter):
    headers = {"Accept": PROMETHEUS_2, "Accept-Encoding": "gzip;q=0, identity"}
    for _ in range(3):
        reply = get(exporter, headers)
        assert "content-encoding" not in reply.headers
        assert reply.content.endswith(b"# EOF\n")
