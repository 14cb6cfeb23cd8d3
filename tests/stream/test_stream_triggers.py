"""Early polls: the debounce and the budget, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from exporter.stream import triggers
from exporter.stream.connection import reconnect_delay
from exporter.stream.triggers import EarlyPolls, Headroom

WEIGHTS = {"account": 20, "um_account": 5, "um_position_risk": 5, "cm_account": 5}


def early(budget: float, gap: float = 5.0) -> tuple[EarlyPolls, list[tuple[str, set[str]]]]:
    asked: list[tuple[str, set[str]]] = []
    polls = EarlyPolls(
        lambda account, collectors: asked.append((account, set(collectors))),
        Headroom(budget),
        min_gap=gap,
        weight=WEIGHTS.__getitem__,
    )
    return polls, asked


def test_a_trigger_is_polled_at_once_then_debounced_to_the_end_of_the_gap():
    polls, _ = early(budget=1000)
    polls.trigger("desk", ["um_account"])
    assert polls.due(100.0) == ([("desk", frozenset({"um_account"}))], None)
    polls.trigger("desk", ["um_account"])
    polls.trigger("desk", ["um_account", "account"])
    # account has no gap running: at once; um_account waits for its gap to end at 105.
    assert polls.due(101.0) == ([("desk", frozenset({"account"}))], 105.0)
    assert polls.due(104.9) == ([], 105.0)
    assert polls.due(105.0) == ([("desk", frozenset({"um_account"}))], None)
    assert polls.fired == 3


def test_accounts_are_debounced_apart():
    polls, _ = early(budget=1000)
    polls.trigger("desk", ["um_account"])
    polls.trigger("other", ["um_account"])
    fired, _ = polls.due(10.0)
    assert sorted(fired) == [
        ("desk", frozenset({"um_account"})),
        ("other", frozenset({"um_account"})),
    ]


def test_the_budget_defers_polls_until_the_window_makes_room():
    polls, _ = early(budget=12, gap=1.0)  # two early polls of um_account (5) a minute
    for now in (0.0, 1.0):
        polls.trigger("desk", ["um_account"])
        assert polls.due(now)[0] == [("desk", frozenset({"um_account"}))]
    polls.trigger("desk", ["um_account"])
    # 10 spent: 5 more would make 15 > 12, so it waits until the first spending ages out.
    assert polls.due(2.0) == ([], 60.0)
    assert polls.headroom.spent(2.0) == 10
    assert polls.due(60.0) == ([("desk", frozenset({"um_account"}))], None)
    assert polls.headroom.spent(60.0) == 10


def test_a_storm_costs_at_most_the_headroom_whatever_its_size():
    polls, _ = early(budget=50, gap=0.0)
    for i in range(10_000):
        now = i * 0.01  # 100 events a second, from three accounts, for 100 seconds
        polls.trigger(f"acc{i % 3}", ["um_account", "account"])
        polls.due(now)
        assert polls.headroom.spent(now) <= 50
    # Two polls of 25 per 60 s window: in 100 s, the windows starting at 0 and 60.
    assert polls.fired == 4
    assert polls.pending  # the rest is deferred, not dropped


def test_an_early_poll_that_can_never_fit_the_headroom_is_left_to_the_regular_polls():
    polls, _ = early(budget=10)
    polls.trigger("desk", ["account"])  # weight 20
    assert polls.due(0.0) == ([], None)
    assert polls.pending == {}
    assert polls.fired == 0


def test_forgetting_an_account_drops_its_pending_triggers():
    polls, _ = early(budget=1000)
    polls.trigger("desk", ["um_account"])
    polls.forget("desk")
    assert polls.due(0.0) == ([], None)


@pytest.mark.parametrize(
    ("failures", "draw", "delay"),
    [(0, 0.5, 0.0), (1, 0.0, 0.5), (1, 1.0, 1.0), (3, 0.0, 2.0), (4, 0.5, 6.0), (20, 0.0, 30.0)],
)
def test_reconnect_back_off_doubles_up_to_the_cap_with_jitter(failures, draw, delay):
    assert reconnect_delay(failures, base=1.0, cap=60.0, draw=draw) == delay


def test_reconnect_back_off_survives_a_very_long_outage():
    assert reconnect_delay(10**6, base=1.0, cap=60.0, draw=0.0) == 30.0


def test_what_the_streams_take_of_the_headroom_defers_the_early_polls():
    polls, _ = early(budget=12, gap=1.0)
    polls.headroom.spend(3, 0.0)  # three listen-key POSTs
    polls.trigger("desk", ["um_account"])
    assert polls.due(0.0)[0] == [("desk", frozenset({"um_account"}))]
    polls.trigger("desk", ["um_account"])
    # 3 + 5 spent: 5 more would make 13 > 12, until the POSTs age out at 60.
    assert polls.due(1.0) == ([], 60.0)


def test_taking_from_a_spent_headroom_waits_for_the_window_to_make_room(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(triggers, "WINDOW_SECONDS", 0.5)
    headroom = Headroom(2)

    async def three() -> tuple[float, float]:
        await headroom.take(1)
        started = headroom.clock()
        await headroom.take(1)
        await asyncio.wait_for(headroom.take(1), 5)
        return started, headroom.clock()

    started, ended = asyncio.run(three())
    assert ended - started >= 0.5  # the first spending had to age out


def test_a_request_larger_than_the_whole_headroom_goes_at_once():
    headroom = Headroom(0)
    asyncio.run(asyncio.wait_for(headroom.take(1), 1))
    assert headroom.spent(headroom.clock()) == 1
