"""A fake Binance Portfolio Margin REST API on a real loopback socket.

Served endpoints (all GET):

=========================  ======  =====  ==========================================
path                       weight  kind   payload
=========================  ======  =====  ==========================================
/papi/v1/um/account        5       PAPI   Get UM Account Detail (full market)
/papi/v1/account           20      PAPI   Account Information (uniMMR, status)
/papi/v1/um/positionRisk   5       PAPI   Query UM Position Information (open ones,
                                          flat ones too with ``set_flat_position_rows``;
                                          optional ``symbol``)
/papi/v1/cm/account        5       PAPI   Get CM Account Detail (full COIN-M market)
/papi/v1/cm/positionRisk   1       PAPI   Query CM Position Information (the same rows)
/papi/v1/balance           20      PAPI   Account Balance (optional ``asset``: one object)
/papi/v1/um/adlQuantile    5       PAPI   UM Position ADL Quantile Estimation (optional
                                          ``symbol``)
/papi/v1/cm/adlQuantile    5       PAPI   CM Position ADL Quantile Estimation (optional
                                          ``symbol``)
/papi/v1/um/income         30      PAPI   Get UM Income History (below)
/papi/v1/cm/income         30      PAPI   Get CM Income History (below)
/fapi/v1/time              1       FAPI   ``{"serverTime": ms}``, unsigned
/papi/v1/listenKey         1       PAPI   POST, PUT, DELETE: the user data stream's
                                          key (API key header only, no signature)
/pm/ws/<listenKey>         -       WS     the user data stream (``stream_url``)
=========================  ======  =====  ==========================================

The user data stream's rules and events: ``exporter.simulator.stream``.

Rules, checked in this order, with Binance's JSON error body ``{"code": N, "msg": "..."}``
(https://developers.binance.com/docs/derivatives/portfolio-margin/general-info):

1. Request weight, per client IP and per API (PAPI and FAPI are separate hosts at Binance, so
   the time endpoint does not spend the PAPI budget). Windows are fixed, ``window_seconds``
   long and aligned to the simulator's start (not the wall-clock minute, so tests are
   deterministic). Weight is counted for EVERY request received, rejected ones included, as
   Binance does; every response carries ``X-MBX-USED-WEIGHT-1M`` with the window's total. A
   request taking the total over ``weight_limit`` gets 429/-1003 with ``Retry-After`` = whole
   seconds until the window resets (>= 1). A request arriving while that Retry-After runs gets
   418/-1003 and bans the IP for ``ban_seconds`` (``Retry-After: ban_seconds``); requests
   during a ban get 418 with the remaining ban time.
2. Faults set by ``set_fault``/``trickle``/``huge_body`` (after the weight, so a fault still
   spends weight and carries the header).
3. ``X-MBX-APIKEY``: missing or unknown -> 401/-2015; empty or not printable ASCII -> 401/-2014.
4. ``timestamp`` missing or not an integer -> 400/-1102.
5. ``recvWindow`` (default 5000) not an integer -> 400/-1100; above 60000 -> 400/-1131.
6. ``signature`` missing, not the last parameter, or not verifying over the raw query string
   before ``&signature=`` -> 400/-1022. HMAC: hex HMAC-SHA256 of the account's secret;
   RSA (PKCS#1 v1.5, SHA-256) and Ed25519: URL-decoded base64 checked with the public key.
7. ``timestamp >= serverTime + 1000`` or ``serverTime - timestamp > recvWindow`` -> 400/-1021.

Income history takes ``symbol``, ``incomeType``, ``startTime`` and ``endTime`` (both inclusive,
milliseconds), ``page`` (from 1) and ``limit`` (default 100, at most 1000), as Binance documents
them: records oldest first; without startTime and endTime the last 7 days; only the last three
months are kept; COIN-M refuses more than 200 days between startTime and endTime (400/-1127). A
number that is not one gets 400/-1100, a limit or page out of range 400/-1130, startTime after
endTime 400/-1128. The money that moves on its own (loans, funding, trades) and how each
figure is made: ``exporter.simulator.ledger``.

The simulator clock is the wall clock plus ``clock_skew_ms``; it is the ``serverTime`` of both
the timestamp check and ``/fapi/v1/time``. Marks move every ``tick_seconds`` unless frozen.

Knobs: the methods of ``Simulator`` marked ``@knob``, each described by its own docstring;
``KNOBS`` is the registry and ``knob_reference()`` lists them all.
``SimulatorThread`` runs every knob, with the same arguments, on the simulator's loop (so a
test's thread can call ``sim.set_fault(...)``), and ``POST /_sim/<name>`` runs it over HTTP.

Observability: ``requests`` (a deque of the last 100 000 ``RequestRecord``), ``last_payload(
account, path)`` (the JSON last served with 200 for that account and path, decoded),
``clock_ms()``, ``market``.

Over HTTP, for a simulator in another process (not rate limited, not recorded):
``POST /_sim/<name>`` with a JSON object of the keyword arguments, where name is the knob's
method name without ``set_`` (``fault``, ``clock_skew`` with ``{"ms": N}``, ``freeze_prices``
with ``{"frozen": bool}``, ...). Decimals travel as strings, ``body`` as text,
``public_key_pem`` as text. ``GET /_sim/requests`` lists the records and
``GET /_sim/last_payload?account=NAME&path=PATH`` returns the last payload (404 if none).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from exporter.simulator import ledger
from exporter.simulator.accounts import (
    CM_RISK,
    UM_RISK,
    CMPosition,
    NumberStyle,
    Payload,
    Risk,
    SimAccount,
    Spelling,
    UMPosition,
    UniMMRRamp,
    account_payload,
    cm_account_payload,
    cm_figures,
    compute_risk,
    fmt,
    plain,
    position_risk_payload,
    status_for,
    um_account_payload,
    um_account_v2_payload,
    um_figures,
)
from exporter.simulator.books import CrossMargin
from exporter.simulator.market import UM_QUOTE, ZERO, Market, quantum
from exporter.simulator.stream import (
    KEY_GONE,
    LISTEN_KEY_PATH,
    STREAM_PREFIX,
    UserStreams,
    risk_level,
)

T = TypeVar("T")

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
TIME = "/fapi/v1/time"

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
API_KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
TRICKLE_BODY_BYTES = 4096
HUGE_CHUNK_BYTES = 64 * 1024
MAX_RECORDS = 100_000
FIRST_TRADE_ID = 2059192  # the tradeId of Binance's income example; fills count on from it

# Printable ASCII without spaces; Binance's keys are 64 alphanumerics.
_API_KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,256}")
_MALFORMED_BODY = b'{"assets":[{"asset":"USDT","crossWalletBalance":"23.7246'

MESSAGES = {
    -1000: "An unknown error occurred while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1003: "Too many requests; please use the websocket for live updates.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1100: "Illegal characters found in parameter 'recvWindow'; legal range is '^[0-9]{1,20}$'.",
    -1102: "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    -1127: "Lookup interval is too big.",
    -1128: "Combination of optional parameters invalid.",
    -1131: "recvWindow must be less than 60000.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
}
AHEAD_MSG = "Timestamp for this request was 1000ms ahead of the server's time."


def default_code(status: int) -> int:
    if status >= 500:
        return -1001
    if status in (418, 429):
        return -1003
    if status in (401, 403):
        return -2015
    return -1000


@dataclass(frozen=True)
class Endpoint:
    path: str
    weight: int
    api: str  # "papi" or "fapi": separate weight budgets
    signed: bool
    methods: tuple[str, ...] = ("GET",)


ENDPOINTS = {
    e.path: e
    for e in (
        Endpoint(UM_ACCOUNT, 5, "papi", True),
        Endpoint(UM_ACCOUNT_V2, 5, "papi", True),
        Endpoint(ACCOUNT, 20, "papi", True),
        Endpoint(UM_POSITION_RISK, 5, "papi", True),
        Endpoint(CM_ACCOUNT, 5, "papi", True),
        Endpoint(CM_POSITION_RISK, 1, "papi", True),
        Endpoint(BALANCE, 20, "papi", True),
        Endpoint(UM_ADL, 5, "papi", True),
        Endpoint(CM_ADL, 5, "papi", True),
        Endpoint(UM_INCOME, 30, "papi", True),
        Endpoint(CM_INCOME, 30, "papi", True),
        Endpoint(TIME, 1, "fapi", False),
        Endpoint(LISTEN_KEY_PATH, 1, "papi", False, ("POST", "PUT", "DELETE")),
    )
}


@dataclass(frozen=True)
class RequestRecord:
    time: float  # server wall clock, seconds
    path: str
    account: str | None
    status: int
    code: int | None
    weight: int
    ip_weight_after: int
    method: str = "GET"


@dataclass
class Fault:
    account: str | None
    path: str | None
    kind: str  # "error", "latency", "malformed", "body", "trickle", "huge"
    status: int = 500
    code: int | None = None
    msg: str = ""
    retry_after: float | None = None
    latency: float = 0.0
    body: bytes | None = None
    times: int | None = None
    rate: float = 0.0  # trickle: bytes per second
    size: int = 0  # huge: bytes
    after: int = 0  # matching requests let through before it applies

    def matches(self, account: str | None, path: str) -> bool:
        return (self.account is None or self.account == account) and (
            self.path is None or self.path == path
        )


@dataclass
class _WeightState:
    window: int = -1
    used: int = 0
    retry_until: float = 0.0  # a 429's Retry-After runs until then
    banned_until: float = 0.0


class _Reply:
    """One API request's answer: the weight header it carries and the record it leaves."""

    def __init__(
        self,
        records: deque[RequestRecord],
        now: float,
        path: str,
        account: SimAccount | None,
        weight: int,
        state: _WeightState,
        method: str = "GET",
    ) -> None:
        self._records, self._now, self._path, self._method = records, now, path, method
        self.account = account.name if account is not None else None
        self._weight, self._state = weight, state
        self.headers = {WEIGHT_HEADER: str(state.used)}

    def record(self, status: int, code: int | None = None) -> None:
        self._records.append(
            RequestRecord(
                self._now,
                self._path,
                self.account,
                status,
                code,
                self._weight,
                self._state.used,  # a slow answer records the weight spent by then
                self._method,
            )
        )

    def answer(self, status: int, body: bytes, code: int | None = None) -> web.Response:
        self.record(status, code)
        return web.Response(
            status=status, body=body, headers=self.headers, content_type="application/json"
        )

    def reject(self, error: _Rejected) -> web.Response:
        body = orjson.dumps({"code": error.code, "msg": error.msg})
        return self.answer(error.status, body, error.code)


