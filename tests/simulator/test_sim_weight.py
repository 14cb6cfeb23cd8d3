"""Request weight per IP: the used-weight header, 429 with Retry-After, then the 418 ban."""

from __future__ import annotations

import time

UM = "/papi/v1/um/account"
ACCOUNT = "/papi/v1/account"
RISK = "/papi/v1/um/positionRisk"
CM = "/papi/v1/cm/account"
CM_RISK = "/papi/v1/cm/positionRisk"


def test_weight_header_grows_by_exactly_the_endpoint_weight(papi):
    used = []
    for path in (UM, ACCOUNT, RISK, CM, CM_RISK, UM):
        used.append(papi.weight(papi.get(path)))
    assert used == [5, 25, 30, 35, 36, 41]


def test_time_endpoint_has_its_own_budget(papi):
    papi.get(ACCOUNT)
    first = papi.http.get(papi.sim.time_url)
    second = papi.http.get(papi.sim.time_url)
    assert (papi.weight(first), papi.weight(second)) == (1, 2)
    assert papi.weight(papi.get(UM)) == 25


def test_rejected_requests_spend_weight_too(papi):
    assert papi.weight(papi.get(ACCOUNT, api_key="unknownKey1")) == 20
    assert papi.weight(papi.get(ACCOUNT, recv_window=70000)) == 40


def test_requests_are_recorded_with_status_code_and_weight(papi):
    papi.get(UM)
    papi.get(ACCOUNT, "rsa", recv_window=60001)
    papi.http.get(papi.sim.time_url)
    records = papi.sim.requests
    assert [
        (r.path, r.account, r.status, r.code, r.weight, r.ip_weight_after) for r in records
    ] == [
        (UM, "hmac", 200, None, 5, 5),
        (ACCOUNT, "rsa", 400, -1131, 20, 25),
        ("/fapi/v1/time", None, 200, None, 1, 1),
    ]
    assert all(abs(r.time - time.time()) < 5 for r in records)


def test_exceeding_the_limit_gives_429_then_418_ban(make_papi):
    papi = make_papi(weight_limit=20, window_seconds=30, ban_seconds=7)
    for _ in range(4):
        assert papi.get(UM).status_code == 200
    limited = papi.get(UM)
    assert papi.error(limited)[:2] == (429, -1003)
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert papi.weight(limited) == 25
    banned = papi.get(UM)
    assert papi.error(banned)[:2] == (418, -1003)
    assert banned.headers["Retry-After"] == "7"
    still_banned = papi.get(ACCOUNT, "rsa")
    assert papi.error(still_banned)[:2] == (418, -1003)
    assert 1 <= int(still_banned.headers["Retry-After"]) <= 7
    # The time endpoint is another API: not banned.
    assert papi.http.get(papi.sim.time_url).status_code == 200


def test_waiting_out_the_window_after_429_avoids_the_ban(make_papi):
    papi = make_papi(weight_limit=10, window_seconds=0.5)
    limited = papi.get(ACCOUNT)  # weight 20 > 10 on its own
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"  # rounded up, never 0
    time.sleep(0.55)  # past the window's end, whenever it started
    reply = papi.get(UM)
    assert reply.status_code == 200
    assert papi.weight(reply) == 5


def test_ban_ends_after_ban_seconds(make_papi):
    papi = make_papi(weight_limit=10, window_seconds=0.3, ban_seconds=0.4)
    assert papi.get(ACCOUNT).status_code == 429
    assert papi.get(UM).status_code == 418
    time.sleep(0.45)  # past the ban and into a new window
    assert papi.get(UM).status_code == 200


def test_reset_rate_limits_forgets_weight_and_bans(make_papi):
    papi = make_papi(weight_limit=5, ban_seconds=60)
    papi.get(UM)
    papi.get(UM)
    assert papi.get(UM).status_code == 418
    papi.sim.reset_rate_limits()
    reply = papi.get(UM)
    assert (reply.status_code, papi.weight(reply)) == (200, 5)
