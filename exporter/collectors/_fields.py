"""Reading Binance's decimal strings and millisecond times without trusting their shape."""

from __future__ import annotations

from typing import Any


class BadField(ValueError):
    """One field is missing or not a finite number."""


def number(entry: dict, key: str) -> float:
    """A required finite number; Binance sends decimals as strings ("23.72469206")."""
    try:
        return to_number(entry.get(key))
    except BadField:
        raise BadField(key) from None


def to_number(value: Any) -> float:
    """The hot path of parsing (every field of every position): exact type checks, no helpers."""
    kind = type(value)
    if kind is str or kind is float or kind is int:
        try:
            out = float(value)
        except (ValueError, OverflowError):
            raise BadField("value") from None
        if out - out == 0.0:  # finite: inf - inf and nan - nan are nan
            return out + 0.0  # "-0.0" is 0, not a negative zero on /metrics
    raise BadField("value")


def optional_number(entry: dict, key: str) -> float | None:
    """Binance documents some account fields as "" when they do not apply: treat as absent."""
    value = entry.get(key)
    if value is None or value == "":
        return None
    return number(entry, key)


def seconds(entry: dict, key: str) -> float:
    """A millisecond timestamp as seconds; 0 (never updated) stays 0."""
    ms = number(entry, key)
    if ms < 0:
        raise BadField(key)
    return ms / 1000.0


def text(entry: dict, key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise BadField(key)
    return value


def as_dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise BadField("entry")
    return value
