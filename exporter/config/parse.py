"""From the YAML mapping to a validated ``Config``: ${VAR} expansion, the keys, the accounts.

The package's entry point, and the one place that knows which keys a config file has: it reads
them with the typed getters of ``exporter.validation`` and hands each part to its owner (the key
material to ``accounts``, the stream keys to ``exporter.stream.config``, the weights to ``plan``,
the shard's choice of accounts to ``exporter.sharding``). Every mistake is one ``ConfigError``
naming the key path and the value at fault, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from exporter.collectors import COLLECTORS, DEFAULT_COLLECTORS
from exporter.collectors import _collateral_rate as collateral_rate
from exporter.config.accounts import SecretFiles, api_key, signing_key
from exporter.config.model import (
    AccountConfig,
    ClientSettings,
    CollectorEntry,
    Config,
    PollingSettings,
    PositionSettings,
    SapiSettings,
)
from exporter.config.plan import (
    BINANCE_WEIGHT_LIMIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SAPI_MAX_WEIGHT,
    SAPI_WEIGHT_LIMIT,
    Wanted,
    auto_interval,
    check_budget,
    check_sapi_budget,
    check_stale,
    fixed_interval,
    follows_poll,
    keepalive_weight,
    planned_weight,
    split_weight,
)
from exporter.files import read_yaml
from exporter.sharding import MAX_SHARDS, UNSHARDED, Shard
from exporter.stream import config as stream_config
from exporter.validation import (
    ConfigError,
    flag,
    integer,
    join,
    mapping,
    number,
    reject_unknown,
    type_name,
    url,
)

# Binance's documented ceiling for recvWindow.
MAX_RECV_WINDOW_MS = 60_000
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
ENV_RE = re.compile(r"\$\{([^}]*)\}")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TOP_KEYS = {
    "base_url",
    "time_url",
    "poll_interval_seconds",
    "auto_interval_min_seconds",
    "request_timeout_seconds",
    "recv_window_ms",
    "stale_after_seconds",
    "positions",
    "collectors",
    "max_weight_per_minute",
    "max_response_bytes",
    "accounts",
    "sapi_base_url",
    "sapi_max_weight_per_minute",
    "collateral_rate",
    *stream_config.TOP_KEYS,
}
ACCOUNT_KEYS = {
    "name",
    "api_key",
    "api_key_file",
    "api_secret",
    "api_secret_file",
    "private_key",
    "private_key_file",
    "collectors",
    *stream_config.ACCOUNT_KEYS,
    "shard",
}


def load_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    shard: Shard | None = None,
    *,
    planning: bool = False,
    skip_secrets: bool = False,
) -> Config:
    """Read and validate a config file; raises ConfigError on any mistake."""
    raw = read_yaml(path, "config file")
    env = env if env is not None else os.environ
    return parse_config(raw, env, shard, planning=planning, skip_secrets=skip_secrets)


def parse_config(
    raw: Any,
    env: Mapping[str, str],
    shard: Shard | None = None,
    *,
    planning: bool = False,
    skip_secrets: bool = False,
) -> Config:
    """The validated config; with ``shard``, only the accounts that shard owns are kept.

    ``planning`` (``--config.plan``): every account, at the interval the file gives (``auto``:
    its floor), and no budget check, since the plan is what tells how many shards it takes.
    ``skip_secrets`` (``--config.skip-secrets``): a secret file that cannot be read is listed in
    ``skipped_secrets`` instead of refused; such a config only checks and plans.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("", f"the config must be a mapping, not {type_name(raw)}")
    raw = _expand_env(raw, "", env)
    reject_unknown(raw, TOP_KEYS, "")
    client = ClientSettings(
        base_url=url(raw, "base_url", "https://papi.binance.com"),
        time_url=url(raw, "time_url", "https://fapi.binance.com/fapi/v1/time"),
        request_timeout_seconds=number(raw, "request_timeout_seconds", 10, lo=0.1, hi=300),
        recv_window_ms=integer(raw, "recv_window_ms", 5000, lo=1, hi=MAX_RECV_WINDOW_MS),
        max_response_bytes=integer(
            raw, "max_response_bytes", 32 * 1024 * 1024, lo=1024, hi=1 << 31
        ),
    )
    positions = _positions(raw)
    default_collectors = _collectors(raw.get("collectors", list(DEFAULT_COLLECTORS)), "collectors")
    files = SecretFiles(skip_unreadable=skip_secrets)
    stream = stream_config.parse_stream_settings(raw)
    market = stream_config.parse_market_stream_settings(raw)
    configured = _accounts(raw.get("accounts"), default_collectors, files, stream, market, shard)
    # The shard's own accounts (planned and polled); without sharding, one shard's, so that a pin
    # is checked there too. The plan weighs every account, pinned anywhere.
    if shard is not None or not planning:
        owned = (shard or UNSHARDED).select(configured)
    else:
        owned = tuple(configured)
    parsed = [p for p in owned if isinstance(p, _ParsedAccount)]
    # Each streamed account's keepalives come off the budget before the collectors plan.
    keepalives = keepalive_weight(stream, (p.config for p in parsed))
    polling, accounts = _polling(raw, parsed, keepalives, budgeted=not planning)
    return Config(
        client,
        polling,
        positions,
        accounts,
        stream,
        market,
        _sapi(raw),
        len(configured),
        tuple(files.warnings),
        tuple(files.skipped),
    )


