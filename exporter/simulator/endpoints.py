"""The endpoint table: one row per endpoint the simulator serves, mirroring exporter/collectors/.

Each row names its method, path, weight, the API whose weight budget it spends (``papi``,
``fapi`` for the time endpoint, ``sapi`` for the collateral rates: separate hosts at Binance),
its security (``signed``: API key, timestamp and signature; ``api_key``: the key alone, as
USER_STREAM and MARKET_DATA endpoints; ``none``) and the payload builder that answers it. The
HTTP layer (``exporter.simulator.api``) routes, weighs, rate-limits, faults and authenticates
every row alike; a new endpoint is one builder here and one row in ``ENDPOINTS``.

Each builder's docstring names the Binance endpoint it answers; the user data stream itself is
served at ``/pm/ws/<listenKey>`` (``Simulator.stream_url``), with its rules and events in
``exporter.simulator.stream``.

Income history takes ``symbol``, ``incomeType``, ``startTime`` and ``endTime`` (both inclusive,
milliseconds) and ``limit`` (default 100, at most 1000), as Binance documents them: records
oldest first; without startTime and endTime the last 7 days; only the last three months are
kept; COIN-M refuses more than 200 days between startTime and endTime (400/-1127). ``page`` is
ignored, as Binance does since 2026-10-28 (derivatives change log, 2026-10-21): the first page
comes back whatever it says. A number that is not one gets 400/-1100, a limit out of range
400/-1130, startTime after endTime 400/-1128. The money that moves on its own (loans, funding,
trades) and how each figure is made: ``exporter.simulator.ledger``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson

from exporter.simulator import ledger
from exporter.simulator.accounts import (
    CM_RISK,
    UM_RISK,
    Payload,
    Risk,
    SimAccount,
    account_payload,
    cm_account_payload,
    compute_risk,
    position_risk_payload,
    um_account_payload,
    um_account_v2_payload,
)
from exporter.simulator.books import ForceOrder
from exporter.simulator.errors import Rejected
from exporter.simulator.market import UMSymbol
from exporter.simulator.scene import Scene
from exporter.simulator.stream import KEY_GONE, LISTEN_KEY_PATH

UM_ACCOUNT = "/papi/v1/um/account"
UM_ACCOUNT_V2 = "/papi/v2/um/account"
ACCOUNT = "/papi/v1/account"
UM_POSITION_RISK = "/papi/v1/um/positionRisk"
CM_ACCOUNT = "/papi/v1/cm/account"
CM_POSITION_RISK = "/papi/v1/cm/positionRisk"
BALANCE = "/papi/v1/balance"
UM_ADL = "/papi/v1/um/adlQuantile"
CM_ADL = "/papi/v1/cm/adlQuantile"
UM_INCOME = "/papi/v1/um/income"
CM_INCOME = "/papi/v1/cm/income"
UM_LEVERAGE_BRACKET = "/papi/v1/um/leverageBracket"
UM_FORCE_ORDERS = "/papi/v1/um/forceOrders"
CM_FORCE_ORDERS = "/papi/v1/cm/forceOrders"
MARGIN_FORCE_ORDERS = "/papi/v1/margin/forceOrders"
TIME = "/fapi/v1/time"
COLLATERAL_RATE = "/sapi/v1/portfolio/collateralRate"

Security = Literal["signed", "api_key", "none"]


@dataclass(frozen=True)
class Call:
    """What a payload builder is given: the caller's account (None only for ``none`` security),
    the query's parameters and when the request came in (wall clock, seconds)."""

    scene: Scene
    account: SimAccount | None
    params: dict[str, str]
    now: float

    @property
    def caller(self) -> SimAccount:
        if self.account is None:  # the HTTP layer authenticates before it builds
            raise RuntimeError("a payload that needs an account was built without one")
        return self.account

    def figures(self) -> tuple[SimAccount, Risk]:
        """The caller and its figures now (a uniMMR ramp moves its wallet first)."""
        return self.caller, compute_risk(self.caller, self.scene.market, time.time())


Builder = Callable[[Call], Payload]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    weight: int  # Binance's documented request weight
    api: Literal["papi", "fapi", "sapi"]  # the weight budget it spends
    security: Security
    build: Builder


def _um_account(call: Call) -> Payload:
    """Get UM Account Detail: the assets and every symbol and side of the market."""
    account, risk = call.figures()
    return um_account_payload(account, risk, call.scene.market, call.scene.spelling)


