"""One place decides what kind of failure a reply is; the reason becomes a metric label."""

from __future__ import annotations

import re
from typing import Literal, get_args

import orjson

from exporter.redaction import redact_secrets

Reason = Literal[
    "timeout",
    "network",
    "http_5xx",
    "rate_limited",
    "ip_banned",
    "auth",
    "timestamp",
    "bad_response",
    "other",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

# Binance error codes: https://developers.binance.com/docs/derivatives/portfolio-margin/error-code
AUTH_CODES = frozenset({-2014, -2015, -1022})  # bad key format, key/IP/permission, bad signature
TIMESTAMP_CODE = -1021
# How Binance answered for an endpoint it retired (GET /fapi/v1/account): HTTP 400, code -5000,
# "GET /fapi/v1/account is retired, please use GET /fapi/v2/account".
RETIRED_CODE = -5000
DEFAULT_RETRY_AFTER = 60.0  # when a 429/418 comes without Retry-After
MAX_MESSAGE_CHARS = 200  # of Binance's error message, as logged and shown


class ApiError(Exception):
    """A failed request; ``sent`` is False when a back-off window stopped it before sending."""

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.sent = sent
        # Set when this error ended the retry that followed a -1021 (``Reply.timestamp_retried``).
        self.timestamp_retried = False
        # The original text of an unexpected exception, for one log line (never the page).
        self.detail = ""
        # Binance said the endpoint is retired (its successor, if any, takes over).
        self.retired = code == RETIRED_CODE and "retired" in message.lower()


# A URL's query holds the timestamp and the signature: never let it reach a log line.
_QUERY = re.compile(r"\?[^\s'\"]*")


def unexpected_error(exc: Exception, secrets: tuple[str, ...] = ()) -> ApiError:
    """An exception no rule classifies (a bug, a library refusing a value) as reason ``other``.

    The message names only the type, since the landing page shows it; the exception's own text
    may quote what it was given, so it is kept apart in ``detail`` with secrets and any query
    string taken out, and bounded like Binance's messages.
    """
    error = ApiError("other", f"unexpected error: {type(exc).__name__}")
    error.detail = _QUERY.sub("?<query>", redact_secrets(str(exc), secrets))[:200]
    error.__cause__ = exc
    return error


def classify_reply(
    status: int, body: bytes, retry_after_header: str | None, secrets: tuple[str, ...] = ()
) -> ApiError | None:
    """None for a 2xx; otherwise the ApiError this status and Binance error body mean.

    Binance's message may quote the API key: anything in it that looks like one of ``secrets``
    (the account's key) is taken out here, the one place every remote error text comes from.
    """
    if 200 <= status < 300:
        return None
    code, msg = _error_body(body)
    # Binance's messages are short fixed texts; bound them so a hostile body cannot flood logs
    # (after the redaction, so that a key cut at the bound is still recognised).
    msg = redact_secrets(msg, secrets)[:MAX_MESSAGE_CHARS]
    detail = f"HTTP {status}" + (f" code {code}: {msg}" if code is not None else "")
    if status in (429, 418):
        reason: Reason = "rate_limited" if status == 429 else "ip_banned"
        wait = parse_retry_after(retry_after_header)
        return ApiError(reason, detail, status=status, code=code, retry_after=wait)
    if code == TIMESTAMP_CODE:
        return ApiError("timestamp", detail, status=status, code=code)
    if status == 401 or code in AUTH_CODES:
        return ApiError("auth", detail, status=status, code=code)
    if status >= 500:
        return ApiError("http_5xx", detail, status=status, code=code)
    return ApiError("other", detail, status=status, code=code)


def parse_retry_after(value: str | None) -> float:
    if value is None:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value.strip())
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if 0 <= seconds < 10 * 86400 else DEFAULT_RETRY_AFTER


def _error_body(body: bytes) -> tuple[int | None, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    code = data.get("code")
    msg = data.get("msg")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    return code, (msg[: 4 * MAX_MESSAGE_CHARS] if isinstance(msg, str) else "")
