"""Where in time each group of collectors polls: its slot in a cycle shared by every account.

An account's collectors are polled in groups, one per interval. Every group of every account has
its own slot: the n groups are spread evenly over one cycle (the shortest interval; slot i starts
at i/n of it, plus a little jitter), and each keeps its slot, so requests of different accounts
and collectors do not start together and the weight per minute stays flat. Pure arithmetic: the
scheduler's loops sleep until what these functions return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.config import AccountConfig, Config

MAX_SLOT_JITTER = 1.0  # seconds; never more than a quarter of the spacing between slots


def slot_offset(slot: int, slots: int, cycle: float) -> float:
    """Seconds after start at which slot ``slot`` of ``slots`` first polls, before its jitter
    (drawn by the caller, at most ``slot_jitter_bound(slots, cycle)``)."""
    return slot * (cycle / slots)


def slot_jitter_bound(slots: int, cycle: float) -> float:
    """The largest jitter for a slot: small enough that neighbouring slots never swap."""
    return min(MAX_SLOT_JITTER, cycle / slots / 4)


def collector_groups(account: AccountConfig) -> list[tuple[float, tuple[str, ...]]]:
    """The account's collectors by interval, shortest first, each in config order."""
    by_interval: dict[float, list[str]] = {}
    for entry in account.collectors:
        by_interval.setdefault(entry.interval_seconds, []).append(entry.name)
    return [(interval, tuple(names)) for interval, names in sorted(by_interval.items())]


def slot_layout(
    accounts: tuple[AccountConfig, ...],
) -> dict[tuple[str, float], tuple[float, float]]:
    """Each (account, interval) group's first poll after start, and its largest jitter.

    All groups share one cycle (the shortest interval), evenly spaced: requests of different
    collectors and accounts never start at the same instant, whatever their intervals.
    """
    groups = [(a.name, interval) for a in accounts for interval, _ in collector_groups(a)]
    if not groups:
        return {}
    cycle = slot_cycle(accounts)
    bound = slot_jitter_bound(len(groups), cycle)
    return {
        group: (slot_offset(slot, len(groups), cycle), bound) for slot, group in enumerate(groups)
    }


def slot_cycle(accounts: tuple[AccountConfig, ...]) -> float:
    """The cycle the slots are laid out over: the shortest interval of any collector."""
    return min((e.interval_seconds for a in accounts for e in a.collectors), default=math.inf)


def first_poll_at(slot_at: float, now: float, cycle: float) -> float:
    """A loop's first poll: its slot's first time round at or after ``now``.

    A slot recurs every cycle, so a loop a reload starts (an added or regrouped account) waits
    at most one cycle, however long its own interval: its account is ready as soon as at start.
    """
    if slot_at >= now:
        return slot_at
    return slot_at + math.ceil((now - slot_at) / cycle) * cycle


@dataclass(frozen=True)
class Slots:
    """A config's slot layout and cycle, worked out once per start or reload, not per account."""

    layout: dict[tuple[str, float], tuple[float, float]]
    cycle: float

    @classmethod
    def of(cls, config: Config) -> Slots:
        return cls(slot_layout(config.accounts), slot_cycle(config.accounts))


def next_slot(
    next_at: float, delay: float, interval: float, now: float, prompt: bool, auth_failed: bool
) -> float:
    """When a loop polls next, after a poll that was due at ``next_at`` (or ``prompt``)."""
    if not prompt:  # a poll a reload or an event asked for leaves the slot where it was
        next_at += delay
    if next_at < now:  # we fell behind (a long poll): keep the slot, skip missed polls
        next_at += ((now - next_at) // interval + 1) * interval
    elif not auth_failed and next_at > now + interval:
        # A prompt poll succeeded where a back-off (or a longer interval) had put the slot far
        # away: the slot's next time round.
        next_at -= (math.ceil((next_at - now) / interval) - 1) * interval
    return next_at
