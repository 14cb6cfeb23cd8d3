"""The HTTP layer: every request through the endpoint table (``exporter.simulator.endpoints``),
Binance's rules applied in its order, and the ``/_sim/`` control endpoint.

Rules, checked in this order, with Binance's JSON error body ``{"code": N, "msg": "..."}``
(https://developers.binance.com/docs/derivatives/portfolio-margin/general-info):

1. Request weight, per client IP and per API (``exporter.simulator.limits``). Weight is counted
   for EVERY request received, rejected ones included, as Binance does; every response carries
   ``X-MBX-USED-WEIGHT-1M`` with the window's total; over the limit: 429, then 418 and a ban.
2. Faults set by ``set_fault``/``trickle``/``huge_body`` (``exporter.simulator.faults``).
3. ``X-MBX-APIKEY``: missing or unknown -> 401/-2015; empty or not printable ASCII -> 401/-2014.
4. ``timestamp`` missing or not an integer -> 400/-1102.
5. ``recvWindow`` (default 5000) not an integer -> 400/-1100; above 60000 -> 400/-1131.
6. ``signature`` missing, not the last parameter, or not verifying over the raw query string
   before ``&signature=`` -> 400/-1022. HMAC: hex HMAC-SHA256 of the account's secret;
   RSA (PKCS#1 v1.5, SHA-256) and Ed25519: URL-decoded base64 checked with the public key.
7. ``timestamp >= serverTime + 1000`` or ``serverTime - timestamp > recvWindow`` -> 400/-1021.

Rules 3 to 7 are ``exporter.simulator.auth``'s, for signed endpoints; an ``api_key`` endpoint
checks the key alone. A path the table does not have gets 404/-1000, a method it does not
serve there 405/-1000 (neither spends weight).

Observability: ``requests`` (a deque of the last 100 000 ``RequestRecord``), ``last_payload(
account, path)`` (the JSON last served with 200 for that account and signed path, decoded).

Over HTTP, for a simulator in another process (not rate limited, not recorded):
``POST /_sim/<name>`` runs a knob (``exporter.simulator.knobs``); ``GET /_sim/requests`` lists
the records and ``GET /_sim/last_payload?account=NAME&path=PATH`` returns the last payload (404
if none).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import asdict
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from exporter.simulator import auth
from exporter.simulator.accounts import SimAccount, compute_risk, status_for
from exporter.simulator.endpoints import ENDPOINTS, PATHS, Call, Endpoint
from exporter.simulator.errors import Rejected
from exporter.simulator.faults import Fault, fault_answer, pause, streamed_body
from exporter.simulator.knobs import http_knob
from exporter.simulator.limits import WeightState
from exporter.simulator.market_stream import CM_MARK_PATH, UM_BARE_PATH, UM_MARK_PATH, SimMarket
from exporter.simulator.scene import RequestRecord, Scene
from exporter.simulator.stream import KEY_GONE, STREAM_PREFIX

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


class _Reply:
    """One API request's answer: the weight header it carries and the record it leaves."""

    def __init__(
        self,
        records: deque[RequestRecord],
        now: float,
        request: web.Request,
        account: SimAccount | None,
        weight: int,
        state: WeightState,
    ) -> None:
        self._records, self._now = records, now
        self._path, self._method = request.path, request.method
        self._params = {k: v for k, v in request.query.items() if k != "signature"}
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
                self._params,
            )
        )

    def answer(self, status: int, body: bytes, code: int | None = None) -> web.Response:
        self.record(status, code)
        return web.Response(
            status=status, body=body, headers=self.headers, content_type="application/json"
        )

    def reject(self, error: Rejected) -> web.Response:
        return self.answer(error.status, error.body, error.code)