class _Rejected(Exception):
    """An API error answer: status and Binance code."""

    def __init__(self, status: int, code: int, msg: str | None = None) -> None:
        super().__init__(msg or MESSAGES.get(code, ""))
        self.status, self.code, self.msg = status, code, msg or MESSAGES.get(code, "")


JsonArgs = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


def _same(args: JsonArgs) -> JsonArgs:
    return args


def _fault_args(args: JsonArgs) -> JsonArgs:
    if isinstance(args.get("body"), str):
        args = {**args, "body": args["body"].encode()}
    return args


def _account_args(args: JsonArgs) -> JsonArgs:
    return {"account": account_from_json(args)}


@dataclass(frozen=True)
class Knob:
    """A ``Simulator`` method that sets up a scenario, from a test's thread or over HTTP."""

    method: str  # on Simulator and SimulatorThread
    http: str  # POST /_sim/<http>: the method's name without "set_"
    convert: Callable[[JsonArgs], JsonArgs]  # the JSON keyword arguments -> the method's


KNOBS: dict[str, Knob] = {}  # by method name, in the order Simulator declares them


def knob(convert: Callable[[JsonArgs], JsonArgs] = _same) -> Callable[[F], F]:
    """Registers a Simulator method as a knob; ``convert`` turns its JSON arguments into its own
    (decimals may stay strings: the knobs take them)."""

    def register(method: F) -> F:
        name = method.__name__
        KNOBS[name] = Knob(name, name.removeprefix("set_"), convert)
        return method

    return register


