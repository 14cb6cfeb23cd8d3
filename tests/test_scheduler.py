"""The scheduler without sockets or real time: its arithmetic, and a poll against a fake client."""

from __future__ import annotations

import pytest

from exporter.scheduler import (
    AUTH_BACKOFF_CAP,
    MAX_SLOT_JITTER,
    auth_backoff,
    slot_jitter_bound,
    slot_offset,
)


def test_slots_are_spread_evenly_over_the_interval():
    assert [slot_offset(i, 4, 60.0, 0.0) for i in range(4)] == [0.0, 15.0, 30.0, 45.0]
    assert [slot_offset(i, 3, 15.0, 0.0) for i in range(3)] == [0.0, 5.0, 10.0]
    assert slot_offset(0, 1, 15.0, 0.0) == 0.0


def test_slot_offset_adds_the_jitter_drawn_by_the_caller():
    assert slot_offset(2, 4, 60.0, 0.75) == 30.75


def test_jitter_is_at_most_a_second():
    assert MAX_SLOT_JITTER == 1.0
    assert slot_jitter_bound(1, 15.0) == 1.0
    assert slot_jitter_bound(3, 60.0) == 1.0


def test_jitter_is_at_most_a_quarter_of_the_spacing():
    assert slot_jitter_bound(10, 15.0) == 0.375
    assert slot_jitter_bound(4, 1.0) == 0.0625


def test_jittered_slots_never_reach_the_next_slot():
    slots, interval = 7, 15.0
    bound = slot_jitter_bound(slots, interval)
    for slot in range(slots - 1):
        assert slot_offset(slot, slots, interval, bound) < slot_offset(
            slot + 1, slots, interval, 0.0
        )


def test_auth_backoff_doubles_the_interval():
    assert [auth_backoff(n, 15.0) for n in range(1, 7)] == [15.0, 30.0, 60.0, 120.0, 240.0, 480.0]


def test_auth_backoff_is_capped():
    assert AUTH_BACKOFF_CAP == 600.0
    assert auth_backoff(7, 15.0) == 600.0
    assert auth_backoff(8, 15.0) == 600.0
    assert auth_backoff(3, 15.0, cap=45.0) == 45.0


def test_auth_backoff_of_an_interval_over_the_cap_is_the_cap():
    assert auth_backoff(1, 900.0) == 600.0


@pytest.mark.parametrize("failures", [1100, 10**6])
def test_auth_backoff_of_a_key_refused_for_days_is_the_cap(failures):
    assert auth_backoff(failures, 15.0) == AUTH_BACKOFF_CAP
