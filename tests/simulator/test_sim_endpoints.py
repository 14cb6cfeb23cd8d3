"""The endpoint table and the HTTP layer's pure parts: the table mirrors the exporter's
collectors, and each rule (auth, weight, faults, errors) answers alone as the API does."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from collections.abc import Iterator

import pytest

from exporter.collectors import COLLECTORS, Collector
from exporter.collectors import _collateral_rate as collateral_rate
from exporter.simulator import auth
from exporter.simulator.accounts import SimAccount
from exporter.simulator.endpoints import ENDPOINTS, PATHS, TIME
from exporter.simulator.errors import Rejected, default_code
from exporter.simulator.faults import Fault, Faults
from exporter.simulator.limits import RateLimits
from exporter.simulator.stream import LISTEN_KEY_PATH


def _with_successors(collector: Collector) -> Iterator[Collector]:
    yield collector
    if collector.successor is not None:
        yield from _with_successors(collector.successor)


POLLED = [c for top in COLLECTORS.values() for c in _with_successors(top)]


@pytest.mark.parametrize("collector", POLLED, ids=lambda c: c.path)
def test_every_collectors_path_is_served_signed_with_its_weight(collector: Collector) -> None:
    endpoint = ENDPOINTS[("GET", collector.path)]
    assert (endpoint.weight, endpoint.api, endpoint.security) == (
        collector.weight,
        "papi",
        "signed",
    )


def test_the_table_serves_the_time_and_listen_key_endpoints_besides_the_collectors() -> None:
    others = {key: (e.weight, e.api, e.security) for key, e in ENDPOINTS.items()}
    for collector in POLLED:
        others.pop(("GET", collector.path))
    assert others == {
        ("GET", TIME): (1, "fapi", "none"),
        # The process-wide poll: the SAPI host's own budget, MARKET_DATA (the key alone).
        ("GET", collateral_rate.PATH): (collateral_rate.WEIGHT, "sapi", "api_key"),
        ("POST", LISTEN_KEY_PATH): (1, "papi", "api_key"),
        ("PUT", LISTEN_KEY_PATH): (1, "papi", "api_key"),
        ("DELETE", LISTEN_KEY_PATH): (1, "papi", "api_key"),
    }
    assert {path for _, path in ENDPOINTS} == PATHS


def test_the_simulator_does_not_import_the_collectors() -> None:
    code = (
        "import sys, exporter.simulator.server, exporter.simulator.demo;"
        "print(sorted(m for m in sys.modules if m.startswith('exporter.collectors')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout == "[]\n"


ACCOUNT = SimAccount(name="a", api_key="keyA", api_secret="s3cret")
NOW_MS = 1_700_000_000_000


def _signed(query: str) -> str:
    digest = hmac.new(b"s3cret", query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={digest}"


def _refusal(call: object) -> tuple[int, int, str]:
    with pytest.raises(Rejected) as refused:
        call()  # type: ignore[operator]
    return refused.value.status, refused.value.code, refused.value.msg


def test_signed_returns_the_account_and_the_signed_parameters() -> None:
    query = _signed(f"symbol=BTCUSDT&timestamp={NOW_MS - 10}")
    assert auth.signed(query, "keyA", ACCOUNT, lambda: NOW_MS) == (
        ACCOUNT,
        {"symbol": "BTCUSDT", "timestamp": str(NOW_MS - 10)},
    )


@pytest.mark.parametrize(
    ("query", "key", "account", "status", "code"),
    [
        (_signed(f"timestamp={NOW_MS}"), None, ACCOUNT, 401, -2015),
        (_signed(f"timestamp={NOW_MS}"), "bad key", None, 401, -2014),
        (_signed(f"timestamp={NOW_MS}"), "unknownKey", None, 401, -2015),
        (_signed("symbol=X"), "keyA", ACCOUNT, 400, -1102),
        (_signed(f"timestamp={NOW_MS}&recvWindow=x"), "keyA", ACCOUNT, 400, -1100),
        (_signed(f"timestamp={NOW_MS}&recvWindow=60001"), "keyA", ACCOUNT, 400, -1131),
        (f"timestamp={NOW_MS}", "keyA", ACCOUNT, 400, -1022),
        (f"timestamp={NOW_MS}&signature=00", "keyA", ACCOUNT, 400, -1022),
        (_signed(f"timestamp={NOW_MS + 1000}"), "keyA", ACCOUNT, 400, -1021),
        (_signed(f"timestamp={NOW_MS - 5001}"), "keyA", ACCOUNT, 400, -1021),
    ],
)
def test_signed_refuses_with_the_first_rule_broken(query, key, account, status, code) -> None:
    refused = _refusal(lambda: auth.signed(query, key, account, lambda: NOW_MS))
    assert refused[:2] == (status, code)


def test_a_timestamp_ahead_says_so() -> None:
    assert _refusal(lambda: auth.check_timestamp(NOW_MS + 1000, 5000, NOW_MS)) == (
        400,
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )


def test_an_api_key_endpoint_names_an_unknown_key_before_a_malformed_one() -> None:
    assert auth.api_key_only("keyA", ACCOUNT) is ACCOUNT
    assert _refusal(lambda: auth.api_key_only("bad key", None))[:2] == (401, -2015)
    assert _refusal(lambda: auth.api_key_only(None, ACCOUNT))[:2] == (401, -2015)


def test_weight_over_the_limit_is_a_429_then_a_418_ban() -> None:
    limits = RateLimits(weight_limit=10, window_seconds=60.0, ban_seconds=120.0)
    limits.origin = 1000.0
    assert limits.check(limits.spend("ip", "papi", 10, 1001.0), 1001.0, "ip", 0) is None
    state = limits.spend("ip", "papi", 1, 1001.5)
    error, retry_after = limits.check(state, 1001.5, "ip", 0) or (None, 0)
    assert (error.status, error.code, retry_after, state.used) == (429, -1003, 59, 11)
    state = limits.spend("ip", "papi", 1, 1002.0)
    error, retry_after = limits.check(state, 1002.0, "ip", -250) or (None, 0)
    assert (error.status, retry_after) == (418, 120)
    assert error.msg == (
        "Way too many requests; IP(ip) banned until 1121750. "
        "Please use the websocket for live updates to avoid bans."
    )
    assert limits.spend("ip", "fapi", 1, 1002.0).used == 1  # the time endpoint's own budget


def test_a_new_window_starts_from_zero_weight() -> None:
    limits = RateLimits(weight_limit=10, window_seconds=60.0, ban_seconds=120.0)
    limits.origin = 1000.0
    limits.spend("ip", "papi", 7, 1059.9)
    assert limits.spend("ip", "papi", 5, 1060.0).used == 5


def test_a_fault_lets_after_requests_through_then_applies_times_times() -> None:
    faults = Faults()
    faults.add(Fault("a", "/p", "error", times=2, after=1))
    taken = [faults.take("a", "/p") for _ in range(4)]
    assert [f is not None for f in taken] == [False, True, True, False]
    assert faults.take("b", "/p") is None


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, -1001),
        (503, -1001),
        (429, -1003),
        (418, -1003),
        (401, -2015),
        (403, -2015),
        (400, -1000),
    ],
)
def test_a_fault_without_a_code_gets_the_one_its_status_implies(status: int, code: int) -> None:
    assert default_code(status) == code


def test_a_rejection_body_is_binances_error_object() -> None:
    assert Rejected(400, -1128).body == (
        b'{"code":-1128,"msg":"Combination of optional parameters invalid."}'
    )
