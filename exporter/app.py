"""Wiring: config -> client -> scheduler -> store -> renderer -> HTTP, started and stopped."""

from __future__ import annotations

import asyncio
import time

import httpx
import structlog
from aiohttp import web

from exporter import __version__
from exporter.binance.client import PapiClient, RetryAfterGate
from exporter.binance.clock import ServerClock
from exporter.config import Config, ConfigError, load_config
from exporter.http import build_app
from exporter.render import Renderer
from exporter.scheduler import Scheduler
from exporter.snapshot import ExporterStatus, Store
from exporter.webconfig import WebSecurity

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


class Exporter:
    def __init__(
        self,
        config: Config,
        *,
        listen_address: str = ":10091",
        telemetry_path: str = "/metrics",
        config_path: str | None = None,
        web_security: WebSecurity | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path  # what SIGHUP and POST /-/reload re-read; None in demo
        self.listen_host, self.listen_port = parse_listen_address(listen_address)
        self.telemetry_path = telemetry_path
        self.web_security = web_security  # --web.config.file: TLS, basic auth, headers
        status = ExporterStatus(
            version=__version__,
            planned_weight_per_minute=config.planned_weight_per_minute(),
            poll_interval_seconds=config.poll_interval_seconds,
            reload_success_time=time.time(),
        )
        self.store = Store(status, config.stale_after_seconds)
        self.renderer = Renderer(self.store)
        self._http: httpx.AsyncClient | None = None
        self._runner: web.AppRunner | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._web_config_task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self.scheduler: Scheduler | None = None
        # Retry-After and bans are per IP, hence per base URL: they outlive a rebuilt client.
        self._gates: dict[str, RetryAfterGate] = {}
        self._reload_lock = asyncio.Lock()
        self.port = 0

    async def start(self) -> None:
        cfg = self.config
        # One keep-alive client for the base URL; Binance allows many requests per connection.
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._http = httpx.AsyncClient(
            limits=limits, timeout=cfg.request_timeout_seconds, follow_redirects=False
        )
        client = self._make_client(cfg)
        # Every account's state exists before the first scrape can arrive.
        self.scheduler = Scheduler(cfg, self.store, client)
        reload = self.reload if self.config_path is not None else None
        security = self.web_security
        middlewares = (security.middleware,) if security is not None else ()
        app = build_app(
            self.store, self.renderer, self.telemetry_path, reload=reload, middlewares=middlewares
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        ssl_context = security.ssl_context if security is not None else None
        site = web.TCPSite(
            self._runner, self.listen_host, self.listen_port, ssl_context=ssl_context
        )
        await site.start()
        if security is not None:
            self._web_config_task = asyncio.create_task(security.watch(), name="web-config")
        addresses = self._runner.addresses
        self.port = addresses[0][1] if addresses else self.listen_port
        log.info(
            "listening",
            address=f"{self.listen_host or ''}:{self.port}",
            path=self.telemetry_path,
            accounts=len(cfg.accounts),
            poll_interval_seconds=cfg.poll_interval_seconds,
            planned_weight_per_minute=round(cfg.planned_weight_per_minute(), 1),
        )
        await self._start_clock(client.clock)
        self._publisher = asyncio.create_task(self.renderer.run(), name="publisher")
        self.scheduler.start()

    def _make_client(self, cfg: Config) -> PapiClient:
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
        await clock.sync()
        self.store.status.clock_offset_seconds = clock.offset_seconds
        self._clock_task = asyncio.create_task(clock.run_periodic(), name="clock")

    async def reload(self) -> tuple[bool, str]:
        """Re-read the config file; a file start-up would refuse leaves everything as it was."""
        if self.config_path is None or self.scheduler is None:
            return False, "nothing to reload: no configuration file"
        async with self._reload_lock:
            status = self.store.status
            try:
                new = load_config(self.config_path)
            except ConfigError as exc:
                status.reload_successful = False
                self.store.changed()
                await self.renderer.publish()
                log.error("configuration reload refused, keeping the running one", error=str(exc))
                return False, f"reload refused: {exc}"
            for warning in new.warnings:
                log.warning("insecure secret file", detail=warning)
            client = self.scheduler.client
            if _client_settings(new) != _client_settings(self.config):
                client = self._make_client(new)
                await self._start_clock(client.clock)
            added, removed, changed = await self.scheduler.apply(new, client)
            self.config = new
            self.store.stale_after = new.stale_after_seconds
            status.planned_weight_per_minute = new.planned_weight_per_minute()
            status.poll_interval_seconds = new.poll_interval_seconds
            status.reload_successful, status.reload_success_time = True, time.time()
            self.store.changed()
            await self.renderer.publish()  # a scrape right after the reply sees the new state
            log.info(
                "configuration reloaded",
                accounts=len(new.accounts),
                added=",".join(added),
                removed=",".join(removed),
                changed=",".join(changed),
                poll_interval_seconds=new.poll_interval_seconds,
            )
            return True, "configuration reloaded"

    async def stop(self) -> None:
        if self._web_config_task is not None:
            self._web_config_task.cancel()
            await asyncio.gather(self._web_config_task, return_exceptions=True)
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self._publisher is not None:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
        if self._clock_task is not None:
            self._clock_task.cancel()
            await asyncio.gather(self._clock_task, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.aclose()


def _client_settings(cfg: Config) -> tuple:
    """What the PAPI client is built from; a change needs a new client (not a new gate)."""
    return (
        cfg.base_url,
        cfg.time_url,
        cfg.recv_window_ms,
        cfg.request_timeout_seconds,
        cfg.max_response_bytes,
    )