class Simulator:
    """The fake PAPI server; its knobs (``@knob``) are plain methods, run on its event loop."""

    def __init__(
        self,
        accounts: list[SimAccount] | None = None,
        *,
        seed: int = 1,
        tick_seconds: float = 1.0,
        weight_limit: int = 6000,
        window_seconds: float = 60.0,
        ban_seconds: float = 120.0,
        funding_seconds: float | None = None,
        trade_seconds: float | None = None,
    ) -> None:
        self.market = Market(seed)
        # Funding rates and the demo's trades come from the seed too (not the marks' stream).
        self._ledger_rng = random.Random(seed * 7919 + 1)
        self.funding_seconds = funding_seconds
        self.trade_seconds = trade_seconds
        self._since_funding = 0.0
        self._since_trade = 0.0
        self._fills = 0
        self.tick_seconds = tick_seconds
        self.weight_limit = weight_limit
        self.window_seconds = window_seconds
        self.ban_seconds = ban_seconds
        self.clock_skew_ms = 0
        self.prices_frozen = False
        self.spelling = Spelling()
        self.flat_position_rows = False
        self.requests: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._accounts: dict[str, SimAccount] = {}
        self._by_key: dict[str, SimAccount] = {}
        self._faults: list[Fault] = []
        self._weights: dict[tuple[str, str], _WeightState] = {}
        self._payloads: dict[tuple[str, str], Payload] = {}
        self._origin = time.time()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._port = 0
        self._host = "127.0.0.1"
        self.streams = UserStreams(self.clock_ms)
        self._liabilities: dict[tuple[str, str], Decimal] = {}
        for account in accounts or []:
            self.add_account(account)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/_sim/{knob}", self._control)
        app.router.add_get(STREAM_PREFIX + "{key}", self._user_stream)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host, self._port = host, self._runner.addresses[0][1]
        self._origin = time.time()
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._closing is not None:
            self._closing.set()  # ends trickles, huge bodies and latencies in flight
        for sock in list(self.streams.sockets):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await sock.ws.close()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def time_url(self) -> str:
        return self.base_url + TIME

    @property
    def stream_url(self) -> str:
        """The exporter's ``stream_url``: the socket is this plus the listen key."""
        return f"ws://{self._host}:{self._port}{STREAM_PREFIX}"

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            if not self.prices_frozen:
                self.market.tick()
                self._ledger_tick()
            self._stream_tick()

    def _ledger_tick(self) -> None:
        """Interest for one tick; a funding round and a trade when their time has come."""
        self.accrue_interest(self.tick_seconds / 3600)
        if self.funding_seconds:
            self._since_funding += self.tick_seconds
            if self._since_funding >= self.funding_seconds:
                self._since_funding = 0.0
                self.funding_round()
        if self.trade_seconds:
            self._since_trade += self.tick_seconds
            if self._since_trade >= self.trade_seconds:
                self._since_trade = 0.0
                self._rebalance()

    def _rebalance(self) -> None:
        """The demo's trading: one account in turn trims 5% off a position or adds it back."""
        accounts = [a for a in self._accounts.values() if any(p.amount for p in a.um_positions)]
        if not accounts:
            return
        account = accounts[self._fills % len(accounts)]
        held = [p for p in account.um_positions if p.amount]
        position = held[self._fills // len(accounts) % len(held)]
        places = self.market.um[position.symbol].quantity_precision
        quantity = (position.amount * Decimal("0.05")).quantize(quantum(places))
        if quantity:
            # Trim on one pass over the positions, add back on the next.
            trim = self._fills // (len(accounts) * len(held)) % 2 == 0
            self.trade(
                account.name, position.symbol, position.side, -quantity if trim else quantity
            )
        else:
            self._fills += 1

    def clock_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_skew_ms

    # -- knobs ---------------------------------------------------------------------------------

    @knob(_fault_args)
    def set_fault(
        self,
        account: str | None = None,
        path: str | None = None,
        *,
        status: int | None = None,
        code: int | None = None,
        msg: str = "",
        retry_after: float | None = None,
        latency: float = 0.0,
        malformed: bool = False,
        body: bytes | None = None,
        times: int | None = None,
        after: int = 0,
    ) -> None:
        """Answer matching requests with an error, bad bytes, or just later.

        Requests matching ``account`` (name) and ``path`` (``None`` = any) are answered with
        ``status`` (default 500) and ``{"code": code, "msg": msg}`` (code and msg default from
        the status: 5xx -1001, 429/418 -1003, 401/403 -2015, else -1000); ``retry_after`` adds
        ``Retry-After`` (whole seconds, rounded up); ``latency`` sleeps first; ``malformed``
        answers 200 with truncated JSON; ``body`` answers those exact bytes with ``status``
        (default 200). A fault with only ``latency`` answers normally after the delay.
        ``times`` = how many requests it applies to (None: until cleared), ``after`` = how many
        matching requests it lets through first (the second page of a paged poll). The first
        matching fault, in the order they were set, applies.
        """
        if body is not None:
            kind, status = "body", 200 if status is None else status
        elif malformed:
            kind, status = "malformed", 200
        elif status is None and code is None and not msg and retry_after is None:
            kind, status = "latency", 200
        else:
            kind, status = "error", 500 if status is None else status
        self._faults.append(
            Fault(
                account,
                path,
                kind,
                status,
                code,
                msg,
                retry_after,
                latency,
                body,
                times,
                after=after,
            )
        )

    @knob()
    def trickle(
        self,
        path: str,
        bytes_per_second: float,
        *,
        account: str | None = None,
        times: int | None = None,
    ) -> None:
        """A 200 that sends its body a byte at a time: for read timeouts that must fire.

        The body is a complete JSON document of ``TRICKLE_BODY_BYTES`` bytes.
        """
        if bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        self._faults.append(
            Fault(account, path, "trickle", 200, times=times, rate=bytes_per_second)
        )

    @knob()
    def huge_body(
        self, path: str, size_bytes: int, *, account: str | None = None, times: int | None = None
    ) -> None:
        """A 200 with a body of ``size_bytes``: for response size limits that must hold.

        A valid JSON document, streamed in 64 KiB chunks and never held in memory.
        """
        if size_bytes < 16:
            raise ValueError("size_bytes must be at least 16")
        self._faults.append(Fault(account, path, "huge", 200, times=times, size=size_bytes))

    @knob()
    def clear_faults(self) -> None:
        """Forget every fault."""
        self._faults.clear()

    @knob()
    def set_clock_skew(self, ms: int) -> None:
        """The simulator clock runs ``ms`` ahead (negative: behind)."""
        self.clock_skew_ms = int(ms)

    @knob()
    def freeze_prices(self, frozen: bool = True) -> None:
        """Stop (or restart) the marks' walk."""
        self.prices_frozen = frozen

    @knob()
    def tick(self) -> None:
        """Move every mark one step, even when frozen."""
        self.market.tick()

    @knob()
    def set_mark_price(self, symbol: str, price: Decimal | str) -> None:
        """The mark of a UM or COIN-M symbol."""
        self.market.set_mark(symbol, Decimal(price))

    @knob()
    def set_number_style(self, style: NumberStyle) -> None:
        """``"live"`` (the default) spells numbers as live PM replies do ("0.0",
        "45464.1735922"), ``"padded"`` as Binance's doc examples do ("0.00000000"); see
        ``exporter.simulator.accounts``."""
        self.spelling = Spelling(style)

    @knob()
    def set_flat_position_rows(self, enabled: bool = True) -> None:
        """The position risk endpoints also return flat rows, as Binance's examples show (see
        ``exporter.simulator.accounts``)."""
        self.flat_position_rows = bool(enabled)

    @knob()
    def retire_endpoint(self, path: str, successor: str) -> None:
        """Answer ``path`` as Binance answered for an endpoint it retired (HTTP 400, code -5000,
        "GET <path> is retired, please use GET <successor>"); ``/papi/v2/um/account`` is always
        served, in v2's shape."""
        msg = f"GET {path} is retired, please use GET {successor}"
        self.set_fault(path=path, status=400, code=-5000, msg=msg)

    @knob()
    def set_cross_margin(
        self,
        account: str,
        asset: str,
        free: Decimal | str = "0",
        locked: Decimal | str = "0",
        borrowed: Decimal | str = "0",
        interest: Decimal | str = "0",
        hourly_rate: Decimal | str | None = None,
    ) -> None:
        """The account's cross margin holding of ``asset``: free, locked, a loan (``borrowed``)
        and its interest, which then grows by ``hourly_rate`` of the loan an hour (default
        ``DEFAULT_HOURLY_RATE``)."""
        sim = self.account(account)
        self.market.usd_price(asset)  # an asset the market cannot value is refused
        margin = CrossMargin(Decimal(free), Decimal(locked), Decimal(borrowed), Decimal(interest))
        margin.update_time = self.clock_ms()
        if hourly_rate is not None:
            margin.hourly_rate = Decimal(hourly_rate)
        sim.cross_margin[asset] = margin

    @knob()
    def accrue_interest(self, hours: float) -> None:
        """Every loan's interest grows by ``hours`` of its rate (the ticks do this on their own
        while prices are not frozen)."""
        now = self.clock_ms()
        for account in self._accounts.values():
            ledger.accrue_interest(account, Decimal(repr(hours)), now)

    @knob()
    def set_funding(self, every_seconds: float | None) -> None:
        """A funding round every ``every_seconds`` of ticks (None: none, the default)."""
        self.funding_seconds = every_seconds
        self._since_funding = 0.0

    @knob()
    def set_trading(self, every_seconds: float | None) -> None:
        """A small trade (commission, realized PnL) every ``every_seconds`` of ticks, on each
        account's UM positions in turn (None: none, the default)."""
        self.trade_seconds = every_seconds
        self._since_trade = 0.0

    @knob()
    def funding_round(self) -> None:
        """Repay negative wallets, then pay funding on every open position of every account, at
        one rate per symbol drawn from the seed (see ``exporter.simulator.ledger``)."""
        now = self.clock_ms()
        symbols = [
            p.symbol for a in self._accounts.values() for p in [*a.um_positions, *a.cm_positions]
        ]
        rates = ledger.funding_rates(self._ledger_rng, symbols)
        for account in self._accounts.values():
            borrowed = {a: m.borrowed for a, m in account.cross_margin.items()}
            ledger.auto_repay(account, now)
            self._push_borrows(account, borrowed)
            wallets = _wallets(account)
            ledger.pay_funding(account, compute_risk(account, self.market, time.time()), rates, now)
            self._push_wallet_changes(account, wallets, "FUNDING_FEE")

    @knob()
    def trade(
        self,
        account: str,
        symbol: str,
        side: str,
        quantity: Decimal | str,
        price: Decimal | str | None = None,
    ) -> None:
        """A fill of ``quantity`` (signed; COIN-M in contracts) at ``price`` (default the mark):
        moves the position, books its COMMISSION and, when it reduces the position, its
        REALIZED_PNL."""
        if symbol not in self.market.um and symbol not in self.market.cm:
            raise KeyError(f"unknown symbol {symbol}")
        self._fills += 1
        fill = None if price is None else Decimal(price)
        sim = self.account(account)
        wallets = _wallets(sim)
        ledger.trade(
            sim,
            self.market,
            symbol,
            side,
            Decimal(quantity),
            fill,
            self.clock_ms(),
            str(FIRST_TRADE_ID + self._fills),
        )
        book, asset = (
            ("CM", self.market.cm[symbol].base) if symbol in self.market.cm else ("UM", UM_QUOTE)
        )
        change = _wallets(sim).get((book, asset), ZERO) - wallets.get((book, asset), ZERO)
        self._position_update(sim, symbol, side, change)

    @knob()
    def add_income(
        self,
        account: str,
        income_type: str,
        income: Decimal | str,
        asset: str = "USDT",
        symbol: str = "",
        *,
        book: str = "um",
        count: int = 1,
        time_ms: int | None = None,
        info: str | None = None,
        trade_id: str = "",
    ) -> None:
        """Book ``count`` records of ``income`` each in the ``book`` ("um" or "cm") income
        history, at ``time_ms`` (default now), each with the next tranId of its type, moving
        the book's wallet."""
        if book not in ("um", "cm"):
            raise ValueError("book must be um or cm")
        sim, amount = self.account(account), Decimal(income)
        when = self.clock_ms() if time_ms is None else int(time_ms)
        for _ in range(count):
            ledger.add_income(
                sim, book == "cm", income_type, amount, asset, when, symbol, info, trade_id
            )

    @knob()
    def set_status_override(self, account: str, status: str | None) -> None:
        """Serve this ``accountStatus`` (any of Binance's seven, SUPPLY_MARGIN and
        ACTIVE_LIQUIDATION included, or one it does not have yet); ``None`` goes back to the
        uniMMR levels."""
        self.account(account).status_override = status

    @knob()
    def open_position(
        self,
        account: str,
        symbol: str,
        side: str,
        amount: Decimal | str,
        entry_price: Decimal | str,
        leverage: int = 20,
        *,
        open_order_initial_margin: Decimal | str = "0",
    ) -> None:
        """Open or replace a UM or COIN-M (symbol with ``_``) position; amount 0 with an
        open-order margin is an open order without a position."""
        sim = self.account(account)
        amount, entry = Decimal(amount), Decimal(entry_price)
        sim.check_side(side, amount)
        now = self.clock_ms()
        if symbol in self.market.cm:
            sim.cm_positions = [p for p in sim.cm_positions if (p.symbol, p.side) != (symbol, side)]
            sim.cm_positions.append(
                CMPosition(
                    symbol, side, amount, entry, leverage, Decimal(open_order_initial_margin), now
                )
            )
        elif symbol in self.market.um:
            sim.um_positions = [p for p in sim.um_positions if (p.symbol, p.side) != (symbol, side)]
            sim.um_positions.append(
                UMPosition(
                    symbol, side, amount, entry, leverage, Decimal(open_order_initial_margin), now
                )
            )
        else:
            raise KeyError(f"unknown symbol {symbol}")
        self._position_update(sim, symbol, side)

    @knob()
    def close_position(self, account: str, symbol: str, side: str = "BOTH") -> None:
        """Close a UM or COIN-M position side."""
        sim = self.account(account)
        sim.um_positions = [p for p in sim.um_positions if (p.symbol, p.side) != (symbol, side)]
        sim.cm_positions = [p for p in sim.cm_positions if (p.symbol, p.side) != (symbol, side)]
        if symbol in self.market.um or symbol in self.market.cm:
            self._position_update(sim, symbol, side)

    @knob()
    def pay_funding(self, account: str, symbol: str, amount: Decimal | str) -> None:
        """Funding of a UM or COIN-M symbol: ``amount`` (signed; negative is paid) into the
        USDT or coin wallet, pushed as ACCOUNT_UPDATE with reason FUNDING_FEE."""
        sim, change = self.account(account), Decimal(amount)
        if symbol in self.market.cm:
            book, asset, wallets = "CM", self.market.cm[symbol].base, sim.cm_balances
        elif symbol in self.market.um:
            book, asset, wallets = "UM", UM_QUOTE, sim.balances
        else:
            raise KeyError(f"unknown symbol {symbol}")
        wallets[asset] = wallets.get(asset, ZERO) + change
        sim.update_time = self.clock_ms()
        self._account_update(sim, book, "FUNDING_FEE", asset, change, S=symbol)

    @knob()
    def borrow(self, account: str, asset: str, amount: Decimal | str, kind: str = "BORROW") -> None:
        """A margin liability grows by ``amount`` (``kind`` BORROW or INTEREST), pushed as
        liabilityChange; its transaction id is above 2**53."""
        self.account(account)
        self.market.usd_price(asset)  # a KeyError for an asset the market cannot value
        key = (account, asset)
        total = self._liabilities.get(key, ZERO) + Decimal(amount)
        self._liabilities[key] = total
        principal, interest = (
            (Decimal(amount), ZERO) if kind == "BORROW" else (ZERO, Decimal(amount))
        )
        self._push_liability(account, asset, kind, principal, interest, total)

    def _push_liability(
        self,
        account: str,
        asset: str,
        kind: str,
        principal: Decimal,
        interest: Decimal,
        total: Decimal,
    ) -> None:
        self.streams.emit(
            account,
            {
                "e": "liabilityChange",
                "E": self.clock_ms(),
                "a": asset,
                "t": kind,
                "T": self.streams.next_transaction(),
                "p": fmt(principal),
                "i": fmt(interest),
                "l": fmt(total),
            },
        )

    def _push_borrows(self, account: SimAccount, before: dict[str, Decimal]) -> None:
        """liabilityChange (BORROW) for each cross margin loan an auto-repay has grown."""
        for asset, margin in account.cross_margin.items():
            grown = margin.borrowed - before.get(asset, ZERO)
            if grown > 0:
                total = margin.borrowed + margin.interest
                self._push_liability(account.name, asset, "BORROW", grown, ZERO, total)

    def _push_wallet_changes(
        self, account: SimAccount, before: dict[tuple[str, str], Decimal], reason: str
    ) -> None:
        """ACCOUNT_UPDATE for each UM or COIN-M wallet that moved since ``before``."""
        for (book, asset), wallet in _wallets(account).items():
            change = wallet - before.get((book, asset), ZERO)
            if change:
                self._account_update(account, book, reason, asset, change)

    @knob()
    def set_listen_key_validity(self, seconds: float) -> None:
        """How long a listen key lives after its last POST or PUT (Binance: 3600 s)."""
        self.streams.validity_seconds = float(seconds)

    @knob()
    def set_stream_max_connection_seconds(self, seconds: float) -> None:
        """Close stream sockets older than this (Binance: 24 hours)."""
        self.streams.max_connection_seconds = float(seconds)

    @knob()
    def expire_listen_key(self, account: str) -> None:
        """The account's listen key expires now: ``listenKeyExpired``, then no more events."""
        self.streams.expire(account)

    @knob()
    def drop_stream(self, account: str | None = None) -> None:
        """Cut the TCP connections of the account's (None: every) stream, no close frame."""
        self.streams.drop(account)

    @knob()
    def set_stream_silent(self, silent: bool = True, account: str | None = None) -> None:
        """The account's (None: every) stream sockets send nothing and answer no ping."""
        target = self.streams.silent
        if silent:
            target.add(account)
        else:
            target.discard(account)

    @knob()
    def send_stream_frames(self, account: str, frames: list[str]) -> None:
        """Send these text frames as they are (garbage, unknown events) on the account's
        stream sockets."""
        self.streams.send_raw(account, list(frames))

    @knob(_account_args)
    def add_account(self, account: SimAccount) -> None:
        """Serve a new account (its symbols and assets checked); over HTTP, the account's own
        fields as ``account_from_json`` reads them."""
        if account.name in self._accounts:
            raise ValueError(f"account {account.name} already exists")
        if account.api_key in self._by_key:
            raise ValueError(f"api key of {account.name} is already used")
        for position in account.um_positions:
            if position.symbol not in self.market.um:
                raise ValueError(f"{account.name}: unknown UM symbol {position.symbol}")
        for position in account.cm_positions:
            if position.symbol not in self.market.cm:
                raise ValueError(f"{account.name}: unknown COIN-M symbol {position.symbol}")
        for asset in [*account.balances, *account.cm_balances, *account.cross_margin]:
            try:
                self.market.usd_price(asset)
            except KeyError as exc:
                raise ValueError(f"{account.name}: cannot value asset {asset}") from exc
        now = self.clock_ms()
        account.update_time = account.update_time or now
        for position in [*account.um_positions, *account.cm_positions]:
            position.update_time = position.update_time or now
        self._accounts[account.name] = account
        self._by_key[account.api_key] = account

    @knob()
    def remove_account(self, name: str) -> None:
        """Forget an account and its API key."""
        account = self._accounts.pop(name)
        self._by_key.pop(account.api_key, None)

    def account(self, name: str) -> SimAccount:
        try:
            return self._accounts[name]
        except KeyError:
            raise KeyError(f"no simulated account {name}") from None

    @property
    def accounts(self) -> list[SimAccount]:
        return list(self._accounts.values())

    @knob()
    def falling_uni_mmr(
        self, account: str, duration_seconds: float, start: float = 2.0, end: float = 1.0
    ) -> None:
        """Walk uniMMR down a straight line so the status crosses 1.5, 1.2, 1.05 and 1.0 in turn.

        From now on the account's USDT wallet is set, on every computation, so that uniMMR goes
        from ``start`` to ``end`` over the duration, then holds ``end``. The account needs
        maintenance margin (an open position).
        """
        sim = self.account(account)
        if not sim.um_positions and not sim.cm_positions:
            raise ValueError(f"{account}: needs a position (maintenance margin) to drive uniMMR")
        sim.ramp = UniMMRRamp(start, end, time.time(), duration_seconds)

    @knob()
    def clear_ramp(self, account: str) -> None:
        """Stop the account's ``falling_uni_mmr``."""
        self.account(account).ramp = None

    @knob()
    def reset_rate_limits(self) -> None:
        """Forget every IP's weight, 429 and ban."""
        self._weights.clear()

    def served_payload(self, account: str, path: str) -> Payload | None:
        """The account's last reply on ``path`` as kept for the next one (shared entries)."""
        return self._payloads.get((account, path))

    def last_payload(self, account: str, path: str) -> dict | list | None:
        payload = self.served_payload(account, path)
        return None if payload is None else orjson.loads(bytes(payload))

    # -- the API -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = time.time()
        path = request.path
        endpoint = ENDPOINTS.get(path)
        if endpoint is None or request.method not in endpoint.methods:
            return self._unsupported(request, endpoint, now)

        state = self._weight_state(request.remote or "", endpoint.api, now)
        state.used += endpoint.weight
        raw_key = request.headers.get(API_KEY_HEADER)
        account = self._by_key.get(raw_key) if raw_key else None
        reply = _Reply(self.requests, now, path, account, endpoint.weight, state, request.method)

        limited = self._limit(state, now, request.remote or "")
        if limited is not None:
            error, retry_after = limited
            reply.headers["Retry-After"] = str(retry_after)
            return reply.reject(error)

        fault = self._take_fault(reply.account, path)
        if fault is not None:
            faulted = await self._faulted(request, fault, reply)
            if faulted is not None:
                return faulted

        if path == LISTEN_KEY_PATH:
            return self._listen_key(request.method, raw_key, account, reply, now)
        if not endpoint.signed:
            return reply.answer(200, orjson.dumps({"serverTime": self.clock_ms()}))
        try:
            params = self._authenticate(request, raw_key, account)
        except _Rejected as error:
            return reply.reject(error)
        assert account is not None  # _authenticate checked it
        try:
            payload = self._payload(account, path, params)
        except _Rejected as error:
            return reply.reject(error)
        self._payloads[(account.name, path)] = payload
        return reply.answer(200, bytes(payload))

    async def _faulted(
        self, request: web.Request, fault: Fault, reply: _Reply
    ) -> web.StreamResponse | None:
        """The fault's answer; None when it only delays the normal one."""
        if fault.latency and await self._pause(fault.latency):
            return reply.answer(503, b"")
        if fault.kind in ("trickle", "huge"):
            reply.record(200)
            return await self._stream(request, fault, reply.headers)
        faulted = _fault_answer(fault, reply.headers)
        if isinstance(faulted, _Rejected):
            return reply.reject(faulted)
        return None if faulted is None else reply.answer(*faulted)

    def _listen_key(
        self,
        method: str,
        raw_key: str | None,
        account: SimAccount | None,
        reply: _Reply,
        now: float,
    ) -> web.Response:
        """USER_STREAM: the API key alone (no timestamp, no signature) decides the account."""
        if raw_key is None or account is None:
            return reply.reject(_Rejected(401, -2015))
        if not _API_KEY_FORMAT.fullmatch(raw_key):
            return reply.reject(_Rejected(401, -2014))
        if method == "POST":
            key = self.streams.post(account.name, now)
            return reply.answer(200, orjson.dumps({"listenKey": key}))
        done = (
            self.streams.put(account.name, now)
            if method == "PUT"
            else self.streams.delete(account.name)
        )
        if not done:
            return reply.reject(_Rejected(400, KEY_GONE[0], KEY_GONE[1]))
        return reply.answer(200, b"{}")

    async def _user_stream(self, request: web.Request) -> web.StreamResponse:
        """GET /pm/ws/<listenKey>: the user data stream of the key's account."""
        now = time.time()
        key = self.streams.valid(request.match_info["key"], now)
        if key is None or key.account not in self._accounts:
            body = orjson.dumps({"code": KEY_GONE[0], "msg": KEY_GONE[1]})
            return web.Response(status=400, body=body, content_type="application/json")
        risk = compute_risk(self._accounts[key.account], self.market, now)
        self.streams.risk_level_change(key.account, status_for(risk.uni_mmr))  # the baseline
        return await self.streams.serve(request, key, now)

    def _stream_tick(self) -> None:
        """Keys expire, old sockets are cut, and uniMMR crossing a level is pushed."""
        now = time.time()
        self.streams.tick(now)
        for name in self.streams.streamed_accounts():
            account = self._accounts.get(name)
            if account is None:
                continue
            risk = compute_risk(account, self.market, now)
            if self.streams.risk_level_change(name, status_for(risk.uni_mmr)):
                self.streams.emit(name, self._risk_event(risk))

    def _risk_event(self, risk: Risk) -> dict[str, Any]:
        level = risk_level(status_for(risk.uni_mmr))
        return {
            "e": "riskLevelChange",
            "E": self.clock_ms(),
            "u": fmt(risk.uni_mmr),
            "s": level,
            "eq": fmt(risk.account_equity),
            "ae": fmt(risk.actual_equity),
            "m": fmt(risk.maint),
        }

    def _account_update(
        self, account: SimAccount, book: str, reason: str, asset: str, change: Decimal, **extra: Any
    ) -> None:
        """ACCOUNT_UPDATE for one wallet asset (``bc`` = ``change``) and the given positions."""
        wallet = (account.balances if book == "UM" else account.cm_balances).get(asset, ZERO)
        balance = {"a": asset, "wb": fmt(wallet), "cw": fmt(wallet), "bc": fmt(change)}
        update = {"m": reason, "B": [balance], "P": extra.pop("positions", [])}
        update.update(extra)
        event = {
            "e": "ACCOUNT_UPDATE",
            "fs": book,
            "E": self.clock_ms(),
            "T": self.clock_ms(),
            "i": "",
            "a": update,
        }
        self.streams.emit(account.name, event)

    def _position_update(
        self, account: SimAccount, symbol: str, side: str, change: Decimal = ZERO
    ) -> None:
        """The ACCOUNT_UPDATE (reason ORDER) of a position that opened, changed or closed;
        ``change`` is what the fill moved its book's wallet by (commission, realized PnL)."""
        if symbol in self.market.cm:
            cm = self.market.cm[symbol]
            found: UMPosition | None = account.cm_position(symbol, side)
            book, asset = "CM", cm.base
            figures = cm_figures(found, cm) if isinstance(found, CMPosition) else None
        else:
            found = account.um_position(symbol, side)
            book, asset = "UM", UM_QUOTE
            figures = um_figures(found, self.market.um[symbol]) if found is not None else None
        row = {
            "s": symbol,
            "pa": plain(found.amount) if found is not None else "0",
            "ep": plain(found.entry_price) if found is not None else "0",
            "cr": "0",
            "up": fmt(figures.unrealized) if figures is not None else "0",
            "ps": side,
            "bep": fmt(figures.break_even) if figures is not None else "0",
        }
        self._account_update(account, book, "ORDER", asset, change, positions=[row])

    def _unsupported(
        self, request: web.Request, endpoint: Endpoint | None, now: float
    ) -> web.Response:
        status = 404 if endpoint is None else 405
        msg = f"{request.method} {request.path} is not supported"
        self.requests.append(RequestRecord(now, request.path, None, status, -1000, 0, 0))
        body = orjson.dumps({"code": -1000, "msg": msg})
        return web.Response(status=status, body=body, content_type="application/json")

    def _weight_state(self, ip: str, api: str, now: float) -> _WeightState:
        state = self._weights.setdefault((ip, api), _WeightState())
        window = int((now - self._origin) // self.window_seconds)
        if window != state.window:
            state.window, state.used = window, 0
        return state

    def _limit(self, state: _WeightState, now: float, ip: str) -> tuple[_Rejected, int] | None:
        """Binance's 429-then-418 escalation for one IP and API."""
        if now < state.banned_until:
            return self._banned(state, ip), max(1, math.ceil(state.banned_until - now))
        if now < state.retry_until:
            state.banned_until, state.retry_until = now + self.ban_seconds, 0.0
            return self._banned(state, ip), max(1, math.ceil(self.ban_seconds))
        if state.used > self.weight_limit:
            window_end = self._origin + (state.window + 1) * self.window_seconds
            state.retry_until = window_end
            msg = (
                f"Too many requests; current limit of IP({ip}) is {self.weight_limit} requests "
                "per minute. Please use the websocket for live updates to avoid polling the API."
            )
            return _Rejected(429, -1003, msg), max(1, math.ceil(window_end - now))
        return None

    def _banned(self, state: _WeightState, ip: str) -> _Rejected:
        until = int(state.banned_until * 1000) + self.clock_skew_ms
        msg = (
            f"Way too many requests; IP({ip}) banned until {until}. "
            "Please use the websocket for live updates to avoid bans."
        )
        return _Rejected(418, -1003, msg)

    def _take_fault(self, account: str | None, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(account, path):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _authenticate(
        self, request: web.Request, raw_key: str | None, account: SimAccount | None
    ) -> dict[str, str]:
        if raw_key is None:
            raise _Rejected(401, -2015)
        if not _API_KEY_FORMAT.fullmatch(raw_key):
            raise _Rejected(401, -2014)
        if account is None:
            raise _Rejected(401, -2015)
        # The signature covers the query exactly as sent, so work on the raw (still encoded) one.
        raw_query = request.rel_url.raw_query_string
        parts = raw_query.split("&") if raw_query else []
        signed_parts = parts[:-1] if parts and parts[-1].startswith("signature=") else parts
        params = dict(parse_qsl("&".join(signed_parts), keep_blank_values=True))
        timestamp_text = params.get("timestamp", "")
        if not timestamp_text.isdigit():
            raise _Rejected(400, -1102)
        recv_text = params.get("recvWindow", str(DEFAULT_RECV_WINDOW))
        if not recv_text.isdigit():
            raise _Rejected(400, -1100)
        recv_window = int(recv_text)
        if recv_window > MAX_RECV_WINDOW:
            raise _Rejected(400, -1131)
        if signed_parts is parts or any(p.startswith("signature=") for p in signed_parts):
            raise _Rejected(400, -1022)
        signature = parts[-1][len("signature=") :]
        if not signature or not account.verify("&".join(signed_parts), signature):
            raise _Rejected(400, -1022)
        self._check_timestamp(int(timestamp_text), recv_window)
        return params

    def _check_timestamp(self, timestamp: int, recv_window: int) -> None:
        server_time = self.clock_ms()
        if timestamp >= server_time + 1000:
            raise _Rejected(400, -1021, AHEAD_MSG)
        if server_time - timestamp > recv_window:
            raise _Rejected(400, -1021)

    def _payload(self, account: SimAccount, path: str, params: dict[str, str]) -> Payload:
        risk = compute_risk(account, self.market, time.time())
        spell = self.spelling
        if path == UM_ACCOUNT:
            return um_account_payload(account, risk, self.market, spell)
        if path == UM_ACCOUNT_V2:
            return um_account_v2_payload(account, risk, self.market, spell)
        if path == ACCOUNT:
            return account_payload(risk, self.clock_ms(), spell)
        symbol, flat = params.get("symbol"), self.flat_position_rows
        if path == UM_POSITION_RISK:
            return position_risk_payload(UM_RISK, account, risk, self.market, symbol, spell, flat)
        if path == CM_POSITION_RISK:
            return position_risk_payload(CM_RISK, account, risk, self.market, symbol, spell, flat)
        if path == BALANCE:
            return ledger.balance_payload(account, risk, self.market, params.get("asset"), spell)
        if path == UM_ADL:
            return ledger.adl_payload(account, risk.um, ("HEDGE",), params.get("symbol"))
        if path == CM_ADL:
            return ledger.adl_payload(account, risk.cm, ("HEDGE", "BOTH"), params.get("symbol"))
        if path in (UM_INCOME, CM_INCOME):
            return self._income(account, path == CM_INCOME, params)
        return cm_account_payload(account, risk, self.market, spell)

    def _income(self, account: SimAccount, cm: bool, params: dict[str, str]) -> Payload:
        """Income history with Binance's parameter rules (see the module doc)."""
        numbers = {k: _integer(params, k) for k in ("startTime", "endTime", "page", "limit")}
        limit = numbers["limit"] if numbers["limit"] is not None else ledger.DEFAULT_LIMIT
        page = numbers["page"] if numbers["page"] is not None else 1
        if not 1 <= limit <= ledger.MAX_LIMIT or page < 1:
            name = "limit" if not 1 <= limit <= ledger.MAX_LIMIT else "page"
            raise _Rejected(400, -1130, f"Data sent for parameter '{name}' is not valid.")
        now = self.clock_ms()
        start, end = numbers["startTime"], numbers["endTime"]
        if start is None and end is None:
            start, end = now - ledger.DEFAULT_WINDOW_MS, now
        elif start is None:
            assert end is not None
            start = end - ledger.DEFAULT_WINDOW_MS
        elif end is None:
            end = now
        if start > end:
            raise _Rejected(400, -1128)
        if cm and end - start > ledger.CM_MAX_INTERVAL_MS:
            raise _Rejected(400, -1127)
        book = account.cm_income if cm else account.um_income
        found = ledger.select_income(
            book, start, end, now, params.get("symbol"), params.get("incomeType")
        )
        rows = found[(page - 1) * limit : page * limit]
        return Payload(orjson.dumps([ledger.income_json(r, self.spelling) for r in rows]))

    async def _pause(self, seconds: float) -> bool:
        """Sleep, or return True early when the simulator is stopping."""
        assert self._closing is not None  # set by start()
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _stream(
        self,
        request: web.Request,
        fault: Fault,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        size = TRICKLE_BODY_BYTES if fault.kind == "trickle" else fault.size
        response = web.StreamResponse(status=200, headers=headers)
        response.content_type = "application/json"
        response.content_length = size
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await response.prepare(request)
            if fault.kind == "trickle":
                body = _padded_json(size)
                for i in range(size):
                    await response.write(body[i : i + 1])
                    if await self._pause(1.0 / fault.rate):
                        break
            else:
                await self._write_huge(response, size)
        return response

    async def _write_huge(self, response: web.StreamResponse, size: int) -> None:
        head, tail = b'{"pad":"', b'"}'
        chunk = b"x" * HUGE_CHUNK_BYTES
        await response.write(head)
        remaining = size - len(head) - len(tail)
        while remaining > 0:
            if self._closing is not None and self._closing.is_set():
                return
            piece = chunk if remaining >= len(chunk) else chunk[:remaining]
            await response.write(piece)
            remaining -= len(piece)
        await response.write(tail)

    # -- control over HTTP ---------------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        knob = request.match_info["knob"]
        try:
            if request.method == "GET" and knob == "requests":
                return _json([asdict(r) for r in self.requests])
            if request.method == "GET" and knob == "last_payload":
                found = self._payloads.get(
                    (request.query.get("account", ""), request.query.get("path", ""))
                )
                if found is None:
                    return _json({"error": "no payload served yet"}, 404)
                return web.Response(body=bytes(found), content_type="application/json")
            found_knob = _HTTP_KNOBS.get(knob)
            if request.method != "POST" or found_knob is None:
                return _json({"error": f"unknown control {request.method} {knob}"}, 404)
            args = await request.json() if request.can_read_body else {}
            if not isinstance(args, dict):
                raise ValueError("expected a JSON object of keyword arguments")
            getattr(self, found_knob.method)(**found_knob.convert(args))
        except (TypeError, ValueError, KeyError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"ok": True})


def _fault_answer(fault: Fault, headers: dict[str, str]) -> _Rejected | tuple[int, bytes] | None:
    """What a fault answers instead of the payload (status and body, or an API error); None
    for a fault with only a latency, which answers normally after it."""
    if fault.kind == "malformed":
        return 200, _MALFORMED_BODY
    if fault.kind == "body":
        return fault.status, fault.body or b""
    if fault.kind != "error":
        return None
    if fault.retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after)))
    code = default_code(fault.status) if fault.code is None else fault.code
    return _Rejected(fault.status, code, fault.msg or MESSAGES.get(code, ""))


