"""The HTTP side: /metrics from the pre-rendered store, a landing page, health and readiness.

Nothing here calls Binance: a scrape only reads what the scheduler last published.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from exporter.negotiation import accepts_gzip, negotiate
from exporter.render import ExpositionUnavailable, Renderer
from exporter.snapshot import Store
from exporter.web.landing import landing_page

ReloadHook = Callable[[], Awaitable[tuple[bool, str]]]


def build_app(
    store: Store,
    renderer: Renderer,
    telemetry_path: str,
    *,
    reload: ReloadHook | None = None,
    lifecycle: bool = False,
    middlewares: Iterable[Middleware] = (),
) -> web.Application:
    app = web.Application(middlewares=list(middlewares))
    handlers = _Handlers(store, renderer, telemetry_path, reload, lifecycle)
    app.router.add_get(telemetry_path, handlers.metrics)
    if telemetry_path != "/":
        app.router.add_get("/", handlers.landing)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_post("/-/reload", handlers.reload)
    return app


class _Handlers:
    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        path: str,
        reload: ReloadHook | None,
        lifecycle: bool,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.path = path
        self._reload = reload
        self._lifecycle = lifecycle
        self._ready = False  # latched by the first ready answer

    async def metrics(self, request: web.Request) -> web.Response:
        # The reply depends on both headers; caches and proxies must key on them.
        headers = {"Vary": "Accept, Accept-Encoding"}
        offer = negotiate(request.headers.get("Accept"))
        if offer is None:
            headers["Content-Type"] = "text/plain; charset=utf-8"
            return web.Response(status=406, body=_NOT_ACCEPTABLE, headers=headers)
        gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
        try:
            body, gzipped = await self.renderer.serve(offer.format, gzip_ok=gzip_ok)
        except ExpositionUnavailable as exc:
            return web.Response(status=503, text=f"{exc}\n", headers=headers)
        headers["Content-Type"] = offer.content_type
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        """Ready means serving: the config is loaded and every account's first round of polls
        has been attempted, whatever came of it. A refused key shows in ``up`` and its alert;
        were it to keep the pod unready, rollouts, drains and ``helm --wait`` would stall on
        it. Once ready, a reload that adds accounts does not take it back."""
        if not self._ready:
            waiting = [
                a.name
                for a in self.store.accounts.values()
                if not all(h.attempted for h in a.health.values())
            ]
            if waiting:
                return web.Response(
                    status=503, text="not ready, first poll pending: " + ", ".join(waiting) + "\n"
                )
            self._ready = True
        return web.Response(text="ready\n")

    async def reload(self, request: web.Request) -> web.Response:
        # Like Prometheus: an HTTP endpoint that changes the process needs an explicit flag.
        if not self._lifecycle:
            return web.Response(
                status=403, text="Lifecycle API is not enabled (--web.enable-lifecycle).\n"
            )
        if self._reload is None:
            return web.Response(status=404, text="reload is not available in this mode\n")
        ok, message = await self._reload()
        return web.Response(status=200 if ok else 500, text=message + "\n")

    async def landing(self, request: web.Request) -> web.Response:
        return web.Response(
            text=landing_page(self.store, self.path, time.time()), content_type="text/html"
        )


_NOT_ACCEPTABLE = (
    b"none of the formats in Accept is offered: text/plain;version=0.0.4, "
    b"application/openmetrics-text;version=1.0.0 or 0.0.1\n"
)
