"""Whether a request may be served: its API key, and for a signed endpoint its timestamp,
recvWindow and signature, checked in Binance's order (rules 3 to 7 of
``exporter.simulator.api``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from exporter.simulator.accounts import SimAccount
from exporter.simulator.errors import AHEAD_MSG, Rejected

API_KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
AHEAD_MS = 1000  # Binance refuses a timestamp this far ahead of its clock

# Printable ASCII without spaces; Binance's keys are 64 alphanumerics.
_API_KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,256}")


def api_key_only(raw_key: str | None, account: SimAccount | None) -> SimAccount:
    """USER_STREAM security: the API key alone (no timestamp, no signature) names the account."""
    if raw_key is None or account is None:
        raise Rejected(401, -2015)
    if not _API_KEY_FORMAT.fullmatch(raw_key):
        raise Rejected(401, -2014)
    return account


def signed(
    raw_query: str,
    raw_key: str | None,
    account: SimAccount | None,
    clock_ms: Callable[[], int],
) -> tuple[SimAccount, dict[str, str]]:
    """SIGNED security: the caller's account and the query's parameters, or the first rule the
    request breaks. The signature covers ``raw_query`` exactly as sent (still encoded) up to
    ``&signature=``."""
    if raw_key is None:
        raise Rejected(401, -2015)
    if not _API_KEY_FORMAT.fullmatch(raw_key):
        raise Rejected(401, -2014)
    if account is None:
        raise Rejected(401, -2015)
    parts = raw_query.split("&") if raw_query else []
    signed_parts = parts[:-1] if parts and parts[-1].startswith("signature=") else parts
    params = dict(parse_qsl("&".join(signed_parts), keep_blank_values=True))
    timestamp_text = params.get("timestamp", "")
    if not timestamp_text.isdigit():
        raise Rejected(400, -1102)
    recv_text = params.get("recvWindow", str(DEFAULT_RECV_WINDOW))
    if not recv_text.isdigit():
        raise Rejected(400, -1100)
    recv_window = int(recv_text)
    if recv_window > MAX_RECV_WINDOW:
        raise Rejected(400, -1131)
    if signed_parts is parts or any(p.startswith("signature=") for p in signed_parts):
        raise Rejected(400, -1022)
    signature = parts[-1][len("signature=") :]
    if not signature or not account.verify("&".join(signed_parts), signature):
        raise Rejected(400, -1022)
    check_timestamp(int(timestamp_text), recv_window, clock_ms())
    return account, params


def check_timestamp(timestamp: int, recv_window: int, server_time: int) -> None:
    """Binance's -1021: a timestamp too far ahead of its clock, or older than recvWindow."""
    if timestamp >= server_time + AHEAD_MS:
        raise Rejected(400, -1021, AHEAD_MSG)
    if server_time - timestamp > recv_window:
        raise Rejected(400, -1021)
