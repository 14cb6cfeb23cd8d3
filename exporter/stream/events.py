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

# Label values come from Binance's vocabulary (assets, reasons, types, levels); anything else is a
# malformed frame rather than a new series, so a broken stream cannot grow the exposition.
_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,40}")

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
    if isinstance(event_type, str) and _LABEL.fullmatch(event_type):
        return BadFrame("unknown_event", f"unknown event type {event_type}")
    return BadFrame("malformed", "no event type")


def event_time(data: Frame) -> int:
    """``E``, the event time in ms; Binance's listenKeyExpired example sends it as a string."""
    value = data.get("E")
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise BadFrame("malformed", "no event time E")


def name_field(data: Frame, key: str) -> str:
    """A field used as a label value: a name from Binance's vocabulary."""
    value = data.get(key)
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        raise BadFrame("malformed", f"field {key} is not a name")
    return value


def decimal_field(data: Frame, key: str) -> Decimal:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > 64:
        raise BadFrame("malformed", f"field {key} is not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadFrame("malformed", f"field {key} is not a decimal string") from None
    if not number.is_finite():
        raise BadFrame("malformed", f"field {key} is not finite")
    return number


def integer_field(data: Frame, key: str, event_type: str) -> int:
    """An integer sent as a JSON number (a transaction id): exact, never through a float."""
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadFrame("malformed", f"{event_type} {key} is not an integer")
    return value
