"""The weight plan alone: weights per minute, the auto interval, keepalives, the budget checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter.config import parse_config
from exporter.config.plan import (
    auto_interval,
    check_budget,
    check_stale,
    early_poll_budget,
    fixed_interval,
    follows_poll,
    keepalive_weight,
    planned_weight,
    split_weight,
)
from exporter.stream.config import StreamSettings
from exporter.validation import ConfigError


def parse(**top):
    raw = {
        "accounts": [
            {"name": "a", "api_key": "key-a", "api_secret": "secret-a"},
            {"name": "b", "api_key": "key-b", "api_secret": "secret-b", "user_data_stream": True},
        ],
        **top,
    }
    return parse_config(raw, {})


def test_a_collector_without_an_interval_follows_the_poll_unless_it_has_a_default():
    assert follows_poll("um_account", None) is True
    assert follows_poll("um_account", 60) is False
    assert follows_poll("balance", None) is False  # its default is 60 s


def test_a_fixed_interval_is_the_given_one_else_the_collector_s_default():
    assert fixed_interval("balance", None) == 60
    assert fixed_interval("balance", 120) == 120
    assert fixed_interval("um_account", 30) == 30


def test_the_planned_weight_is_weight_times_polls_per_minute_over_every_account():
    config = parse(collectors=["um_account", "balance"], poll_interval_seconds=15)
    # um_account: 5 every 15 s; balance: 20 every 60 s; two accounts.
    assert planned_weight(config.accounts) == 2 * (5 * 4 + 20 * 1)
    assert planned_weight(()) == 0


def test_keepalives_weigh_one_put_per_streamed_account_per_keepalive():
    config = parse(collectors=["um_account"], stream_keepalive_seconds=600)
    assert keepalive_weight(config.stream, config.accounts) == 0.1  # only b streams
    assert keepalive_weight(StreamSettings(keepalive_seconds=1800.0), config.accounts) == 60 / 1800


def test_the_weight_splits_into_per_poll_for_followers_and_per_minute_for_the_rest():
    wanted = [("um_account", None), ("account", None), ("balance", None), ("um_income", 600)]
    # Followers: 5 + 20 per poll. The rest: balance 20 x 1/min, um_income 30 x 0.1/min, and 0.5.
    assert split_weight(wanted, 0.5) == (25, 0.5 + 20 + 3)


def test_auto_takes_the_shortest_whole_second_interval_that_fits_nine_tenths_of_the_budget():
    # 25 per poll into 0.9 x 100 - 40 = 50 per minute: one poll every 30 s.
    assert auto_interval(25, 40, 100, 1) == 30.0
    # 7 per poll into 50 per minute: 8.4 s, rounded up to 9 s.
    assert auto_interval(7, 40, 100, 1) == 9.0


def test_auto_never_goes_below_its_floor_or_stretches_nothing():
    assert auto_interval(25, 40, 100, 45) == 45.0
    assert auto_interval(0, 40, 100, 15) == 15


def test_auto_is_refused_when_the_fixed_collectors_alone_take_nine_tenths():
    with pytest.raises(ConfigError) as caught:
        auto_interval(5, 90, 100, 1)
    assert str(caught.value) == (
        "poll_interval_seconds: auto: the collectors with intervals of their own alone plan "
        "90/min, more than 90% of max_weight_per_minute 100"
    )


def test_a_plan_within_the_budget_passes():
    check_budget(100, 100, 25, 40)


def test_a_plan_over_the_budget_says_which_poll_interval_would_fit():
    with pytest.raises(ConfigError) as caught:
        check_budget(140, 100, 25, 40)
    assert caught.value.path == "poll_interval_seconds"
    assert str(caught.value) == (
        "poll_interval_seconds: planned API weight 140/min exceeds max_weight_per_minute 100; "
        "poll_interval_seconds: 25 (or more) would fit, or set it to auto"
    )


def test_a_plan_whose_fixed_collectors_alone_exceed_the_budget_says_so():
    with pytest.raises(ConfigError) as caught:
        check_budget(130, 100, 5, 110)
    assert str(caught.value) == (
        "poll_interval_seconds: planned API weight 130/min exceeds max_weight_per_minute 100; "
        "the collectors with intervals of their own alone plan 110/min: lengthen their "
        "interval_seconds or poll fewer of them"
    )


def test_stale_after_shorter_than_a_collector_s_interval_is_refused():
    config = parse(collectors=["um_account", "balance"], poll_interval_seconds=15)
    check_stale(60, config.accounts)
    with pytest.raises(ConfigError) as caught:
        check_stale(30, config.accounts)
    assert str(caught.value) == (
        "stale_after_seconds: 30 is shorter than the interval 60 of collector balance "
        "(account a); its data would vanish between polls"
    )


def test_early_polls_may_spend_what_the_plan_leaves_of_the_budget():
    config = parse(
        collectors=["um_account"], max_weight_per_minute=100, stream_keepalive_seconds=600
    )
    # Two accounts at 5 x 4 per minute and one keepalive every 600 s: 40.1 of 100.
    assert early_poll_budget(config) == 100 - 40.1
    # A budget lowered under the plan (never so from a file) leaves nothing, not a debt.
    over = replace(config, polling=replace(config.polling, max_weight_per_minute=10))
    assert early_poll_budget(over) == 0.0
