"""The SAPI keys: collateral_rate on and off, its interval, the SAPI host and its own budget."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import ConfigError, SapiSettings, parse_config

ACCOUNT = {"name": "main", "api_key": "key", "api_secret": "secret"}


def parse(**top: Any):
    return parse_config({"accounts": [ACCOUNT], **top}, {})


def error(**top: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(**top)
    return str(caught.value)


def test_off_by_default_on_the_binance_sapi_host_with_a_tenth_of_its_limit() -> None:
    assert parse().sapi == SapiSettings("https://api.binance.com", 1200, False, 3600.0)


def test_true_polls_hourly_and_a_mapping_at_its_own_interval() -> None:
    assert parse(collateral_rate=True).sapi.collateral_rate_interval_seconds == 3600.0
    on = parse(collateral_rate={"interval_seconds": 600}, sapi_base_url="http://sim:1/").sapi
    assert (on.collateral_rate, on.collateral_rate_interval_seconds) == (True, 600.0)
    assert on.base_url == "http://sim:1"
    assert parse(collateral_rate={}).sapi.collateral_rate is True
    assert parse(collateral_rate=False).sapi.collateral_rate is False


def test_the_sapi_budget_is_bound_by_binances_12000_a_minute() -> None:
    assert parse(sapi_max_weight_per_minute=12000).sapi.max_weight_per_minute == 12000
    assert error(sapi_max_weight_per_minute=12001).startswith("sapi_max_weight_per_minute: ")
    assert error(sapi_max_weight_per_minute=0).startswith("sapi_max_weight_per_minute: ")


def test_an_interval_over_the_sapi_budget_names_its_key() -> None:
    # 50 weight every 2 s is 1500 a minute: over the default 1200.
    message = error(collateral_rate={"interval_seconds": 2})
    assert message == (
        "collateral_rate.interval_seconds: 2s plans 1500 weight/min, over "
        "sapi_max_weight_per_minute 1200 (at weight 50, at least 3s)"
    )
    assert parse(collateral_rate={"interval_seconds": 3}).sapi.collateral_rate_interval_seconds == 3
    # Hourly, 50 weight is under 1 a minute: any budget holds it.
    assert parse(collateral_rate=True, sapi_max_weight_per_minute=1).sapi.collateral_rate


@pytest.mark.parametrize(
    ("top", "starts"),
    [
        ({"collateral_rate": "yes"}, "collateral_rate: must be true, false or a mapping"),
        ({"collateral_rate": {"every": 60}}, "collateral_rate.every: unknown key"),
        ({"collateral_rate": {"interval_seconds": 0}}, "collateral_rate.interval_seconds: "),
        ({"sapi_base_url": "ftp://x"}, "sapi_base_url: "),
    ],
)
def test_mistakes_name_their_key(top: dict[str, Any], starts: str) -> None:
    assert error(**top).startswith(starts)