class Api:
    """The simulator's aiohttp application over a ``Scene``."""

    def __init__(self, scene: Scene, closing: asyncio.Event) -> None:
        self.scene = scene
        self._closing = closing  # set when the simulator stops: ends slow answers in flight

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/_sim/{knob}", self._control)
        app.router.add_get(STREAM_PREFIX + "{key}", self._user_stream)
        app.router.add_get(UM_MARK_PATH, partial(self._market_stream, "um"))
        app.router.add_get(CM_MARK_PATH, partial(self._market_stream, "cm"))
        app.router.add_get(UM_BARE_PATH, partial(self._market_stream, None))
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now, scene = time.time(), self.scene
        endpoint = ENDPOINTS.get((request.method, request.path))
        if endpoint is None:
            return self._unsupported(request, now)
        ip = request.remote or ""
        state = scene.limits.spend(ip, endpoint.api, endpoint.weight, now)
        raw_key = request.headers.get(auth.API_KEY_HEADER)
        account = scene.account_by_key(raw_key)
        reply = _Reply(scene.requests, now, request, account, endpoint.weight, state)

        limited = scene.limits.check(state, now, ip, scene.clock_skew_ms)
        if limited is not None:
            error, retry_after = limited
            reply.headers["Retry-After"] = str(retry_after)
            return reply.reject(error)

        fault = scene.faults.take(reply.account, request.path)
        if fault is not None:
            faulted = await self._faulted(request, fault, reply)
            if faulted is not None:
                return faulted
        try:
            payload = endpoint.build(self._call(request, endpoint, raw_key, account, now))
        except Rejected as error:
            return reply.reject(error)
        if endpoint.security == "signed" and account is not None:
            scene.keep_payload(account.name, request.path, payload)
        return reply.answer(200, bytes(payload))

    def _call(
        self,
        request: web.Request,
        endpoint: Endpoint,
        raw_key: str | None,
        account: SimAccount | None,
        now: float,
    ) -> Call:
        """The builder's call once the endpoint's security passed (or the Rejected it gets)."""
        if endpoint.security == "signed":
            raw_query = request.rel_url.raw_query_string
            account, params = auth.signed(raw_query, raw_key, account, self.scene.clock_ms)
            return Call(self.scene, account, params, now)
        if endpoint.security == "api_key":
            account = auth.api_key_only(raw_key, account)
        return Call(self.scene, account, {}, now)

    async def _faulted(
        self, request: web.Request, fault: Fault, reply: _Reply
    ) -> web.StreamResponse | None:
        """The fault's answer; None when it only delays the normal one."""
        if fault.latency and await pause(self._closing, fault.latency):
            return reply.answer(503, b"")
        if fault.kind in ("trickle", "huge"):
            reply.record(200)
            return await streamed_body(request, fault, reply.headers, self._closing)
        faulted = fault_answer(fault, reply.headers)
        if isinstance(faulted, Rejected):
            return reply.reject(faulted)
        return None if faulted is None else reply.answer(*faulted)

    def _unsupported(self, request: web.Request, now: float) -> web.Response:
        status = 405 if request.path in PATHS else 404
        error = Rejected(status, -1000, f"{request.method} {request.path} is not supported")
        self.scene.requests.append(RequestRecord(now, request.path, None, status, -1000, 0, 0))
        return web.Response(status=status, body=error.body, content_type="application/json")

    async def _user_stream(self, request: web.Request) -> web.StreamResponse:
        """GET /pm/ws/<listenKey>: the user data stream of the key's account."""
        now, scene = time.time(), self.scene
        key = scene.streams.valid(request.match_info["key"], now)
        account = None if key is None else scene.find_account(key.account)
        if key is None or account is None:
            body = Rejected(400, *KEY_GONE).body
            return web.Response(status=400, body=body, content_type="application/json")
        risk = compute_risk(account, scene.market, now)
        scene.streams.risk_level_change(key.account, status_for(risk.uni_mmr))  # the baseline
        return await scene.streams.serve(request, key, now)

    async def _market_stream(
        self, market: SimMarket | None, request: web.Request
    ) -> web.StreamResponse:
        """A market's mark price stream: public, no key, no weight (as Binance's)."""
        return await self.scene.mark_streams.serve(request, market)

    async def _control(self, request: web.Request) -> web.Response:
        name = request.match_info["knob"]
        try:
            if request.method == "GET" and name == "requests":
                return _json([asdict(r) for r in self.scene.requests])
            if request.method == "GET" and name == "last_payload":
                found = self.scene.served_payload(
                    request.query.get("account", ""), request.query.get("path", "")
                )
                if found is None:
                    return _json({"error": "no payload served yet"}, 404)
                return web.Response(body=bytes(found), content_type="application/json")
            knob = http_knob(name)
            if request.method != "POST" or knob is None:
                return _json({"error": f"unknown control {request.method} {name}"}, 404)
            args = await request.json() if request.can_read_body else {}
            if not isinstance(args, dict):
                raise ValueError("expected a JSON object of keyword arguments")
            getattr(self.scene, knob.method)(**knob.convert(args))
        except (TypeError, ValueError, KeyError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"ok": True})


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value), content_type="application/json")
