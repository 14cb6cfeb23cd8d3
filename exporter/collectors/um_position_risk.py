"""GET /papi/v1/um/positionRisk (Query UM Position Information, weight 5): mark and liquidation."""

from __future__ import annotations

from typing import Any

from exporter.collectors import BadPayload, Collector, ParseOptions, Result
from exporter.collectors._fields import BadField, Fields, text, to_number
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
    fields = Fields()
    skipped, left_out, seen = 0, 0, set()
    for entry in payload:
        if type(entry) is not dict:
            skipped += 1
            continue
        try:
            key = (text(entry, "symbol"), text(entry, "positionSide"))
            # Same rows as the UM account collector keeps; without it, open positions only.
            if keep is not None:
                if key not in keep:
                    left_out += 1
                    continue
            elif to_number(entry.get("positionAmt")) == 0:
                left_out += 1
                continue
        except BadField:  # no symbol, or an amount that cannot tell whether the row is open
            skipped += 1
            continue
        if key in seen:
            skipped += 1
            continue
        seen.add(key)
        for name, field, _ in FIELDS:
            value = fields.number(entry, field)
            if value is not None:
                samples[name].append((key, value))
    if payload and not (fields.read or left_out):
        raise BadPayload("no position field could be read")
    return Result(samples, skipped, fields.unreadable, positions=frozenset(seen))


COLLECTOR = Collector(
    name="um_position_risk",
    path="/papi/v1/um/positionRisk",
    weight=5,
    families=FAMILIES,
    parse=parse,
)
