"""The collectors the overview's "Loans and funding" and "Forced orders" rows and the balance, ADL
and funding rules read, with their metric names (a contract): the dashboard tests check the rows
read exactly these.
"""

from __future__ import annotations

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
    "um_force_orders": ("binance_pm_force_orders_total", "binance_pm_force_order_quantity_total"),
    "collateral_rate": ("binance_pm_collateral_rate",),
}

# The overview's rows whose panels are listed in NEW_PANELS.
NEW_ROWS = ("Loans and funding", "Forced orders", "Collateral")

# Every query of the NEW_ROWS, by (dashboard, "panel [refId]"), with the collector it needs: each
# has data on the simulator once that collector exists (the forced-order panels once Binance has
# forced an order: the end-to-end test forces one through the simulator).
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
    ("overview.json", "Forced orders [A]"): "um_force_orders",
    ("overview.json", "Forced order quantity [A]"): "um_force_orders",
    ("overview.json", "Collateral rates [A]"): "collateral_rate",
}

# Recording rules over the new collectors' metrics, with the collector each needs.
NEW_RECORDING_RULES: dict[str, str] = {
    record: f"{market}_income" for (market, _), record in FUNDING.items()
}
