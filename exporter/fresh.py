"""Newest wins: what a collector serves, merged from its latest poll and the stream's values.

Binance pushes some figures on the user data stream (a wallet balance, a position's amount, the
uniMMR) between polls. Each series a collector serves is the newer of two values, by Binance's own
clock: the poll's row, timed by the later of the poll's request time and the row's ``updateTime``
(a row Binance updated after the request was sent reflects that update), and the latest value an
event pushed for that series, timed by the event. A pushed value strictly newer than the row wins;
a poll as new or newer always wins, so a poll never rolls a newer stream value back and the next
newer poll reconciles everything. A position an event closed is left out of its collector and of
the collectors that follow it by position (``exporter.follow``) until a poll newer than the close;
one an event opened appears with the figures the event carried.

Stream values ride on their collector's polled data: with no poll served (before the first one,
or once it is stale) nothing pushed is served either. A poll drops every pushed value it
overtakes (``Pushes.overtaken``), so what is kept between polls is what arrived since the last.

Pure: no I/O, no clock. ``exporter.snapshot.AccountState`` applies it on every poll and event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.collectors import COLLECTORS
from exporter.metrics import Family, Row, Samples

Labels = tuple[str, ...]
POSITION_LABELS = ("symbol", "position_side")
# A collector's family of Binance's updateTime for the entries of the same labels (the account,
# an asset, a position): the time of each polled row beyond the poll's own.
UPDATE_SUFFIX = "_update_timestamp_seconds"
# Series one account's stream may add to one family between two polls; a poll drops what it
# overtakes, so this bounds what a hostile stream can make the exporter keep, not normal use.
MAX_PUSHED_SERIES = 2000


@dataclass(frozen=True)
class Push:
    """One value an event carries for one series of one collector."""

    collector: str
    family: str
    labels: Labels
    value: float


@dataclass(frozen=True)
class Close:
    """A position an event closed (its amount is 0): gone from ``collector`` and its followers."""

    collector: str
    labels: Labels  # (symbol, position_side)


Effect = Push | Close


@dataclass(frozen=True)
class Pushed:
    time_ms: int  # Binance's time of the event
    value: float


def position_followers(leader: str) -> tuple[str, ...]:
    """The collectors whose rows follow ``leader``'s positions: a close removes them there too."""
    return tuple(
        c.name for c in COLLECTORS.values() if c.follows == leader and c.follow_key == "position"
    )


class Pushes:
    """One account's stream values that no poll has overtaken yet, and the positions closed."""

    def __init__(self) -> None:
        # collector -> family -> labels -> the newest pushed value
        self.values: dict[str, dict[str, dict[Labels, Pushed]]] = {}
        # collector -> position -> when an event closed it
        self.closed: dict[str, dict[Labels, int]] = {}

    def add(self, time_ms: int, effects: Iterable[Effect]) -> dict[str, set[str] | None]:
        """An event's effects; returns the families each collector must serve anew (None: all
        of them, after a close or a reopening). Among stream values too the newest wins: an
        older event's value never replaces a newer one's."""
        touched: dict[str, set[str] | None] = {}
        for effect in effects:
            if isinstance(effect, Close):
                moved = self._close(effect, time_ms)
            else:
                moved = self._push(effect, time_ms)
            if moved == "all":
                for name in (effect.collector, *position_followers(effect.collector)):
                    touched[name] = None
            elif moved == "family" and isinstance(effect, Push):
                wanted = touched.setdefault(effect.collector, set())
                if wanted is not None:
                    wanted.add(effect.family)
        return touched

    def _close(self, effect: Close, time_ms: int) -> str:
        closed = self.closed.setdefault(effect.collector, {})
        if closed.get(effect.labels, -1) >= time_ms:
            return ""
        closed[effect.labels] = time_ms
        for family in self.values.get(effect.collector, {}).values():
            family.pop(effect.labels, None)
        return "all"

    def _push(self, effect: Push, time_ms: int) -> str:
        closed = self.closed.get(effect.collector, {})
        if closed.get(effect.labels, -1) >= time_ms:
            return ""  # a later event closed it
        family = self.values.setdefault(effect.collector, {}).setdefault(effect.family, {})
        known = family.get(effect.labels)
        if (known is not None and known.time_ms > time_ms) or (
            known is None and len(family) >= MAX_PUSHED_SERIES
        ):
            return ""
        family[effect.labels] = Pushed(time_ms, effect.value)
        if closed.pop(effect.labels, None) is not None:  # opened again
            return "all"
        return "family"

    def overtaken(self, collector: str, polled_ms: int) -> None:
        """A poll of ``collector`` timed ``polled_ms`` landed: what it overtakes can never win
        again (polls only get newer), so it is dropped."""
        for family in self.values.get(collector, {}).values():
            for labels in [k for k, p in family.items() if p.time_ms <= polled_ms]:
                del family[labels]
        closed = self.closed.get(collector, {})
        for labels in [k for k, t in closed.items() if t <= polled_ms]:
            del closed[labels]

    def closed_for(self, collector: str) -> Mapping[Labels, int]:
        """The closes that apply to ``collector``'s rows: its own, or its leader's."""
        leader = COLLECTORS[collector].follows if collector in COLLECTORS else None
        if leader is not None and COLLECTORS[collector].follow_key == "position":
            return self.closed.get(leader, {})
        return self.closed.get(collector, {})


