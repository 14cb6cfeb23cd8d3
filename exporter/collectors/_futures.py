"""The UM and COIN-M account details share one shape: assets plus every symbol's position."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec

from exporter.collectors import BadPayload, ParseOptions, PositionKey, Result, decode_json
from exporter.collectors._fields import BadField, Fields, by_asset, text
from exporter.metrics import Family, Samples

ASSET_LABELS = ("asset",)
POSITION_LABELS = ("symbol", "position_side")

# (metric suffix, Binance field, help), as Binance's account detail pages describe the fields;
# every figure is in the asset itself (the margin asset of the wallet's positions).
ASSET_FIELDS = (
    ("cross_wallet_balance", "crossWalletBalance", "Wallet balance of the asset."),
    ("cross_unrealized_pnl", "crossUnPnl", "Unrealized profit of the asset's positions."),
    ("maint_margin", "maintMargin", "Maintenance margin required."),
    (
        "initial_margin",
        "initialMargin",
        "Total initial margin required with the current mark price.",
    ),
    (
        "position_initial_margin",
        "positionInitialMargin",
        "Initial margin required for positions with the current mark price.",
    ),
    (
        "open_order_initial_margin",
        "openOrderInitialMargin",
        "Initial margin required for open orders with the current mark price.",
    ),
)
# The amount's help comes from the collector: a base-asset quantity (UM) or contracts (COIN-M).
POSITION_FIELDS = (
    ("entry_price", "entryPrice", "Average entry price."),
    ("leverage", "leverage", "Current initial leverage."),
    (
        "unrealized_pnl",
        "unrealizedProfit",
        "Unrealized profit of the position, in its margin asset.",
    ),
    ("initial_margin", "initialMargin", "Initial margin required with the current mark price."),
    ("maint_margin", "maintMargin", "Maintenance margin required."),
    (
        "position_initial_margin",
        "positionInitialMargin",
        "Initial margin required for the position with the current mark price.",
    ),
    (
        "open_order_initial_margin",
        "openOrderInitialMargin",
        "Initial margin required for open orders with the current mark price.",
    ),
)

UM_AMOUNT_HELP = "Position amount in the base asset, signed (negative is short)."
CM_AMOUNT_HELP = "Position amount in contracts, signed (negative is short)."


def risk_shared(amount_help: str) -> tuple[tuple[str, str, str], ...]:
    """The account detail's position figures a position-risk reply carries too, under its own
    field names (``unRealizedProfit``): (metric suffix, field, help)."""
    helps = {field: help_ for _, field, help_ in POSITION_FIELDS}
    return (
        ("amount", "positionAmt", amount_help),
        ("entry_price", "entryPrice", helps["entryPrice"]),
        ("unrealized_pnl", "unRealizedProfit", helps["unrealizedProfit"]),
        ("leverage", "leverage", helps["leverage"]),
    )


# Position figures live replies carry beyond Binance's docs (captured from PM accounts by ccxt),
# which the position-risk replies carry too: (metric suffix, field, help).
BREAK_EVEN_PRICE = (
    "break_even_price",
    "breakEvenPrice",
    "Price at which closing the position breaks even after trading fees; 0 when flat.",
)
UM_NOTIONAL = (
    "notional",
    "notional",
    "Notional value in the quote asset (mark price times amount); negative for a short.",
)
CM_NOTIONAL_VALUE = (
    "notional_value",
    "notionalValue",
    "Notional value in the base asset (contracts times contract size over the mark price).",
)


@dataclass(frozen=True)
class DecodedAccount:
    """A reply decoded by the fast path: flat positions already dropped (and counted)."""

    assets: Any
    positions: list[dict[str, Any]]
    flat: int  # entries dropped as flat before parsing


# The flatness test of the fast path reads these two as plain values; anything else (an
# object, a list) fails msgspec's validation and the reply takes the general path.
_Scalar = str | int | float | bool | None


class FuturesAccount:
    """Parser for /papi/v1/um/account and /papi/v1/cm/account, which differ in prefix and limit.

    ``extras`` are (suffix, field, help) of position fields live replies carry beyond Binance's
    docs: read when there, absent (not unreadable) when not.
    """

    def __init__(
        self,
        prefix: str,
        amount_help: str,
        limit: tuple[str, str, str] | None,
        extras: tuple[tuple[str, str, str], ...] = (),
        fields: tuple[tuple[str, str, str], ...] = POSITION_FIELDS,
        order_margin_field: str = "openOrderInitialMargin",
    ) -> None:
        """``limit`` and each of ``extras`` and ``fields`` are (metric suffix, field, help).

        ``order_margin_field`` is the margin that keeps a position without amount (an open
        order) from being flat: the open-order margin, or the initial margin in a reply that
        has no open-order split (v2).
        """
        self._order_field = order_margin_field
        a, p = f"{prefix}_asset_", f"{prefix}_position_"
        self.asset_fields = tuple((a + s, f) for s, f, _ in ASSET_FIELDS)
        self.asset_update = a + "update_timestamp_seconds"
        self.margin_balance = a + "margin_balance"
        self.margin_ratio = a + "margin_ratio"
        position_fields = (
            ("amount", "positionAmt", amount_help),
            *fields,
            *((limit,) if limit is not None else ()),
        )
        self.position_fields = (
            *((p + s, f, False) for s, f, _ in position_fields),
            *((p + s, f, True) for s, f, _ in extras),
        )
        self.position_update = p + "update_timestamp_seconds"
        self.families = (
            *(Family(a + s, h, ASSET_LABELS) for s, _, h in ASSET_FIELDS),
            Family(self.asset_update, "Last update time of the asset (0 if never).", ASSET_LABELS),
            Family(self.margin_balance, "Cross wallet balance plus unrealized PnL.", ASSET_LABELS),
            Family(
                self.margin_ratio,
                "Maintenance margin / margin balance of this asset in this wallet alone; 0 "
                "without maintenance margin, +Inf when the margin balance is not positive. "
                "Portfolio Margin shares collateral across wallets, so a negative wallet can "
                "read huge or +Inf on a healthy account: uniMMR decides.",
                ASSET_LABELS,
            ),
            *(Family(p + s, h, POSITION_LABELS) for s, _, h in position_fields),
            *(Family(p + s, h, POSITION_LABELS) for s, _, h in extras),
            Family(
                self.position_update,
                "Last update time of the position (0 if never).",
                POSITION_LABELS,
            ),
        )
        self._decoder = self._fast_decoder()

    def _fast_decoder(self) -> msgspec.json.Decoder:
        """Decodes only the position fields parse reads; msgspec skips the rest unparsed."""
        read = {"symbol", "positionSide", "updateTime", *(f for _, f, _ in self.position_fields)}
        read -= {"positionAmt", self._order_field}
        position = msgspec.defstruct(
            "Position",
            [
                ("positionAmt", _Scalar, None),
                (self._order_field, _Scalar, None),
                *((name, Any, None) for name in sorted(read)),
            ],
        )
        # defstruct makes a class at run time; mypy sees only a variable, not a type.
        positions = list[position]  # type: ignore[valid-type]
        reply = msgspec.defstruct("Reply", [("assets", Any), ("positions", positions)])
        return msgspec.json.Decoder(reply)

    def decode(self, body: bytes, options: ParseOptions) -> Any:
        """The reply with flat positions dropped before any Python object is made for them.

        A full-market reply holds every symbol (860 entries in hedge mode), nearly all flat.
        Replies of any other shape take the general path, so both give the same result.
        """
        try:
            reply = self._decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return decode_json(body, options)
        positions = reply.positions
        if not options.include_zero:
            zeros, flat = _ZEROS, _both_zero
            orders = attrgetter(self._order_field)
            # The set test alone settles nearly every entry; the rest get the full zero test.
            positions = [
                p
                for p in positions
                if not (p.positionAmt in zeros and orders(p) in zeros)
                and not flat(p.positionAmt, orders(p))
            ]
        kept = [msgspec.structs.asdict(p) for p in positions]
        return DecodedAccount(reply.assets, kept, len(reply.positions) - len(kept))

    def parse(self, payload: Any, options: ParseOptions) -> Result:
        flat = 0
        assets: Any
        positions: Any
        if isinstance(payload, DecodedAccount):
            assets, positions, flat = payload.assets, payload.positions, payload.flat
        elif isinstance(payload, dict):
            assets, positions = payload.get("assets"), payload.get("positions")
        else:
            raise BadPayload("expected a JSON object")
        if not isinstance(assets, list) or not isinstance(positions, list):
            raise BadPayload("expected 'assets' and 'positions' lists")
        samples: Samples = {f.name: [] for f in self.families}
        fields = Fields()
        skipped = self._assets(assets, samples, fields)
        kept, skipped_positions, flat_here = self._positions(
            positions, options.include_zero, samples, fields
        )
        flat += flat_here
        # A flat entry was read (as flat): only a reply with nothing readable at all is bad.
        if (assets or positions or flat) and not (fields.read or flat):
            raise BadPayload("no asset or position field could be read")
        return Result(samples, skipped + skipped_positions, fields.unreadable, positions=kept)

    def _assets(self, assets: list, samples: Samples, fields: Fields) -> int:
        """Each asset's fields on their own; returns the entries skipped whole."""
        entries, skipped = by_asset(assets)
        for asset, entry in entries:
            labels = (asset,)
            values = []
            for name, field in self.asset_fields:
                value = fields.number(entry, field)
                if value is not None:
                    samples[name].append((labels, value))
                values.append(value)
            updated = fields.seconds(entry, "updateTime")
            if updated is not None:
                samples[self.asset_update].append((labels, updated))
            wallet, pnl, maint = values[0], values[1], values[2]
            if wallet is not None and pnl is not None:
                balance = wallet + pnl
                samples[self.margin_balance].append((labels, balance))
                if maint is not None:
                    samples[self.margin_ratio].append((labels, margin_ratio(maint, balance)))
        return skipped

    def _positions(
        self, positions: list, include_zero: bool, samples: Samples, fields: Fields
    ) -> tuple[dict[PositionKey, frozenset[str]], int, int]:
        """Each position's fields on their own.

        Returns the positions kept, each with the families it got (for the position-risk
        twin), the entries skipped whole, and the flat entries dropped.
        """
        skipped, flat = 0, 0
        kept: dict[PositionKey, frozenset[str]] = {}
        shared: dict[tuple[str, ...], frozenset[str]] = {}  # one set per distinct outcome
        number, order_field = fields.number, self._order_field
        for entry in positions:
            if type(entry) is not dict:
                skipped += 1
                continue
            # The market's every symbol comes back; most are flat and skipped here cheaply.
            if not include_zero and _both_zero(entry.get("positionAmt"), entry.get(order_field)):
                flat += 1
                continue
            try:
                key = (text(entry, "symbol"), text(entry, "positionSide"))
            except BadField:
                skipped += 1
                continue
            if key in kept:
                skipped += 1
                continue
            exported = []
            for name, field, optional in self.position_fields:
                value = number(entry, field, optional)
                if value is not None:
                    samples[name].append((key, value))
                    exported.append(name)
            updated = fields.seconds(entry, "updateTime")
            if updated is not None:
                samples[self.position_update].append((key, updated))
                exported.append(self.position_update)
            names = tuple(exported)
            given = shared.get(names)
            if given is None:
                given = shared[names] = frozenset(names)
            kept[key] = given
        return kept, skipped, flat


def _both_zero(amount: object, orders: object) -> bool:
    """No position and no open-order margin; a malformed amount is not flat (it gets counted)."""
    # Hot path: nearly every entry of a full-market reply is a literal zero string.
    if type(amount) is str and type(orders) is str and amount in _ZEROS and orders in _ZEROS:
        return True
    return _is_zero(amount) and _is_zero(orders)


# Zero as Binance writes it: at the symbol's precision in its docs ("0", "0.000",
# "0.00000000"), trimmed in live replies ("0.0"), and with a sign ("-0.0"). Other spellings
# ("0E-8", JSON 0) are still zero through the numeric test below, only slower.
_ZEROS = frozenset(
    sign + "0" + decimals
    for sign in ("", "-")
    for decimals in ("", ".", *("." + "0" * n for n in range(1, 19)))
)


def _is_zero(value: object) -> bool:
    if isinstance(value, str):
        if value in _ZEROS:
            return True
        try:
            return float(value) == 0.0
        except ValueError:
            return False
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def margin_ratio(maint: float, balance: float) -> float:
    if maint == 0:
        return 0.0
    if balance <= 0:
        return float("inf")
    return maint / balance
