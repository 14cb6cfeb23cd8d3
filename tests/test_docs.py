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
