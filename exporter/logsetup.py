"""structlog in logfmt or JSON; library loggers that could print signed URLs are kept quiet."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("logfmt", "json")


# Fields on every line of this process (the shard: which replica said it, in a merged stream).
_BOUND: dict[str, object] = {}


def bind(**fields: object) -> None:
    """Put ``fields`` on every later log line."""
    _BOUND.update(fields)


def _add_bound(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in _BOUND.items():
        event.setdefault(key, value)
    return event


def configure(level: str = "info", fmt: str = "logfmt") -> None:
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.processors.LogfmtRenderer(key_order=["ts", "level", "event"])
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            _add_bound,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # httpx and httpcore log every request line (with its query string, hence the signature)
    # at INFO/DEBUG; the access log would echo scrapers' URLs. Only their warnings get through.
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="level=%(levelname)s logger=%(name)s event=%(message)r",
        force=True,
    )
    for name in ("httpx", "httpcore", "aiohttp.access", "hpack"):
        logging.getLogger(name).setLevel(logging.WARNING)