def _um_account_v2(call: Call) -> Payload:
    """Get UM Account Detail V2: v1's successor, positions with fewer fields."""
    account, risk = call.figures()
    return um_account_v2_payload(account, risk, call.scene.market, call.scene.spelling)


def _account(call: Call) -> Payload:
    """Account Information: the unified figures (uniMMR, equity, status)."""
    _, risk = call.figures()
    return account_payload(risk, call.scene.clock_ms(), call.scene.spelling)


def _cm_account(call: Call) -> Payload:
    """Get CM Account Detail: the coin assets and every COIN-M symbol and side."""
    account, risk = call.figures()
    return cm_account_payload(account, risk, call.scene.market, call.scene.spelling)


def _um_position_risk(call: Call) -> Payload:
    """Query UM Position Information: open positions (flat ones too with
    ``set_flat_position_rows``), optionally one ``symbol``."""
    account, risk = call.figures()
    scene, symbol = call.scene, call.params.get("symbol")
    return position_risk_payload(
        UM_RISK, account, risk, scene.market, symbol, scene.spelling, scene.flat_position_rows
    )


def _cm_position_risk(call: Call) -> Payload:
    """Query CM Position Information: the COIN-M rows, as the UM ones."""
    account, risk = call.figures()
    scene, symbol = call.scene, call.params.get("symbol")
    return position_risk_payload(
        CM_RISK, account, risk, scene.market, symbol, scene.spelling, scene.flat_position_rows
    )


def _balance(call: Call) -> Payload:
    """Account Balance: every asset, or one object for ``asset``."""
    account, risk = call.figures()
    asset, scene = call.params.get("asset"), call.scene
    return ledger.balance_payload(account, risk, scene.market, asset, scene.spelling)


def _um_adl(call: Call) -> Payload:
    """UM Position ADL Quantile Estimation, optionally one ``symbol``."""
    account, risk = call.figures()
    return ledger.adl_payload(account, risk.um, ("HEDGE",), call.params.get("symbol"))


def _cm_adl(call: Call) -> Payload:
    """CM Position ADL Quantile Estimation, optionally one ``symbol``."""
    account, risk = call.figures()
    return ledger.adl_payload(account, risk.cm, ("HEDGE", "BOTH"), call.params.get("symbol"))


def _um_income(call: Call) -> Payload:
    """Get UM Income History (see the module doc)."""
    return _income(call, cm=False)


def _cm_income(call: Call) -> Payload:
    """Get CM Income History (see the module doc)."""
    return _income(call, cm=True)


def _income(call: Call, cm: bool) -> Payload:
    """Income history with Binance's parameter rules (see the module doc)."""
    account, _ = call.figures()
    params = call.params
    numbers = {k: _integer(params, k) for k in ("startTime", "endTime", "limit")}
    limit = numbers["limit"] if numbers["limit"] is not None else ledger.DEFAULT_LIMIT
    if not 1 <= limit <= ledger.MAX_LIMIT:
        raise Rejected(400, -1130, "Data sent for parameter 'limit' is not valid.")
    now = call.scene.clock_ms()
    start, end = numbers["startTime"], numbers["endTime"]
    if start is None and end is None:
        start, end = now - ledger.DEFAULT_WINDOW_MS, now
    elif start is None:
        assert end is not None
        start = end - ledger.DEFAULT_WINDOW_MS
    elif end is None:
        end = now
    if start > end:
        raise Rejected(400, -1128)
    if cm and end - start > ledger.CM_MAX_INTERVAL_MS:
        raise Rejected(400, -1127)
    book = account.cm_income if cm else account.um_income
    found = ledger.select_income(
        book, start, end, now, params.get("symbol"), params.get("incomeType")
    )
    rows = found[:limit]
    return Payload(orjson.dumps([ledger.income_json(r, call.scene.spelling) for r in rows]))


def _integer(params: dict[str, str], name: str) -> int | None:
    """An optional whole-number parameter; anything else is Binance's -1100."""
    text = params.get(name)
    if text is None:
        return None
    if not text.isdigit():
        msg = f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        raise Rejected(400, -1100, msg)
    return int(text)


# A symbol's brackets, shaped like Binance's published tables: the maintenance margin rate
# doubles from one bracket to the next up to 50%, each notional cap doubles up to the symbol's
# max notional, the highest initial leverage is 1 / (2 x rate) (BTCUSDT's first bracket: 0.4%,
# 125x), and cum makes the tiers continuous: cum(n) = cum(n-1) + floor(n) x (rate(n) - rate(n-1)).
LAST_BRACKET_RATE = Decimal("0.5")


