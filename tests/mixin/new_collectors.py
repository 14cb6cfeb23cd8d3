"""The collectors the overview's "Loans and funding" row and the balance, ADL and funding rules
read, which are being added next to this mixin: their metric names are the contract.

Until a collector is in ``exporter.collectors.COLLECTORS``, the mixin's tests accept that its
metrics are unknown to the exporter and that the panels and recording rules reading them have no
data. Once all five exist, ``missing()`` is empty and every guard built on it is a no-op.
"""

from __future__ import annotations

from exporter.collectors import COLLECTORS
from mixin.rules import FUNDING

_BALANCE_FIELDS = (
    "total_wallet_balance",
    "cross_margin_asset",
    "cross_margin_borrowed",
    "cross_margin_free",
    "cross_margin_interest",
    "cross_margin_locked",
    "um_wallet_balance",
    "um_unrealized_pnl",
    "cm_wallet_balance",
    "cm_unrealized_pnl",
    "negative_balance",
    "update_timestamp_seconds",
)

NEW_COLLECTOR_METRICS: dict[str, tuple[str, ...]] = {
    "balance": tuple(f"binance_pm_balance_{field}" for field in _BALANCE_FIELDS),
    "um_adl_quantile": ("binance_pm_um_position_adl_quantile",),
    "cm_adl_quantile": ("binance_pm_cm_position_adl_quantile",),
    "um_income": ("binance_pm_um_income_received_total", "binance_pm_um_income_paid_total"),
    "cm_income": ("binance_pm_cm_income_received_total", "binance_pm_cm_income_paid_total"),
}

# Every query of the "Loans and funding" row, by (dashboard, "panel [refId]"), with the collector
# it needs: each has data on the simulator once that collector exists.
NEW_PANELS: dict[tuple[str, str], str] = {
    ("overview.json", "Cross margin borrowed [A]"): "balance",
    ("overview.json", "Cross margin interest [A]"): "balance",
    ("overview.json", "Cross margin interest [B]"): "balance",
    ("overview.json", "Negative balance [A]"): "balance",
    ("overview.json", "Funding by symbol [A]"): "um_income",
    ("overview.json", "Funding by symbol [B]"): "um_income",
    ("overview.json", "Funding by symbol [C]"): "cm_income",
    ("overview.json", "Funding by symbol [D]"): "cm_income",
    ("overview.json", "Funding per day [A]"): "um_income",
    ("overview.json", "Funding per day [B]"): "um_income",
    ("overview.json", "Funding per day [C]"): "cm_income",
    ("overview.json", "Funding per day [D]"): "cm_income",
    ("overview.json", "ADL quantile [A]"): "um_adl_quantile",
    ("overview.json", "ADL quantile [B]"): "cm_adl_quantile",
}

# Recording rules over the new collectors' metrics, with the collector each needs.
NEW_RECORDING_RULES: dict[str, str] = {
    record: f"{market}_income" for (market, _), record in FUNDING.items()
}


def missing() -> set[str]:
    """The new collectors this branch does not have yet."""
    return set(NEW_COLLECTOR_METRICS) - set(COLLECTORS)


def present() -> list[str]:
    """The new collectors this branch has, in the contract's order."""
    return [name for name in NEW_COLLECTOR_METRICS if name in COLLECTORS]


def pending_metrics() -> set[str]:
    """The metric names of the collectors still missing."""
    return {name for c in missing() for name in NEW_COLLECTOR_METRICS[c]}
