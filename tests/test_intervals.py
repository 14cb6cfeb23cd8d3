"""Per-collector intervals: the config entries, the plan and refusal, staleness, slots, and the
request counts a real exporter sends to the simulator."""

from __future__ import annotations

import pytest

from exporter.config import ConfigError, parse_config
from exporter.slots import collector_groups, slot_layout


def config_of(**overrides):
    raw = {
        "accounts": [{"name": "main", "api_key": "key-0123", "api_secret": "secret-4567"}],
    }
    raw.update(overrides)
    return parse_config(raw, {})


def many(n: int) -> list[dict]:
    return [
        {"name": f"acc{i}", "api_key": f"key-{i}", "api_secret": f"secret-{i}"} for i in range(n)
    ]


def error_of(**overrides) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config_of(**overrides)
    return caught.value


SLOW_ACCOUNT = ["um_account", {"name": "account", "interval_seconds": 60}, "um_position_risk"]


# --- the entries ----------------------------------------------------------------------------


def test_an_entry_is_a_name_or_a_name_with_its_interval() -> None:
    config = config_of(collectors=SLOW_ACCOUNT)

    entries = config.accounts[0].collectors
    assert [(e.name, e.interval_seconds, e.follows_poll) for e in entries] == [
        ("um_account", 15.0, True),
        ("account", 60.0, False),
        ("um_position_risk", 15.0, True),
    ]


def test_an_account_override_may_give_intervals_too() -> None:
    config = config_of(
        accounts=[
            {
                "name": "main",
                "api_key": "key-0123",
                "api_secret": "secret-4567",
                "collectors": [{"name": "um_account", "interval_seconds": 2.5}],
            }
        ]
    )

    assert config.accounts[0].collectors[0].interval_seconds == 2.5


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ({"name": "account", "interval_seconds": 0.5}, "collectors[0].interval_seconds", "0.5"),
        ({"name": "account", "interval_seconds": "1m"}, "collectors[0].interval_seconds", "'1m'"),
        ({"name": "account", "interval_seconds": True}, "collectors[0].interval_seconds", "True"),
        ({"interval_seconds": 30}, "collectors[0].name", "is required"),
        ({"name": "acount"}, "collectors[0].name", "unknown collector 'acount'"),
        ({"name": "account", "every": 30}, "collectors[0].every", "unknown key 'every'"),
        (["account"], "collectors[0]", "unknown collector ['account']"),
    ],
)
def test_a_bad_entry_is_refused_at_its_key(entry, path: str, message: str) -> None:
    error = error_of(collectors=[entry])

    assert error.path == path
    assert message in str(error)


def test_a_collector_listed_twice_is_refused_whatever_its_intervals() -> None:
    error = error_of(collectors=["account", {"name": "account", "interval_seconds": 60}])

    assert error.path == "collectors[1]"
    assert "listed twice" in str(error)


# --- the plan, the refusal and auto -----------------------------------------------------------


def test_the_plan_sums_weight_times_polls_per_minute_over_collectors() -> None:
    config = config_of(accounts=many(20), collectors=SLOW_ACCOUNT)

    # Per account: um_account 5 x 4 + account 20 x 1 + um_position_risk 5 x 4 = 60 a minute.
    assert config.accounts[0].weight_per_minute() == 60
    assert config.planned_weight_per_minute() == 1200


def test_the_refusal_suggests_an_interval_for_the_collectors_that_follow_it() -> None:
    # 40 accounts: account (20) every 60 s plans 800/min; the rest is 10 a round, 400 for all.
    error = error_of(accounts=many(40), collectors=SLOW_ACCOUNT, max_weight_per_minute=1000)

    assert error.path == "poll_interval_seconds"
    # 400 x 4 + 800 = 2400/min at 15 s; (1000 - 800) / min leaves 400 x 60 / 200 = 120 s.
    assert "planned API weight 2400/min exceeds max_weight_per_minute 1000" in str(error)
    assert "poll_interval_seconds: 120 (or more) would fit" in str(error)
    fits = config_of(
        accounts=many(40),
        collectors=SLOW_ACCOUNT,
        max_weight_per_minute=1000,
        poll_interval_seconds=120,
    )
    assert fits.planned_weight_per_minute() == 1000


def test_the_refusal_names_collectors_whose_own_intervals_alone_break_the_budget() -> None:
    error = error_of(accounts=many(40), collectors=SLOW_ACCOUNT, max_weight_per_minute=800)

    assert "intervals of their own alone plan 800/min" in str(error)


def test_auto_stretches_only_the_collectors_that_follow_the_poll_interval() -> None:
    config = config_of(
        accounts=many(40),
        collectors=SLOW_ACCOUNT,
        max_weight_per_minute=1000,
        poll_interval_seconds="auto",
    )

    # 90% of 1000 = 900; account takes 800; 400 x 60 / 100 = 240 s for the others.
    assert config.polling.interval_seconds == 240
    intervals = {e.name: e.interval_seconds for e in config.accounts[0].collectors}
    assert intervals == {"um_account": 240, "account": 60, "um_position_risk": 240}
    assert config.planned_weight_per_minute() == 900


def test_auto_refuses_when_the_fixed_collectors_leave_no_room() -> None:
    error = error_of(
        accounts=many(40),
        collectors=SLOW_ACCOUNT,
        max_weight_per_minute=880,
        poll_interval_seconds="auto",
    )

    assert error.path == "poll_interval_seconds"
    assert "auto: the collectors with intervals of their own alone plan 800/min" in str(error)


# --- staleness ----------------------------------------------------------------------------------


def test_each_collector_is_stale_after_three_of_its_own_intervals() -> None:
    config = config_of(collectors=SLOW_ACCOUNT)

    stale = {e.name: config.polling.stale_after(e) for e in config.accounts[0].collectors}
    assert stale == {"um_account": 45, "account": 180, "um_position_risk": 45}


def test_stale_after_seconds_applies_to_every_collector_and_must_cover_the_longest() -> None:
    config = config_of(collectors=SLOW_ACCOUNT, stale_after_seconds=90)
    assert {config.polling.stale_after(e) for e in config.accounts[0].collectors} == {90}

    error = error_of(collectors=SLOW_ACCOUNT, stale_after_seconds=50)
    assert error.path == "stale_after_seconds"
    assert "50 is shorter than the interval 60 of collector account (account main)" in str(error)


# --- slots ------------------------------------------------------------------------------------


def test_collectors_are_grouped_by_interval_shortest_first() -> None:
    config = config_of(collectors=SLOW_ACCOUNT)

    assert collector_groups(config.accounts[0]) == [
        (15.0, ("um_account", "um_position_risk")),
        (60.0, ("account",)),
    ]


def test_every_group_of_every_account_gets_its_own_slot_in_the_shortest_cycle() -> None:
    config = config_of(accounts=many(3), collectors=SLOW_ACCOUNT, poll_interval_seconds=12)

    layout = slot_layout(config.accounts)

    # 6 groups (3 accounts x 2 intervals) spread over the 12 s cycle: 2 s apart, jitter at
    # most a quarter of that.
    assert layout == {
        ("acc0", 12.0): (0.0, 0.5),
        ("acc0", 60.0): (2.0, 0.5),
        ("acc1", 12.0): (4.0, 0.5),
        ("acc1", 60.0): (6.0, 0.5),
        ("acc2", 12.0): (8.0, 0.5),
        ("acc2", 60.0): (10.0, 0.5),
    }


# --- over real sockets: request counts per endpoint match the plan -----------------------------