_HTTP_KNOBS = {k.http: k for k in KNOBS.values()}


def knob_reference() -> str:
    """Every knob: its HTTP name, its method's arguments and its docstring's first paragraph."""
    lines = []
    for k in KNOBS.values():
        method = getattr(Simulator, k.method)
        params = list(inspect.signature(method).parameters.values())[1:]  # without self
        arguments = inspect.Signature([p.replace(annotation=p.empty) for p in params])
        summary = " ".join(inspect.cleandoc(method.__doc__ or "").split("\n\n")[0].split())
        lines.append(f"* POST /_sim/{k.http} ({k.method}{arguments}): {summary}")
    return "\n".join(lines)


def _integer(params: dict[str, str], name: str) -> int | None:
    """An optional whole-number parameter; anything else is Binance's -1100."""
    text = params.get(name)
    if text is None:
        return None
    if not text.isdigit():
        msg = f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        raise _Rejected(400, -1100, msg)
    return int(text)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value), content_type="application/json")


def _padded_json(size: int) -> bytes:
    head, tail = b'{"pad":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def account_from_json(data: dict[str, Any]) -> SimAccount:
    """A SimAccount from JSON-friendly values (decimals as strings, PEM as text)."""
    pem = data.get("public_key_pem")
    return SimAccount(
        name=data["name"],
        api_key=data["api_key"],
        api_secret=data.get("api_secret"),
        public_key_pem=pem.encode() if isinstance(pem, str) else pem,
        mode=data.get("mode", "one_way"),
        balances={k: Decimal(v) for k, v in data.get("balances", {}).items()},
        cm_balances={k: Decimal(v) for k, v in data.get("cm_balances", {}).items()},
        um_positions=[UMPosition(**p) for p in data.get("um_positions", [])],
        cm_positions=[CMPosition(**p) for p in data.get("cm_positions", [])],
        status_override=data.get("status_override"),
        cross_margin={k: CrossMargin(**v) for k, v in data.get("cross_margin", {}).items()},
    )


