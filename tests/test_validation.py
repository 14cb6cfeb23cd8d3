"""The typed getters every config reader checks its keys with: values, defaults, exact messages."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.validation import (
    ConfigError,
    flag,
    integer,
    join,
    mapping,
    number,
    reject_unknown,
    string,
    type_name,
    url,
    ws_url,
)


def message_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ConfigError) as caught:
        call(*args, **kwargs)
    return caught.value.path, str(caught.value)


def test_a_config_error_names_its_key_path_first():
    error = ConfigError("accounts[1].api_secret_file", "is empty")
    assert error.path == "accounts[1].api_secret_file"
    assert str(error) == "accounts[1].api_secret_file: is empty"


def test_a_config_error_without_a_path_is_the_message_alone():
    error = ConfigError("", "config file x.yaml is not UTF-8 text")
    assert error.path == ""
    assert str(error) == "config file x.yaml is not UTF-8 text"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "a boolean"),
        (3, "an integer"),
        (1.5, "a number"),
        ("x", "a string"),
        ([], "a list"),
        ({}, "a mapping"),
        (b"x", "bytes"),
    ],
)
def test_type_names_are_the_words_of_the_messages(value, name):
    assert type_name(value) == name


def test_a_key_path_joins_with_a_dot_below_the_top():
    assert join("", "positions") == "positions"
    assert join("positions", "include_zero") == "positions.include_zero"


def test_an_unknown_key_is_refused_at_its_path():
    assert message_of(reject_unknown, {"a": 1, "typo": 2}, {"a"}, "section") == (
        "section.typo",
        "section.typo: unknown key 'typo'",
    )


def test_a_refused_key_says_why_instead_of_unknown():
    refused = {"rate_limit": "put a reverse proxy in front"}
    assert message_of(reject_unknown, {"rate_limit": 1}, {"rate_limit"}, "", refused) == (
        "rate_limit",
        "rate_limit: put a reverse proxy in front",
    )


def test_known_keys_pass():
    reject_unknown({"a": 1}, {"a", "b"}, "")


def test_a_number_is_read_or_defaulted_as_a_float():
    assert number({"t": 3}, "t", 10, lo=1) == 3.0
    assert isinstance(number({"t": 3}, "t", 10, lo=1), float)
    assert number({}, "t", 10, lo=1) == 10.0


@pytest.mark.parametrize(
    ("value", "hi", "message"),
    [
        ("3", None, "t: must be a number, not '3'"),
        (True, None, "t: must be a number, not True"),
        (0.5, None, "t: 0.5 is out of range (must be at least 1)"),
        (301, 300, "t: 301 is out of range (must be between 1 and 300)"),
        (float("nan"), None, "t: nan is out of range (must be at least 1)"),
        (float("inf"), None, "t: inf is out of range (must be at least 1)"),
        (10**400, None, f"t: {10**400!r} is out of range (must be at least 1)"),
    ],
)
def test_a_number_out_of_type_or_range_is_refused(value, hi, message):
    assert message_of(number, {"t": value}, "t", 10, lo=1, hi=hi) == ("t", message)


def test_a_number_inside_a_list_is_refused_at_its_own_path():
    where = "collectors[0].interval_seconds"
    assert message_of(
        number, {"interval_seconds": 0}, "interval_seconds", 0, lo=1, where=where
    ) == (
        where,
        f"{where}: 0 is out of range (must be at least 1)",
    )


def test_an_integer_is_read_or_defaulted():
    assert integer({"n": 5000}, "n", 1, lo=1, hi=60_000) == 5000
    assert integer({}, "n", 3000, lo=1) == 3000


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "n: must be an integer, not 1.5"),
        (False, "n: must be an integer, not False"),
        (0, "n: 0 is out of range (must be between 1 and 6000)"),
        (6001, "n: 6001 is out of range (must be between 1 and 6000)"),
    ],
)
def test_an_integer_out_of_type_or_range_is_refused(value, message):
    assert message_of(integer, {"n": value}, "n", 3000, lo=1, hi=6000) == ("n", message)


def test_a_flag_is_a_yaml_boolean_or_its_default():
    assert flag({"on": True}, "on", False) is True
    assert flag({}, "on", False) is False


def test_a_flag_that_is_not_a_boolean_is_refused_saying_what_was_found():
    assert message_of(flag, {"on": "yes"}, "on", False, "accounts[0].on") == (
        "accounts[0].on",
        "accounts[0].on: must be true or false, not 'yes'",
    )


def test_a_flag_can_be_refused_without_saying_what_was_found():
    assert message_of(flag, {"on": 1}, "on", False, show_found=False) == (
        "on",
        "on: must be true or false",
    )


def test_a_string_is_read_or_defaulted():
    assert string({"s": "RequireAndVerifyClientCert"}, "s", "x") == "RequireAndVerifyClientCert"
    assert string({}, "s", "NoClientCert") == "NoClientCert"


def test_a_string_that_is_not_one_is_refused_by_its_type_never_its_value():
    assert message_of(string, {"api_key": 12345678}, "api_key", "", "accounts[0].api_key") == (
        "accounts[0].api_key",
        "accounts[0].api_key: must be a string, not an integer",
    )
    assert message_of(string, {"s": ["a"]}, "s", "", show_found=False) == (
        "s",
        "s: must be a string",
    )


def test_a_mapping_is_empty_when_missing_or_null():
    assert mapping({}, "positions") == {}
    assert mapping({"positions": None}, "positions") == {}
    assert mapping({"positions": {"include_zero": True}}, "positions") == {"include_zero": True}


def test_a_mapping_that_is_not_one_is_refused():
    assert message_of(mapping, {"positions": [1]}, "positions") == (
        "positions",
        "positions: must be a mapping, not a list",
    )
    assert message_of(mapping, {"tls": "x"}, "tls", show_found=False) == (
        "tls",
        "tls: must be a mapping",
    )


def test_a_url_loses_its_trailing_slash_and_defaults():
    assert url({"base_url": "http://127.0.0.1:9/"}, "base_url", "x") == "http://127.0.0.1:9"
    assert url({}, "base_url", "https://papi.binance.com") == "https://papi.binance.com"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "base_url: must be a URL string, not an integer"),
        ("ftp://host", "base_url: 'ftp://host' is not an http(s) URL"),
        ("http://", "base_url: 'http://' is not an http(s) URL"),
        ("http://host:99999", "base_url: 'http://host:99999' is not an http(s) URL"),
        ("https://u:hunter2@host:x", "base_url: 'https://u:<secret>@host:x' is not an http(s) URL"),
    ],
)
def test_a_url_that_is_not_http_is_refused_with_its_password_hidden(value, message):
    assert message_of(url, {"base_url": value}, "base_url", "x") == ("base_url", message)


def test_a_ws_url_ends_with_a_slash_for_the_listen_key():
    assert ws_url({"u": "ws://127.0.0.1:9/ws"}, "u", "x") == "ws://127.0.0.1:9/ws/"
    assert ws_url({}, "u", "wss://fstream.binance.com/pm/ws/") == "wss://fstream.binance.com/pm/ws/"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "u: must be a ws(s) URL string, not 5"),
        ("ws://host:99999/", "u: 'ws://host:99999/' is not a ws(s) URL"),
        (
            "https://host/ws/",
            "u: 'https://host/ws/' is not a ws(s) URL (the listen key is appended)",
        ),
        (
            "wss://host/ws/?a=1",
            "u: 'wss://host/ws/?a=1' is not a ws(s) URL (the listen key is appended)",
        ),
    ],
)
def test_a_ws_url_that_cannot_take_the_listen_key_is_refused(value, message):
    assert message_of(ws_url, {"u": value}, "u", "x") == ("u", message)
