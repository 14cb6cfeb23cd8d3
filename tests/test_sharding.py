"""Sharding: the hash against its published vectors, the flags, pins, plans and re-sharding."""

from __future__ import annotations

import pytest

from exporter.config import ConfigError, parse_config
from exporter.sharding import (
    Shard,
    fnv1a_64,
    hashed_shard,
    jump_hash,
    parse_shard,
    shard_loads,
)
from tests.helpers import DESKS, desk, shard_raw_config

# FNV-1a 64 from the FNV reference test suite (Landon Curt Noll's fnv_test.c).
FNV1A_64_VECTORS = [
    (b"", 0xCBF29CE484222325),
    (b"a", 0xAF63DC4C8601EC8C),
    (b"b", 0xAF63DF4C8601F1A5),
    (b"foobar", 0x85944171F73967E8),
]
# Jump consistent hash (key, buckets, bucket): the reference vectors other implementations
# check against (the Go and Rust ports, ClickHouse's jumpConsistentHash test).
JUMP_VECTORS = [
    (1, 1, 0),
    (42, 57, 43),
    (256, 1024, 520),
    (0xDEAD10CC, 1, 0),
    (0xDEAD10CC, 666, 361),
    (16045690984833335023, 255, 237),
]


@pytest.mark.parametrize(("data", "expected"), FNV1A_64_VECTORS)
def test_fnv1a_64_matches_the_reference_vectors(data, expected):
    assert fnv1a_64(data) == expected


@pytest.mark.parametrize(("key", "buckets", "expected"), JUMP_VECTORS)
def test_jump_hash_matches_the_reference_vectors(key, buckets, expected):
    assert jump_hash(key, buckets) == expected


def test_growing_by_one_shard_moves_accounts_only_to_the_new_shard():
    names = [f"sub-{i:04d}" for i in range(2000)]
    for count in (1, 2, 3, 7):
        moved = [n for n in names if hashed_shard(n, count) != hashed_shard(n, count + 1)]
        assert {hashed_shard(n, count + 1) for n in moved} == {count}
        # About 1/(N+1) of them: 2000/(N+1) within 15%.
        assert abs(len(moved) - 2000 / (count + 1)) < 0.15 * 2000 / (count + 1)


def test_an_account_name_hashes_to_a_fixed_shard():
    # The UTF-8 bytes of the name, as kube-state-metrics hashes its objects.
    assert [hashed_shard("desk3", n) for n in (1, 2, 3, 4)] == [0, 0, 2, 2]
    assert jump_hash(fnv1a_64(b"desk3"), 3) == 2


@pytest.mark.parametrize(
    ("count", "index", "expected"),
    [
        (3, "2", Shard(2, 3)),
        (3, "0", Shard(0, 3)),
        (3, "binance-pm-exporter-2", Shard(2, 3)),
        (4, "pm-binance-pm-exporter-b-3", Shard(3, 4)),
        (1, "0", None),
        (1, "binance-pm-exporter-0", None),
    ],
)
def test_the_shard_comes_from_a_number_or_a_pod_name(count, index, expected):
    assert parse_shard(count, index) == expected


@pytest.mark.parametrize(
    ("count", "index", "message"),
    [
        (3, "3", "--shard.index: 3 is outside 0..2 (--shard.count=3)"),
        (3, "binance-pm-exporter-7", "--shard.index: 7 is outside 0..2 (--shard.count=3)"),
        (
            3,
            "binance-pm-exporter",
            "--shard.index: 'binance-pm-exporter' is neither a number nor a pod name ending in "
            "-N (the ordinal)",
        ),
        (
            3,
            "-1",
            "--shard.index: -1 is negative: shards are numbered from 0",
        ),
        (0, "0", "--shard.count: must be between 1 and 1000, not 0"),
        ("abc", "0", "--shard.count: 'abc' is not a whole number"),
        ("-2", "0", "--shard.count: must be between 1 and 1000, not -2"),
        ("3.0", "0", "--shard.count: '3.0' is not a whole number"),
        ("9" * 40, "0", "--shard.count: '" + "9" * 40 + "' is not a whole number"),
        (1001, "0", "--shard.count: must be between 1 and 1000, not 1001"),
        (1000, "1" * 5000, "--shard.index: 111111111111... is above 999"),
        (1000, "pm-" + "2" * 20, "--shard.index: 222222222222... is above 999"),
    ],
)
def test_a_wrong_shard_flag_is_refused(count, index, message):
    with pytest.raises(ConfigError) as caught:
        parse_shard(count, index)
    assert str(caught.value) == message


def test_each_shard_keeps_its_accounts_and_together_they_keep_all():
    owned = {
        i: [a.name for a in parse_config(shard_raw_config(DESKS), {}, Shard(i, 3)).accounts]
        for i in range(3)
    }
    assert owned == {0: ["desk2"], 1: ["desk1", "desk4"], 2: ["desk3"]}
    config = parse_config(shard_raw_config(DESKS), {}, Shard(1, 3))
    assert config.accounts_configured == 4


def test_a_pin_overrides_the_hash():
    pinned = [*DESKS[:3], desk("desk4", shard=2)]
    owned = [a.name for a in parse_config(shard_raw_config(pinned), {}, Shard(2, 3)).accounts]
    assert owned == ["desk3", "desk4"]


