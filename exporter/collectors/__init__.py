"""One collector per PAPI endpoint: a pure function from a decoded payload to samples.

Adding an endpoint is one new module here (found by its name), its simulator endpoint row, its
tests and its metrics in README's reference (docs/architecture.md); the scheduler, snapshot and
HTTP layers do not change.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from exporter.metrics import Family, Samples

PositionKey = tuple[str, str]  # (symbol, position side)
# The positions an account-detail collector exported in one poll, each with the families it
# gave it: its position-risk twin keeps the same rows and leaves those families to it.
Provided = Mapping[PositionKey, frozenset[str]]
# What a follower's rows are matched on against its leader's positions (``exporter.follow``).
FollowKey = Literal["position", "symbol"]
# A signed GET of a path with extra query parameters, its reply body (raises ``ApiError`` like
# the client): what a fetch strategy is given, bound to one account's credentials.
Fetcher = Callable[[str, Mapping[str, str]], Awaitable[bytes]]


class BadPayload(ValueError):
    """The payload as a whole cannot be trusted (wrong shape, every entry malformed)."""


@dataclass(frozen=True)
class ParseOptions:
    include_zero: bool = False
    # What the collector this one follows (``Collector.follows``) last exported, in this poll or
    # an earlier one; None when that collector is not enabled or its data is no longer served.
    provided: Provided | None = None
    # The account's state for this collector (``FetchStrategy.new_memory``), kept across polls.
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


class FetchStrategy(Protocol):
    """How a collector gets its payload from Binance, and the per-account state that needs.

    The scheduler calls ``new_memory`` on an account's first poll of the collector and keeps
    what it returns (None: the strategy keeps nothing), then ``fetch`` at every poll, whatever
    the strategy: it never branches on the kind of collector.
    """

    def new_memory(self) -> Any: ...

    async def fetch(self, get: Fetcher, path: str, memory: Any) -> bytes | Any:
        """What ``Collector.decode`` takes, from signed GETs of ``path`` through ``get``."""
        ...


@dataclass(frozen=True)
class SingleGet:
    """One signed GET of the collector's path, no query parameters: most endpoints."""

    def new_memory(self) -> None:
        return None

    async def fetch(self, get: Fetcher, path: str, memory: None) -> bytes:
        return await get(path, {})


@dataclass(frozen=True)
class Collector:
    name: str
    path: str
    weight: int  # Binance's documented request weight
    families: tuple[Family, ...]
    parse: Callable[[Any, ParseOptions], Result]
    # Reply bytes -> what ``parse`` takes. A collector may decode only what it keeps.
    decode: Callable[[bytes, ParseOptions], Any] = decode_json
    # The account-detail collector whose positions this one's rows follow (``exporter.follow``):
    # parsed before it in a poll, its ``Result.positions`` handed over as
    # ``ParseOptions.provided``.
    follows: str | None = None
    # What a follower's row is keyed by: a position (its first two labels are the symbol and
    # side, as the leader's rows) or a symbol (its first label; figures of the symbol itself,
    # such as its leverage brackets, kept while the leader holds any position in it).
    follow_key: FollowKey = "position"
    # Whether a follower's row for a position its leader lacks is kept (position risk: its own
    # reply says the position is open) rather than left to the leader.
    keeps_unled: bool = False
    # Seconds between polls when the config gives none; None: the poll interval (which ``auto``
    # may stretch). Data that changes slowly, or that Binance refreshes on its own clock, has one.
    default_interval: float | None = None
    # Where Binance points once it retires this endpoint (HTTP 400, code -5000, "... is
    # retired, please use ..."): same name and series, the families the newer reply still has.
    successor: Collector | None = None
    # How the payload is fetched: one GET of ``path``, or pages of it with the state that paging
    # keeps per account (income's ledger). ``weight`` is one request's.
    fetch: FetchStrategy = SingleGet()


def _registry() -> dict[str, Collector]:
    """Every collector module of this package (the ``_``-prefixed ones are shared code), by name.

    A new endpoint is a new module with a ``COLLECTOR``: nothing here names it.
    """
    found: dict[str, Collector] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if module.startswith("_"):
            continue
        collector = importlib.import_module(f"{__name__}.{module}").COLLECTOR
        if collector.name != module:
            raise RuntimeError(f"{__name__}.{module} declares collector {collector.name!r}")
        found[collector.name] = collector
    return found


COLLECTORS: dict[str, Collector] = _registry()


DEFAULT_COLLECTORS: tuple[str, ...] = ("um_account", "account", "um_position_risk", "balance")
