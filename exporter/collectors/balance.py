"""GET /papi/v1/balance (Account Balance, weight 20): every asset's wallets and cross margin loan.

One row per asset: the cross margin wallet (free, locked, borrowed, interest), the UM and COIN-M
wallets with their unrealized PnL, and the negative balance Binance auto-repays. Binance lists
assets the account no longer holds with every figure zero; those rows are left out unless
``positions.include_zero`` is true, like flat positions.
"""

from __future__ import annotations

from typing import Any

from exporter.collectors import BadPayload, Collector, ParseOptions, Result
from exporter.collectors._fields import Fields, by_asset
from exporter.metrics import Family, Samples

PREFIX = "binance_pm_balance_"
LABELS = ("asset",)
UPDATE = PREFIX + "update_timestamp_seconds"

# (metric suffix, Binance field, help), in the asset itself, as Binance's "Account Balance" page
# describes them.
FIELDS = (
    (
        "total_wallet_balance",
        "totalWalletBalance",
        "Wallet balance: cross margin free + locked + UM wallet + COIN-M wallet.",
    ),
    ("cross_margin_asset", "crossMarginAsset", "Cross margin asset: free plus locked."),
    ("cross_margin_borrowed", "crossMarginBorrowed", "Principal borrowed in cross margin."),
    ("cross_margin_free", "crossMarginFree", "Free amount in cross margin."),
    ("cross_margin_interest", "crossMarginInterest", "Interest owed on the cross margin loan."),
    ("cross_margin_locked", "crossMarginLocked", "Amount locked in cross margin (open orders)."),
    ("um_wallet_balance", "umWalletBalance", "Wallet balance of the asset in UM."),
    ("um_unrealized_pnl", "umUnrealizedPNL", "Unrealized profit of UM positions in the asset."),
    ("cm_wallet_balance", "cmWalletBalance", "Wallet balance of the asset in COIN-M."),
    ("cm_unrealized_pnl", "cmUnrealizedPNL", "Unrealized profit of COIN-M positions in the asset."),
    (
        "negative_balance",
        "negativeBalance",
        "Negative balance of the asset, which Binance auto-repays or auto-exchanges.",
    ),
)
FAMILIES = (
    *(Family(PREFIX + suffix, help_, LABELS) for suffix, _, help_ in FIELDS),
    Family(UPDATE, "Last update time of the asset's balance (0 if never).", LABELS),
)
_READ = tuple((PREFIX + suffix, field) for suffix, field, _ in FIELDS)


def parse(payload: Any, options: ParseOptions) -> Result:
    """Each asset's fields on their own; an all-zero row is left out unless include_zero."""
    if not isinstance(payload, list):
        raise BadPayload("expected a JSON array")
    samples: Samples = {f.name: [] for f in FAMILIES}
    fields = Fields()
    entries, skipped = by_asset(payload)
    zero_rows = 0
    for asset, entry in entries:
        unreadable = fields.unreadable
        row = [(name, fields.number(entry, field)) for name, field in _READ]
        # Only zeros and blanks (the update time aside); a row with an unreadable field is
        # kept, so what could be read of it still shows.
        if (
            not options.include_zero
            and fields.unreadable == unreadable
            and not any(value for _, value in row)
        ):
            zero_rows += 1
            continue
        row.append((UPDATE, fields.seconds(entry, "updateTime")))
        labels = (asset,)
        for name, value in row:
            if value is not None:
                samples[name].append((labels, value))
    if payload and not (fields.read or zero_rows):
        raise BadPayload("no balance field could be read")
    return Result(samples, skipped, fields.unreadable)


COLLECTOR = Collector(
    name="balance",
    path="/papi/v1/balance",
    weight=20,
    families=FAMILIES,
    parse=parse,
    # Loans, interest and negative balances move slowly: once a minute keeps one account's
    # default plan at 140 weight a minute.
    default_interval=60,
)
