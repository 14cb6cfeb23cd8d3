"""The risk bands: when uniMMR, the account status and a position's liquidation distance are
fine, a warning or critical.

One place for them: the mixin's alerts default to these thresholds (mixin/config.py and
mixin/rules.py import them) and the landing page (``exporter.web.landing``) colours by them, so
the page a person opens and the page that wakes them agree. A mixin config file may override the
alert thresholds per account; the exporter does not read it and shows the defaults.
"""

from __future__ import annotations

from typing import Literal

Band = Literal["ok", "warning", "critical"]

# Binance's own uniMMR levels (its Portfolio Margin Pro uniMMR table and the Portfolio Margin
# liquidation FAQ, linked in docs/runbook.md, "Binance's levels"): above 1.5 trading is free,
# 1.2-1.5 a margin call, 1.05-1.2 reduce-only, 1.05 and below liquidation.
BINANCE_MARGIN_CALL_UNI_MMR = 1.5
BINANCE_REDUCE_ONLY_UNI_MMR = 1.2
BINANCE_LIQUIDATION_UNI_MMR = 1.05

# The alerts' thresholds: Binance's levels, except that the last comes earlier (waking someone
# at 1.1 leaves a little time to act before 1.05).
UNI_MMR_WARNING = BINANCE_MARGIN_CALL_UNI_MMR
UNI_MMR_CRITICAL = BINANCE_REDUCE_ONLY_UNI_MMR
UNI_MMR_LIQUIDATION = 1.1
# |mark - liquidation price| / mark of a position.
LIQUIDATION_DISTANCE_WARNING = 0.10
LIQUIDATION_DISTANCE_CRITICAL = 0.05

# Binance's accountStatus values (README, binance_pm_account_status) by what they mean here; a
# status not listed is critical (BinancePMAccountStatusUnknown).
NORMAL_STATUS = "NORMAL"
WARNING_STATUSES = ("MARGIN_CALL", "SUPPLY_MARGIN")
REDUCE_ONLY_STATUS = "REDUCE_ONLY"
LIQUIDATION_STATUSES = ("ACTIVE_LIQUIDATION", "FORCE_LIQUIDATION", "BANKRUPTED")
KNOWN_STATUSES = (NORMAL_STATUS, *WARNING_STATUSES, REDUCE_ONLY_STATUS, *LIQUIDATION_STATUSES)


def uni_mmr_band(uni_mmr: float, maint_margin: float | None) -> tuple[Band, str]:
    """The band and Binance's name for it. Without maintenance margin (Binance then reports
    99999999) nothing is at risk, as the alerts judge it."""
    if maint_margin is not None and maint_margin <= 0:
        return "ok", "no maintenance margin"
    if uni_mmr < UNI_MMR_LIQUIDATION:
        return "critical", "liquidation near"
    if uni_mmr < UNI_MMR_CRITICAL:
        return "critical", "reduce-only"
    if uni_mmr < UNI_MMR_WARNING:
        return "warning", "margin call"
    return "ok", ""


def status_band(status: str) -> Band:
    if status == NORMAL_STATUS:
        return "ok"
    if status in WARNING_STATUSES:
        return "warning"
    return "critical"  # reduce-only, liquidating, or a status this release does not know


def liquidation_distance_band(distance: float) -> Band:
    if distance < LIQUIDATION_DISTANCE_CRITICAL:
        return "critical"
    if distance < LIQUIDATION_DISTANCE_WARNING:
        return "warning"
    return "ok"
