"""Fault knobs: errors, bad bodies, latency, slow and huge bodies, also driven over HTTP."""

from __future__ import annotations

import inspect
import time

import httpx
import orjson
import pytest

from exporter.binance.signing import HmacSigner
from exporter.simulator.server import KNOBS

UM = "/papi/v1/um/account"
ACCOUNT = "/papi/v1/account"
RISK = "/papi/v1/um/positionRisk"


def test_fault_answers_with_its_status_and_code(papi):
    papi.sim.set_fault(path=UM, status=503, code=-1001, msg="Service unavailable.")
    reply = papi.get(UM)
    assert papi.error(reply) == (503, -1001, "Service unavailable.")
    assert papi.weight(reply) == 5  # faults still spend weight and carry the header
    assert papi.get(ACCOUNT).status_code == 200  # other paths are untouched


def test_fault_code_and_message_default_from_the_status(papi):
    papi.sim.set_fault(status=502)
    assert papi.error(papi.get(UM)) == (
        502,
        -1001,
        "Internal error; unable to process your request. Please try again.",
    )


def test_fault_applies_the_given_number_of_times(papi):
    papi.sim.set_fault(path=ACCOUNT, status=500, times=2)
    statuses = [papi.get(ACCOUNT).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_fault_for_one_account_spares_the_others(papi):
    papi.sim.set_fault("ed", None, status=401, code=-2015)
    assert papi.error(papi.get(UM, "ed"))[:2] == (401, -2015)
    assert papi.get(UM, "hmac").status_code == 200
    assert papi.get(UM, "rsa").status_code == 200


def test_clear_faults_restores_normal_answers(papi):
    papi.sim.set_fault(status=500)
    assert papi.get(UM).status_code == 500
    papi.sim.clear_faults()
    assert papi.get(UM).status_code == 200


def test_fault_with_retry_after_sets_the_header(papi):
    papi.sim.set_fault(path=UM, status=429, retry_after=2.2)
    reply = papi.get(UM)
    assert papi.error(reply)[:2] == (429, -1003)
    assert reply.headers["Retry-After"] == "3"


def test_malformed_fault_is_a_200_with_invalid_json(papi):
    papi.sim.set_fault(path=UM, malformed=True)
    reply = papi.get(UM)
    assert reply.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(reply.content)
    assert papi.sim.last_payload("hmac", UM) is None


def test_body_fault_serves_exactly_those_bytes(papi):
    papi.sim.set_fault(path=ACCOUNT, status=502, body=b"<html>Bad Gateway</html>")
    reply = papi.get(ACCOUNT)
    assert (reply.status_code, reply.content) == (502, b"<html>Bad Gateway</html>")
    papi.sim.set_fault(path=RISK, body=b"[]")
    assert (papi.get(RISK).status_code, papi.get(RISK).content) == (200, b"[]")


def test_latency_only_fault_answers_normally_after_the_delay(papi):
    papi.sim.set_fault(path=ACCOUNT, latency=0.3, times=1)
    started = time.monotonic()
    reply = papi.get(ACCOUNT)
    assert time.monotonic() - started >= 0.3
    assert reply.status_code == 200
    assert reply.json()["accountStatus"] == "NORMAL"
    started = time.monotonic()
    papi.get(ACCOUNT)
    assert time.monotonic() - started < 0.3


def test_latency_fault_can_outlast_a_client_timeout(papi):
    papi.sim.set_fault(path=UM, latency=1.0)
    with pytest.raises(httpx.ReadTimeout):
        papi.get(UM, timeout=0.2)


def test_trickle_stalls_a_read_timeout(papi):
    papi.sim.trickle(UM, bytes_per_second=2)
    with papi.http.stream("GET", UM, timeout=httpx.Timeout(5.0, read=0.3)) as reply:
        assert reply.status_code == 200
        assert reply.headers["Content-Length"] == "4096"
        with pytest.raises(httpx.ReadTimeout):
            reply.read()


def test_trickle_sends_one_byte_at_a_time(papi):
    papi.sim.trickle(UM, bytes_per_second=50)
    received = 0
    with papi.http.stream("GET", UM) as reply:
        started = time.monotonic()
        for chunk in reply.iter_raw():
            received += len(chunk)
            if time.monotonic() - started > 0.4:
                break
    assert 5 <= received <= 40


def test_huge_body_streams_exactly_the_size_asked(papi):
    size = 8 * 1024 * 1024 + 3
    papi.sim.huge_body(ACCOUNT, size)
    with papi.http.stream("GET", ACCOUNT) as reply:
        assert reply.status_code == 200
        assert int(reply.headers["Content-Length"]) == size
        total, head, tail = 0, b"", b""
        for chunk in reply.iter_raw():
            head = head or chunk[:8]
            tail = (tail + chunk)[-2:]
            total += len(chunk)
    assert (total, head, tail) == (size, b'{"pad":"', b'"}')


def test_knobs_work_over_http_for_another_process(papi):
    control = papi.sim.base_url + "/_sim"
    ok = httpx.post(f"{control}/fault", json={"path": UM, "status": 503, "times": 1})
    assert ok.json() == {"ok": True}
    assert papi.get(UM).status_code == 503
    httpx.post(f"{control}/status_override", json={"account": "hmac", "status": "MARGIN_CALL"})
    assert papi.json(ACCOUNT)["accountStatus"] == "MARGIN_CALL"
    httpx.post(f"{control}/freeze_prices", json={"frozen": True})
    httpx.post(f"{control}/mark_price", json={"symbol": "BTCUSDT", "price": "70000"})
    httpx.post(
        f"{control}/open_position",
        json={
            "account": "rsa",
            "symbol": "XRPUSDT",
            "side": "BOTH",
            "amount": "100",
            "entry_price": "0.5",
        },
    )
    assert [p["symbol"] for p in papi.json(RISK, "rsa")] == ["XRPUSDT"]
    served = httpx.get(f"{control}/last_payload", params={"account": "rsa", "path": RISK})
    assert served.json() == papi.sim.last_payload("rsa", RISK)
    records = httpx.get(f"{control}/requests").json()
    assert records[0]["status"] == 503 and records[0]["path"] == UM
    bad = httpx.post(f"{control}/open_position", json={"account": "nobody"})
    assert bad.status_code == 400 and "error" in bad.json()


def test_account_added_over_http_is_served(papi):
    body = {
        "name": "added",
        "api_key": "addedKey123",
        "api_secret": "added-secret",
        "balances": {"USDT": "500"},
        "um_positions": [
            {"symbol": "ETHUSDT", "side": "BOTH", "amount": "0.1", "entry_price": "3000"}
        ],
    }
    assert httpx.post(papi.sim.base_url + "/_sim/add_account", json=body).json() == {"ok": True}
    served = papi.json(RISK, api_key="addedKey123", signer=HmacSigner("added-secret"))
    assert [p["symbol"] for p in served] == ["ETHUSDT"]
    httpx.post(papi.sim.base_url + "/_sim/remove_account", json={"name": "added"})
    reply = papi.get(RISK, api_key="addedKey123", signer=HmacSigner("added-secret"))
    assert papi.error(reply)[:2] == (401, -2015)


def test_every_knob_runs_through_the_thread_with_the_simulators_signature(papi):
    for name in KNOBS:
        through_thread = getattr(papi.sim, name)
        assert inspect.signature(through_thread) == inspect.signature(
            getattr(papi.sim.simulator, name)
        )
    papi.sim.set_clock_skew(-250)
    assert papi.sim.call(lambda: papi.sim.simulator.clock_skew_ms) == -250


def test_a_method_that_is_no_knob_is_not_forwarded(papi):
    with pytest.raises(AttributeError):
        papi.sim.port  # noqa: B018 (the attribute lookup is the behaviour under test)


def test_unknown_knob_over_http_is_a_404(papi):
    reply = httpx.post(papi.sim.base_url + "/_sim/account", json={"name": "hmac"})
    assert reply.status_code == 404
