"""Binance-shaped replies for tests, one builder per kind of entry.

Each builder gives a fresh dict with the values of Binance's documented example; keyword
arguments replace (or add) fields, so a test spells out only what it is about. Captured live
replies that a test pins as they were stay literal data in that test.
"""

from __future__ import annotations

from typing import Any

# Get UM Account Detail:
# https://developers.binance.com/docs/derivatives/portfolio-margin/account/Get-UM-Account-Detail
# (Get CM Account Detail has the same assets.)


def um_asset(asset: str = "USDT", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "asset": asset,
        "crossWalletBalance": "23.72469206",
        "crossUnPnl": "0.00000000",
        "maintMargin": "0.00000000",
        "initialMargin": "0.00000000",
        "positionInitialMargin": "0.00000000",
        "openOrderInitialMargin": "0.00000000",
        "updateTime": 1625474304765,
    }
    entry.update(fields)
    return entry


def um_position(symbol: str = "BTCUSDT", side: str = "BOTH", **fields: Any) -> dict[str, Any]:
    """A flat UM position entry, as the account reply lists every symbol."""
    entry: dict[str, Any] = {
        "symbol": symbol,
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": "0.00000000",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": "100",
        "entryPrice": "0.00000",
        "maxNotional": "250000",
        "bidNotional": "0",
        "askNotional": "0",
        "positionSide": side,
        "positionAmt": "0",
        "updateTime": 0,
    }
    entry.update(fields)
    return entry


def open_um_position(symbol: str = "BTCUSDT", side: str = "BOTH", **fields: Any) -> dict:
    entry = um_position(
        symbol,
        side,
        positionAmt="0.250",
        entryPrice="42000.10",
        leverage="20",
        unrealizedProfit="-12.5",
        initialMargin="525.25",
        maintMargin="42.0",
        positionInitialMargin="520.0",
        openOrderInitialMargin="5.25",
        maxNotional="5000000",
        updateTime=1700000000123,
    )
    entry.update(fields)
    return entry


def futures_account(assets: list | None = None, positions: list | None = None) -> dict[str, Any]:
    """A UM (or CM) account reply: one asset and one open position unless given."""
    return {
        "assets": [um_asset()] if assets is None else assets,
        "positions": [open_um_position()] if positions is None else positions,
    }


# Get CM Account Detail: the UM position's shape with maxQty instead of maxNotional.
def cm_position(symbol: str = "BTCUSD_PERP", side: str = "BOTH", **fields: Any) -> dict:
    entry: dict[str, Any] = {
        "symbol": symbol,
        "positionAmt": "3",
        "initialMargin": "0.00012",
        "maintMargin": "0.00006",
        "unrealizedProfit": "0.00001",
        "positionInitialMargin": "0.00012",
        "openOrderInitialMargin": "0",
        "leverage": "125",
        "positionSide": side,
        "entryPrice": "65000.5",
        "maxQty": "50",
        "updateTime": 1625474304765,
    }
    entry.update(fields)
    return entry


# Account Information: https://developers.binance.com/docs/derivatives/portfolio-margin/account
# Every accountStatus it documents (kept apart from the exporter's list, which tests check).
ACCOUNT_STATUSES = (
    "NORMAL",
    "MARGIN_CALL",
    "SUPPLY_MARGIN",
    "REDUCE_ONLY",
    "ACTIVE_LIQUIDATION",
    "FORCE_LIQUIDATION",
    "BANKRUPTED",
)


def account_info(**fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "uniMMR": "5167.92171923",
        "accountEquity": "122607.35137903",
        "actualEquity": "73.47428058",
        "accountInitialMargin": "23.72469206",
        "accountMaintMargin": "23.72469206",
        "accountStatus": "NORMAL",
        "virtualMaxWithdrawAmount": "1627523.32459208",
        "totalAvailableBalance": "",
        "totalMarginOpenLoss": "",
        "updateTime": 1657707212154,
    }
    entry.update(fields)
    return entry


# Query UM Position Information (COIN-M rows add maxQty and notionalValue).
def position_risk(symbol: str = "BTCUSDT", side: str = "BOTH", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "entryPrice": "6563.66500",
        "leverage": "10",
        "markPrice": "6679.50671178",
        "maxNotionalValue": "20000000",
        "positionAmt": "0.100",
        "notional": "667.950671178",
        "symbol": symbol,
        "unRealizedProfit": "11.58417067",
        "liquidationPrice": "5930.78",
        "positionSide": side,
        "updateTime": 1625474304765,
    }
    entry.update(fields)
    return entry


ASSET_FIELDS = {
    "cross_wallet_balance": "crossWalletBalance",
    "cross_unrealized_pnl": "crossUnPnl",
    "maint_margin": "maintMargin",
    "initial_margin": "initialMargin",
    "position_initial_margin": "positionInitialMargin",
    "open_order_initial_margin": "openOrderInitialMargin",
}


POSITION_FIELDS = {
    "amount": "positionAmt",
    "entry_price": "entryPrice",
    "leverage": "leverage",
    "unrealized_pnl": "unrealizedProfit",
    "initial_margin": "initialMargin",
    "maint_margin": "maintMargin",
    "position_initial_margin": "positionInitialMargin",
    "open_order_initial_margin": "openOrderInitialMargin",
    "max_notional": "maxNotional",
}


# Beyond Binance's docs: live replies, and the simulator, carry them.
LIVE_POSITION_FIELDS = {"notional": "notional", "break_even_price": "breakEvenPrice"}


def expected_um(account: str, payload: dict, include_zero: bool = False) -> dict:
    """What /metrics must say for one served UM payload, computed independently."""
    out = {}
    for a in payload["assets"]:
        labels = frozenset({"account": account, "asset": a["asset"]}.items())
        for suffix, field in ASSET_FIELDS.items():
            out[(f"binance_pm_um_asset_{suffix}", labels)] = float(a[field])
        out[("binance_pm_um_asset_update_timestamp_seconds", labels)] = a["updateTime"] / 1000
        balance = float(a["crossWalletBalance"]) + float(a["crossUnPnl"])
        maint = float(a["maintMargin"])
        ratio = 0.0 if maint == 0 else (float("inf") if balance <= 0 else maint / balance)
        out[("binance_pm_um_asset_margin_balance", labels)] = balance
        out[("binance_pm_um_asset_margin_ratio", labels)] = ratio
    for p in payload["positions"]:
        flat = float(p["positionAmt"]) == 0 and float(p["openOrderInitialMargin"]) == 0
        if flat and not include_zero:
            continue
        labels = frozenset(
            {"account": account, "symbol": p["symbol"], "position_side": p["positionSide"]}.items()
        )
        for suffix, field in POSITION_FIELDS.items():
            out[(f"binance_pm_um_position_{suffix}", labels)] = float(p[field])
        for suffix, field in LIVE_POSITION_FIELDS.items():
            if field in p:
                out[(f"binance_pm_um_position_{suffix}", labels)] = float(p[field])
        out[("binance_pm_um_position_update_timestamp_seconds", labels)] = p["updateTime"] / 1000
    return out


def um_samples(samples: dict, account: str) -> dict:
    return {
        k: v
        for k, v in samples.items()
        if k[0].startswith("binance_pm_um_")
        and ("account", account) in k[1]
        and not k[0].startswith(("binance_pm_um_position_mark", "binance_pm_um_position_liq"))
    }