class SimulatorThread:
    """A Simulator on its own event loop in a daemon thread, for synchronous tests.

    ``with SimulatorThread(accounts, tick_seconds=0.05) as sim:`` starts it; every knob
    (``sim.set_fault(...)``, ``sim.freeze_prices()``, ...) runs on the simulator's loop through
    ``call``, so it is safe from the test's thread.
    """

    def __init__(
        self,
        accounts: list[SimAccount] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self.simulator = Simulator(accounts, **options)
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="simulator", daemon=True
        )

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        self.call(self.simulator.start, self._host, self._port)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.simulator.stop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    @overload
    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T: ...

    @overload
    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` (plain or async) on the simulator's loop and return its result."""

        async def run() -> Any:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    @property
    def base_url(self) -> str:
        return self.simulator.base_url

    @property
    def time_url(self) -> str:
        return self.simulator.time_url

    @property
    def market(self) -> Market:
        return self.simulator.market

    @property
    def requests(self) -> list[RequestRecord]:
        return self.call(lambda: list(self.simulator.requests))

    def clock_ms(self) -> int:
        return self.simulator.clock_ms()

    def last_payload(self, account: str, path: str) -> dict | list | None:
        return self.call(self.simulator.last_payload, account, path)

    def account(self, name: str) -> SimAccount:
        """The live account object; change it only through ``call``."""
        return self.call(self.simulator.account, name)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """Every knob (``KNOBS``) as a method of the same name, run on the simulator's loop."""
        if name not in KNOBS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        method = getattr(self.simulator, name)

        @functools.wraps(method)
        def run_on_loop(*args: Any, **kwargs: Any) -> Any:
            return self.call(method, *args, **kwargs)

        return run_on_loop


def _wallets(account: SimAccount) -> dict[tuple[str, str], Decimal]:
    """The account's UM and COIN-M wallets by (book, asset), to see what an action moved."""
    um = {("UM", asset): wallet for asset, wallet in account.balances.items()}
    return um | {("CM", asset): wallet for asset, wallet in account.cm_balances.items()}