def test_without_sharding_a_pin_is_checked_against_the_one_shard():
    pinned = [*DESKS[:3], desk("desk4", shard=0)]
    config = parse_config(shard_raw_config(pinned), {})
    assert [a.name for a in config.accounts] == ["desk1", "desk2", "desk3", "desk4"]
    assert config.accounts_configured == 4
    with pytest.raises(ConfigError) as caught:
        parse_config(shard_raw_config([*DESKS[:3], desk("desk4", shard=5)]), {})
    assert str(caught.value) == "accounts[3].shard: 5 is outside the shards 0..0 (--shard.count=1)"


def test_the_plan_weighs_accounts_pinned_to_any_shard():
    pinned = [*DESKS[:3], desk("desk4", shard=5)]
    config = parse_config(shard_raw_config(pinned), {}, planning=True)
    assert [a.name for a in config.accounts] == ["desk1", "desk2", "desk3", "desk4"]


def test_a_pin_past_the_most_shards_is_refused_even_when_planning():
    with pytest.raises(ConfigError) as caught:
        parse_config(shard_raw_config([desk("desk1", shard=1000)]), {}, planning=True)
    assert str(caught.value) == "accounts[0].shard: 1000 is above 999, the last shard"


def test_a_shard_that_owns_no_account_says_so():
    assert Shard(1, 3).empty_warning(4, 2) is None
    assert Shard(5, 8).empty_warning(4, 0) == (
        "shard 5 of 0..7 owns none of the 4 accounts: it polls nothing "
        "(fewer shards, or a pin, would use it)"
    )


def test_a_pin_outside_the_shards_is_a_config_error():
    pinned = [*DESKS[:3], desk("desk4", shard=3)]
    with pytest.raises(ConfigError) as caught:
        parse_config(shard_raw_config(pinned), {}, Shard(0, 3))
    assert str(caught.value) == (
        "accounts[3].shard: 3 is outside the shards 0..2 (--shard.count=3)"
    )


@pytest.mark.parametrize("pin", [-1, "1", 1.0, True])
def test_a_pin_must_be_a_shard_index(pin):
    with pytest.raises(ConfigError) as caught:
        parse_config(shard_raw_config([desk("desk1", shard=pin)]), {})
    assert str(caught.value) == (
        f"accounts[0].shard: must be a shard index (0, 1, ...), not {pin!r}"
    )


def test_the_weight_plan_and_its_refusal_count_only_the_owned_accounts():
    # um_account costs 5 a poll: 4 accounts every 15 s plan 80/min, over a budget of 70.
    with pytest.raises(ConfigError) as caught:
        parse_config(shard_raw_config(DESKS, max_weight_per_minute=70), {})
    assert "planned API weight 80/min exceeds max_weight_per_minute 70" in str(caught.value)
    config = parse_config(shard_raw_config(DESKS, max_weight_per_minute=70), {}, Shard(1, 3))
    assert config.planned_weight_per_minute() == 40.0


def test_auto_fits_the_owned_accounts_into_the_budget():
    # 4 accounts x 5 = 20 a round; 90% of 60/min is 54: 23 s. Shard 1 owns 2 of them: 12 s,
    # then the 1 s floor.
    raw = shard_raw_config(
        DESKS, max_weight_per_minute=60, poll_interval_seconds="auto", auto_interval_min_seconds=1
    )
    assert parse_config(raw, {}).polling.interval_seconds == 23.0
    assert parse_config(raw, {}, Shard(1, 3)).polling.interval_seconds == 12.0


def test_shard_loads_sum_the_weights_of_each_shards_accounts_pins_included():
    pinned = [*DESKS[:3], desk("desk4", shard=0)]
    config = parse_config(shard_raw_config(pinned), {})
    # Shard 0 owns desk2 by its hash (as above) and desk4 by its pin.
    assert shard_loads(config.accounts, [1.0, 10.0, 100.0, 1000.0], 3) == [
        (1010.0, 2),
        (1.0, 1),
        (100.0, 1),
    ]


def test_shard_loads_refuse_a_count_below_a_pin():
    pinned = [*DESKS[:3], desk("desk4", shard=3)]
    config = parse_config(shard_raw_config(pinned), {}, planning=True)
    with pytest.raises(ConfigError):
        shard_loads(config.accounts, [1.0] * 4, 3)


def test_a_shard_reads_only_its_own_accounts_key_files(tmp_path):
    # desk2 is shard 0's of 3 (above): shard 1 starts without desk2's files, as with a
    # per-shard Secret holding only the shard's own keys.
    accounts = [
        desk("desk1"),
        {
            "name": "desk2",
            "api_key_file": str(tmp_path / "absent.key"),
            "api_secret_file": str(tmp_path / "absent.secret"),
        },
        *DESKS[2:],
    ]
    config = parse_config(shard_raw_config(accounts), {}, Shard(1, 3))
    assert [a.name for a in config.accounts] == ["desk1", "desk4"]
    assert config.accounts_configured == 4
    with pytest.raises(ConfigError) as caught:
        parse_config(shard_raw_config(accounts), {}, Shard(0, 3))
    assert caught.value.path == "accounts[1].api_key_file"