def um_brackets(symbol: UMSymbol) -> list[dict[str, Any]]:
    """The brackets of one USDⓈ-M symbol, figures as the JSON numbers Binance sends."""
    rates = []
    rate = symbol.maint_margin_rate
    while rate < LAST_BRACKET_RATE:
        rates.append(rate)
        rate *= 2
    rates.append(LAST_BRACKET_RATE)
    caps = [int(symbol.max_notional / 2 ** (len(rates) - 1 - i)) for i in range(len(rates))]
    out, floor, cum, previous = [], 0, Decimal(0), rates[0]
    for number, (rate, cap) in enumerate(zip(rates, caps, strict=True), start=1):
        cum += floor * (rate - previous)
        out.append(
            {
                "bracket": number,
                "initialLeverage": max(1, int(1 / (2 * rate))),
                "notionalCap": cap,
                "notionalFloor": floor,
                "maintMarginRatio": float(rate),
                "cum": int(cum) if cum == cum.to_integral_value() else float(cum),
            }
        )
        floor, previous = cap, rate
    return out


def _um_leverage_bracket(call: Call) -> Payload:
    """UM Notional and Leverage Brackets: every symbol of the market, or one ``symbol``."""
    market, symbol = call.scene.market.um, call.params.get("symbol")
    if symbol is not None and symbol not in market:
        raise Rejected(400, -1121, "Invalid symbol.")
    chosen = [market[symbol]] if symbol is not None else list(market.values())
    return Payload(
        orjson.dumps(
            [
                {"symbol": s.symbol, "notionalCoef": "1.0", "brackets": um_brackets(s)}
                for s in chosen
            ]
        )
    )


# Forced orders: UM and COIN-M take ``symbol``, ``autoCloseType`` (LIQUIDATION or ADL),
# ``startTime``, ``endTime`` (inclusive) and ``limit`` (default 50, at most 100) and answer a
# list, oldest first; margin takes ``startTime``, ``endTime``, ``current`` (the page, from 1) and
# ``size`` (default 10, at most 100) and answers ``{"rows": [...], "total": N}``.
FORCE_ORDER_LIMITS = {"limit": (50, 100), "size": (10, 100)}


def _forced(call: Call, market: str, size_name: str) -> tuple[list[ForceOrder], int]:
    """The caller's forced orders of ``market`` the query selects, and its page size."""
    params = call.params
    numbers = {k: _integer(params, k) for k in ("startTime", "endTime", size_name)}
    default, most = FORCE_ORDER_LIMITS[size_name]
    asked = numbers[size_name]
    size = asked if asked is not None else default
    if not 1 <= size <= most:
        raise Rejected(400, -1130, f"Data sent for parameter '{size_name}' is not valid.")
    start, end = numbers["startTime"] or 0, numbers["endTime"]
    if end is not None and start > end:
        raise Rejected(400, -1128)
    close_type, symbol = params.get("autoCloseType"), params.get("symbol")
    if close_type not in (None, "LIQUIDATION", "ADL"):
        raise Rejected(400, -1130, "Data sent for parameter 'autoCloseType' is not valid.")
    found = [
        o
        for o in call.caller.force_orders.orders
        if o.market == market
        and start <= o.time
        and (end is None or o.time <= end)
        and (symbol is None or o.symbol == symbol)
        and (close_type is None or o.auto_close_type == close_type)
    ]
    return found, size


def _futures_force_orders(call: Call, market: str) -> Payload:
    found, limit = _forced(call, market, "limit")
    return Payload(orjson.dumps([_futures_force_order(o, market) for o in found[:limit]]))


def _futures_force_order(order: ForceOrder, market: str) -> dict[str, Any]:
    """One row as Binance's "Query User's UM/CM Force Orders" pages show it."""
    row: dict[str, Any] = {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": "FILLED",
        "clientOrderId": order.client_order_id,
        "price": str(order.price),
        "avgPrice": str(order.price),
        "origQty": str(order.quantity),
        "executedQty": str(order.quantity),
    }
    if market == "cm":
        row["pair"] = order.symbol.split("_")[0]
    row.update(
        {
            "timeInForce": "IOC",
            "type": "LIMIT",
            "reduceOnly": False,
            "side": order.side,
            "positionSide": order.position_side,
            "origType": "LIMIT",
            "time": order.time,
            "updateTime": order.time + 43,
        }
    )
    return row


def _um_force_orders(call: Call) -> Payload:
    """Query User's UM Force Orders (see the note above ``FORCE_ORDER_LIMITS``)."""
    return _futures_force_orders(call, "um")