def _sapi(raw: dict) -> SapiSettings:
    """The SAPI host, its budget, and the process-wide collateral_rate poll.

    ``collateral_rate: true`` polls at its default interval, ``collateral_rate:
    {interval_seconds: N}`` at its own; absent or false, it is off. A top-level key rather than
    an entry of ``collectors``: it is polled once per process, not per account.
    """
    budget = integer(
        raw, "sapi_max_weight_per_minute", DEFAULT_SAPI_MAX_WEIGHT, lo=1, hi=SAPI_WEIGHT_LIMIT
    )
    base_url = url(raw, "sapi_base_url", SapiSettings.base_url)
    value = raw.get("collateral_rate", False)
    interval = collateral_rate.DEFAULT_INTERVAL_SECONDS
    where = "collateral_rate"
    if isinstance(value, dict):
        reject_unknown(value, {"interval_seconds"}, where)
        if "interval_seconds" in value:
            where = "collateral_rate.interval_seconds"
            interval = number(value, "interval_seconds", interval, lo=1, where=where)
        enabled = True
    elif isinstance(value, bool):
        enabled = value
    else:
        raise ConfigError(
            where,
            f"must be true, false or a mapping with interval_seconds, not {type_name(value)}",
        )
    if enabled:
        check_sapi_budget(collateral_rate.WEIGHT, interval, budget, where)
    return SapiSettings(base_url, budget, enabled, interval)


def _positions(raw: dict) -> PositionSettings:
    positions = mapping(raw, "positions")
    reject_unknown(positions, {"include_zero"}, "positions")
    return PositionSettings(flag(positions, "include_zero", False, "positions.include_zero"))


@dataclass(frozen=True)
class _ParsedAccount:
    """An account before its collectors' intervals are resolved against the poll interval."""

    config: AccountConfig
    wanted: tuple[Wanted, ...]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def shard(self) -> int | None:
        return self.config.shard


@dataclass(frozen=True)
class _Listed:
    """An account of another shard: only what decides its shard is read."""

    name: str
    shard: int | None


def _polling(
    raw: dict, parsed: list[_ParsedAccount], keepalives: float, *, budgeted: bool = True
) -> tuple[PollingSettings, tuple[AccountConfig, ...]]:
    """The poll interval (chosen, with ``auto``), every collector's interval and the budget check
    (unless not ``budgeted``: ``auto`` then stays at its floor).

    The plan is the sum over accounts and collectors of weight x polls per minute.
    """
    auto = raw.get("poll_interval_seconds") == "auto"
    interval = DEFAULT_POLL_INTERVAL if auto else number(raw, "poll_interval_seconds", 15, lo=1)
    auto_min = number(raw, "auto_interval_min_seconds", DEFAULT_POLL_INTERVAL, lo=1)
    budget = integer(raw, "max_weight_per_minute", 3000, lo=1, hi=BINANCE_WEIGHT_LIMIT)
    following, fixed = split_weight((w for p in parsed for w in p.wanted), keepalives)
    if auto:
        interval = auto_interval(following, fixed, budget, auto_min) if budgeted else auto_min
    accounts = tuple(_resolved(p, interval) for p in parsed)
    if budgeted:
        check_budget(planned_weight(accounts) + keepalives, budget, following, fixed)
    stale = raw.get("stale_after_seconds")
    if stale is not None:
        stale = number(raw, "stale_after_seconds", 0, lo=1)
        check_stale(stale, accounts)
    return PollingSettings(interval, auto, budget, stale), accounts


