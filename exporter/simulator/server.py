"""The simulator: a fake Binance Portfolio Margin REST API (and user data and market streams) on
a real loopback socket, for the tests and ``--demo``.

``Simulator`` is the ``Scene`` with every knob (``api_knobs``, ``market_knobs``, ``ledger_knobs``,
``stream_knobs``, ``market_stream_knobs``; the registry: ``knobs``) and its life: the server
(``api``, serving ``endpoints``), the marks' walk every ``tick_seconds`` unless frozen, the ledger's
and the stream's ticks. ``SimulatorThread`` runs one on its own loop for synchronous tests.

The simulator clock is the wall clock plus ``clock_skew_ms``; it is the ``serverTime`` of both
the timestamp check and ``/fapi/v1/time``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from aiohttp import web

from exporter.simulator.accounts import SimAccount
from exporter.simulator.api import Api
from exporter.simulator.api_knobs import ApiKnobs
from exporter.simulator.endpoints import TIME
from exporter.simulator.knobs import KNOBS
from exporter.simulator.ledger_knobs import LedgerKnobs
from exporter.simulator.market import Market
from exporter.simulator.market_knobs import MarketKnobs
from exporter.simulator.market_stream import CM_MARK_PATH, UM_BARE_PATH, UM_MARK_PATH
from exporter.simulator.market_stream_knobs import MarketStreamKnobs
from exporter.simulator.scene import RequestRecord
from exporter.simulator.stream import STREAM_PREFIX

T = TypeVar("T")


class Simulator(ApiKnobs, MarketKnobs, LedgerKnobs, MarketStreamKnobs):
    """The fake PAPI server; its knobs (``@knob``) are plain methods, run on its event loop."""

    _runner: web.AppRunner | None = None
    _ticker: asyncio.Task[None] | None = None
    _closing: asyncio.Event | None = None  # set on stop: ends slow answers in flight
    _port = 0
    _host = "127.0.0.1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._closing = asyncio.Event()
        app = Api(self, self._closing).app()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host, self._port = host, self._runner.addresses[0][1]
        self.limits.origin = time.time()
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._closing is not None:
            self._closing.set()  # ends trickles, huge bodies and latencies in flight
        for sock in list(self.streams.sockets):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await sock.ws.close()
        await self.mark_streams.close()
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

    @property
    def um_market_stream_url(self) -> str:
        """The exporter's ``um_market_stream_url``: USDⓈ-M's mark prices, every interval."""
        return f"ws://{self._host}:{self._port}{UM_MARK_PATH}"

    @property
    def cm_market_stream_url(self) -> str:
        """The exporter's ``cm_market_stream_url``: COIN-M's mark prices, every interval."""
        return f"ws://{self._host}:{self._port}{CM_MARK_PATH}"

    @property
    def um_bare_market_stream_url(self) -> str:
        """USDⓈ-M's stream on its bare /ws path: it connects and sends nothing."""
        return f"ws://{self._host}:{self._port}{UM_BARE_PATH}"

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            if not self.prices_frozen:
                self.market.tick()
                self._ledger_tick()
            self._stream_tick()


def knob_reference() -> str:
    """Every knob: its HTTP name, its method's arguments and its docstring's first paragraph
    (the registry is complete once ``Simulator`` is defined)."""
    lines = []
    for k in KNOBS.values():
        params = list(inspect.signature(k.function).parameters.values())[1:]  # without self
        arguments = inspect.Signature([p.replace(annotation=p.empty) for p in params])
        summary = " ".join(inspect.cleandoc(k.function.__doc__ or "").split("\n\n")[0].split())
        lines.append(f"* POST /_sim/{k.http} ({k.method}{arguments}): {summary}")
    return "\n".join(lines)


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
