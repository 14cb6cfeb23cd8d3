"""Load, expand and validate the YAML configuration into frozen objects.

Every mistake becomes one ``ConfigError`` naming the key path and the value at fault, so the CLI can
print one line and exit 2. Secrets are wrapped in ``Secret`` so no repr, log or error shows them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml

from exporter.binance.signing import HmacSigner, InvalidKeyError, Signer, signer_from_pem
from exporter.blocking import start_in_daemon_thread, thread_result
from exporter.collectors import COLLECTORS, DEFAULT_COLLECTORS
from exporter.redaction import redact_url
from exporter.sharding import Shard, ShardError
from exporter.stream import config as stream_config

# Binance's documented ceiling for recvWindow.
MAX_RECV_WINDOW_MS = 60_000
# Binance's PM REST limit per IP per minute (REQUEST_WEIGHT); the budget may not exceed it.
BINANCE_WEIGHT_LIMIT = 6000
DEFAULT_POLL_INTERVAL = 15.0
# Data older than this many of its collector's intervals is stale (unless stale_after_seconds).
STALE_INTERVALS = 3.0
# A config or web config file is a few KiB; a secret file holds one key (a 16384-bit RSA PEM is
# about 13 KiB). Only this much (plus one byte, to tell) is ever read, so /dev/zero or a huge
# file is refused at once instead of filling the memory.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_SECRET_BYTES = 64 * 1024
# Deeper nesting than any config needs; PyYAML composes recursively, so this also keeps a
# "[[[[..." file from ending in a RecursionError.
MAX_YAML_DEPTH = 32
# Reading and validating a config file, its secret files included, must end within this: a FIFO
# nobody writes or a hung mount would otherwise hold start-up, or a reload, for good.
LOAD_TIMEOUT_SECONDS = 10.0
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
ENV_RE = re.compile(r"\$\{([^}]*)\}")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration mistake, located by its key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


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
    signer: Signer = field(compare=False, repr=False, default=None)  # type: ignore[assignment]
    user_data_stream: bool = False  # exporter.stream: push events besides the polls
    # accounts[].shard: the shard that owns the account whatever its hash (None: the hash).
    shard: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.signer is None:
            object.__setattr__(self, "signer", make_signer(self.api_secret, self.private_key_pem))

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


@dataclass(frozen=True)
class PositionSettings:
    include_zero: bool = False


@dataclass(frozen=True)
class Config:
    client: ClientSettings
    polling: PollingSettings
    positions: PositionSettings
    accounts: tuple[AccountConfig, ...]
    stream: stream_config.StreamSettings = field(default_factory=stream_config.StreamSettings)
    # Every account in the file; ``accounts`` holds those this replica's shard owns.
    accounts_configured: int = field(default=0, compare=False)
    # Non-fatal findings (loose secret file permissions) for the caller to log.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def planned_weight_per_minute(self) -> float:
        streams = self.stream.weight_per_minute(stream_config.streamed(self.accounts))
        return planned_weight(self.accounts) + streams

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
        for acc in self.accounts:
            signing = "hmac" if acc.api_secret is not None else "private key"
            collectors = ", ".join(f"{c.name} {c.interval_seconds:g}s" for c in acc.collectors)
            stream = ", user data stream" if acc.user_data_stream else ""
            lines.append(
                f"  - {acc.name}: {signing}, {acc.weight_per_minute():g} weight/min, "
                f"collectors {collectors}{stream}"
            )
        return "\n".join(lines)


def planned_weight(accounts: tuple[AccountConfig, ...]) -> float:
    """Request weight per minute: each collector's weight times its polls per minute.

    Weights are summed per interval first, so one interval's plan is exactly weight x 60 / it.
    """
    per_interval: dict[float, int] = {}
    for account in accounts:
        for entry in account.collectors:
            weight = COLLECTORS[entry.name].weight
            per_interval[entry.interval_seconds] = (
                per_interval.get(entry.interval_seconds, 0) + weight
            )
    return sum(weight * 60.0 / interval for interval, weight in per_interval.items())


def load_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    shard: Shard | None = None,
) -> Config:
    """Read and validate a config file; raises ConfigError on any mistake."""
    raw = read_yaml(path, "config file")
    return parse_config(raw, env if env is not None else os.environ, shard)


def load_in_time(
    load: Callable[[], T],
    what: str,
    path: str | os.PathLike[str],
    seconds: float | None = None,
) -> T:
    """``load()`` run in a daemon thread and given up on after ``seconds`` (at start-up).

    A thread blocked in open() cannot be stopped; a daemon one does not hold the exit.
    """
    seconds = LOAD_TIMEOUT_SECONDS if seconds is None else seconds
    future = start_in_daemon_thread(load, f"load {what}")
    done, _ = concurrent.futures.wait([future], seconds)
    if not done:
        raise _not_loaded_in_time(what, path, seconds)
    return future.result()


async def loaded_in_time(
    load: concurrent.futures.Future[T], what: str, path: str | os.PathLike[str], seconds: float
) -> T:
    """The outcome of a load started with ``start_in_daemon_thread``, awaited off the loop.

    After ``seconds`` it is a ConfigError like any refused file; the thread is left behind.
    """
    try:
        async with asyncio.timeout(seconds):
            return await thread_result(load)
    except TimeoutError:
        raise _not_loaded_in_time(what, path, seconds) from None


def _not_loaded_in_time(what: str, path: str | os.PathLike[str], seconds: float) -> ConfigError:
    return ConfigError(
        "", f"{what} {path} was not read within {seconds:g} s (a FIFO, or a hung mount?)"
    )


def read_yaml(path: str | os.PathLike[str], what: str) -> Any:
    """A YAML file's content; unreadable files and bad YAML become one-line ConfigErrors."""
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError("", f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if data is None:
        raise ConfigError("", f"{what} {path} is larger than {_size(MAX_CONFIG_BYTES)}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("", f"{what} {path} is not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("", f"{path}: bad YAML{where}: {problem}") from None


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes | None:
    """At most ``limit`` bytes of a file, or None when it holds more: never the whole of it."""
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    return data if len(data) <= limit else None


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases, and with a depth limit.

    A config has no use for anchors, and an alias is what a "billion laughs" file expands: it is
    refused before anything is expanded, at the line and column of the first anchor or alias.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases are not allowed", event.start_mark
            )
        if self._depth >= MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _size(limit: int) -> str:
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"


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


def parse_config(raw: Any, env: Mapping[str, str], shard: Shard | None = None) -> Config:
    """The validated config; with ``shard``, only the accounts that shard owns are kept."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("", f"the config must be a mapping, not {_type_name(raw)}")
    raw = _expand_env(raw, "", env)
    reject_unknown(raw, TOP_KEYS, "")
    client = ClientSettings(
        base_url=_url(raw, "base_url", "https://papi.binance.com"),
        time_url=_url(raw, "time_url", "https://fapi.binance.com/fapi/v1/time"),
        request_timeout_seconds=_number(raw, "request_timeout_seconds", 10, lo=0.1, hi=300),
        recv_window_ms=_integer(raw, "recv_window_ms", 5000, lo=1, hi=MAX_RECV_WINDOW_MS),
        max_response_bytes=_integer(
            raw, "max_response_bytes", 32 * 1024 * 1024, lo=1024, hi=1 << 31
        ),
    )
    positions = _positions(raw)
    default_collectors = _collectors(raw.get("collectors", list(DEFAULT_COLLECTORS)), "collectors")
    warnings: list[str] = []
    stream = _stream_checked(stream_config.parse_stream_settings, raw)
    configured = _accounts(raw.get("accounts"), default_collectors, warnings, stream)
    parsed = _owned(configured, shard)
    # Each streamed account's keepalives come off the budget before the collectors plan.
    streams = stream.weight_per_minute(stream_config.streamed(p.config for p in parsed))
    polling, accounts = _plan(raw, parsed, streams)
    return Config(client, polling, positions, accounts, stream, len(configured), tuple(warnings))


def _positions(raw: dict) -> PositionSettings:
    positions = raw.get("positions", {})
    if positions is None:
        positions = {}
    if not isinstance(positions, dict):
        raise ConfigError("positions", f"must be a mapping, not {_type_name(positions)}")
    reject_unknown(positions, {"include_zero"}, "positions")
    include_zero = positions.get("include_zero", False)
    if not isinstance(include_zero, bool):
        raise ConfigError("positions.include_zero", f"must be true or false, not {include_zero!r}")
    return PositionSettings(include_zero)


# A collector entry as written: its name and its own interval (None: the collector's default).
_Wanted = tuple[str, float | None]


@dataclass(frozen=True)
class _ParsedAccount:
    """An account before its collectors' intervals are resolved against the poll interval."""

    config: AccountConfig
    wanted: tuple[_Wanted, ...]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def shard(self) -> int | None:
        return self.config.shard


def _plan(raw: dict, parsed: list[_ParsedAccount], streams: float) -> tuple[PollingSettings, tuple]:
    """The poll interval (chosen, with ``auto``), every collector's interval and the budget check.

    The plan is the sum over accounts and collectors of weight x polls per minute.
    """
    auto = raw.get("poll_interval_seconds") == "auto"
    interval = DEFAULT_POLL_INTERVAL if auto else _number(raw, "poll_interval_seconds", 15, lo=1)
    auto_min = _number(raw, "auto_interval_min_seconds", DEFAULT_POLL_INTERVAL, lo=1)
    budget = _integer(raw, "max_weight_per_minute", 3000, lo=1, hi=BINANCE_WEIGHT_LIMIT)
    # Weight per poll of the collectors that follow the poll interval, and weight per minute of
    # those with intervals of their own.
    following = sum(_weight(n) for p in parsed for n, every in p.wanted if _follows(n, every))
    fixed = streams + sum(
        _weight(n) * 60.0 / _fixed_interval(n, every)
        for p in parsed
        for n, every in p.wanted
        if not _follows(n, every)
    )
    if auto:
        interval = _auto_interval(following, fixed, budget, auto_min)
    accounts = tuple(_resolved(p, interval) for p in parsed)
    planned = planned_weight(accounts) + streams
    if planned > budget:
        raise ConfigError("poll_interval_seconds", _over_budget(planned, budget, following, fixed))
    stale = raw.get("stale_after_seconds")
    if stale is not None:
        stale = _number(raw, "stale_after_seconds", 0, lo=1)
        _check_stale(stale, accounts)
    return PollingSettings(interval, auto, budget, stale), accounts


def _follows(name: str, every: float | None) -> bool:
    return every is None and COLLECTORS[name].default_interval is None


def _fixed_interval(name: str, every: float | None) -> float:
    chosen = every if every is not None else COLLECTORS[name].default_interval
    assert chosen is not None
    return chosen


def _weight(name: str) -> int:
    return COLLECTORS[name].weight


def _resolved(parsed: _ParsedAccount, interval: float) -> AccountConfig:
    entries = tuple(
        CollectorEntry(name, interval, True)
        if _follows(name, every)
        else CollectorEntry(name, _fixed_interval(name, every), False)
        for name, every in parsed.wanted
    )
    return replace(parsed.config, collectors=entries)


def _over_budget(planned: float, budget: int, following: float, fixed: float) -> str:
    message = f"planned API weight {planned:g}/min exceeds max_weight_per_minute {budget}"
    if fixed >= budget:
        return (
            f"{message}; the collectors with intervals of their own alone plan {fixed:g}/min: "
            "lengthen their interval_seconds or poll fewer of them"
        )
    fit = math.ceil(following * 60.0 / (budget - fixed))
    return f"{message}; poll_interval_seconds: {fit} (or more) would fit, or set it to auto"


def _check_stale(stale: float, accounts: tuple[AccountConfig, ...]) -> None:
    for account in accounts:
        for entry in account.collectors:
            if stale < entry.interval_seconds:
                raise ConfigError(
                    "stale_after_seconds",
                    f"{stale:g} is shorter than the interval {entry.interval_seconds:g} of "
                    f"collector {entry.name} (account {account.name}); its data would vanish "
                    "between polls",
                )


# With `auto`, the plan may use this share of the budget: the rest is kept for what the plan
# cannot foresee (a retry after -1021, polls that drift across a minute boundary).
AUTO_BUDGET_SHARE = 0.9


def _auto_interval(following: float, fixed: float, budget: int, floor: float) -> float:
    """The shortest whole-second interval, not below ``floor``, whose plan fits the budget.

    Only the collectors that follow the poll interval are stretched; the weight per minute of
    the others is taken off the budget first.
    """
    room = budget * AUTO_BUDGET_SHARE - fixed
    if following == 0:
        return floor
    if room <= 0:
        raise ConfigError(
            "poll_interval_seconds",
            f"auto: the collectors with intervals of their own alone plan {fixed:g}/min, more "
            f"than {AUTO_BUDGET_SHARE:.0%} of max_weight_per_minute {budget}",
        )
    return float(max(floor, math.ceil(following * 60.0 / room)))


def _accounts(
    raw: Any,
    default_collectors: tuple[_Wanted, ...],
    warnings: list[str],
    stream: stream_config.StreamSettings,
) -> list[_ParsedAccount]:
    if raw is None:
        raise ConfigError("accounts", "at least one account is required")
    if not isinstance(raw, list):
        raise ConfigError("accounts", f"must be a list, not {_type_name(raw)}")
    if not raw:
        raise ConfigError("accounts", "at least one account is required")
    seen: set[str] = set()
    out = []
    for i, item in enumerate(raw):
        path = f"accounts[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, f"must be a mapping, not {_type_name(item)}")
        reject_unknown(item, ACCOUNT_KEYS, path)
        name = _account_name(item, path, seen)
        seen.add(name)
        api_key = _secret(item, path, "api_key", warnings)
        if api_key is None:
            raise ConfigError(f"{path}.api_key", "is required (api_key or api_key_file)")
        api_secret, private_key, signer = _signing_key(item, path, warnings)
        wanted = (
            _collectors(item["collectors"], f"{path}.collectors")
            if "collectors" in item
            else default_collectors
        )
        streams = _stream_checked(stream_config.account_streams, item, path, stream)
        account = AccountConfig(
            name,
            api_key,
            api_secret,
            private_key,
            (),
            signer,
            streams,
            shard=_shard_pin(item, path),
        )
        out.append(_ParsedAccount(account, wanted))
    return out


def _stream_checked(parse: Callable[..., T], *args: Any) -> T:
    """A stream key's parse, its mistake as a ConfigError at its key path."""
    try:
        return parse(*args)
    except stream_config.StreamConfigError as exc:
        raise ConfigError(exc.path, str(exc)) from None


def _shard_pin(item: dict, path: str) -> int | None:
    pin = item.get("shard")
    if pin is None:
        return None
    if isinstance(pin, bool) or not isinstance(pin, int) or pin < 0:
        raise ConfigError(f"{path}.shard", f"must be a shard index (0, 1, ...), not {pin!r}")
    return pin


def _owned(accounts: list[_ParsedAccount], shard: Shard | None) -> list[_ParsedAccount]:
    """Every account without sharding; the shard's own (planned and polled) with it."""
    if shard is None:
        return accounts
    try:
        return list(shard.select(accounts))
    except ShardError as exc:
        raise ConfigError(exc.path, exc.message) from None


def _account_name(item: dict, path: str, seen: set[str]) -> str:
    name = item.get("name")
    if name is None:
        raise ConfigError(f"{path}.name", "is required")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(f"{path}.name", f"{name!r} must match [A-Za-z0-9_.-]+")
    if name in seen:
        raise ConfigError(f"{path}.name", f"duplicate account name {name!r}")
    return name


def _signing_key(
    item: dict, path: str, warnings: list[str]
) -> tuple[Secret | None, Secret | None, Signer]:
    """The HMAC secret or the private key (exactly one of them), checked, and its signer."""
    api_secret = _secret(item, path, "api_secret", warnings)
    private_key, key_path, source = _private_key(item, path, warnings)
    if api_secret is not None and private_key is not None:
        raise ConfigError(key_path, "give either an API secret or a private key, not both")
    if api_secret is None and private_key is None:
        raise ConfigError(
            f"{path}.api_secret",
            "is required (api_secret, api_secret_file, private_key or private_key_file)",
        )
    if private_key is not None:
        return None, private_key, _private_key_signer(private_key, key_path, source)
    assert api_secret is not None
    return api_secret, None, HmacSigner(api_secret.reveal())


def _private_key(item: dict, path: str, warnings: list[str]) -> tuple[Secret | None, str, str]:
    """The PEM inline (``private_key``) or from its file, its key path and where it came from."""
    inline = item.get("private_key")
    if inline is None:
        where = f"{path}.private_key_file"
        key = _secret_file(item, path, "private_key_file", warnings, strip=False)
        return key, where, str(item.get("private_key_file", ""))
    where = f"{path}.private_key"
    if "private_key_file" in item:
        raise ConfigError(
            f"{path}.private_key_file", "give either private_key or private_key_file, not both"
        )
    if not isinstance(inline, str) or not inline.strip():
        raise ConfigError(where, f"must be a PEM string, not {_type_name(inline)}")
    return Secret(inline), where, "the inline key"


def make_signer(api_secret: Secret | None, private_key_pem: Secret | None) -> Signer:
    """The account's signer: HMAC from the secret, or RSA/Ed25519 from the private key."""
    if api_secret is not None:
        return HmacSigner(api_secret.reveal())
    if private_key_pem is None:
        raise ValueError("an account needs an API secret or a private key")
    return signer_from_pem(private_key_pem.reveal().encode())


def _private_key_signer(pem: Secret, path: str, source: str) -> Signer:
    """The key parsed once, at load: its signer, or a config error naming the file."""
    try:
        return signer_from_pem(pem.reveal().encode())
    except InvalidKeyError as exc:
        raise ConfigError(path, f"{source}: {exc}") from None


def _secret(item: dict, path: str, key: str, warnings: list[str]) -> Secret | None:
    """An API key or HMAC secret, inline or from its file, stripped and checked."""
    inline, file_key = item.get(key), f"{key}_file"
    if inline is not None and file_key in item:
        raise ConfigError(f"{path}.{file_key}", f"give either {key} or {file_key}, not both")
    if inline is not None:
        if not isinstance(inline, str):
            raise ConfigError(f"{path}.{key}", f"must be a string, not {_type_name(inline)}")
        if not inline.strip():
            raise ConfigError(f"{path}.{key}", "is empty")
        secret = Secret(inline.strip())
        _check_key_characters(secret, f"{path}.{key}", "")
        return secret
    from_file = _secret_file(item, path, file_key, warnings, strip=True)
    if from_file is not None:
        _check_key_characters(from_file, f"{path}.{file_key}", f" of {item[file_key]}")
    return from_file


def _check_key_characters(secret: Secret, where: str, source: str) -> None:
    """Refuse what cannot go into the X-MBX-APIKEY header or be what Binance signed with.

    Binance's keys and secrets are printable ASCII without whitespace; anything else (a pasted
    zero-width space, a CR/LF) would fail every poll. The error says which kind of character and
    where, never the value or any part of it.
    """
    for index, char in enumerate(secret.reveal(), start=1):
        if "!" <= char <= "~":
            continue
        if char in " \t":
            kind = "a space" if char == " " else "a tab"
        elif char in "\r\n":
            kind = "a line break"
        elif char.isascii():
            kind = "a control character"
        else:
            kind = "a non-ASCII character"
        raise ConfigError(
            where,
            f"character {index}{source} is {kind}; Binance keys are printable ASCII without spaces",
        )


def _secret_file(
    item: dict, path: str, key: str, warnings: list[str], *, strip: bool
) -> Secret | None:
    if key not in item:
        return None
    filename = item[key]
    where = f"{path}.{key}"
    if not isinstance(filename, str) or not filename:
        raise ConfigError(where, f"must be a file path, not {_type_name(filename)}")
    if "\n" in filename or "BEGIN" in filename or len(filename) > 4096:
        # Someone put the secret itself here: say so without echoing it.
        raise ConfigError(where, "must be the path of a file holding the secret, not the secret")
    try:
        data = read_bounded(filename, MAX_SECRET_BYTES)
        mode = os.stat(filename).st_mode
    except OSError as exc:
        raise ConfigError(where, f"cannot read {filename}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(where, f"{filename!r} is not a valid file path") from None
    if data is None:
        raise ConfigError(where, f"{filename} is larger than {_size(MAX_SECRET_BYTES)}")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(where, f"{filename} is not UTF-8 text") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"secret file {filename} ({where}) is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"
        )
    value = content.strip()
    if not value:
        raise ConfigError(where, f"{filename} is empty")
    return Secret(value if strip else content)


def _collectors(raw: Any, path: str) -> tuple[_Wanted, ...]:
    """Collector entries: a name, or ``{name: ..., interval_seconds: ...}``."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, f"must be a non-empty list of collectors, not {raw!r}")
    out: list[_Wanted] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        name, every = _collector_entry(item, where)
        if name in (n for n, _ in out):
            raise ConfigError(where, f"collector {name!r} is listed twice")
        out.append((name, every))
    return tuple(out)


def _collector_entry(item: Any, where: str) -> _Wanted:
    every: float | None = None
    if isinstance(item, dict):
        reject_unknown(item, {"name", "interval_seconds"}, where)
        if "name" not in item:
            raise ConfigError(f"{where}.name", "is required")
        if "interval_seconds" in item:
            every = _number(item, "interval_seconds", 0, lo=1, where=f"{where}.interval_seconds")
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
        return {k: _expand_env(v, _join(path, str(k)), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


def _lookup(name: str, path: str, env: Mapping[str, str]) -> str:
    if not ENV_NAME_RE.match(name):
        raise ConfigError(path, f"invalid environment variable reference ${{{name}}}")
    if name not in env:
        raise ConfigError(path, f"environment variable {name} is not set")
    return env[name]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def reject_unknown(
    raw: dict, known: set[str], path: str, refused: Mapping[str, str] | None = None
) -> None:
    """Every key of ``raw`` (the mapping at ``path``) must be in ``known``.

    ``refused`` maps a key path to why it is refused: a documented key this exporter does not do
    is refused with that reason rather than as unknown.
    """
    for key in raw:
        name = _join(path, str(key))
        if refused and name in refused:
            raise ConfigError(name, refused[name])
        if key not in known:
            raise ConfigError(name, f"unknown key {key!r}")


def _type_name(value: Any) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


def _checked(
    raw: dict,
    key: str,
    default: float,
    lo: float,
    hi: float | None,
    accept: Callable[[Any], bool],
    kind: str,
    where: str | None = None,
) -> Any:
    value = raw.get(key, default)
    where = where or key
    if isinstance(value, bool) or not accept(value):
        raise ConfigError(where, f"must be {kind}, not {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite or value < lo or (hi is not None and value > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise ConfigError(where, f"{value!r} is out of range (must be {bound})")
    return value


def _number(
    raw: dict,
    key: str,
    default: float,
    lo: float,
    hi: float | None = None,
    where: str | None = None,
) -> float:
    accept = lambda v: isinstance(v, int | float)  # noqa: E731
    return float(_checked(raw, key, default, lo, hi, accept, "a number", where))


def _integer(raw: dict, key: str, default: int, lo: int, hi: int | None = None) -> int:
    accept = lambda v: isinstance(v, int)  # noqa: E731
    return int(_checked(raw, key, default, lo, hi, accept, "an integer"))


def _url(raw: dict, key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a URL string, not {_type_name(value)}")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a port that is not a number in 0-65535
    except ValueError:
        raise ConfigError(key, f"{redact_url(value)!r} is not an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(key, f"{redact_url(value)!r} is not an http(s) URL")
    return value.rstrip("/")
