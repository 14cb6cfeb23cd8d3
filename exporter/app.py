"""Wiring: config -> client -> scheduler -> store -> renderer -> HTTP, started and stopped."""

from __future__ import annotations

import asyncio
import time
from functools import partial

import httpx
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from exporter import __version__
from exporter.binance.client import PapiClient, RetryAfterGate
from exporter.binance.clock import ServerClock
from exporter.config import (
    LOAD_TIMEOUT_SECONDS,
    ClientSettings,
    Config,
    ConfigError,
    Load,
    load_config,
)
from exporter.http import build_app
from exporter.listener import (
    DEFAULT_MAX_CONNECTIONS,
    IDLE_TIMEOUT_SECONDS,
    LISTEN_BACKLOG,
    ConnectionGuard,
    connection_cap,
    quiet_loop_errors,
    quiet_server_errors,
)
from exporter.process_poll import CollateralRatePoller
from exporter.reload import plan_reload
from exporter.render import Renderer
from exporter.scheduler import Scheduler, credentials_for
from exporter.sharding import Shard
from exporter.snapshot import ExporterStatus, Store
from exporter.stream.manager import StreamManager
from exporter.stream.mark_values import MarkValues
from exporter.stream.market import MarketStreams
from exporter.stream.marks import MarkBook, MarkChange
from exporter.web import WebSecurity

log = structlog.get_logger("exporter")


class ListenAddressError(ValueError):
    pass


