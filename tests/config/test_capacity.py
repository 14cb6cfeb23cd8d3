"""--config.plan: the weight per account and collector, the busiest shard under the real hash
and pins for each shard count, the smallest count that fits; and the READMEs' numbers from it."""

from __future__ import annotations

import math
import re

import yaml

from exporter.config import load_config
from exporter.config.plan import capacity_plan
from tests.helpers import DESKS, REPO, desk, shard_raw_config

CHART_README = REPO / "deploy/helm/binance-pm-exporter/README.md"
# The config the READMEs' capacity table assumes: 300 accounts, the default collectors.
SUB_ACCOUNTS = [
    {"name": f"sub-{i:03d}", "api_key": f"key-{i}", "api_secret": f"secret-{i}"}
    for i in range(1, 301)
]
PER_ACCOUNT = 140  # the default collectors at 15 s (README, "Collectors and the weight budget")


def plan(tmp_path, raw: dict) -> str:
    """What --config.plan prints below its first line, for ``raw`` as a config file."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return capacity_plan(load_config(path, planning=True)) + "\n"


def test_the_plan_lists_each_account_and_collector_and_each_shard_count(tmp_path):
    pinned = [*DESKS[:3], desk("desk4", shard=1)]
    out = plan(tmp_path, shard_raw_config(pinned, max_weight_per_minute=40))
    assert out == (
        "4 accounts, poll interval 15s, max_weight_per_minute 40: a shard fits at 40 weight/min "
        "or less\n"
        "\n"
        "weight per minute by account and collector:\n"
        "  account  um_account  total\n"
        "  desk1    20          20\n"
        "  desk2    20          20\n"
        "  desk3    20          20\n"
        "  desk4    20          20\n"
        "all accounts: 80/min\n"
        "\n"
        "busiest shard by --shard.count (jump hash of the account names, and the pins):\n"
        "  shards  busiest shard's weight/min  its accounts  fits\n"
        "  1       -                           -             no (a pin is outside the shards)\n"
        "  2       40                          2             yes\n"
        "  3       40                          2             yes\n"
        "  4       40                          2             yes\n"
        "smallest --shard.count whose busiest shard fits: 2\n"
    )


def test_the_plan_of_a_config_over_any_one_budget_still_exits_0(tmp_path):
    raw = shard_raw_config(DESKS, max_weight_per_minute=10)
    out = plan(tmp_path, raw)
    assert out.endswith(
        "no --shard.count up to 1000 fits (the heaviest account alone plans 20/min): poll less, "
        "or raise max_weight_per_minute\n"
    )


def test_the_plan_with_auto_counts_the_share_auto_plans_at_its_floor(tmp_path):
    raw = shard_raw_config(DESKS, max_weight_per_minute=100, poll_interval_seconds="auto")
    out = plan(tmp_path, raw)
    assert "poll interval 15s (auto, at its floor), max_weight_per_minute 100: a shard fits at " \
        "90 weight/min or less\n" in out  # fmt: skip
    assert out.endswith("smallest --shard.count whose busiest shard fits: 1\n")


def capacity_row(tmp_path, budget: int, label: str, **extra) -> str:
    """The READMEs' row for ``budget``: the even share, and the plan's count and busiest shard."""
    raw = {"max_weight_per_minute": budget, "accounts": SUB_ACCOUNTS, **extra}
    out = plan(tmp_path, raw)
    fit = int(re.search(r"smallest --shard.count whose busiest shard fits: (\d+)", out)[1])
    row = re.search(rf"^  {fit} +(\d+) +(\d+) +yes$", out, re.MULTILINE)
    limit = budget * (0.9 if "auto" in extra.values() else 1)
    even = math.floor(limit / PER_ACCOUNT)
    return f"| {label} | {even} | {fit} | {row[1]}/min, {row[2]} accounts |"


def test_the_readmes_capacity_numbers_are_the_plans(tmp_path):
    rows = [
        capacity_row(tmp_path, 3000, "3000 (the default), at 15 s"),
        capacity_row(
            tmp_path,
            6000,
            "6000, `poll_interval_seconds: auto`",
            poll_interval_seconds="auto",
        ),
    ]
    for readme in (REPO / "README.md", CHART_README):
        text = readme.read_text()
        for row in rows:
            assert row in text, f"{readme.name} lacks the plan's row {row}"