def row_times(
    polled: Samples, families: Iterable[Family]
) -> dict[tuple[str, ...], dict[Labels, int]]:
    """Binance's updateTime of each polled entry in ms, by the label names of its families."""
    out: dict[tuple[str, ...], dict[Labels, int]] = {}
    for fam in families:
        if fam.name.endswith(UPDATE_SUFFIX):
            rows = polled.get(fam.name, ())
            out[fam.labels] = {labels: round(seconds * 1000) for labels, seconds in rows}
    return out


def merge_family(
    rows: list[Row],
    polled_ms: int,
    updated: Mapping[Labels, int],
    pushed: Mapping[Labels, Pushed],
    closed: Mapping[Labels, int],
    followed: bool = False,
) -> tuple[list[Row], int]:
    """One family's served rows, and the time of the newest pushed value among them (0: none).

    ``closed`` is empty for a family whose rows are not positions. ``followed``: the closes are
    the leader's, which its own poll has already judged (it drops those it overtakes), so they
    apply whatever this collector's poll time: a follower keeps exactly the leader's positions.
    """
    newest = 0
    out: list[Row] = []
    seen: set[Labels] = set()
    for labels, value in rows:
        seen.add(labels)
        at = max(polled_ms, updated.get(labels, 0))
        if closed and labels in closed and (followed or closed[labels] > at):
            continue
        won = pushed.get(labels)
        if won is not None and won.time_ms > at:
            out.append((labels, won.value))
            newest = max(newest, won.time_ms)
        else:
            out.append((labels, value))
    for labels, won in pushed.items():
        if labels not in seen and won.time_ms > max(polled_ms, updated.get(labels, 0)):
            out.append((labels, won.value))  # a series the poll does not have (yet)
            newest = max(newest, won.time_ms)
    return out, newest


def merge(
    polled: Samples,
    families: tuple[Family, ...],
    polled_ms: int,
    pushes: Pushes,
    collector: str,
    only: set[str] | None = None,
) -> tuple[Samples, int]:
    """The rows ``collector`` serves for each of its families (``only`` these, when given), and
    the time of the newest pushed value they hold (0: none)."""
    updated = row_times(polled, families)
    values = pushes.values.get(collector, {})
    closed = pushes.closed_for(collector)
    followed = collector in COLLECTORS and COLLECTORS[collector].follows is not None
    out: Samples = {}
    newest = 0
    for fam in families:
        if only is not None and fam.name not in only:
            continue
        rows = polled.get(fam.name, [])
        pushed = values.get(fam.name, {})
        shut = closed if fam.labels[:2] == POSITION_LABELS else {}
        if not pushed and not shut:
            out[fam.name] = rows
            continue
        updated_here = updated.get(fam.labels, {})
        out[fam.name], at = merge_family(rows, polled_ms, updated_here, pushed, shut, followed)
        newest = max(newest, at)
    return out, newest
