"""The web configuration in force: the auth and header middleware, and re-reading the file.

The file and the files it names are polled: a change applies to new connections and requests, and
a file that no longer loads keeps the settings in force and logs one error.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from functools import partial

import structlog
from aiohttp import web

from exporter.files import LOAD_TIMEOUT_SECONDS, Load
from exporter.validation import ConfigError
from exporter.web.auth import BasicAuth
from exporter.web.config import WebConfig, describe, load_web_config
from exporter.web.tls import apply_tls_policy, peer_san_allowed

log = structlog.get_logger("exporter")

DEFAULT_POLL_SECONDS = 5.0
# Kept open when basic auth is on: the container HEALTHCHECK and liveness probes call it bare.
OPEN_PATH = "/healthz"
# exporter-toolkit answers a failed login with exactly this header (web/handler.go).
WWW_AUTHENTICATE = "Basic"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Signature = tuple[tuple[str, tuple[int, int, int] | None], ...]


class WebSecurity:
    """The web configuration in force: the listening SSL context, the auth and header middleware
    and the watcher that re-reads the file."""

    def __init__(
        self,
        config: WebConfig,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        load_timeout: float = LOAD_TIMEOUT_SECONDS,
    ) -> None:
        self.config = config
        self.poll_seconds = poll_seconds
        self.load_timeout = load_timeout
        self.auth = _basic_auth(config)
        # The context the server socket was made with; new handshakes switch to the newest one.
        self.ssl_context = config.ssl_context
        if self.ssl_context is not None:
            self.ssl_context.sni_callback = self._select_context
        self._initial = config
        self._signature = _signature(config.watched_files())

    def _select_context(
        self, ssl_object: ssl.SSLObject, server_name: str | None, listening: ssl.SSLContext
    ) -> None:
        # OpenSSL calls this for every ClientHello, with or without SNI. Switching the context
        # here gives the connection the newest certificate, key and client CA store (Go's
        # GetConfigForClient); versions, verify mode and ciphers were copied from the listening
        # context when the connection was made, so _apply keeps that one up to date too.
        current = self.config.ssl_context
        if current is not None and current is not listening:
            ssl_object.context = current

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        config, auth = self.config, self.auth
        try:
            refusal = await _refusal(request, config, auth)
            response = refusal if refusal is not None else await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(config.headers)
            raise
        response.headers.update(config.headers)
        return response

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.reload_if_changed()
            except Exception:  # the watcher must outlive any surprise; the settings stay
                log.exception("web configuration reload failed", file=self.config.path)

    async def reload_if_changed(self) -> bool:
        """Re-read the file when it or a file it names changed; True when new settings apply."""
        signature = _signature(self.config.watched_files())
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            new = await self._load()
        except ConfigError as exc:
            log.error(
                "web configuration not reloaded, keeping the previous one",
                file=self.config.path,
                error=str(exc),
            )
            return False
        self._apply(new)
        self._signature = _signature(new.watched_files())
        for warning in new.warnings:
            log.warning("web configuration", detail=warning)
        log.info("web configuration reloaded", file=new.path, **describe(new))
        return True

    async def _load(self) -> WebConfig:
        path = self.config.path
        # Off the loop, in a daemon thread, with a deadline: see exporter.blocking.
        new = await Load(partial(load_web_config, path), "web config file", path).result(
            self.load_timeout
        )
        self._check_restart_only(new)
        return new

    def _check_restart_only(self, new: WebConfig) -> None:
        # These live in the listening context in ways that cannot be reset in place.
        old = self._initial.tls
        if (old is None) != (new.tls is None):
            raise ConfigError("tls_server_config", "turning TLS on or off needs a restart")
        if old is None or new.tls is None:
            return
        for key in ("cipher_suites", "curve"):
            if getattr(old, key) != getattr(new.tls, key):
                name = "curve_preferences" if key == "curve" else key
                raise ConfigError(f"tls_server_config.{name}", "changing it needs a restart")

    def _apply(self, new: WebConfig) -> None:
        if self.ssl_context is not None and new.tls is not None:
            apply_tls_policy(self.ssl_context, new.tls)
        self.auth = _basic_auth(new)
        self.config = new


def _basic_auth(config: WebConfig) -> BasicAuth | None:
    return BasicAuth(config.users, config.dummy_hash) if config.users else None


async def _refusal(
    request: web.Request, config: WebConfig, auth: BasicAuth | None
) -> web.StreamResponse | None:
    """The answer when the request may not reach the handler, else None."""
    if config.tls and config.tls.client_allowed_sans and not _san_allowed(request, config):
        return _text(403, "Forbidden")
    if (
        auth is not None
        and request.path != OPEN_PATH
        and not await auth.check(request.headers.get("Authorization"))
    ):
        response = _text(401, "Unauthorized")
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response
    return None


def _san_allowed(request: web.Request, config: WebConfig) -> bool:
    assert config.tls is not None and config.tls.client_allowed_sans is not None
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    return peer_san_allowed(cert, config.tls.client_allowed_sans)


def _signature(paths: tuple[str, ...]) -> Signature:
    out: list[tuple[str, tuple[int, int, int] | None]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((path, None))
        else:
            # The inode catches Kubernetes' symlink swap of a mounted secret.
            out.append((path, (st.st_mtime_ns, st.st_size, st.st_ino)))
    return tuple(out)


def _text(status: int, text: str) -> web.Response:
    # The same body Go's http.Error writes.
    return web.Response(status=status, text=text + "\n")
