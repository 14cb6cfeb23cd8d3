"""The market streams' config keys: defaults, the per-account override, every mistake exactly."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import ConfigError
from exporter.reload import plan_reload
from exporter.stream.config import MarketStreamSettings
from exporter.stream.market import market_plans, markets_wanted
from tests.helpers import desk, two_desks_config


def test_market_streams_are_off_by_default_with_binance_s_all_market_mark_streams():
    config = two_desks_config()
    assert config.market_stream == MarketStreamSettings(
        enabled=False,
        um_url="wss://fstream.binance.com/market/ws/!markPrice@arr@1s",
        cm_url="wss://dstream.binance.com/ws/!markPrice@arr@1s",
    )
    assert [a.market_stream for a in config.accounts] == [False, False]


def test_a_per_account_false_overrides_a_global_true():
    config = two_desks_config(
        market_stream=True, accounts=[desk("a"), desk("b", market_stream=False)]
    )
    assert [a.market_stream for a in config.accounts] == [True, False]


def test_one_account_can_ask_for_it_alone():
    config = two_desks_config(accounts=[desk("a", market_stream=True), desk("b")])
    assert [a.market_stream for a in config.accounts] == [True, False]


def test_ws_urls_are_accepted_as_they_are():
    config = two_desks_config(
        um_market_stream_url="ws://127.0.0.1:8090/market/ws/!markPrice@arr@1s",
        cm_market_stream_url="ws://127.0.0.1:8090/ws/!markPrice@arr@1s",
    )
    assert config.market_stream.um_url == "ws://127.0.0.1:8090/market/ws/!markPrice@arr@1s"
    assert config.market_stream.cm_url == "ws://127.0.0.1:8090/ws/!markPrice@arr@1s"


def test_market_streams_weigh_nothing_in_the_plan():
    assert two_desks_config(market_stream=True).planned_weight_per_minute() == 280


def test_turning_the_market_streams_on_polls_no_account_at_once():
    before, after = two_desks_config(), two_desks_config(market_stream=True)
    assert plan_reload(before, after).changed == ()


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"market_stream": "yes"}, "market_stream: must be true or false, not 'yes'"),
        (
            {"um_market_stream_url": "https://x/market/ws/!markPrice@arr@1s"},
            "um_market_stream_url: 'https://x/market/ws/!markPrice@arr@1s' is not a ws(s) URL "
            "of a stream",
        ),
        (
            {"cm_market_stream_url": 5},
            "cm_market_stream_url: must be a ws(s) URL string, not 5",
        ),
        (
            {"cm_market_stream_url": "wss://dstream.binance.com/"},
            "cm_market_stream_url: 'wss://dstream.binance.com/' is not a ws(s) URL of a stream",
        ),
        (
            {"um_market_stream_url": "wss://x/ws/!markPrice@arr@1s?timeUnit=MICROSECOND"},
            "um_market_stream_url: 'wss://x/ws/!markPrice@arr@1s?timeUnit=MICROSECOND' is not "
            "a ws(s) URL of a stream",
        ),
        (
            {"um_market_stream_url": "wss://x:99999/market/ws/!markPrice@arr@1s"},
            "um_market_stream_url: 'wss://x:99999/market/ws/!markPrice@arr@1s' is not a ws(s) "
            "URL of a stream",
        ),
    ],
)
def test_mistakes_are_said_exactly(top: dict[str, Any], message: str):
    with pytest.raises(ConfigError) as caught:
        two_desks_config(**top)
    assert str(caught.value) == message


def test_an_account_mistake_names_the_account_s_key():
    with pytest.raises(ConfigError) as caught:
        two_desks_config(accounts=[desk("a"), desk("b", market_stream=1)])
    assert str(caught.value) == "accounts[1].market_stream: must be true or false, not 1"


def test_a_market_stream_url_password_never_shows():
    with pytest.raises(ConfigError) as caught:
        two_desks_config(um_market_stream_url="https://user:hunter2@x/market/ws/!markPrice@arr@1s")
    assert "hunter2" not in str(caught.value)
    config = two_desks_config(cm_market_stream_url="wss://user:hunter2@x/ws/!markPrice@arr@1s")
    assert "hunter2" not in repr(config)


def test_a_market_streams_only_for_accounts_that_want_it_and_poll_its_positions():
    config = two_desks_config(
        accounts=[
            desk("a", market_stream=True, collectors=["um_account", "balance"]),
            desk("b", collectors=["cm_account"]),  # polls COIN-M, does not want marks
        ]
    )
    assert markets_wanted(config.accounts) == ("um",)
    plans = market_plans(config)
    assert list(plans) == ["um"]
    assert plans["um"].url == "wss://fstream.binance.com/market/ws/!markPrice@arr@1s"
    assert plans["um"].silence_seconds == 10.0  # Binance pushes every second


def test_both_markets_stream_once_whatever_the_number_of_accounts():
    config = two_desks_config(
        market_stream=True,
        collectors=["um_position_risk", "cm_position_risk"],
        stream_silence_seconds=2,
        accounts=[desk(f"desk{i}") for i in range(50)],
    )
    assert markets_wanted(config.accounts) == ("um", "cm")
    assert [p.silence_seconds for p in market_plans(config).values()] == [2.0, 2.0]


def test_no_market_streams_without_position_collectors():
    config = two_desks_config(market_stream=True, collectors=["account", "balance"])
    assert markets_wanted(config.accounts) == ()
