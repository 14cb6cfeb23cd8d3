"""User data stream frames -> events: pure functions, no I/O.

Field names are Binance's (developers.binance.com, Portfolio Margin "User Data Streams":
riskLevelChange, ACCOUNT_UPDATE, liabilityChange, listenKeyExpired). Every field the SDK models is
optional, so a frame missing what an event needs is malformed rather than half-counted. JSON
integers stay Python ints (orjson): a transaction id above 2**53 is never rounded through a float.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

RISK_LEVELS = ("MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION")
BOOKS = ("UM", "CM")
# Events of the PM stream this exporter reads nothing from: not unknown, just not counted.
IGNORED_EVENTS = frozenset(
    {
        "ORDER_TRADE_UPDATE",
        "CONDITIONAL_ORDER_TRADE_UPDATE",
        "ACCOUNT_CONFIG_UPDATE",
        "TRADE_LITE",
        "openOrderLoss",
        "executionReport",
        "outboundAccountPosition",
        "balanceUpdate",
    }
)
# Label values come from Binance's vocabulary (assets, reasons, types, levels); anything else is a
# malformed frame rather than a new series, so a broken stream cannot grow the exposition.
_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,40}")

BadKind = Literal["malformed", "unknown_event"]


class BadFrame(ValueError):
    """A frame that cannot be counted; ``kind`` is the label it is counted under."""

    def __init__(self, kind: BadKind, message: str) -> None:
        super().__init__(message)
        self.kind: BadKind = kind


@dataclass(frozen=True)
class RiskLevelChange:
    time_ms: int
    level: str
    uni_mmr: float


@dataclass(frozen=True)
class AccountUpdate:
    time_ms: int
    book: str  # UM or CM (``fs``)
    reason: str  # ``a.m``: ORDER, FUNDING_FEE, INSURANCE_CLEAR, AUTO_EXCHANGE, ...
    changes: tuple[tuple[str, Decimal], ...]  # (asset, ``bc``) per balance entry


@dataclass(frozen=True)
class LiabilityChange:
    time_ms: int
    asset: str
    type: str  # ``t``: BORROW, INTEREST, ...
    transaction_id: int


@dataclass(frozen=True)
class ListenKeyExpired:
    time_ms: int


@dataclass(frozen=True)
class Ignored:
    type: str


Event = RiskLevelChange | AccountUpdate | LiabilityChange | ListenKeyExpired | Ignored


def parse_frame(text: str | bytes) -> Event:
    """One text frame as an event; raises BadFrame."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadFrame("malformed", "not JSON") from None
    if not isinstance(data, dict):
        raise BadFrame("malformed", "not a JSON object")
    kind = data.get("e")
    parse = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is not None:
        return parse(data)
    if kind in IGNORED_EVENTS:
        return Ignored(kind)
    if isinstance(kind, str) and _LABEL.fullmatch(kind):
        raise BadFrame("unknown_event", f"unknown event type {kind}")
    raise BadFrame("malformed", "no event type")


def _risk_level_change(data: dict[str, Any]) -> RiskLevelChange:
    return RiskLevelChange(_time(data), _label(data, "s"), float(_decimal(data, "u")))


def _account_update(data: dict[str, Any]) -> AccountUpdate:
    book = data.get("fs")
    if book not in BOOKS:
        raise BadFrame("malformed", "ACCOUNT_UPDATE without fs UM or CM")
    update = data.get("a")
    if not isinstance(update, dict):
        raise BadFrame("malformed", "ACCOUNT_UPDATE without a")
    balances = update.get("B", [])
    if not isinstance(balances, list):
        raise BadFrame("malformed", "ACCOUNT_UPDATE a.B is not a list")
    changes = []
    for entry in balances:
        if not isinstance(entry, dict):
            raise BadFrame("malformed", "ACCOUNT_UPDATE balance is not an object")
        changes.append((_label(entry, "a"), _decimal(entry, "bc")))
    return AccountUpdate(_time(data), book, _label(update, "m"), tuple(changes))


def _liability_change(data: dict[str, Any]) -> LiabilityChange:
    transaction = data.get("T")
    if not isinstance(transaction, int) or isinstance(transaction, bool):
        raise BadFrame("malformed", "liabilityChange T is not an integer")
    return LiabilityChange(_time(data), _label(data, "a"), _label(data, "t"), transaction)


def _listen_key_expired(data: dict[str, Any]) -> ListenKeyExpired:
    return ListenKeyExpired(_time(data))


def _time(data: dict[str, Any]) -> int:
    """``E``, the event time in ms; Binance's listenKeyExpired example sends it as a string."""
    value = data.get("E")
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise BadFrame("malformed", "no event time E")


def _label(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        raise BadFrame("malformed", f"field {key} is not a name")
    return value


def _decimal(data: dict[str, Any], key: str) -> Decimal:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > 64:
        raise BadFrame("malformed", f"field {key} is not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadFrame("malformed", f"field {key} is not a decimal string") from None
    if not number.is_finite():
        raise BadFrame("malformed", f"field {key} is not finite")
    return number


_PARSERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "riskLevelChange": _risk_level_change,
    "ACCOUNT_UPDATE": _account_update,
    "liabilityChange": _liability_change,
    "listenKeyExpired": _listen_key_expired,
}
