"""The mixin's one source of thresholds, selectors and alert durations.

Rules, alerts and dashboards are all generated from a ``MixinConfig``: change a threshold here
(or in a YAML file given to ``python -m mixin --config``) and regenerate, and every rule, alert
description and dashboard band follows.

Per-account thresholds: ``account_overrides`` lists groups of accounts with their own values.
Each threshold alert is then generated once for the accounts of each group
(``account=~"desk2|desk3"``) and once for every other account (``account!~"desk2|desk3"``), so an
account is judged by exactly one threshold and the threshold stays a literal in the expression and
the description.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter import bands

# The exporter's rule for account names (README, Configuration): they are also safe in a regex once
# the dot is escaped.
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]+")
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")

# Binance's uniMMR levels and the alerts' default thresholds live in the exporter package
# (exporter/bands.py), which the landing page colours by: the dashboards draw Binance's bands, the
# alerts use ``Thresholds``, whose defaults are the exporter's bands.
# Binance's request-weight limit per IP and minute (PAPI "LIMITS" section).
BINANCE_WEIGHT_LIMIT_PER_MINUTE = 6000


class MixinConfigError(ValueError):
    """A mistake in a mixin config file; the message starts with the key path."""


@dataclass(frozen=True)
class Thresholds:
    """The values the risk alerts compare against; overridable per account."""

    uni_mmr_warning: float = bands.UNI_MMR_WARNING
    uni_mmr_critical: float = bands.UNI_MMR_CRITICAL
    uni_mmr_liquidation: float = bands.UNI_MMR_LIQUIDATION
    margin_ratio_warning: float = 0.5
    margin_ratio_critical: float = 0.8
    liquidation_distance_warning: float = bands.LIQUIDATION_DISTANCE_WARNING
    liquidation_distance_critical: float = bands.LIQUIDATION_DISTANCE_CRITICAL
    # BinancePMCrossMarginInterestHigh: how much the cross margin interest Binance reports owed on
    # one asset (crossMarginInterest) may grow per hour, in units of that asset. 1 USDT an hour is
    # about the interest on an 88,000 USDT loan at 10% a year.
    cross_margin_interest_per_hour: float = 1.0


@dataclass(frozen=True)
class AccountOverride:
    """Accounts judged by their own thresholds; ``thresholds`` lists only what differs."""

    accounts: tuple[str, ...]
    thresholds: Mapping[str, float]


# Every alert and how long its condition must hold before it fires. The critical risk alerts
# (reduce-only, liquidation near, liquidating) fire at once: with the recommended intervals
# (README, "Alerting": poll and scrape 15 s, evaluation 5 s, critical group_wait 0 s) a page
# then leaves within poll + scrape + 10 s of Binance's number crossing, and a `for` would add
# itself to that. The cost is a page for a dip that a single poll saw (docs/runbook.md).
DEFAULT_FOR: dict[str, str] = {
    "BinancePMUniMMRLow": "5m",
    "BinancePMUniMMRReduceOnly": "0m",
    "BinancePMUniMMRNearLiquidation": "0m",
    "BinancePMAccountMarginCall": "5m",
    "BinancePMAccountReduceOnly": "0m",
    "BinancePMAccountLiquidation": "0m",
    "BinancePMAccountStatusUnknown": "1m",
    "BinancePMUMMarginRatioHigh": "5m",
    "BinancePMUMMarginRatioCritical": "1m",
    "BinancePMPositionNearLiquidation": "5m",
    "BinancePMPositionLiquidationImminent": "0m",
    "BinancePMNegativeBalance": "15m",
    "BinancePMCrossMarginInterestHigh": "15m",
    "BinancePMPositionADLFirstInLine": "5m",
    "BinancePMPositionADLQuantileHigh": "15m",
    # Forced orders are events: they fire on the order itself.
    "BinancePMForcedLiquidationOrder": "0m",
    "BinancePMForcedADLOrder": "0m",
    # A haircut change is a step: the alert holds for the hour its window remembers the old rate.
    "BinancePMCollateralRateDropped": "0m",
    "BinancePMExporterDown": "5m",
    "BinancePMExporterAccountDown": "5m",
    "BinancePMExporterNoRecentSuccess": "0m",
    "BinancePMExporterPollErrors": "15m",
    "BinancePMExporterAuthErrors": "0m",
    "BinancePMExporterAPIWeightHigh": "5m",
    "BinancePMExporterClockOffset": "15m",
    "BinancePMExporterFileDescriptorsHigh": "10m",
    "BinancePMExporterReloadRefused": "5m",
    # The user data stream's events: they fire on the event itself, however brief the dip.
    "BinancePMForceLiquidationEvent": "0m",
    "BinancePMRiskLevelEvent": "0m",
    "BinancePMUniMMRDropEvent": "0m",
    "BinancePMExporterStreamDown": "5m",
    # A rollout restarts shards one by one: a shard is briefly missing, counts briefly differ.
    "BinancePMExporterShardMissing": "5m",
    "BinancePMExporterShardCountMismatch": "15m",
    "BinancePMExporterAccountsUnowned": "10m",
}


@dataclass(frozen=True)
class MixinConfig:
    # PromQL label matchers that select this exporter's series, in every rule, alert and panel.
    job_selector: str = 'job="binance-pm-exporter"'
    thresholds: Thresholds = Thresholds()
    account_overrides: tuple[AccountOverride, ...] = ()
    for_durations: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FOR))
    # BinancePMExporterNoRecentSuccess: seconds without a successful poll of an account.
    no_success_seconds: int = 300
    # BinancePMExporterPollErrors: failed requests per minute, by account, collector and reason.
    poll_errors_per_minute: float = 1.0
    # BinancePMExporterAPIWeightHigh: share of Binance's per-IP weight limit.
    api_weight_limit: int = BINANCE_WEIGHT_LIMIT_PER_MINUTE
    api_weight_warning_ratio: float = 0.8
    # BinancePMExporterClockOffset: |Binance time - local time| in seconds.
    clock_offset_seconds: float = 1.0
    # BinancePMExporterFileDescriptorsHigh: share of the process' open files limit in use.
    fd_usage_ratio: float = 0.8
    # BinancePMForceLiquidationEvent, BinancePMRiskLevelEvent and BinancePMUniMMRDropEvent: how
    # long after a pushed event they keep firing (a Prometheus duration), even if uniMMR has
    # recovered; BinancePMForcedLiquidationOrder and BinancePMForcedADLOrder: how long after a
    # forced order.
    risk_event_window: str = "1h"
    # UM assets whose amounts are summed into the per-account USD totals: the USD-margined
    # quote assets. Other assets in the UM wallet (BTC, BNB collateral) are in their own units.
    usd_assets: tuple[str, ...] = ("USDT", "USDC")
    runbook_url: str = (
        "https://github.com/binance-pm-exporter/binance-pm-exporter/blob/main/docs/runbook.md"
    )
    dashboard_uid_prefix: str = "binance-pm"
    dashboard_tags: tuple[str, ...] = ("binance-pm-exporter",)
    dashboard_refresh: str = "30s"

    def __post_init__(self) -> None:
        validate(self)

    @property
    def api_weight_warning(self) -> int:
        return round(self.api_weight_limit * self.api_weight_warning_ratio)

    def thresholds_for(self, override: AccountOverride) -> Thresholds:
        return dataclasses.replace(self.thresholds, **override.thresholds)

    def overridden_accounts(self) -> tuple[str, ...]:
        return tuple(a for o in self.account_overrides for a in o.accounts)


def validate(config: MixinConfig) -> None:
    if not isinstance(config.job_selector, str) or not config.job_selector.strip():
        raise MixinConfigError('job_selector: must be PromQL label matchers, e.g. job="pm"')
    if not config.usd_assets or not all(isinstance(a, str) for a in config.usd_assets):
        raise MixinConfigError("usd_assets: must be a list of asset names")
    unknown = set(config.for_durations) ^ set(DEFAULT_FOR)
    if unknown:
        raise MixinConfigError(f"for: unknown or missing alerts {sorted(unknown)}")
    if not DURATION.fullmatch(config.risk_event_window):
        raise MixinConfigError(
            f"risk_event_window: {config.risk_event_window!r} is not a Prometheus duration"
        )
    for name, value in config.for_durations.items():
        if not DURATION.fullmatch(value):
            raise MixinConfigError(f"for.{name}: {value!r} is not a Prometheus duration")
    _check_thresholds("thresholds", dataclasses.asdict(config.thresholds))
    seen: set[str] = set()
    for i, override in enumerate(config.account_overrides):
        path = f"account_overrides[{i}]"
        if not override.accounts:
            raise MixinConfigError(f"{path}.accounts: needs at least one account")
        for account in override.accounts:
            if not ACCOUNT_NAME.fullmatch(account):
                raise MixinConfigError(f"{path}.accounts: {account!r} is not an account name")
            if account in seen:
                raise MixinConfigError(f"{path}.accounts: {account!r} is in two overrides")
            seen.add(account)
        unknown_keys = set(override.thresholds) - {f.name for f in dataclasses.fields(Thresholds)}
        if unknown_keys:
            raise MixinConfigError(f"{path}.thresholds: unknown keys {sorted(unknown_keys)}")
        _check_thresholds(f"{path}.thresholds", dict(override.thresholds))


def _check_thresholds(path: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise MixinConfigError(f"{path}.{key}: {value!r} is not a finite number")


def from_mapping(raw: Mapping[str, Any], base: MixinConfig | None = None) -> MixinConfig:
    """A config from a YAML-shaped mapping; keys left out keep ``base``'s (default) values.

    ``thresholds`` and ``for`` may list only the values that change.
    """
    base = base or MixinConfig()
    if not isinstance(raw, Mapping):
        raise MixinConfigError("the config must be a mapping")
    changes: dict[str, Any] = {}
    scalars = {
        f.name
        for f in dataclasses.fields(MixinConfig)
        if f.name not in {"thresholds", "account_overrides", "for_durations"}
    }
    for key, value in raw.items():
        if key == "thresholds":
            changes["thresholds"] = _thresholds(base.thresholds, value, "thresholds")
        elif key == "for":
            if not isinstance(value, Mapping):
                raise MixinConfigError("for: must be a mapping of alert name to duration")
            unknown = set(value) - set(DEFAULT_FOR)
            if unknown:
                raise MixinConfigError(f"for: unknown alerts {sorted(unknown)}")
            changes["for_durations"] = {
                **base.for_durations,
                **{k: str(v) for k, v in value.items()},
            }
        elif key == "account_overrides":
            changes["account_overrides"] = tuple(_overrides(value))
        elif key in scalars:
            current = getattr(base, key)
            changes[key] = tuple(value) if isinstance(current, tuple) else value
        else:
            raise MixinConfigError(f"{key}: unknown key")
    return dataclasses.replace(base, **changes)


def _thresholds(base: Thresholds, value: Any, path: str) -> Thresholds:
    if not isinstance(value, Mapping):
        raise MixinConfigError(f"{path}: must be a mapping")
    names = {f.name for f in dataclasses.fields(Thresholds)}
    unknown = set(value) - names
    if unknown:
        raise MixinConfigError(f"{path}: unknown keys {sorted(unknown)}")
    return dataclasses.replace(base, **value)


def _overrides(value: Any) -> list[AccountOverride]:
    if not isinstance(value, list):
        raise MixinConfigError("account_overrides: must be a list")
    out = []
    for i, item in enumerate(value):
        path = f"account_overrides[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"accounts", "thresholds"}:
            raise MixinConfigError(f"{path}: needs exactly the keys accounts and thresholds")
        if not isinstance(item["accounts"], list) or not isinstance(item["thresholds"], Mapping):
            raise MixinConfigError(f"{path}: accounts is a list, thresholds a mapping")
        out.append(AccountOverride(tuple(map(str, item["accounts"])), dict(item["thresholds"])))
    return out


def load(path: str | Path, base: MixinConfig | None = None) -> MixinConfig:
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    return from_mapping(raw, base)
