"""The validated configuration: frozen objects, compared field by field on reload.

Only data and what is read off it (a summary, the planned weight); building them from YAML is
``parse``'s, their signers are built by ``accounts`` and their weights reckoned by ``plan``.
Secrets are wrapped in ``Secret`` so no repr, log or error shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from exporter.binance.signing import Signer
from exporter.config.plan import keepalive_weight, planned_weight
from exporter.redaction import redact_url
from exporter.stream.config import MarketStreamSettings, StreamSettings

# Data older than this many of its collector's intervals is stale (unless stale_after_seconds).
STALE_INTERVALS = 3.0


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class CollectorEntry:
    """One collector of an account and how often it polls (resolved at load)."""

    name: str
    interval_seconds: float
    # No interval of its own: it follows the poll interval (and ``auto`` may stretch it).
    follows_poll: bool = True


@dataclass(frozen=True)
class AccountConfig:
    name: str
    api_key: Secret
    api_secret: Secret | None
    private_key_pem: Secret | None
    collectors: tuple[CollectorEntry, ...]
    # Built once, at load, from the secret or key above (which decide equality on reload); its
    # repr never shows key material.
    signer: Signer = field(compare=False, repr=False)
    user_data_stream: bool = False  # exporter.stream: push events besides the polls
    # exporter.stream.market: the process's mark price streams (one per market, shared by every
    # account); not compared, as a change polls nothing: the streams follow it on their own.
    market_stream: bool = field(default=False, compare=False)
    # accounts[].shard: the shard that owns the account whatever its hash (None: the hash).
    shard: int | None = field(default=None, compare=False)

    @property
    def collector_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.collectors)

    def weight_per_minute(self) -> float:
        return planned_weight((self,))


@dataclass(frozen=True, repr=False)
class ClientSettings:
    """What the API client and the clock are built from: a change needs a new client."""

    base_url: str
    time_url: str
    request_timeout_seconds: float
    recv_window_ms: int
    max_response_bytes: int

    def __repr__(self) -> str:
        # The dataclass repr, with the URLs' passwords hidden like everywhere else.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["base_url"] = redact_url(self.base_url)
        shown["time_url"] = redact_url(self.time_url)
        return f"ClientSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


@dataclass(frozen=True)
class PollingSettings:
    """When collectors poll and how long their data counts as fresh."""

    interval_seconds: float
    interval_auto: bool
    max_weight_per_minute: int
    # Given by the user for every collector; None: 3 x each collector's own interval.
    stale_after_seconds: float | None = None

    def stale_after(self, entry: CollectorEntry) -> float:
        if self.stale_after_seconds is not None:
            return self.stale_after_seconds
        return STALE_INTERVALS * entry.interval_seconds


@dataclass(frozen=True, repr=False)
class SapiSettings:
    """The SAPI host (``api.binance.com``) and what is polled there once per process."""

    base_url: str = "https://api.binance.com"
    max_weight_per_minute: int = 1200
    # The collateral_rate poll: off by default; its interval when on.
    collateral_rate: bool = False
    collateral_rate_interval_seconds: float = 3600.0

    def __repr__(self) -> str:
        return (
            f"SapiSettings(base_url={redact_url(self.base_url)!r}, "
            f"max_weight_per_minute={self.max_weight_per_minute}, "
            f"collateral_rate={self.collateral_rate}, "
            f"collateral_rate_interval_seconds={self.collateral_rate_interval_seconds:g})"
        )


@dataclass(frozen=True)
class PositionSettings:
    include_zero: bool = False


@dataclass(frozen=True)
class Config:
    client: ClientSettings
    polling: PollingSettings
    positions: PositionSettings
    accounts: tuple[AccountConfig, ...]
    stream: StreamSettings = field(default_factory=StreamSettings)
    market_stream: MarketStreamSettings = field(default_factory=MarketStreamSettings)
    sapi: SapiSettings = field(default_factory=SapiSettings)
    # Every account in the file; ``accounts`` holds those this replica's shard owns.
    accounts_configured: int = field(default=0, compare=False)
    # Non-fatal findings (loose secret file permissions) for the caller to log.
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # Secret files --config.skip-secrets passed over ("<key path>: <file>: <why>").
    skipped_secrets: tuple[str, ...] = field(default=(), compare=False)

    def planned_weight_per_minute(self) -> float:
        return planned_weight(self.accounts) + keepalive_weight(self.stream, self.accounts)

    def summary(self) -> str:
        polling = self.polling
        interval = f"{polling.interval_seconds:g}s" + (" (auto)" if polling.interval_auto else "")
        stale = (
            f"{polling.stale_after_seconds:g}s"
            if polling.stale_after_seconds is not None
            else f"{STALE_INTERVALS:g} x each collector's interval"
        )
        lines = [
            f"base_url: {redact_url(self.client.base_url)}",
            f"poll interval: {interval}, stale after {stale}",
            f"planned weight: {self.planned_weight_per_minute():g}/min "
            f"(budget {polling.max_weight_per_minute}/min)",
            f"accounts: {len(self.accounts)}",
        ]
        if self.sapi.collateral_rate:
            lines.insert(
                -1,
                f"collateral_rate: every {self.sapi.collateral_rate_interval_seconds:g}s on "
                f"{redact_url(self.sapi.base_url)} (budget {self.sapi.max_weight_per_minute}/min)",
            )
        for acc in self.accounts:
            signing = "hmac" if acc.api_secret is not None else "private key"
            collectors = ", ".join(f"{c.name} {c.interval_seconds:g}s" for c in acc.collectors)
            stream = ", user data stream" if acc.user_data_stream else ""
            stream += ", market streams" if acc.market_stream else ""
            lines.append(
                f"  - {acc.name}: {signing}, {acc.weight_per_minute():g} weight/min, "
                f"collectors {collectors}{stream}"
            )
        return "\n".join(lines)
