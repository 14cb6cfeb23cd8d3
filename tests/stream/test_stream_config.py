"""The stream's config keys: defaults, the per-account override, the plan, every mistake."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import ConfigError
from exporter.stream.config import StreamSettings
from tests.helpers import desk, two_desks_config


def test_the_stream_is_off_by_default_with_binance_s_pm_stream_and_timings():
    config = two_desks_config()
    assert config.stream == StreamSettings(
        enabled=False,
        url="wss://fstream.binance.com/pm/ws/",
        keepalive_seconds=1800.0,
        silence_seconds=60.0,
    )
    assert [a.user_data_stream for a in config.accounts] == [False, False]


def test_a_per_account_false_overrides_a_global_true():
    config = two_desks_config(
        user_data_stream=True,
        accounts=[desk("a"), desk("b", user_data_stream=False)],
    )
    assert [a.user_data_stream for a in config.accounts] == [True, False]


def test_one_account_can_ask_for_it_alone():
    config = two_desks_config(accounts=[desk("a", user_data_stream=True), desk("b")])
    assert [a.user_data_stream for a in config.accounts] == [True, False]


def test_ws_urls_are_accepted_and_end_with_a_slash():
    config = two_desks_config(stream_url="ws://127.0.0.1:8080/pm/ws")
    assert config.stream.url == "ws://127.0.0.1:8080/pm/ws/"


def test_keepalives_are_part_of_the_planned_weight():
    # um_account 5 + account 20 + um_position_risk 5 = 30 per 15 s poll, and balance 20 a
    # minute: 140/min per account; one keepalive (weight 1) every 600 s for the streamed one.
    config = two_desks_config(
        accounts=[desk("a", user_data_stream=True), desk("b")],
        stream_keepalive_seconds=600,
    )
    assert config.planned_weight_per_minute() == 280 + 0.1


@pytest.mark.parametrize(
    ("top", "path", "message"),
    [
        ({"user_data_stream": "yes"}, "user_data_stream", "must be true or false"),
        ({"stream_url": "https://x/pm/ws/"}, "stream_url", "is not a ws(s) URL"),
        ({"stream_url": 5}, "stream_url", "must be a ws(s) URL string"),
        ({"stream_url": "wss://x/pm/ws/?a=1"}, "stream_url", "is not a ws(s) URL"),
        ({"stream_keepalive_seconds": 3600}, "stream_keepalive_seconds", "out of range"),
        ({"stream_keepalive_seconds": 0}, "stream_keepalive_seconds", "out of range"),
        ({"stream_silence_seconds": "60"}, "stream_silence_seconds", "must be a number"),
        ({"stream_silence_seconds": True}, "stream_silence_seconds", "must be a number"),
    ],
)
def test_mistakes_name_the_key(top: dict[str, Any], path: str, message: str):
    with pytest.raises(ConfigError) as caught:
        two_desks_config(**top)
    assert caught.value.path == path
    assert message in str(caught.value)


def test_an_account_mistake_names_the_account_s_key():
    with pytest.raises(ConfigError) as caught:
        two_desks_config(accounts=[desk("a"), desk("b", user_data_stream=1)])
    assert caught.value.path == "accounts[1].user_data_stream"


def test_a_stream_url_password_never_shows():
    with pytest.raises(ConfigError) as caught:
        two_desks_config(stream_url="https://user:hunter2@x/pm/ws/")
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(two_desks_config(stream_url="wss://user:hunter2@x/pm/ws/"))
