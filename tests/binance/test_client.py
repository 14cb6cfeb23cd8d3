"""The PAPI client over httpx.MockTransport: -1021 resync, the size cap and the Retry-After gate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest

from exporter.binance.client import Credentials, PapiClient, Reply, RetryAfterGate
from exporter.binance.clock import ServerClock
from exporter.binance.errors import ApiError
from exporter.binance.signing import HmacSigner

BASE = "http://papi.invalid"
TIME_URL = "http://fapi.invalid/fapi/v1/time"
UM = "/papi/v1/um/account"
BODY = b'{"assets": [], "positions": []}'
TIMESTAMP_REFUSED = httpx.Response(
    400, json={"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
)
CREDENTIALS = Credentials("key-0123", HmacSigner("secret-4567"))
MAX_BYTES = 1024


class Binance:
    """A MockTransport that answers PAPI paths and the time URL from canned replies, in turn."""

    def __init__(self, papi: list[httpx.Response], server_offset: float | None = 0.0) -> None:
        self.papi = papi
        self.server_offset = server_offset  # None: the time URL answers 500
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == TIME_URL:
            if self.server_offset is None:
                return httpx.Response(500)
            return httpx.Response(
                200, json={"serverTime": int((time.time() + self.server_offset) * 1000)}
            )
        return self.papi.pop(0)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def timestamps(self) -> list[int]:
        return [
            int(parse_qs(r.url.query.decode())["timestamp"][0])
            for r in self.requests
            if r.url.path != "/fapi/v1/time"
        ]


def make_client(binance: Binance, gate: RetryAfterGate | None = None) -> PapiClient:
    http = httpx.AsyncClient(transport=binance.transport)
    clock = ServerClock(http, TIME_URL, timeout=1.0, max_response_bytes=MAX_BYTES)
    return PapiClient(
        http,
        BASE,
        clock,
        gate or RetryAfterGate(),
        recv_window_ms=5000,
        timeout=1.0,
        max_response_bytes=MAX_BYTES,
    )


def get(client: PapiClient, path: str = UM) -> Reply:
    return asyncio.run(client.get_signed(path, CREDENTIALS))


def refused(client: PapiClient, path: str = UM) -> ApiError:
    with pytest.raises(ApiError) as caught:
        get(client, path)
    return caught.value


def test_a_signed_get_carries_the_key_window_timestamp_and_signature():
    binance = Binance([httpx.Response(200, content=BODY, headers={"X-MBX-USED-WEIGHT-1M": "7"})])
    client = make_client(binance)
    assert get(client) == Reply(BODY)
    (request,) = binance.requests
    query = parse_qs(request.url.query.decode())
    assert request.headers["X-MBX-APIKEY"] == "key-0123"
    assert sorted(query) == ["recvWindow", "signature", "timestamp"]
    assert query["recvWindow"] == ["5000"]
    signed = request.url.query.decode().rsplit("&signature=", 1)[0]
    assert query["signature"] == [CREDENTIALS.signer.sign(signed)]
    assert (client.used_weight_1m, client.requests_sent) == (7.0, 1)


def test_extra_parameters_come_first_and_are_signed_with_the_rest():
    binance = Binance([httpx.Response(200, content=BODY)])
    client = make_client(binance)
    params = {"startTime": "1700000000000", "limit": "1000"}
    assert asyncio.run(client.get_signed(UM, CREDENTIALS, params)) == Reply(BODY)
    (request,) = binance.requests
    raw = request.url.query.decode()
    assert raw.startswith("startTime=1700000000000&limit=1000&recvWindow=5000&timestamp=")
    signed = raw.rsplit("&signature=", 1)[0]
    assert parse_qs(raw)["signature"] == [CREDENTIALS.signer.sign(signed)]


def test_a_timestamp_retry_sends_the_extra_parameters_again():
    binance = Binance([TIMESTAMP_REFUSED, httpx.Response(200, content=BODY)], server_offset=5.0)
    client = make_client(binance)
    assert asyncio.run(client.get_signed(UM, CREDENTIALS, {"symbol": "BTCUSDT"})) == Reply(
        BODY, timestamp_retried=True
    )
    queries = [parse_qs(r.url.query.decode()) for r in binance.requests if r.url.path == UM]
    assert [q["symbol"] for q in queries] == [["BTCUSDT"], ["BTCUSDT"]]


def test_a_timestamp_refusal_resyncs_the_clock_and_retries_once():
    binance = Binance([TIMESTAMP_REFUSED, httpx.Response(200, content=BODY)], server_offset=5.0)
    client = make_client(binance)
    assert get(client) == Reply(BODY, timestamp_retried=True)
    assert binance.paths() == [UM, "/fapi/v1/time", UM]
    assert client.clock.offset_seconds == pytest.approx(5.0, abs=0.1)
    first, retry = binance.timestamps()
    assert retry - first == pytest.approx(5000, abs=100)
    assert client.requests_sent == 2


def test_a_retry_refused_again_raises_the_timestamp_error_marked_as_retried():
    binance = Binance([TIMESTAMP_REFUSED, TIMESTAMP_REFUSED], server_offset=5.0)
    client = make_client(binance)
    error = refused(client)
    assert (error.reason, error.timestamp_retried) == ("timestamp", True)
    assert binance.paths() == [UM, "/fapi/v1/time", UM]


def test_a_timestamp_refusal_is_not_retried_when_the_clock_cannot_be_measured():
    binance = Binance([TIMESTAMP_REFUSED], server_offset=None)
    client = make_client(binance)
    error = refused(client)
    assert (error.reason, error.timestamp_retried) == ("timestamp", False)
    assert binance.paths() == [UM, "/fapi/v1/time"]
    assert client.clock.offset_seconds == 0.0


def test_a_reply_announced_over_the_cap_is_dropped_unread():
    binance = Binance([httpx.Response(200, content=b"x" * (MAX_BYTES + 1))])
    error = refused(make_client(binance))
    assert error.reason == "bad_response"
    assert str(error) == f"reply of {MAX_BYTES + 1} bytes is over the limit"


def test_a_streamed_reply_is_cut_off_as_soon_as_it_passes_the_cap():
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"x" * 512

    binance = Binance([httpx.Response(200, content=endless())])
    error = refused(make_client(binance))
    assert "content-length" not in binance.requests[0].headers
    assert error.reason == "bad_response"
    assert str(error) == f"reply over {MAX_BYTES} bytes, cut off"
    assert pulled == 3  # 512, 1024, then 1536 bytes: over the cap


def test_a_reply_of_exactly_the_cap_is_read():
    binance = Binance([httpx.Response(200, content=b"x" * MAX_BYTES)])
    assert get(make_client(binance)) == Reply(b"x" * MAX_BYTES)


@pytest.mark.parametrize(("status", "reason"), [(429, "rate_limited"), (418, "ip_banned")])
def test_retry_after_closes_the_gate_and_the_next_request_is_not_sent(status, reason):
    binance = Binance([httpx.Response(status, headers={"Retry-After": "30"})])
    gate = RetryAfterGate()
    client = make_client(binance, gate)
    error = refused(client)
    assert (error.reason, error.retry_after, error.sent) == (reason, 30.0, True)
    assert gate.reason == reason
    assert 29.0 < gate.remaining() <= 30.0
    held = refused(client, "/papi/v1/account")
    assert (held.reason, held.sent) == (reason, False)
    assert len(binance.requests) == 1
    assert client.requests_sent == 1


def test_a_client_rebuilt_by_a_reload_keeps_a_running_ban():
    binance = Binance([httpx.Response(429, headers={"Retry-After": "30"})])
    gate = RetryAfterGate()
    refused(make_client(binance, gate))
    held = refused(make_client(binance, gate))
    assert (held.reason, held.sent) == ("rate_limited", False)
    assert len(binance.requests) == 1


def test_a_shorter_retry_after_does_not_reopen_the_gate_early():
    binance = Binance([httpx.Response(418, headers={"Retry-After": "120"})])
    gate = RetryAfterGate()
    refused(make_client(binance, gate))
    gate.close_for(5.0, "rate_limited")
    assert gate.reason == "ip_banned"
    assert 119.0 < gate.remaining() <= 120.0


@pytest.mark.parametrize(
    ("exc", "reason"),
    [(httpx.ReadTimeout("slow"), "timeout"), (httpx.ConnectError("refused"), "network")],
)
def test_transport_failures_are_classified(exc, reason):
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    binance = Binance([])
    binance.transport = httpx.MockTransport(fail)
    error = refused(make_client(binance))
    assert (error.reason, error.sent) == (reason, True)
    assert "signature" not in str(error)
