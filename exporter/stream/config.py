"""The stream configuration keys (the user data stream's and the market streams'), parsed apart
from the rest of the config.

``parse_config`` hands over the raw top-level mapping and each raw account mapping; what comes
back is frozen and compared on reload like everything else. A mistake is the one ``ConfigError``,
at its key path. What the keepalives weigh is reckoned with the rest of the plan
(``exporter.config.plan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.redaction import redact_url
from exporter.validation import flag, number, ws_stream_url, ws_url

DEFAULT_STREAM_URL = "wss://fstream.binance.com/pm/ws/"
DEFAULT_KEEPALIVE_SECONDS = 1800.0
DEFAULT_SILENCE_SECONDS = 60.0
# Binance: a listen key lives 60 minutes after its last POST or PUT. A keepalive must come well
# inside that (Binance suggests every 30 minutes); at most 50 minutes leaves room for one retry.
MAX_KEEPALIVE_SECONDS = 3000.0

# Binance's all-market mark price streams, every second. USDⓈ-M routes mark prices through
# /market only: on its bare /ws path the same stream connects and delivers nothing.
DEFAULT_UM_MARKET_STREAM_URL = "wss://fstream.binance.com/market/ws/!markPrice@arr@1s"
DEFAULT_CM_MARKET_STREAM_URL = "wss://dstream.binance.com/ws/!markPrice@arr@1s"

TOP_KEYS = frozenset(
    {
        "user_data_stream",
        "stream_url",
        "stream_keepalive_seconds",
        "stream_silence_seconds",
        "market_stream",
        "um_market_stream_url",
        "cm_market_stream_url",
    }
)
ACCOUNT_KEYS = frozenset({"user_data_stream", "market_stream"})


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


def parse_stream_settings(raw: dict[str, Any]) -> StreamSettings:
    """The top-level keys of ``raw`` (the whole config mapping) that concern the stream."""
    return StreamSettings(
        enabled=flag(raw, "user_data_stream", False),
        url=ws_url(raw, "stream_url", DEFAULT_STREAM_URL),
        keepalive_seconds=number(
            raw,
            "stream_keepalive_seconds",
            DEFAULT_KEEPALIVE_SECONDS,
            lo=1,
            hi=MAX_KEEPALIVE_SECONDS,
        ),
        silence_seconds=number(raw, "stream_silence_seconds", DEFAULT_SILENCE_SECONDS, lo=1),
    )


def account_streams(raw: dict[str, Any], path: str, settings: StreamSettings) -> bool:
    """Whether the account at ``path`` (``accounts[i]``) opens the stream: its own
    ``user_data_stream`` when given (``false`` overrides a global ``true``), else the global."""
    return flag(raw, "user_data_stream", settings.enabled, f"{path}.user_data_stream")


@dataclass(frozen=True)
class MarketStreamSettings:
    """The market stream keys: the default for accounts and each market's stream URL."""

    enabled: bool = False  # top-level market_stream: accounts follow it unless they say
    um_url: str = DEFAULT_UM_MARKET_STREAM_URL
    cm_url: str = DEFAULT_CM_MARKET_STREAM_URL

    def __repr__(self) -> str:
        return (
            f"MarketStreamSettings(enabled={self.enabled}, um_url={redact_url(self.um_url)!r}, "
            f"cm_url={redact_url(self.cm_url)!r})"
        )


def parse_market_stream_settings(raw: dict[str, Any]) -> MarketStreamSettings:
    """The top-level keys of ``raw`` (the whole config mapping) that concern the market streams."""
    return MarketStreamSettings(
        enabled=flag(raw, "market_stream", False),
        um_url=ws_stream_url(raw, "um_market_stream_url", DEFAULT_UM_MARKET_STREAM_URL),
        cm_url=ws_stream_url(raw, "cm_market_stream_url", DEFAULT_CM_MARKET_STREAM_URL),
    )


def account_market_stream(raw: dict[str, Any], path: str, settings: MarketStreamSettings) -> bool:
    """Whether the account at ``path`` wants the market streams' marks: its own
    ``market_stream`` when given (``false`` overrides a global ``true``), else the global."""
    return flag(raw, "market_stream", settings.enabled, f"{path}.market_stream")
