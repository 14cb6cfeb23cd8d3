"""GET /papi/v1/account (Account Information, weight 20): uniMMR, equity and the account status."""

from __future__ import annotations

from typing import Any

from exporter.collectors import BadPayload, Collector, ParseOptions, Result
from exporter.collectors._fields import BadField, number, optional_number, seconds, text
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

# (metric, Binance field, required, help)
FIELDS = (
    (
        "binance_pm_account_uni_mmr",
        "uniMMR",
        True,
        "Unified maintenance margin ratio (adjusted equity / maintenance margin); "
        "Binance liquidates at 1.05.",
    ),
    ("binance_pm_account_equity", "accountEquity", True, "Account equity in USD."),
    (
        "binance_pm_account_actual_equity",
        "actualEquity",
        False,
        "Account equity in USD without collateral rates.",
    ),
    (
        "binance_pm_account_initial_margin",
        "accountInitialMargin",
        False,
        "Account initial margin in USD.",
    ),
    (
        "binance_pm_account_maint_margin",
        "accountMaintMargin",
        True,
        "Account maintenance margin in USD.",
    ),
    (
        "binance_pm_account_total_available_balance",
        "totalAvailableBalance",
        False,
        "Total available balance in USD.",
    ),
    (
        "binance_pm_account_virtual_max_withdraw_amount",
        "virtualMaxWithdrawAmount",
        False,
        "Maximum amount that can be transferred out, in USD.",
    ),
    (
        "binance_pm_account_total_margin_open_loss",
        "totalMarginOpenLoss",
        False,
        "Total margin open-order loss in USD.",
    ),
)
FAMILIES = (
    *(Family(name, help_, ()) for name, _, _, help_ in FIELDS),
    Family(UPDATE, "Last update time of the account information.", ()),
    Family(STATUS, "Account status: 1 for the current one, 0 for the others.", ("status",)),
)


def parse(payload: Any, options: ParseOptions) -> Result:
    if not isinstance(payload, dict):
        raise BadPayload("expected a JSON object")
    samples: Samples = {}
    try:
        for name, field, required, _ in FIELDS:
            value = number(payload, field) if required else optional_number(payload, field)
            if value is not None:
                samples[name] = [((), value)]
        if payload.get("updateTime") is not None:
            samples[UPDATE] = [((), seconds(payload, "updateTime"))]
        status = text(payload, "accountStatus")
    except BadField as exc:
        raise BadPayload(f"field {exc} is missing or not a number") from None
    notes = []
    states = STATUSES
    if status not in STATUSES:
        # A state Binance added after this release still shows, as its own series.
        states = (*STATUSES, status)
        notes.append(f"unknown account status {status!r}")
    samples[STATUS] = [((s,), 1.0 if s == status else 0.0) for s in states]
    return Result(samples, notes=notes)


COLLECTOR = Collector(
    name="account", path="/papi/v1/account", weight=20, families=FAMILIES, parse=parse
)
