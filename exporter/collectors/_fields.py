"""Reading Binance's decimal strings and millisecond times without trusting their shape.

Each field stands alone: one that cannot be read leaves out only its own gauge and is counted
(``binance_pm_exporter_skipped_fields_total``), so one bad value never costs the rest of a reply.
"""

from __future__ import annotations

from typing import Any


class BadField(ValueError):
    """One field is missing or not a finite number."""


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


class Fields:
    """Reads the fields of one reply one at a time, counting what it could and could not read.

    A field is absent, and not counted, when it is ``""`` (Binance documents it as the value of
    a field that does not apply) or when an ``optional`` field (one live replies carry beyond
    Binance's docs) is missing or null. A documented field that is missing or null, or any
    value that is not a finite decimal, is unreadable: left out and counted.
    """

    __slots__ = ("read", "unreadable")

    def __init__(self) -> None:
        self.read = 0
        self.unreadable = 0

    def number(self, entry: dict, key: str, optional: bool = False) -> float | None:
        value = entry.get(key)
        if value is None:
            if not optional:
                self.unreadable += 1
            return None
        if value == "":
            return None
        try:
            out = to_number(value)
        except BadField:
            self.unreadable += 1
            return None
        self.read += 1
        return out

    def seconds(self, entry: dict, key: str) -> float | None:
        """A millisecond timestamp as seconds; 0 (never updated) stays 0, negative is unreadable."""
        ms = self.number(entry, key)
        if ms is None:
            return None
        if ms < 0:
            self.read -= 1
            self.unreadable += 1
            return None
        return ms / 1000.0


def text(entry: dict, key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise BadField(key)
    return value


def symbol_of(entry: Any) -> str | None:
    """An entry's ``symbol``, or None when the entry is not an object or has none."""
    if type(entry) is not dict:
        return None
    try:
        return text(entry, "symbol")
    except BadField:
        return None


def by_asset(entries: list) -> tuple[list[tuple[str, dict]], int]:
    """Each entry with its asset, in order, and how many were skipped whole: not an object, no
    asset, or an asset listed before (the first one is kept)."""
    kept: list[tuple[str, dict]] = []
    skipped, seen = 0, set()
    for entry in entries:
        try:
            asset = text(entry, "asset") if type(entry) is dict else None
        except BadField:
            asset = None
        if asset is None or asset in seen:
            skipped += 1
            continue
        seen.add(asset)
        kept.append((asset, entry))
    return kept, skipped
