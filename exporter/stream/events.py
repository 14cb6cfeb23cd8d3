"""User data stream frames: what every event kind's parse function reads with; pure, no I/O.

Every field the SDK models is optional, so a frame missing what an event needs is malformed
rather than half-counted. JSON integers stay Python ints (orjson): a transaction id above 2**53
is never rounded through a float. The kinds themselves are ``exporter.stream.kinds``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

# Label values come from Binance's vocabulary: an asset (``BTC``, ``1000SATS``) or an enum value
# (a reason, a type, a level: ``FUNDING_FEE``); anything else is a malformed frame rather than a
# new series. How many of them an account's stream may add: ``exporter.stream.kinds.LabelBudget``.
_ASSET = re.compile(r"[A-Z0-9]{1,20}")
_ENUM = re.compile(r"[A-Z0-9_]{1,40}")
# An event type only names a log line (``unknown_event``), never a label.
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.-]{1,40}")

# Event times outside [2017, now + 1 day] are unreadable: Binance's PM stream is younger, and
# a time far ahead would pin "the latest event by E" until restart.
EARLIEST_EVENT_MS = 1_483_228_800_000  # 2017-01-01T00:00:00Z
FUTURE_EVENT_MS = 86_400_000
# A decimal beyond these is unreadable: no balance change or uniMMR comes near 1e15, and a sum
# of such values would end as +Inf (or a Decimal overflow) in a counter for good.
MAX_DECIMAL = Decimal("1e15")
MIN_EXPONENT = -30  # digits below 1e-30: nothing Binance sends (its assets have <= 18 decimals)

BadKind = Literal["malformed", "unknown_event"]
Frame = dict[str, Any]


class BadFrame(ValueError):
    """A frame that cannot be counted; ``kind`` is the label it is counted under."""

    def __init__(self, kind: BadKind, message: str) -> None:
        super().__init__(message)
        self.kind: BadKind = kind


def decode_frame(text: str | bytes) -> Frame:
    """One text frame as a JSON object; raises BadFrame."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadFrame("malformed", "not JSON") from None
    if not isinstance(data, dict):
        raise BadFrame("malformed", "not a JSON object")
    return data


def unknown(event_type: object) -> BadFrame:
    """The error for a frame whose ``e`` names no kind: a newer event, or none at all."""
    if isinstance(event_type, str) and _EVENT_TYPE.fullmatch(event_type):
        return BadFrame("unknown_event", f"unknown event type {event_type}")
    return BadFrame("malformed", "no event type")


def event_time(data: Frame, now_ms: int) -> int:
    """``E``, the event time in ms (Binance's listenKeyExpired example sends it as a string),
    within [2017, ``now_ms`` + 1 day]."""
    value = data.get("E")
    # isascii: "²".isdigit() is True, but int() refuses it.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadFrame("malformed", "no event time E")
    if not EARLIEST_EVENT_MS <= value <= now_ms + FUTURE_EVENT_MS:
        raise BadFrame("malformed", "event time E out of range")
    return value


def asset_field(data: Frame, key: str) -> str:
    """An asset name used as a label value (``BTC``, ``1000SATS``)."""
    value = data.get(key)
    if not isinstance(value, str) or not _ASSET.fullmatch(value):
        raise BadFrame("malformed", f"field {key} is not an asset")
    return value


def enum_field(data: Frame, key: str) -> str:
    """An enum value used as a label value (a reason, a type, a level, a book)."""
    value = data.get(key)
    if not isinstance(value, str) or not _ENUM.fullmatch(value):
        raise BadFrame("malformed", f"field {key} is not a name")
    return value


def decimal_field(data: Frame, key: str) -> Decimal:
    """A decimal of a readable magnitude: finite, under 1e15, no digit below 1e-30.

    Binance documents these fields as strings ("1.04"); a JSON number (1.04) is read too, by its
    shortest text, so a reply that changes its spelling is not a malformed frame.
    """
    value = data.get(key)
    if isinstance(value, float | int) and not isinstance(value, bool):
        value = repr(value)
    if not isinstance(value, str) or len(value) > 64:
        raise BadFrame("malformed", f"field {key} is not a decimal")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadFrame("malformed", f"field {key} is not a decimal") from None
    if not number.is_finite():
        raise BadFrame("malformed", f"field {key} is not finite")
    exponent = number.as_tuple().exponent
    if not -MAX_DECIMAL < number < MAX_DECIMAL or (
        isinstance(exponent, int) and exponent < MIN_EXPONENT
    ):
        raise BadFrame("malformed", f"field {key} is out of range")
    return number


def optional_decimal(data: Frame, key: str) -> Decimal | None:
    """A documented decimal the exporter can do without: None when absent (or null), and
    malformed, as ``decimal_field``, when present but unreadable."""
    if data.get(key) is None:
        return None
    return decimal_field(data, key)


def symbol_field(data: Frame, key: str) -> str:
    """A symbol used as a label value (``BTCUSDT``, ``BTCUSD_PERP``, ``BTCUSDT_250627``)."""
    value = data.get(key)
    if not isinstance(value, str) or not _ENUM.fullmatch(value):
        raise BadFrame("malformed", f"field {key} is not a symbol")
    return value


def transaction_time(data: Frame, now_ms: int, fallback: int) -> int:
    """``T``, the transaction time in ms, where an event has one (the time Binance's REST
    replies stamp an entry's ``updateTime`` with); ``fallback`` when absent or out of range."""
    value = data.get("T")
    if not isinstance(value, int) or isinstance(value, bool):
        return fallback
    return value if EARLIEST_EVENT_MS <= value <= now_ms + FUTURE_EVENT_MS else fallback


def integer_field(data: Frame, key: str, event_type: str) -> int:
    """An integer sent as a JSON number (a transaction id): exact, never through a float."""
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadFrame("malformed", f"{event_type} {key} is not an integer")
    return value
