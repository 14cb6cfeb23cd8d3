"""One collector per PAPI endpoint: a pure function from a decoded payload to samples.

Adding an endpoint is one new module here plus its metrics in README's reference; the scheduler,
snapshot and HTTP layers do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from exporter.metrics import Family, Samples

PositionKey = tuple[str, str]  # (symbol, position side)


class BadPayload(ValueError):
    """The payload as a whole cannot be trusted (wrong shape, every entry malformed)."""


@dataclass(frozen=True)
class ParseOptions:
    include_zero: bool = False
    # Positions the UM account collector kept in the same poll; None when it is not enabled.
    um_positions: frozenset[PositionKey] | None = None


@dataclass
class Result:
    samples: Samples
    skipped: int = 0  # malformed or duplicate entries left out
    skipped_fields: int = 0  # unreadable fields left out of entries that were kept
    notes: list[str] = field(default_factory=list)  # things worth one log line (new enum values)
    positions: frozenset[PositionKey] | None = None  # the position keys exported, for filters


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


def _registry() -> dict[str, Collector]:
    from exporter.collectors import account, cm_account, um_account, um_position_risk

    found = [
        um_account.COLLECTOR,
        account.COLLECTOR,
        um_position_risk.COLLECTOR,
        cm_account.COLLECTOR,
    ]
    return {c.name: c for c in found}


COLLECTORS: dict[str, Collector] = _registry()
DEFAULT_COLLECTORS: tuple[str, ...] = ("um_account", "account", "um_position_risk")
