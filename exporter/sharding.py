"""Which accounts a replica owns when the accounts are spread over several exporters.

Every replica reads the same config and keeps the accounts of its shard: Google's jump
consistent hash (Lamping and Veach, arXiv:1406.2294) of the 64-bit FNV-1a hash of the account
name, the scheme kube-state-metrics shards with. Growing from N to N+1 shards moves only about
1/(N+1) of the accounts, all of them to the new shard. An account may be pinned to a shard
(``accounts[].shard``): its API key is IP-restricted and every move is a whitelist change.

The shard index comes from a flag, either a number or the name of a StatefulSet pod (its
trailing ``-N`` is the ordinal), so a pod learns its shard from the downward API alone. A flag or
pin that cannot be right is a ``ConfigError`` at the flag or the config key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from exporter.metrics import Family
from exporter.validation import ConfigError

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
_U64 = (1 << 64) - 1
# The linear congruential step of the jump hash's reference implementation.
_JUMP_MULTIPLIER = 2862933555777941757
_POD_ORDINAL = re.compile(r".+-([0-9]+)")
_NUMBER = re.compile(r"[0-9]+")
_NEGATIVE = re.compile(r"-[0-9]+")
_WHOLE = re.compile(r"-?[0-9]{1,12}")
# More replicas than any deployment of this exporter needs (each polls its share of accounts
# from one IP); a typo such as --shard.count=30000 is refused rather than leave nearly every
# shard empty.
MAX_SHARDS = 1000


def fnv1a_64(data: bytes) -> int:
    h = FNV64_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV64_PRIME) & _U64
    return h


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in ``0..buckets-1`` of a 64-bit key."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _JUMP_MULTIPLIER + 1) & _U64
        # Floating point as in the reference code: the result must match other implementations.
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def hashed_shard(name: str, count: int) -> int:
    return jump_hash(fnv1a_64(name.encode("utf-8")), count)


class Owned(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def shard(self) -> int | None: ...


A = TypeVar("A", bound=Owned)


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def of(self, account: Owned) -> int:
        """The shard that owns ``account``: its pin, else its hash."""
        if account.shard is not None:
            return account.shard
        return hashed_shard(account.name, self.count)

    def select(self, accounts: Sequence[A]) -> tuple[A, ...]:
        """The accounts this shard owns, in config order; a pin outside the shards is refused."""
        for i, account in enumerate(accounts):
            if account.shard is not None and account.shard >= self.count:
                raise ConfigError(
                    f"accounts[{i}].shard",
                    f"{account.shard} is outside the shards 0..{self.count - 1} "
                    f"(--shard.count={self.count})",
                )
        return tuple(a for a in accounts if self.of(a) == self.index)

    def empty_warning(self, configured: int, owned: int) -> str | None:
        """Why a replica that owns no account is worth a warning: it polls nothing, and the
        hash (or the pins) left its shard empty, so there are more shards than accounts need."""
        if owned:
            return None
        return (
            f"shard {self.index} of 0..{self.count - 1} owns none of the {configured} accounts: "
            "it polls nothing (fewer shards, or a pin, would use it)"
        )

    def describe(self, configured: int, owned: int) -> str:
        return f"shard {self.index} of 0..{self.count - 1}: owns {owned} of {configured} accounts"


# A replica without sharding: one shard, which every account hashes to and a pin must name.
UNSHARDED = Shard(0, 1)


def shard_loads(
    accounts: Sequence[Owned], weights: Sequence[float], count: int
) -> list[tuple[float, int]]:
    """Each shard's summed weight and number of accounts when ``count`` shards split
    ``accounts`` as the replicas do (pins, else the hash); a pin outside the shards is
    ``select``'s ConfigError."""
    shards = Shard(0, count)
    shards.select(accounts)
    loads = [(0.0, 0)] * count
    for account, weight in zip(accounts, weights, strict=True):
        total, owned = loads[shards.of(account)]
        loads[shards.of(account)] = (total + weight, owned + 1)
    return loads


def parse_shard(count: int | str, index: str) -> Shard | None:
    """The replica's shard from ``--shard.count`` and ``--shard.index``; None when off (count 1).

    Both are the flags' text (argparse's own error would be a usage screen, not one line);
    ``index`` is a number or a pod name whose trailing ``-N`` is the ordinal.
    """
    shards = _shard_count(count)
    ordinal = _ordinal(index)
    if not 0 <= ordinal < shards:
        raise ConfigError(
            "--shard.index", f"{ordinal} is outside 0..{shards - 1} (--shard.count={shards})"
        )
    return Shard(ordinal, shards) if shards > 1 else None


def _shard_count(count: int | str) -> int:
    text = str(count).strip()
    if not _WHOLE.fullmatch(text):
        raise ConfigError("--shard.count", f"{text[:80]!r} is not a whole number")
    shards = int(text)
    if not 1 <= shards <= MAX_SHARDS:
        raise ConfigError("--shard.count", f"must be between 1 and {MAX_SHARDS}, not {shards}")
    return shards


def _ordinal(index: str) -> int:
    text = index.strip()
    if _NEGATIVE.fullmatch(text):
        raise ConfigError("--shard.index", f"{text[:12]} is negative: shards are numbered from 0")
    found = _POD_ORDINAL.fullmatch(text)
    digits = text if _NUMBER.fullmatch(text) else found.group(1) if found else None
    if digits is None:
        raise ConfigError(
            "--shard.index",
            f"{index[:80]!r} is neither a number nor a pod name ending in -N (the ordinal)",
        )
    if len(digits.lstrip("0")) > len(str(MAX_SHARDS)):  # nor may int() meet a 5,000-digit one
        raise ConfigError("--shard.index", f"{digits[:12]}... is above {MAX_SHARDS - 1}")
    return int(digits)


# This replica's shard, as self metrics (their values: ``ExporterStatus``, set at start).

SHARD_INDEX = Family(
    "binance_pm_exporter_shard_index",
    "This replica's shard, 0-based (--shard.index; 0 without sharding).",
    (),
)
SHARDS = Family(
    "binance_pm_exporter_shards",
    "Shards the config's accounts are spread over (--shard.count; 1 without sharding).",
    (),
)
