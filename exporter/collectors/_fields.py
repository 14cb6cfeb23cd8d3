"""Reading Binance's decimal strings and millisecond times without trusting their shape."""

from __future__ import annotations

import math
from typing import Any


class BadField(ValueError):
    """One field is missing or not a finite number."""


def number(entry: dict, key: str) -> float:
    """A required finite number; Binance sends decimals as strings ("23.72469206")."""
    value = entry.get(key)
    if isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            raise BadField(key) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out = float(value)
    else:
        raise BadField(key)
    if not math.isfinite(out):
        raise BadField(key)
    return out


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
