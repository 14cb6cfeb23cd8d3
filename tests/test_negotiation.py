"""Which format and encoding a scrape gets, for the headers real clients send."""

from __future__ import annotations

import pytest

from exporter.negotiation import OPENMETRICS, TEXT, accepts_gzip, negotiate
from tests.helpers import PROMETHEUS_2, PROMETHEUS_3

OM_1 = "application/openmetrics-text; version=1.0.0; charset=utf-8"
OM_0 = "application/openmetrics-text; version=0.0.1; charset=utf-8"
TEXT_4 = "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (PROMETHEUS_2, OM_1),
        (PROMETHEUS_3, OM_1),
        (None, TEXT_4),
        ("", TEXT_4),
        ("*/*", TEXT_4),  # curl
        ("text/plain", TEXT_4),
        ("text/*", TEXT_4),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", TEXT_4),  # browser
        ("application/openmetrics-text", OM_1),
        ("application/openmetrics-text;version=0.0.1", OM_0),
        ("application/openmetrics-text;version=0.0.1;q=0.9,text/plain;q=0.3", OM_0),
        ("text/plain;version=1.0.0;escaping=allow-utf-8", TEXT_4),  # unknown version: fallback
        ("application/json", TEXT_4),  # nothing offered: text 0.0.4 as the last resort
        ("text/plain;q=0.2,application/openmetrics-text;q=0.9", OM_1),
        ("application/openmetrics-text;q=0.9,text/plain;q=1", TEXT_4),
        ("APPLICATION/OpenMetrics-Text; Version=1.0.0", OM_1),  # case-insensitive names
        ("garbage", TEXT_4),
        ("text/plain;q=banana,application/openmetrics-text", OM_1),  # a bad q drops its range
    ],
)
def test_negotiated_content_type(accept: str | None, content_type: str) -> None:
    offer = negotiate(accept)
    assert offer is not None
    assert offer.content_type == content_type
    assert offer.format == (OPENMETRICS if "openmetrics" in content_type else TEXT)


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        # q=0 refuses: OpenMetrics refused, text accepted through */*.
        ("application/openmetrics-text;q=0,*/*", TEXT_4),
        ("text/plain;q=0,*/*;q=0.5", OM_1),
        # The more specific range decides: version 1.0.0 refused, 0.0.1 still wanted.
        ("application/openmetrics-text;version=1.0.0;q=0,application/openmetrics-text", OM_0),
    ],
)
def test_q_zero_refuses_a_format(accept: str, content_type: str) -> None:
    offer = negotiate(accept)
    assert offer is not None and offer.content_type == content_type


@pytest.mark.parametrize(
    "accept",
    ["text/plain;q=0", "*/*;q=0", "text/plain;version=0.0.4;q=0,application/json"],
)
def test_refusing_every_format_is_not_acceptable(accept: str) -> None:
    assert negotiate(accept) is None


@pytest.mark.parametrize(
    ("accept_encoding", "gzip"),
    [
        ("gzip", True),  # Prometheus
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=1.0, *;q=0.5", True),
        ("*", True),
        ("x-gzip", True),
        ("GZIP", True),
        (None, False),
        ("", False),
        ("identity", False),
        ("br", False),
        ("gzip;q=0", False),
        ("gzip;q=0, identity", False),
        ("*;q=0", False),
        ("gzip;q=0, *;q=1", False),  # gzip named explicitly: its own q decides
        ("*;q=0.5, gzip;q=0", False),
    ],
)
def test_gzip_accepted(accept_encoding: str | None, gzip: bool) -> None:
    assert accepts_gzip(accept_encoding) is gzip
