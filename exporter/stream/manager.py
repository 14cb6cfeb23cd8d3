"""Every streamed account's connection, the shared early-poll debouncer and weight headroom, and
reloads.

The exporter starts it after the scheduler (``request_poll`` is the one way in) and stops it
before the HTTP client closes, so each listen key is DELETEd on the way out. Its sockets share
one aiohttp session without a connection limit (aiohttp's default of 100 would leave the 101st
stream waiting forever): a process streams every account it polls, one connection each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import structlog

from exporter.binance.client import PapiClient
from exporter.config import AccountConfig, Config, early_poll_budget
from exporter.metrics import Row, render_rows
from exporter.reload import ReloadPlan, plan_start
from exporter.snapshot import Store
from exporter.stream.connection import STREAM_DROPPED_FRAMES, StreamConnection
from exporter.stream.state import StreamState
from exporter.stream.triggers import EarlyPolls, Headroom, RequestPoll

log = structlog.get_logger("exporter.stream")


class StreamManager:
    def __init__(
        self,
        config: Config,
        store: Store,
        client: Callable[[], PapiClient],
        request_poll: RequestPoll,
    ) -> None:
        self.config = config
        self.store = store
        self._client = client
        self.early = EarlyPolls(request_poll, Headroom(early_poll_budget(config)))
        self.connections: dict[str, StreamConnection] = {}
        self._session: aiohttp.ClientSession | None = None
        self._early_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._early_task = asyncio.create_task(self.early.run(), name="early-polls")
        await self.apply(self.config, plan_start(self.config))

    async def apply(self, config: Config, plan: ReloadPlan) -> None:
        """Follow a (re)loaded config: start, restart (another key or stream URL) or stop
        streams, as ``plan`` says; every other kept stream takes the new timings and collectors
        in place, keeping its listen key and its socket.

        A stopped stream's series go; a restarted stream keeps its counters: a series never
        goes back. Stops run side by side, each bounded, so a reload never waits on a peer.
        """
        self.config = config
        self.early.headroom.per_minute = early_poll_budget(config)
        stopped, started = set(plan.streams_stopped), set(plan.streams_started)
        restarted = set(plan.streams_restarted)
        ending = [n for n in self.connections if n in stopped or n in restarted]
        previous = {n: self.connections[n] for n in ending}
        await asyncio.gather(*(self._stop(n, clear=n in stopped) for n in ending))
        for account in config.accounts:
            current = self.connections.get(account.name)
            old = previous.get(account.name)
            if account.name in restarted and old is not None:
                self._start(account, old.state, old.dropped_frames)
            elif account.name in started or account.name in restarted:
                self._start(account, None, 0)
            elif current is not None:
                current.retune(account, config.stream)

    def _start(self, account: AccountConfig, state: StreamState | None, dropped: int) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        connection = StreamConnection(
            account,
            self.config.stream,
            self._client,
            self._session,
            self.early,
            self._publish,
            state,
            connect_timeout=self.config.client.request_timeout_seconds,
            dropped_frames=dropped,
        )
        self.connections[account.name] = connection
        connection.start()

    async def _stop(self, name: str, *, clear: bool) -> None:
        connection = self.connections.pop(name)
        await connection.stop()
        if clear:
            self.early.forget(name)
            account = self.store.accounts.get(name)
            if account is not None:
                account.stream_fragments = {}
                self.store.changed()

    def _publish(self, state: StreamState) -> None:
        """The stream's series, and its events' values into the gauges they update (newest
        wins against the polls: ``exporter.fresh``), at once."""
        account = self.store.accounts.get(state.account)
        connection = self.connections.get(state.account)
        values = state.take_values()
        if account is not None and connection is not None:
            for time_ms, effects in values:
                account.push(time_ms, effects)
            fragments = state.render(account.label)
            dropped: list[Row] = [((), float(connection.dropped_frames))]
            name = STREAM_DROPPED_FRAMES.name
            fragments[name] = render_rows(name, account.label, (), dropped).encode()
            account.stream_fragments = fragments
            self.store.changed()

    async def stop(self) -> None:
        """Every socket closed and every listen key deleted, at once."""
        if self._early_task is not None:
            self._early_task.cancel()
            await asyncio.gather(self._early_task, return_exceptions=True)
        connections = list(self.connections.values())
        self.connections.clear()
        await asyncio.gather(*(c.stop() for c in connections), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
