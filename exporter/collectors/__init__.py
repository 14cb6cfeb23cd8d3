"""One collector per PAPI endpoint: a pure function from a decoded payload to samples.

Adding an endpoint is one new module here plus its metrics in README's reference; the scheduler,
snapshot and HTTP layers do not change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from exporter.metrics import Family, Samples

PositionKey = tuple[str, str]  # (symbol, position side)
# The positions an account-detail collector exported in one poll, each with the families it
# gave it: its position-risk twin keeps the same rows and leaves those families to it.
Provided = Mapping[PositionKey, frozenset[str]]
# A signed GET of a path with extra query parameters (raises ``ApiError`` like the client):
# what a collector with its own ``fetch`` is given, bound to one account's credentials.
Fetcher = Callable[[str, Mapping[str, str]], Awaitable[bytes]]


class BadPayload(ValueError):
    """The payload as a whole cannot be trusted (wrong shape, every entry malformed)."""


@dataclass(frozen=True)
class ParseOptions:
    include_zero: bool = False
    # What the collector this one follows (``Collector.follows``) last exported, in this poll or
    # an earlier one; None when that collector is not enabled or its data is no longer served.
    provided: Provided | None = None
    # The account's state for this collector (``Collector.memory``), kept across polls.
    memory: Any = None


@dataclass
class Result:
    samples: Samples
    skipped: int = 0  # entries left out whole: not an object, no identity, a duplicate
    skipped_fields: int = 0  # unreadable fields left out of entries that were kept
    notes: list[str] = field(default_factory=list)  # things worth one log line (new enum values)
    positions: Provided | None = None  # an account detail's positions, for its followers


def decode_json(body: bytes, options: ParseOptions) -> Any:
    """The whole reply as Python objects: the default decoder, and every fast path's fallback."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadPayload("body is not JSON") from None


@dataclass(frozen=True)
class Collector:
    name: str
    path: str
    weight: int  # Binance's documented request weight
    families: tuple[Family, ...]
    parse: Callable[[Any, ParseOptions], Result]
    # Reply bytes -> what ``parse`` takes. A collector may decode only what it keeps.
    decode: Callable[[bytes, ParseOptions], Any] = decode_json
    # The account-detail collector whose positions this one's rows follow: parsed before it in
    # a poll, its ``Result.positions`` handed over as ``ParseOptions.provided``.
    follows: str | None = None
    # Seconds between polls when the config gives none; None: the poll interval (which ``auto``
    # may stretch). Data that changes slowly, or that Binance refreshes on its own clock, has one.
    default_interval: float | None = None
    # Where Binance points once it retires this endpoint (HTTP 400, code -5000, "... is
    # retired, please use ..."): same name and series, the families the newer reply still has.
    successor: Collector | None = None
    # Per-account state kept across polls (an income ledger), built on the account's first poll.
    memory: Callable[[], Any] | None = None
    # Replaces the one plain GET of ``path`` (paging, query parameters): given a signed fetcher
    # and the account's memory, returns what ``decode`` takes. ``weight`` is one request's.
    fetch: Callable[[Fetcher, Any], Awaitable[bytes | Any]] | None = None


def _registry() -> dict[str, Collector]:
    from exporter.collectors import (
        account,
        balance,
        cm_account,
        cm_adl_quantile,
        cm_income,
        cm_position_risk,
        um_account,
        um_adl_quantile,
        um_income,
        um_position_risk,
    )

    found = [
        um_account.COLLECTOR,
        account.COLLECTOR,
        um_position_risk.COLLECTOR,
        cm_account.COLLECTOR,
        cm_position_risk.COLLECTOR,
        balance.COLLECTOR,
        um_adl_quantile.COLLECTOR,
        cm_adl_quantile.COLLECTOR,
        um_income.COLLECTOR,
        cm_income.COLLECTOR,
    ]
    return {c.name: c for c in found}


COLLECTORS: dict[str, Collector] = _registry()


def poll_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """The order a poll settles collectors in: each after the one it ``follows``.

    Follows chains are one step (a position-risk collector after its account detail); the
    relative order of the others is kept.
    """
    return tuple(sorted(names, key=lambda n: COLLECTORS[n].follows in names))


def followers(leader: str) -> tuple[str, ...]:
    """The collectors that follow ``leader`` (``Collector.follows``)."""
    return FOLLOWERS.get(leader, ())


FOLLOWERS: dict[str, tuple[str, ...]] = {
    leader: tuple(c.name for c in COLLECTORS.values() if c.follows == leader)
    for leader in {c.follows for c in COLLECTORS.values() if c.follows is not None}
}

DEFAULT_COLLECTORS: tuple[str, ...] = ("um_account", "account", "um_position_risk", "balance")
