"""The UM and COIN-M ADL quantile replies share one shape: per symbol, a quantile per side."""

from __future__ import annotations

from functools import partial
from typing import Any

from exporter.collectors import BadPayload, Collector, ParseOptions, PositionKey, Result
from exporter.collectors._fields import BadField, symbol_of, to_number
from exporter.metrics import Family

LABELS = ("symbol", "position_side")
# Not a side: Binance's marker that the symbol is in hedge mode ("HEDGE" replaces "BOTH" there).
HEDGE_MARKER = "HEDGE"
MAX_QUANTILE = 4.0
HELP = (
    "Auto-deleveraging queue quantile of the position: 0 to 4, 4 first in line to be "
    "deleveraged (the more profit and leverage, the higher)."
)


def adl_collector(market: str) -> Collector:
    """The ADL quantile collector of one market ("um" or "cm"), following its account detail."""
    name = f"binance_pm_{market}_position_adl_quantile"
    return Collector(
        name=f"{market}_adl_quantile",
        path=f"/papi/v1/{market}/adlQuantile",
        weight=5,
        default_interval=30,  # Binance refreshes ADL quantiles every 30 s.
        families=(Family(name, HELP, LABELS),),
        parse=partial(parse_adl, name),
        follows=f"{market}_account",
    )


def parse_adl(name: str, payload: Any, options: ParseOptions) -> Result:
    """One series per side Binance gives a quantile, for the positions the leader exported.

    Binance gives every side of a symbol a quantile (0 for a side without a position), so the
    positions the account detail exported (``options.provided``) pick the rows; without it
    (not enabled, or it failed) every side present is exported. A missing side is no error.
    """
    if not isinstance(payload, list):
        raise BadPayload("expected a JSON array")
    rows: list[tuple[tuple[str, ...], float]] = []
    skipped = unreadable = 0
    seen: set[str] = set()
    for entry in payload:
        quantiles = entry.get("adlQuantile") if type(entry) is dict else None
        symbol = symbol_of(entry)
        if symbol is None or type(quantiles) is not dict or symbol in seen:
            skipped += 1
            continue
        seen.add(symbol)
        for side, value in quantiles.items():
            if side == HEDGE_MARKER or not _wanted(options, (symbol, side)):
                continue
            quantile = _quantile(value)
            if quantile is None:
                unreadable += 1
                continue
            rows.append(((symbol, side), quantile))
    if payload and skipped == len(payload):
        raise BadPayload("no entry had a symbol and its quantiles")
    return Result({name: rows}, skipped, unreadable)


def _wanted(options: ParseOptions, key: PositionKey) -> bool:
    return options.provided is None or key in options.provided


def _quantile(value: Any) -> float | None:
    """A whole number from 0 to 4; anything else is unreadable."""
    if type(value) is bool:
        return None
    try:
        number = to_number(value)
    except BadField:
        return None
    if number != int(number) or not 0 <= number <= MAX_QUANTILE:
        return None
    return number
