"""GET /sapi/v1/portfolio/collateralRate (Portfolio Margin Collateral Rate, MARKET_DATA, weight 50).

The haircut Binance applies to each asset's value when it counts the asset as collateral in
uniMMR's adjusted equity: 1.0000 counts all of it, 0.9500 95%. One list for the whole exchange,
the same for every account, on the SAPI host (``api.binance.com``), whose weight limit is its own:
so it is not one of the per-account collectors of this package (the underscore keeps it out of
their registry) but polled once per process by ``exporter.process_poll``. Reply:
``[{"asset": "USDC", "collateralRate": "1.0000"}, ...]``, rates as strings.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from exporter.collectors import BadPayload, ParseOptions, Result
from exporter.metrics import Family

NAME = "collateral_rate"
PATH = "/sapi/v1/portfolio/collateralRate"
WEIGHT = 50
# The rates change rarely (Binance announces haircut changes): hourly is plenty.
DEFAULT_INTERVAL_SECONDS = 3600.0
RATE = "binance_pm_collateral_rate"
FAMILIES = (
    Family(
        RATE,
        "Portfolio Margin collateral rate (haircut) of the asset: the share of its value that "
        "counts as equity in uniMMR (same for every account).",
        ("asset",),
    ),
)


def parse(payload: Any, options: ParseOptions) -> Result:
    """One row per asset with a readable rate; entries without either are left out and counted."""
    if not isinstance(payload, list):
        raise BadPayload("expected a JSON array")
    rows: dict[str, float] = {}
    skipped = 0
    for entry in payload:
        asset = entry.get("asset") if type(entry) is dict else None
        rate = _rate(entry.get("collateralRate")) if type(entry) is dict else None
        if not (isinstance(asset, str) and asset) or rate is None or asset in rows:
            skipped += 1
            continue
        rows[asset] = rate
    if payload and not rows:
        raise BadPayload("no entry has an asset and a collateral rate")
    return Result({RATE: [((asset,), rate) for asset, rate in rows.items()]}, skipped)


def _rate(value: Any) -> float | None:
    """A rate between 0 and 1 as Binance spells it (a string; a number is taken too)."""
    if type(value) not in (str, int, float):
        return None
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        return None
    return float(rate) if rate.is_finite() and 0 <= rate <= 1 else None
