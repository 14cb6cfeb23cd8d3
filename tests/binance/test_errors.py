"""classify_reply: one place turns a status and Binance error body into a reason."""

from __future__ import annotations

import orjson
import pytest

from exporter.binance.errors import classify_reply, parse_retry_after


def binance_error(code: int, msg: str = "An error.") -> bytes:
    return orjson.dumps({"code": code, "msg": msg})


def test_200_is_not_an_error() -> None:
    assert classify_reply(200, b'{"uniMMR": "5.1"}', None) is None


def test_429_is_rate_limited() -> None:
    error = classify_reply(429, binance_error(-1003, "Too many requests."), "7")

    assert error.reason == "rate_limited"
    assert error.status == 429
    assert error.code == -1003


def test_429_honours_retry_after() -> None:
    error = classify_reply(429, binance_error(-1003), "7")

    assert error.retry_after == 7.0


def test_429_without_retry_after_waits_60_seconds() -> None:
    error = classify_reply(429, binance_error(-1003), None)

    assert error.retry_after == 60.0


def test_418_is_ip_banned() -> None:
    error = classify_reply(418, binance_error(-1003), "120")

    assert error.reason == "ip_banned"
    assert error.retry_after == 120.0


def test_401_is_auth() -> None:
    assert classify_reply(401, binance_error(-2015), None).reason == "auth"


@pytest.mark.parametrize("code", [-2015, -2014, -1022])
def test_400_with_key_or_signature_code_is_auth(code: int) -> None:
    error = classify_reply(400, binance_error(code), None)

    assert error.reason == "auth"
    assert error.code == code


def test_timestamp_code_is_timestamp() -> None:
    error = classify_reply(
        400, binance_error(-1021, "Timestamp for this request is outside of the recvWindow."), None
    )

    assert error.reason == "timestamp"
    assert error.code == -1021


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_http_5xx(status: int) -> None:
    error = classify_reply(status, binance_error(-1001, "Internal error; unable to process."), None)

    assert error.reason == "http_5xx"


def test_400_with_another_code_is_other() -> None:
    error = classify_reply(400, binance_error(-1102, "Mandatory parameter was not sent."), None)

    assert error.reason == "other"
    assert error.code == -1102


def test_non_json_5xx_body_is_classified_by_status() -> None:
    error = classify_reply(502, b"<html><body>Bad Gateway</body></html>", None)

    assert error.reason == "http_5xx"
    assert error.code is None


def test_non_json_401_body_is_classified_by_status() -> None:
    assert classify_reply(401, b"Unauthorized", None).reason == "auth"


def test_non_json_429_body_is_still_rate_limited() -> None:
    error = classify_reply(429, b"<html>slow down</html>", "3")

    assert (error.reason, error.retry_after) == ("rate_limited", 3.0)


def test_error_message_names_status_code_and_msg() -> None:
    error = classify_reply(400, binance_error(-1102, "Mandatory parameter was not sent."), None)

    assert str(error) == "HTTP 400 code -1102: Mandatory parameter was not sent."


def test_long_msg_is_truncated_to_200_characters() -> None:
    error = classify_reply(400, binance_error(-1102, "x" * 5000), None)

    assert str(error) == "HTTP 400 code -1102: " + "x" * 200


def test_boolean_code_is_not_a_code() -> None:
    error = classify_reply(400, orjson.dumps({"code": True, "msg": "odd"}), None)

    assert error.code is None
    assert error.reason == "other"


def test_retry_after_absent_is_60() -> None:
    assert parse_retry_after(None) == 60.0


def test_retry_after_in_seconds_is_honoured() -> None:
    assert parse_retry_after(" 12 ") == 12.0


@pytest.mark.parametrize("value", ["soon", "-5", "inf", "nan", ""])
def test_unusable_retry_after_falls_back_to_60(value: str) -> None:
    assert parse_retry_after(value) == 60.0


KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"  # Binance's doc example


@pytest.mark.parametrize(
    ("msg", "shown"),
    [
        (f"API-key format invalid: {KEY}", "API-key format invalid: <secret>"),
        (f"key={KEY.lower()}.", "key=<secret>."),
        (f"header X-MBX-APIKEY:{KEY[:10]}...", "header X-MBX-APIKEY:<secret>..."),
        (f"'{KEY[20:40]}' and '{KEY[-8:]}'", "'<secret>' and '<secret>'"),
        (f"short {KEY[:7]} stays", f"short {KEY[:7]} stays"),
        ("Invalid API-key, IP, or permissions for action.", None),
    ],
    ids=["whole", "other case", "cut short", "two pieces", "under 8 characters", "no key"],
)
def test_anything_like_the_account_key_in_binance_message_is_redacted(
    msg: str, shown: str | None
) -> None:
    error = classify_reply(401, binance_error(-2015, msg), None, secrets=(KEY,))

    assert str(error) == f"HTTP 401 code -2015: {shown or msg}"


def test_a_key_cut_off_by_the_message_bound_is_still_redacted() -> None:
    msg = "x" * 190 + KEY

    error = classify_reply(400, binance_error(-2014, msg), None, secrets=(KEY,))

    assert str(error) == "HTTP 400 code -2014: " + "x" * 190 + "<secret>"
