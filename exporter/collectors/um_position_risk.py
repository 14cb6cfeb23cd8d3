"""GET /papi/v1/um/positionRisk (Query UM Position Information, weight 5): mark and liquidation."""

from __future__ import annotations

from typing import Any

from exporter.collectors import BadPayload, Collector, ParseOptions, Result
from exporter.collectors._fields import BadField, as_dict, number, text
from exporter.metrics import Family, Samples

LABELS = ("symbol", "position_side")
FIELDS = (
    ("binance_pm_um_position_mark_price", "markPrice", "Mark price of the position's symbol."),
    (
        "binance_pm_um_position_liquidation_price",
        "liquidationPrice",
        "Estimated liquidation price; 0 when Binance gives none.",
    ),
    ("binance_pm_um_position_notional", "notional", "Notional value of the position, signed."),
)
FAMILIES = tuple(Family(name, help_, LABELS) for name, _, help_ in FIELDS)


def parse(payload: Any, options: ParseOptions) -> Result:
    if not isinstance(payload, list):
        raise BadPayload("expected a JSON array")
    samples: Samples = {name: [] for name, _, _ in FIELDS}
    keep = options.um_positions
    skipped, seen = 0, set()
    for raw in payload:
        try:
            entry = as_dict(raw)
            key = (text(entry, "symbol"), text(entry, "positionSide"))
            # Same rows as the UM account collector keeps; without it, open positions only.
            if keep is not None:
                if key not in keep:
                    continue
            elif number(entry, "positionAmt") == 0:
                continue
            values = [number(entry, field) for _, field, _ in FIELDS]
        except BadField:
            skipped += 1
            continue
        if key in seen:
            skipped += 1
            continue
        seen.add(key)
        for (name, _, _), value in zip(FIELDS, values, strict=True):
            samples[name].append((key, value))
    if payload and skipped == len(payload):
        raise BadPayload("no position entry could be read")
    return Result(samples, skipped, positions=frozenset(seen))


COLLECTOR = Collector(
    name="um_position_risk",
    path="/papi/v1/um/positionRisk",
    weight=5,
    families=FAMILIES,
    parse=parse,
)