def parse_listen_address(value: str) -> tuple[str | None, int]:
    """Go's host:port form: ':10091' (every interface), '127.0.0.1:0', '[::1]:10091'."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenAddressError(f"--web.listen-address {value!r} must be host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or None), int(port)


def _process_poll_inputs(cfg: Config) -> tuple[object, ...]:
    """What the process-wide polls are built from: a reload that changes it restarts them."""
    first = cfg.accounts[0] if cfg.accounts else None
    return cfg.sapi, cfg.client, None if first is None else (first.api_key, first.signer.kind)


class Exporter:
    def __init__(
        self,
        config: Config,
        *,
        listen_address: str = ":10091",
        telemetry_path: str = "/metrics",
        config_path: str | None = None,
        web_security: WebSecurity | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        config_load_timeout: float = LOAD_TIMEOUT_SECONDS,
        enable_lifecycle: bool = False,
        shard: Shard | None = None,
    ) -> None:
        self.config = config
        self.shard = shard  # a reload keeps only this shard's accounts of the file
        self.max_connections = max_connections
        self.config_path = config_path  # what SIGHUP and POST /-/reload re-read; None in demo
        self.enable_lifecycle = enable_lifecycle  # POST /-/reload, as Prometheus gates it
        self.config_load_timeout = config_load_timeout
        self.listen_host, self.listen_port = parse_listen_address(listen_address)
        self.telemetry_path = telemetry_path
        self.web_security = web_security  # --web.config.file: TLS, basic auth, headers
        status = ExporterStatus(
            version=__version__,
            planned_weight_per_minute=config.planned_weight_per_minute(),
            poll_interval_seconds=config.polling.interval_seconds,
            reload_success_time=time.time(),
            shard_index=shard.index if shard is not None else 0,
            shard_count=shard.count if shard is not None else 1,
            accounts_configured=config.accounts_configured,
            accounts_owned=len(config.accounts),
        )
        self.store = Store(status)
        self.renderer = Renderer(self.store)
        self._http: httpx.AsyncClient | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._web_config_task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self.scheduler: Scheduler | None = None
        self.streams: StreamManager | None = None
        # The process's mark prices from the market streams, whoever reads them.
        self.marks = MarkBook()
        self.marks.subscribe(self._show_market_streams)
        self.market_streams: MarketStreams | None = None
        # The marks pushed into the served positions of the accounts with market_stream on.
        self.mark_values: MarkValues | None = None
        self.collateral_rates: CollateralRatePoller | None = None
        # Retry-After and bans are per IP, hence per base URL: they outlive a rebuilt client.
        self._gates: dict[str, RetryAfterGate] = {}
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task] = set()  # cancelled by stop(): never wait for a read
        self._config_read: Load[Config] | None = None
        self._stopping = False
        self.port = 0

    async def start(self) -> None:
        cfg = self.config
        # One keep-alive client for the base URL; Binance allows many requests per connection.
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._http = httpx.AsyncClient(
            limits=limits, timeout=cfg.client.request_timeout_seconds, follow_redirects=False
        )
        client = self._make_client(cfg.client)
        # Every account's state exists before the first scrape can arrive.
        self.scheduler = Scheduler(cfg, self.store, client)
        reload = self.reload if self.config_path is not None else None
        security = self.web_security
        guard = ConnectionGuard(connection_cap(self.max_connections))
        middlewares: list[Middleware] = [guard.middleware]
        if security is not None:
            middlewares.append(security.middleware)
        app = build_app(
            self.store,
            self.renderer,
            self.telemetry_path,
            reload=reload,
            lifecycle=self.enable_lifecycle,
            middlewares=middlewares,
        )
        loop = asyncio.get_running_loop()
        quiet_loop_errors(loop)
        quiet_server_errors()
        # The publisher runs before the first connection is accepted: scrapes wait on it.
        self._publisher = asyncio.create_task(self.renderer.run(), name="publisher")
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, keepalive_timeout=IDLE_TIMEOUT_SECONDS
        )
        await self._runner.setup()
        guard.server = self._runner.server
        ssl_context = security.ssl_context if security is not None else None
        # Our own listener rather than a TCPSite: every accepted connection passes the guard.
        self._listener = await loop.create_server(
            guard.protocol,
            self.listen_host,
            self.listen_port,
            ssl=ssl_context,
            backlog=LISTEN_BACKLOG,
            reuse_address=True,
        )
        if security is not None:
            self._web_config_task = asyncio.create_task(security.watch(), name="web-config")
        sockets = self._listener.sockets
        self.port = sockets[0].getsockname()[1] if sockets else self.listen_port
        log.info(
            "listening",
            address=f"{self.listen_host or ''}:{self.port}",
            path=self.telemetry_path,
            accounts=len(cfg.accounts),
            poll_interval_seconds=cfg.polling.interval_seconds,
            planned_weight_per_minute=round(cfg.planned_weight_per_minute(), 1),
            max_connections=guard.cap,
        )
        self._warn_if_empty(cfg)
        await self._start_clock(client.clock)
        self.scheduler.start()
        scheduler = self.scheduler
        self.streams = StreamManager(
            cfg, self.store, lambda: scheduler.client, scheduler.request_poll
        )
        await self.streams.start()
        self.mark_values = MarkValues(self.marks, self.store, cfg)
        self.market_streams = MarketStreams(cfg, self.marks)
        await self.market_streams.start()
        self._start_process_polls(cfg)

    def _show_market_streams(self, change: MarkChange) -> None:
        """The market streams' own series, published with the rest."""
        self.renderer.market_fragments = self.marks.render()
        self.store.changed()

    def _start_process_polls(self, cfg: Config) -> None:
        """The collateral_rate poll, once per process, with the first owned account's key."""
        if not cfg.sapi.collateral_rate:
            return
        if not cfg.accounts:
            log.warning("collateral_rate is on but this replica owns no account: no key to send")
            return
        assert self._http is not None and self.scheduler is not None
        client = PapiClient(
            self._http,
            cfg.sapi.base_url,
            self.scheduler.client.clock,  # unused: nothing is signed
            self._gates.setdefault(cfg.sapi.base_url, RetryAfterGate()),
            recv_window_ms=cfg.client.recv_window_ms,
            timeout=cfg.client.request_timeout_seconds,
            max_response_bytes=cfg.client.max_response_bytes,
        )
        poller = CollateralRatePoller(
            cfg.sapi, client, credentials_for(cfg.accounts[0]), self.store.changed
        )
        self.collateral_rates = poller
        self.renderer.process_polls.append(poller)
        poller.start()

    async def _stop_process_polls(self) -> None:
        poller, self.collateral_rates = self.collateral_rates, None
        if poller is not None:
            self.renderer.process_polls.remove(poller)
            await poller.stop()

    def _make_client(self, cfg: ClientSettings) -> PapiClient:
        assert self._http is not None
        # A new clock on the same time URL starts from the offset measured so far, in case its
        # first measurement fails.
        previous = self.scheduler.client.clock if self.scheduler is not None else None
        offset = (
            previous.offset_seconds
            if previous is not None and previous.url == cfg.time_url
            else 0.0
        )
        clock = ServerClock(
            self._http,
            cfg.time_url,
            cfg.request_timeout_seconds,
            cfg.max_response_bytes,
            recv_window_ms=cfg.recv_window_ms,
            offset_seconds=offset,
        )
        return PapiClient(
            self._http,
            cfg.base_url,
            clock,
            self._gates.setdefault(cfg.base_url, RetryAfterGate()),
            recv_window_ms=cfg.recv_window_ms,
            timeout=cfg.request_timeout_seconds,
            max_response_bytes=cfg.max_response_bytes,
        )

    async def _start_clock(self, clock: ServerClock) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
        await clock.sync()  # the scheduler publishes the offset when it starts or applies
        self._clock_task = asyncio.create_task(clock.run_periodic(), name="clock")

    async def reload(self) -> tuple[bool, str]:
        """Re-read the config file; a file start-up would refuse leaves everything as it was."""
        if self.config_path is None or self.scheduler is None:
            return False, "nothing to reload: no configuration file"
        if self._stopping:
            return False, "reload refused: the exporter is stopping"
        task = asyncio.current_task()
        assert task is not None
        self._reloads.add(task)
        try:
            return await self._reload(self.config_path)
        finally:
            self._reloads.discard(task)

    async def _reload(self, path: str) -> tuple[bool, str]:
        assert self.scheduler is not None
        async with self._reload_lock:
            status = self.store.status
            try:
                new = await self._read_config(path)
            except ConfigError as exc:
                return await self._refuse_reload(str(exc))
            except Exception as exc:  # a bug in reading must not pass for a success either
                log.debug("configuration reload failed", exc_info=exc)
                return await self._refuse_reload(f"{path}: unexpected {type(exc).__name__}")
            for warning in new.warnings:
                log.warning("insecure secret file", detail=warning)
            plan = plan_reload(self.config, new)
            client = self.scheduler.client
            if plan.new_client:
                client = self._make_client(new.client)
                await self._start_clock(client.clock)
            await self.scheduler.apply(new, client, plan)
            if self.streams is not None:
                await self.streams.apply(new, plan)
            if self.mark_values is not None:
                self.mark_values.apply(new)
            if self.market_streams is not None:
                await self.market_streams.apply(new)
            if _process_poll_inputs(new) != _process_poll_inputs(self.config):
                await self._stop_process_polls()
                self._start_process_polls(new)
            self.config = new
            status.planned_weight_per_minute = new.planned_weight_per_minute()
            status.poll_interval_seconds = new.polling.interval_seconds
            status.accounts_configured = new.accounts_configured
            status.accounts_owned = len(new.accounts)
            status.reload_successful, status.reload_success_time = True, time.time()
            self.store.changed()
            await self.renderer.publish()  # a scrape right after the reply sees the new state
            log.info(
                "configuration reloaded",
                accounts=len(new.accounts),
                added=",".join(plan.added),
                removed=",".join(plan.removed),
                changed=",".join(plan.changed),
                poll_interval_seconds=new.polling.interval_seconds,
            )
            self._warn_if_empty(new)
            return True, "configuration reloaded"

    def _warn_if_empty(self, config: Config) -> None:
        if self.shard is not None:
            empty = self.shard.empty_warning(config.accounts_configured, len(config.accounts))
            if empty is not None:
                log.warning("shard owns no account", detail=empty)

    async def _refuse_reload(self, error: str) -> tuple[bool, str]:
        """The running config stays; ``config_last_reload_successful`` says 0 until one works."""
        self.store.status.reload_successful = False
        self.store.changed()
        await self.renderer.publish()
        log.error("configuration reload refused, keeping the running one", error=error)
        return False, f"reload refused: {error}"

    async def _read_config(self, path: str) -> Config:
        """The file read and validated off the loop, within ``config_load_timeout``.

        Scrapes and polls go on meanwhile. A read that did not end in time is a refused reload;
        while its thread is still blocked (a FIFO nobody writes) the next reload is refused at
        once, so a storm of reloads cannot pile up threads that nothing can stop.
        """
        if self._config_read is not None and not self._config_read.done():
            raise ConfigError("", f"config file {path}: the previous read of it is still blocked")
        self._config_read = Load(partial(load_config, path, shard=self.shard), "config file", path)
        return await self._config_read.result(self.config_load_timeout)

    async def stop(self) -> None:
        # A reload waiting for its read (or for the one before) would otherwise hold the exit
        # until its deadline, and a POST /-/reload holds aiohttp's shutdown with it.
        self._stopping = True
        for task in self._reloads:
            task.cancel()
        if self._web_config_task is not None:
            self._web_config_task.cancel()
            await asyncio.gather(self._web_config_task, return_exceptions=True)
        if self.scheduler is not None:
            await self.scheduler.stop()
        # The streams before the HTTP client closes (it deletes listen keys), side by side.
        streams = (self.streams, self.market_streams)
        await asyncio.gather(*(s.stop() for s in streams if s is not None))
        if self.mark_values is not None:
            self.mark_values.stop()
        await self._stop_process_polls()
        if self._publisher is not None:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
        if self._clock_task is not None:
            self._clock_task.cancel()
            await asyncio.gather(self._clock_task, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.aclose()
