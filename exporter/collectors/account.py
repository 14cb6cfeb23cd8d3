"""GET /papi/v1/account (Account Information, weight 20): uniMMR, equity and the account status."""

from __future__ import annotations

from typing import Any

from exporter.collectors import BadPayload, Collector, ParseOptions, Result
from exporter.collectors._fields import BadField, Fields, text
from exporter.metrics import Family, Samples

# The states Binance documents for accountStatus; each gets a series so alerts can match any.
STATUSES = (
    "NORMAL",
    "MARGIN_CALL",
    "SUPPLY_MARGIN",
    "REDUCE_ONLY",
    "ACTIVE_LIQUIDATION",
    "FORCE_LIQUIDATION",
    "BANKRUPTED",
)
STATUS = "binance_pm_account_status"
UPDATE = "binance_pm_account_update_timestamp_seconds"

# (metric, Binance field, help)
FIELDS = (
    (
        "binance_pm_account_uni_mmr",
        "uniMMR",
        "Unified maintenance margin ratio (adjusted equity / maintenance margin); Binance "
        "liquidates at 1.05 and below. 99999999 without maintenance margin.",
    ),
    (
        "binance_pm_account_equity",
        "accountEquity",
        "Account equity in USD, collateral rates applied.",
    ),
    (
        "binance_pm_account_actual_equity",
        "actualEquity",
        "Account equity in USD without collateral rates.",
    ),
    (
        "binance_pm_account_initial_margin",
        "accountInitialMargin",
        "Account initial margin in USD.",
    ),
    (
        "binance_pm_account_maint_margin",
        "accountMaintMargin",
        "Account maintenance margin in USD.",
    ),
    (
        "binance_pm_account_total_available_balance",
        "totalAvailableBalance",
        "Total available balance in USD.",
    ),
    (
        "binance_pm_account_virtual_max_withdraw_amount",
        "virtualMaxWithdrawAmount",
        "Maximum amount that can be transferred out, in USD.",
    ),
    (
        "binance_pm_account_total_margin_open_loss",
        "totalMarginOpenLoss",
        "Possible loss of open Cross Margin orders, in USD.",
    ),
)
FAMILIES = (
    *(Family(name, help_, ()) for name, _, help_ in FIELDS),
    Family(UPDATE, "Last update time of the account information.", ()),
    Family(STATUS, "Account status: 1 for the current one, 0 for the others.", ("status",)),
)


def parse(payload: Any, options: ParseOptions) -> Result:
    """Every field on its own: a bad one costs its own gauge, not uniMMR or the status."""
    if not isinstance(payload, dict):
        raise BadPayload("expected a JSON object")
    samples: Samples = {}
    fields = Fields()
    for name, field, _ in FIELDS:
        value = fields.number(payload, field)
        if value is not None:
            samples[name] = [((), value)]
    updated = fields.seconds(payload, "updateTime")
    if updated is not None:
        samples[UPDATE] = [((), updated)]
    notes = []
    if payload.get("accountStatus") != "":
        try:
            status = text(payload, "accountStatus")
        except BadField:
            fields.unreadable += 1
        else:
            fields.read += 1
            states: tuple[str, ...] = STATUSES
            if status not in STATUSES:
                # A state Binance added after this release still shows, as its own series.
                states = (*STATUSES, status)
                notes.append(f"unknown account status {status!r}")
            samples[STATUS] = [((s,), 1.0 if s == status else 0.0) for s in states]
    if not fields.read:
        raise BadPayload("no field could be read")
    return Result(samples, skipped_fields=fields.unreadable, notes=notes)


COLLECTOR = Collector(
    name="account", path="/papi/v1/account", weight=20, families=FAMILIES, parse=parse
)