def _resolved(parsed: _ParsedAccount, interval: float) -> AccountConfig:
    entries = tuple(
        CollectorEntry(name, interval, True)
        if follows_poll(name, every)
        else CollectorEntry(name, fixed_interval(name, every), False)
        for name, every in parsed.wanted
    )
    return replace(parsed.config, collectors=entries)


def _accounts(
    raw: Any,
    default_collectors: tuple[Wanted, ...],
    files: SecretFiles,
    stream: stream_config.StreamSettings,
    market: stream_config.MarketStreamSettings,
    shard: Shard | None,
) -> list[_ParsedAccount | _Listed]:
    if raw is None:
        raise ConfigError("accounts", "at least one account is required")
    if not isinstance(raw, list):
        raise ConfigError("accounts", f"must be a list, not {type_name(raw)}")
    if not raw:
        raise ConfigError("accounts", "at least one account is required")
    seen: set[str] = set()
    out: list[_ParsedAccount | _Listed] = []
    for i, item in enumerate(raw):
        path = f"accounts[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, f"must be a mapping, not {type_name(item)}")
        reject_unknown(item, ACCOUNT_KEYS, path)
        name = _account_name(item, path, seen)
        seen.add(name)
        listed = _Listed(name, _shard_pin(item, path))
        if shard is not None and shard.of(listed) != shard.index:
            # Another shard's: its key files are not read, so a shard's Secret may hold only
            # the keys of its own accounts.
            out.append(listed)
            continue
        key = api_key(item, path, files)
        api_secret, private_key, signer = signing_key(item, path, files)
        wanted = (
            _collectors(item["collectors"], f"{path}.collectors")
            if "collectors" in item
            else default_collectors
        )
        account = AccountConfig(
            name,
            key,
            api_secret,
            private_key,
            (),
            signer,
            stream_config.account_streams(item, path, stream),
            stream_config.account_market_stream(item, path, market),
            shard=listed.shard,
        )
        out.append(_ParsedAccount(account, wanted))
    return out


def _shard_pin(item: dict, path: str) -> int | None:
    pin = item.get("shard")
    if pin is None:
        return None
    if isinstance(pin, bool) or not isinstance(pin, int) or pin < 0:
        raise ConfigError(f"{path}.shard", f"must be a shard index (0, 1, ...), not {pin!r}")
    if pin >= MAX_SHARDS:
        raise ConfigError(f"{path}.shard", f"{pin} is above {MAX_SHARDS - 1}, the last shard")
    return pin


def _account_name(item: dict, path: str, seen: set[str]) -> str:
    name = item.get("name")
    if name is None:
        raise ConfigError(f"{path}.name", "is required")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(f"{path}.name", f"{name!r} must match [A-Za-z0-9_.-]+")
    if name in seen:
        raise ConfigError(f"{path}.name", f"duplicate account name {name!r}")
    return name


def _collectors(raw: Any, path: str) -> tuple[Wanted, ...]:
    """Collector entries: a name, or ``{name: ..., interval_seconds: ...}``."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, f"must be a non-empty list of collectors, not {raw!r}")
    out: list[Wanted] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        name, every = _collector_entry(item, where)
        if name in (n for n, _ in out):
            raise ConfigError(where, f"collector {name!r} is listed twice")
        out.append((name, every))
    return tuple(out)


def _collector_entry(item: Any, where: str) -> Wanted:
    every: float | None = None
    if isinstance(item, dict):
        reject_unknown(item, {"name", "interval_seconds"}, where)
        if "name" not in item:
            raise ConfigError(f"{where}.name", "is required")
        if "interval_seconds" in item:
            every = number(item, "interval_seconds", 0, lo=1, where=f"{where}.interval_seconds")
        item = item["name"]
        where = f"{where}.name"
    if not isinstance(item, str) or item not in COLLECTORS:
        known = ", ".join(COLLECTORS)
        raise ConfigError(where, f"unknown collector {item!r} (known: {known})")
    return item, every


def _expand_env(value: Any, path: str, env: Mapping[str, str]) -> Any:
    """Replace ${VAR} in every string; an unset variable is an error naming it."""
    if isinstance(value, str):
        return ENV_RE.sub(lambda m: _lookup(m.group(1), path, env), value)
    if isinstance(value, dict):
        return {k: _expand_env(v, join(path, str(k)), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


def _lookup(name: str, path: str, env: Mapping[str, str]) -> str:
    if not ENV_NAME_RE.match(name):
        raise ConfigError(path, f"invalid environment variable reference ${{{name}}}")
    if name not in env:
        raise ConfigError(path, f"environment variable {name} is not set")
    return env[name]
