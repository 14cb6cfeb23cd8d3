"""The PAPI client: signs requests, stamps them with server time, honours Retry-After.

Binance's request-weight limit is per IP, so one 429 or 418 stops every account that shares the
base URL until Retry-After has passed. The gate is checked here, the only place requests are
sent, but owned by the caller: a client rebuilt by a reload must not forget a running ban.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from exporter.binance.clock import ServerClock
from exporter.binance.errors import ApiError, Reason, classify_reply
from exporter.binance.reply import get_capped
from exporter.binance.signing import Signer

USED_WEIGHT_HEADER = "x-mbx-used-weight-1m"
# The PM user data stream's listen key: POST makes (or returns and extends) it, PUT keeps it
# alive, DELETE closes it. USER_STREAM security: the API key header only, no signature.
LISTEN_KEY_PATH = "/papi/v1/listenKey"


@dataclass(frozen=True)
class Reply:
    """A signed GET's reply body, and whether Binance refused the first timestamp (-1021) so
    that this body is the retry's: the request counts as a timestamp error all the same."""

    body: bytes
    timestamp_retried: bool = False


@dataclass(frozen=True)
class Credentials:
    api_key: str
    signer: Signer

    def __repr__(self) -> str:
        return f"Credentials(<key>, {self.signer.kind})"


class RetryAfterGate:
    """Until when requests to one base URL must not be sent, and why; outlives any one client."""

    def __init__(self) -> None:
        self.until = 0.0  # monotonic
        self.reason: Reason = "rate_limited"

    def remaining(self) -> float:
        return max(0.0, self.until - time.monotonic())

    def close_for(self, seconds: float, reason: Reason) -> None:
        until = time.monotonic() + seconds
        if until > self.until:
            self.until, self.reason = until, reason


class PapiClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        clock: ServerClock,
        gate: RetryAfterGate,
        *,
        recv_window_ms: int,
        timeout: float,
        max_response_bytes: int,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self.clock = clock
        self.gate = gate
        self._recv_window = recv_window_ms
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self.used_weight_1m: float | None = None  # last X-MBX-USED-WEIGHT-1M seen
        self.requests_sent = 0

    async def get_signed(
        self, path: str, credentials: Credentials, params: Mapping[str, str] | None = None
    ) -> Reply:
        """The reply of a SIGNED GET, marked when it is the retry after a -1021.

        ``params`` go first in the query, signed with recvWindow and timestamp (Binance signs
        the whole query string as sent). A -1021 waits for an offset measured since the request
        was stamped (``ServerClock.resync``: shared with every other refused request) and retries
        once with it; a retry that succeeds is a success, and an error that ends the retry is
        marked ``timestamp_retried`` like its reply would be. When the clock could not be
        measured the retry would be refused again, for weight: the -1021 is raised instead.
        """
        stamped_at = time.monotonic()
        try:
            return Reply(await self._get_once(path, credentials, params))
        except ApiError as exc:
            if exc.reason != "timestamp" or not await self.clock.resync(stamped_at):
                raise
        try:
            return Reply(await self._get_once(path, credentials, params), timestamp_retried=True)
        except ApiError as exc:
            exc.timestamp_retried = True
            raise

    async def get_keyed(self, path: str, credentials: Credentials) -> bytes:
        """The reply body of a MARKET_DATA GET: the API key header only, no timestamp or
        signature (Binance's security type for public data it wants a key for)."""
        self._check_gate()
        return await self._send("GET", self._base_url + path, credentials)

    async def listen_key(self, method: str, credentials: Credentials) -> bytes:
        """The reply body of POST, PUT or DELETE /papi/v1/listenKey (weight 1 each).

        Binance keeps one listen key per account, so none is sent: PUT and DELETE act on it.
        """
        self._check_gate()
        return await self._send(method, self._base_url + LISTEN_KEY_PATH, credentials)

    def _check_gate(self) -> None:
        wait = self.gate.remaining()
        if wait > 0:
            raise ApiError(self.gate.reason, f"Retry-After: {wait:.0f}s left, not sent", sent=False)

    async def _get_once(
        self, path: str, credentials: Credentials, params: Mapping[str, str] | None
    ) -> bytes:
        self._check_gate()
        query = f"recvWindow={self._recv_window}&timestamp={self.clock.now_ms()}"
        if params:
            query = f"{urlencode(params)}&{query}"
        url = f"{self._base_url}{path}?{query}&signature={credentials.signer.sign(query)}"
        return await self._send("GET", url, credentials)

    async def _send(self, method: str, url: str, credentials: Credentials) -> bytes:
        headers = {"X-MBX-APIKEY": credentials.api_key}
        self.requests_sent += 1
        try:
            async with asyncio.timeout(self._timeout):
                status, reply_headers, body = await get_capped(
                    self._http, url, headers, self._max_bytes, method
                )
        except TimeoutError:
            raise ApiError("timeout", f"no complete reply within {self._timeout:g}s") from None
        except httpx.TimeoutException:
            raise ApiError("timeout", f"no complete reply within {self._timeout:g}s") from None
        except httpx.HTTPError as exc:
            # The message of a transport error never holds the URL (and so no signature).
            raise ApiError("network", type(exc).__name__) from None
        weight = reply_headers.get(USED_WEIGHT_HEADER)
        if weight is not None:
            with contextlib.suppress(ValueError):
                self.used_weight_1m = float(weight)
        error = classify_reply(
            status, body, reply_headers.get("retry-after"), secrets=(credentials.api_key,)
        )
        if error is not None:
            if error.retry_after is not None:
                self.gate.close_for(error.retry_after, error.reason)
            raise error
        return body  # decoded by the collector, which knows what it keeps
