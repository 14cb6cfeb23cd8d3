"""The user data stream's configuration keys, parsed apart from the rest of the config.

``parse_config`` hands over the raw top-level mapping and each raw account mapping; what comes
back is frozen and compared on reload like everything else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from exporter.redaction import redact_url

DEFAULT_STREAM_URL = "wss://fstream.binance.com/pm/ws/"
DEFAULT_KEEPALIVE_SECONDS = 1800.0
DEFAULT_SILENCE_SECONDS = 60.0
# Binance: a listen key lives 60 minutes after its last POST or PUT. A keepalive must come well
# inside that (Binance suggests every 30 minutes); at most 50 minutes leaves room for one retry.
MAX_KEEPALIVE_SECONDS = 3000.0
# POST, PUT and DELETE /papi/v1/listenKey each weigh 1 (Binance's PM "User Data Streams").
LISTEN_KEY_WEIGHT = 1

TOP_KEYS = frozenset(
    {"user_data_stream", "stream_url", "stream_keepalive_seconds", "stream_silence_seconds"}
)
ACCOUNT_KEYS = frozenset({"user_data_stream"})


class StreamConfigError(ValueError):
    """A stream key's mistake; ``config.parse_config`` turns it into a ConfigError."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class StreamSettings:
    """The top-level stream keys: the default for accounts, where to connect, and timings."""

    enabled: bool = False  # top-level user_data_stream: accounts follow it unless they say
    url: str = DEFAULT_STREAM_URL
    keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS
    silence_seconds: float = DEFAULT_SILENCE_SECONDS

    def __repr__(self) -> str:
        return (
            f"StreamSettings(enabled={self.enabled}, url={redact_url(self.url)!r}, "
            f"keepalive_seconds={self.keepalive_seconds:g}, "
            f"silence_seconds={self.silence_seconds:g})"
        )

    def weight_per_minute(self, streams: int) -> float:
        """What ``streams`` streamed accounts add to the plan: one PUT per keepalive each.

        The POST of each (re)connection, about one a day, is left to the budget's headroom.
        """
        return streams * LISTEN_KEY_WEIGHT * 60.0 / self.keepalive_seconds


def parse_stream_settings(raw: dict[str, Any]) -> StreamSettings:
    """The top-level keys of ``raw`` (the whole config mapping) that concern the stream."""
    return StreamSettings(
        enabled=_flag(raw, "user_data_stream", False, "user_data_stream"),
        url=_ws_url(raw.get("stream_url", DEFAULT_STREAM_URL)),
        keepalive_seconds=_seconds(
            raw, "stream_keepalive_seconds", DEFAULT_KEEPALIVE_SECONDS, MAX_KEEPALIVE_SECONDS
        ),
        silence_seconds=_seconds(raw, "stream_silence_seconds", DEFAULT_SILENCE_SECONDS, None),
    )


def account_streams(raw: dict[str, Any], path: str, settings: StreamSettings) -> bool:
    """Whether the account at ``path`` (``accounts[i]``) opens the stream: its own
    ``user_data_stream`` when given (``false`` overrides a global ``true``), else the global."""
    return _flag(raw, "user_data_stream", settings.enabled, f"{path}.user_data_stream")


def streamed(accounts: Iterable[Any]) -> int:
    """How many of ``accounts`` (AccountConfig) open the stream."""
    return sum(1 for a in accounts if a.user_data_stream)


def _flag(raw: dict[str, Any], key: str, default: bool, path: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise StreamConfigError(path, f"must be true or false, not {value!r}")
    return value


def _seconds(raw: dict[str, Any], key: str, default: float, hi: float | None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StreamConfigError(key, f"must be a number, not {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite or value < 1 or (hi is not None and value > hi):
        bound = f"between 1 and {hi:g}" if hi is not None else "at least 1"
        raise StreamConfigError(key, f"{value!r} is out of range (must be {bound})")
    return float(value)


def _ws_url(value: Any) -> str:
    if not isinstance(value, str):
        raise StreamConfigError("stream_url", f"must be a ws(s) URL string, not {value!r}")
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise StreamConfigError("stream_url", f"{redact_url(value)!r} is not a ws(s) URL") from None
    if parts.scheme not in ("ws", "wss") or not parts.netloc or parts.query or parts.fragment:
        raise StreamConfigError(
            "stream_url", f"{redact_url(value)!r} is not a ws(s) URL (the listen key is appended)"
        )
    # The socket is stream_url + listen key: make sure a path separator comes before the key.
    return value if value.endswith("/") else value + "/"
