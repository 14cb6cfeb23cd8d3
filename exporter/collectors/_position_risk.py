"""The UM and COIN-M position-risk replies share one shape: one row per position side."""

from __future__ import annotations

from typing import Any, Literal

from exporter.collectors import BadPayload, ParseOptions, PositionKey, Provided, Result
from exporter.collectors._fields import BadField, Fields, text, to_number
from exporter.metrics import Family, Samples

LABELS = ("symbol", "position_side")


class PositionRisk:
    """Parser for /papi/v1/um/positionRisk and /papi/v1/cm/positionRisk.

    Rows follow the account detail the collector follows: of the positions it kept, only the
    families it did not export for them (it wins, so both on never duplicate a series); an open
    row it lacks is kept whole (the detail may lag the risk reply, and a position is never
    lost). Without it, open positions only, with the figures the detail would give that this
    reply carries too (amount, entry price, unrealized PnL, leverage). Binance also returns flat
    rows, and a flat row still carries a leftover liquidationPrice ("6170.20509059" in its docs'
    example): a flat side kept for its open orders has nothing to liquidate and gets 0.
    """

    def __init__(
        self,
        prefix: str,
        notional: tuple[str, str, str],
        extras: tuple[tuple[str, str, str], ...] = (),
        shared: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        """``notional`` and each of ``extras`` and ``shared`` are (metric suffix, field, help);
        ``shared`` are the account detail's own families, read here from this reply's field."""
        p = f"{prefix}_position_"
        self.liquidation = p + "liquidation_price"
        # (metric, field, optional): the extras are beyond Binance's docs, absent when missing.
        self.fields = (
            *((p + s, f, False) for s, f, _ in shared),
            (p + "mark_price", "markPrice", False),
            (p + notional[0], notional[1], False),
            *((p + s, f, True) for s, f, _ in extras),
        )
        self.families = (
            Family(p + "mark_price", "Mark price of the position's symbol.", LABELS),
            Family(
                self.liquidation,
                "Estimated liquidation price; 0 when Binance gives none, and for a flat side "
                "(kept for its open orders: nothing to liquidate).",
                LABELS,
            ),
            Family(p + notional[0], notional[2], LABELS),
            *(Family(p + s, h, LABELS) for s, _, h in extras),
            *(Family(p + s, h, LABELS) for s, _, h in shared),
        )

    def parse(self, payload: Any, options: ParseOptions) -> Result:
        if not isinstance(payload, list):
            raise BadPayload("expected a JSON array")
        samples: Samples = {f.name: [] for f in self.families}
        fields = Fields()
        dropped = {"skipped": 0, "left_out": 0}
        seen: set[PositionKey] = set()
        for entry in payload:
            row = _row(entry, options.provided, fields, seen)
            if isinstance(row, str):
                dropped[row] += 1
                continue
            seen.add(row[0])
            self._read(entry, *row, fields, samples)
        if payload and not dropped["left_out"] and not any(samples.values()):
            raise BadPayload("no position field could be read")
        return Result(samples, dropped["skipped"], fields.unreadable)

    def _read(
        self,
        entry: dict,
        key: PositionKey,
        given: frozenset[str],
        amount: float | None,
        fields: Fields,
        samples: Samples,
    ) -> None:
        """One kept row's figures, less the families its account-detail twin gave."""
        for name, field, optional in self.fields:
            if name not in given:
                value = fields.number(entry, field, optional)
                if value is not None:
                    samples[name].append((key, value))
        if amount == 0:
            samples[self.liquidation].append((key, 0.0))
        elif amount is not None:  # an unreadable amount cannot tell 0 from a leftover
            value = fields.number(entry, "liquidationPrice")
            if value is not None:
                samples[self.liquidation].append((key, value))


def _row(
    entry: Any, provided: Provided | None, fields: Fields, seen: set[PositionKey]
) -> tuple[PositionKey, frozenset[str], float | None] | Literal["skipped", "left_out"]:
    """The row's key, the families already given for it and its amount; or why it is dropped."""
    if type(entry) is not dict:
        return "skipped"
    try:
        key = (text(entry, "symbol"), text(entry, "positionSide"))
    except BadField:
        return "skipped"
    if key in seen:
        return "skipped"
    given = provided.get(key) if provided is not None else None
    if given is not None:
        return key, given, fields.number(entry, "positionAmt")
    try:
        amount = to_number(entry.get("positionAmt"))
    except BadField:  # without the account detail, it cannot tell if the row is open
        return "skipped"
    if amount == 0:
        return "left_out"
    return key, frozenset(), amount
