"""The simulator enforces Binance's SIGNED endpoint rules: API key, signature, timestamp."""

from __future__ import annotations

import time

from exporter.binance.signing import HmacSigner

UM = "/papi/v1/um/account"
ACCOUNT = "/papi/v1/account"


def test_hmac_signed_request_is_served(papi):
    assert papi.json(ACCOUNT, "hmac")["accountStatus"] == "NORMAL"


def test_rsa_signed_request_is_served(papi):
    reply = papi.get(ACCOUNT, "rsa")
    assert reply.status_code == 200
    assert reply.json()["accountEquity"] == "1000.0"


def test_ed25519_signed_request_is_served(papi):
    assert papi.get(UM, "ed").status_code == 200


def test_unknown_api_key_is_401_2015(papi):
    reply = papi.get(ACCOUNT, "hmac", api_key="nobodyKey123")
    assert papi.error(reply) == (401, -2015, "Invalid API-key, IP, or permissions for action.")


def test_missing_api_key_is_401_2015(papi):
    reply = papi.http.get(ACCOUNT, params={"timestamp": str(int(time.time() * 1000))})
    assert papi.error(reply)[:2] == (401, -2015)


def test_badly_formed_api_key_is_401_2014(papi):
    for key in ("has space", ""):
        reply = papi.get(ACCOUNT, "hmac", api_key=key)
        assert papi.error(reply) == (401, -2014, "API-key format invalid.")


def test_another_accounts_key_does_not_verify(papi):
    reply = papi.get(ACCOUNT, "hmac", api_key=papi.keys["ed"])
    assert papi.error(reply) == (400, -1022, "Signature for this request is not valid.")


def test_wrong_secret_is_1022(papi):
    reply = papi.get(ACCOUNT, "hmac", signer=HmacSigner("not-the-secret"))
    assert papi.error(reply)[:2] == (400, -1022)


def test_wrong_private_key_is_1022(papi):
    reply = papi.get(ACCOUNT, "ed", signer=papi.signers["rsa"])
    assert papi.error(reply)[:2] == (400, -1022)


def test_signature_not_last_is_1022(papi):
    # The signature is right for what precedes it, but a parameter follows it.
    reply = papi.get(ACCOUNT, "hmac", after_signature="&recvWindow=5000")
    assert papi.error(reply)[:2] == (400, -1022)


def test_missing_signature_is_1022(papi):
    query = f"timestamp={int(time.time() * 1000)}"
    reply = papi.http.get(f"{ACCOUNT}?{query}", headers={"X-MBX-APIKEY": papi.keys["hmac"]})
    assert papi.error(reply)[:2] == (400, -1022)


def test_signature_covers_the_raw_query_string(papi):
    # Re-ordering parameters after signing changes the signed bytes.
    query = f"timestamp={int(time.time() * 1000)}&recvWindow=5000"
    signature = papi.signers["hmac"].sign(query)
    reordered = "&".join(reversed(query.split("&")))
    headers = {"X-MBX-APIKEY": papi.keys["hmac"]}
    assert papi.http.get(f"{ACCOUNT}?{query}&signature={signature}", headers=headers).is_success
    bad = papi.http.get(f"{ACCOUNT}?{reordered}&signature={signature}", headers=headers)
    assert papi.error(bad)[:2] == (400, -1022)


def test_missing_timestamp_is_1102(papi):
    query = "recvWindow=5000"
    url = f"{ACCOUNT}?{query}&signature={papi.signers['hmac'].sign(query)}"
    reply = papi.http.get(url, headers={"X-MBX-APIKEY": papi.keys["hmac"]})
    assert papi.error(reply) == (
        400,
        -1102,
        "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    )


def test_recv_window_above_60000_is_1131(papi):
    reply = papi.get(ACCOUNT, "hmac", recv_window=60001)
    assert papi.error(reply) == (400, -1131, "recvWindow must be less than 60000.")
    assert papi.get(ACCOUNT, "hmac", recv_window=60000).status_code == 200


def test_timestamp_1000ms_ahead_of_server_is_1021(papi):
    papi.sim.set_clock_skew(-1500)  # the server is 1.5 s behind the client
    reply = papi.get(ACCOUNT, "hmac")
    assert papi.error(reply) == (
        400,
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    papi.sim.set_clock_skew(-500)
    assert papi.get(ACCOUNT, "hmac").status_code == 200


def test_timestamp_older_than_recv_window_is_1021(papi):
    papi.sim.set_clock_skew(6000)  # the client looks 6 s late; default recvWindow is 5000
    reply = papi.get(ACCOUNT, "hmac")
    assert papi.error(reply) == (
        400,
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )
    assert papi.get(ACCOUNT, "hmac", recv_window=10000).status_code == 200


def test_time_endpoint_serves_the_skewed_clock_unsigned(papi):
    papi.sim.set_clock_skew(3_600_000)
    before = time.time() * 1000
    server_time = papi.http.get(papi.sim.time_url).json()["serverTime"]
    after = time.time() * 1000
    assert before + 3_600_000 - 5 <= server_time <= after + 3_600_000 + 5


def test_client_that_follows_the_servers_clock_is_accepted_under_skew(papi):
    papi.sim.set_clock_skew(-120_000)
    server_time = papi.http.get(papi.sim.time_url).json()["serverTime"]
    assert papi.get(ACCOUNT, "rsa", timestamp=server_time).status_code == 200
