"""README stays true: every metric the exporter can expose, and every config key, is documented."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.config import ACCOUNT_KEYS, TOP_KEYS
from exporter.render import all_families

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_metric_family_is_in_the_metrics_reference():
    documented = set(re.findall(r"`(binance_pm_[a-z0-9_]+)`", README))
    cm_suffixes = re.search(r"under `binance_pm_cm_asset_\*` \((.*?)\) and", README, re.S)
    assert cm_suffixes, "the COIN-M paragraph lists its suffixes"
    missing = []
    for family in all_families():
        name = family.name
        if name.startswith("binance_pm_cm_"):
            suffix = name.removeprefix("binance_pm_cm_asset_").removeprefix(
                "binance_pm_cm_position_"
            )
            if f"`{suffix}`" in README or name in documented:
                continue
        if name not in documented:
            missing.append(name)
    assert missing == []


def test_every_documented_metric_exists():
    known = {f.name for f in all_families()}
    documented = set(re.findall(r"`(binance_pm_[a-z0-9_]+)`", README))
    assert documented - known == set()


def test_every_config_key_is_in_the_configuration_reference():
    for key in TOP_KEYS - {"positions", "accounts"}:
        assert f"| `{key}` |" in README, key
    assert "`positions.include_zero`" in README
    for key in ACCOUNT_KEYS:
        assert f"accounts[].{key}" in README or f"`{key}`" in README, key


def test_the_egress_paragraph_lists_the_host_of_every_default_url():
    from urllib.parse import urlsplit

    from exporter.config import parse_config
    from exporter.stream.config import (
        DEFAULT_CM_MARKET_STREAM_URL,
        DEFAULT_STREAM_URL,
        DEFAULT_UM_MARKET_STREAM_URL,
    )

    (paragraph,) = re.findall(r"Through an egress proxy.*?name other hosts\.", README, re.S)
    config = parse_config({"accounts": [{"name": "a", "api_key": "k", "api_secret": "s"}]}, {})
    urls = [config.client.base_url, config.client.time_url, config.sapi.base_url]
    urls += [DEFAULT_STREAM_URL, DEFAULT_UM_MARKET_STREAM_URL, DEFAULT_CM_MARKET_STREAM_URL]
    hosts = {urlsplit(u).hostname for u in urls}
    assert hosts == {
        "papi.binance.com",
        "fapi.binance.com",
        "api.binance.com",
        "fstream.binance.com",
        "dstream.binance.com",
    }
    assert set(re.findall(r"`([a-z]+\.binance\.com)`", paragraph)) == hosts


def test_the_readme_points_to_the_example_configuration():
    assert "[`config.example.yaml`](config.example.yaml)" in README
    assert (Path(__file__).resolve().parent.parent / "config.example.yaml").is_file()