def _cm_force_orders(call: Call) -> Payload:
    """Query User's CM Force Orders (as UM's)."""
    return _futures_force_orders(call, "cm")


def _margin_force_orders(call: Call) -> Payload:
    """Query User's Margin Force Orders: ``{"rows": [...], "total": N}``, page ``current``."""
    found, size = _forced(call, "margin", "size")
    current = _integer(call.params, "current") or 1
    rows = [
        {
            "avgPrice": str(o.price),
            "executedQty": str(o.quantity),
            "orderId": o.order_id,
            "price": str(o.price),
            "qty": str(o.quantity),
            "side": o.side,
            "symbol": o.symbol,
            "timeInForce": "GTC",
            "updatedTime": o.time,
        }
        for o in found[(current - 1) * size : current * size]
    ]
    return Payload(orjson.dumps({"rows": rows, "total": len(found)}))


def _collateral_rate(call: Call) -> Payload:
    """Portfolio Margin Collateral Rate (SAPI, MARKET_DATA): every asset of the market's table
    with its rate to 4 decimals, as Binance's example spells them (``"1.0000"``)."""
    rates = call.scene.market.collateral_rates
    rows = [{"asset": a, "collateralRate": f"{rates[a]:.4f}"} for a in sorted(rates)]
    return Payload(orjson.dumps(rows))


def _server_time(call: Call) -> Payload:
    """Check Server Time (FAPI): ``{"serverTime": ms}`` of the simulator clock."""
    return Payload(orjson.dumps({"serverTime": call.scene.clock_ms()}))


def _new_listen_key(call: Call) -> Payload:
    """Start User Data Stream: the account's listen key (a new one, or its current one)."""
    key = call.scene.streams.post(call.caller.name, call.now)
    return Payload(orjson.dumps({"listenKey": key}))


def _keep_listen_key(call: Call) -> Payload:
    """Keepalive User Data Stream: the key lives on, or -1125 if it is gone."""
    return _listen_key_done(call.scene.streams.put(call.caller.name, call.now))


def _close_listen_key(call: Call) -> Payload:
    """Close User Data Stream: the key is gone, or -1125 if it already was."""
    return _listen_key_done(call.scene.streams.delete(call.caller.name))


def _listen_key_done(done: bool) -> Payload:
    if not done:
        raise Rejected(400, *KEY_GONE)
    return Payload(b"{}")


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    (e.method, e.path): e
    for e in (
        Endpoint("GET", UM_ACCOUNT, 5, "papi", "signed", _um_account),
        Endpoint("GET", UM_ACCOUNT_V2, 5, "papi", "signed", _um_account_v2),
        Endpoint("GET", ACCOUNT, 20, "papi", "signed", _account),
        Endpoint("GET", UM_POSITION_RISK, 5, "papi", "signed", _um_position_risk),
        Endpoint("GET", CM_ACCOUNT, 5, "papi", "signed", _cm_account),
        Endpoint("GET", CM_POSITION_RISK, 1, "papi", "signed", _cm_position_risk),
        Endpoint("GET", BALANCE, 20, "papi", "signed", _balance),
        Endpoint("GET", UM_ADL, 5, "papi", "signed", _um_adl),
        Endpoint("GET", CM_ADL, 5, "papi", "signed", _cm_adl),
        Endpoint("GET", UM_INCOME, 30, "papi", "signed", _um_income),
        Endpoint("GET", CM_INCOME, 30, "papi", "signed", _cm_income),
        Endpoint("GET", UM_LEVERAGE_BRACKET, 1, "papi", "signed", _um_leverage_bracket),
        Endpoint("GET", UM_FORCE_ORDERS, 50, "papi", "signed", _um_force_orders),
        Endpoint("GET", CM_FORCE_ORDERS, 50, "papi", "signed", _cm_force_orders),
        Endpoint("GET", MARGIN_FORCE_ORDERS, 1, "papi", "signed", _margin_force_orders),
        Endpoint("GET", TIME, 1, "fapi", "none", _server_time),
        Endpoint("GET", COLLATERAL_RATE, 50, "sapi", "api_key", _collateral_rate),
        Endpoint("POST", LISTEN_KEY_PATH, 1, "papi", "api_key", _new_listen_key),
        Endpoint("PUT", LISTEN_KEY_PATH, 1, "papi", "api_key", _keep_listen_key),
        Endpoint("DELETE", LISTEN_KEY_PATH, 1, "papi", "api_key", _close_listen_key),
    )
}
PATHS = frozenset(path for _, path in ENDPOINTS)  # a path with another method: 405, not 404
