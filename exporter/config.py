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
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml

from exporter.binance.signing import HmacSigner, InvalidKeyError, Signer, signer_from_pem
from exporter.blocking import start_in_daemon_thread, thread_result
from exporter.collectors import COLLECTORS, DEFAULT_COLLECTORS
from exporter.redaction import redact_url
from exporter.sharding import Shard, ShardError

# Binance's documented ceiling for recvWindow.
MAX_RECV_WINDOW_MS = 60_000
# Binance's PM REST limit per IP per minute (REQUEST_WEIGHT); the budget may not exceed it.
BINANCE_WEIGHT_LIMIT = 6000
DEFAULT_POLL_INTERVAL = 15.0
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
class AccountConfig:
    name: str
    api_key: Secret
    api_secret: Secret | None
    private_key_pem: Secret | None
    collectors: tuple[str, ...]
    # accounts[].shard: the shard that owns the account whatever its hash (None: the hash).
    shard: int | None = field(default=None, compare=False)
    # Built once, at load, from the secret or key above (which decide equality on reload); its
    # repr never shows key material.
    signer: Signer = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.signer is None:
            object.__setattr__(self, "signer", make_signer(self.api_secret, self.private_key_pem))

    def weight_per_poll(self) -> int:
        return sum(COLLECTORS[c].weight for c in self.collectors)


@dataclass(frozen=True, repr=False)
class Config:
    base_url: str
    time_url: str
    poll_interval_seconds: float
    poll_interval_auto: bool
    request_timeout_seconds: float
    recv_window_ms: int
    stale_after_seconds: float
    include_zero_positions: bool
    collectors: tuple[str, ...]
    max_weight_per_minute: int
    max_response_bytes: int
    accounts: tuple[AccountConfig, ...]
    # Every account in the file; ``accounts`` holds those this replica's shard owns.
    accounts_configured: int = field(default=0, compare=False)
    # Non-fatal findings (loose secret file permissions) for the caller to log.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __repr__(self) -> str:
        # The dataclass repr, with the URLs' passwords hidden like everywhere else.
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["base_url"] = redact_url(self.base_url)
        shown["time_url"] = redact_url(self.time_url)
        return f"Config({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    def planned_weight_per_minute(self) -> float:
        return planned_weight(self.accounts, self.poll_interval_seconds)

    def summary(self) -> str:
        interval = f"{self.poll_interval_seconds:g}s" + (
            " (auto)" if self.poll_interval_auto else ""
        )
        lines = [
            f"base_url: {redact_url(self.base_url)}",
            f"poll interval: {interval}, stale after {self.stale_after_seconds:g}s",
            f"planned weight: {self.planned_weight_per_minute():g}/min "
            f"(budget {self.max_weight_per_minute}/min)",
            f"accounts: {len(self.accounts)}",
        ]
        for acc in self.accounts:
            signing = "hmac" if acc.api_secret is not None else "private key"
            lines.append(f"  - {acc.name}: {signing}, collectors {', '.join(acc.collectors)}")
        return "\n".join(lines)


def planned_weight(accounts: tuple[AccountConfig, ...], interval: float) -> float:
    return sum(a.weight_per_poll() for a in accounts) * 60.0 / interval


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


_TOP_KEYS = {
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
}
_ACCOUNT_KEYS = {
    "name",
    "api_key",
    "api_key_file",
    "api_secret",
    "api_secret_file",
    "private_key_file",
    "collectors",
    "shard",
}


def parse_config(raw: Any, env: Mapping[str, str], shard: Shard | None = None) -> Config:
    """The validated config; with ``shard``, only the accounts that shard owns are kept."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("", f"the config must be a mapping, not {_type_name(raw)}")
    raw = _expand_env(raw, "", env)
    reject_unknown(raw, _TOP_KEYS, "")

    base_url = _url(raw, "base_url", "https://papi.binance.com")
    time_url = _url(raw, "time_url", "https://fapi.binance.com/fapi/v1/time")
    auto = raw.get("poll_interval_seconds") == "auto"
    interval = DEFAULT_POLL_INTERVAL if auto else _number(raw, "poll_interval_seconds", 15, lo=1)
    auto_min = _number(raw, "auto_interval_min_seconds", DEFAULT_POLL_INTERVAL, lo=1)
    timeout = _number(raw, "request_timeout_seconds", 10, lo=0.1, hi=300)
    recv_window = _integer(raw, "recv_window_ms", 5000, lo=1, hi=MAX_RECV_WINDOW_MS)
    max_weight = _integer(raw, "max_weight_per_minute", 3000, lo=1, hi=BINANCE_WEIGHT_LIMIT)
    max_bytes = _integer(raw, "max_response_bytes", 32 * 1024 * 1024, lo=1024, hi=1 << 31)

    positions = raw.get("positions", {})
    if positions is None:
        positions = {}
    if not isinstance(positions, dict):
        raise ConfigError("positions", f"must be a mapping, not {_type_name(positions)}")
    reject_unknown(positions, {"include_zero"}, "positions")
    include_zero = positions.get("include_zero", False)
    if not isinstance(include_zero, bool):
        raise ConfigError("positions.include_zero", f"must be true or false, not {include_zero!r}")

    collectors = _collectors(raw.get("collectors", list(DEFAULT_COLLECTORS)), "collectors")

    warnings: list[str] = []
    configured = _accounts(raw.get("accounts"), collectors, warnings)
    accounts = _owned(configured, shard)

    if auto:
        interval = _auto_interval(accounts, max_weight, auto_min)
    else:
        planned = planned_weight(accounts, interval)
        if planned > max_weight:
            fit = math.ceil(sum(a.weight_per_poll() for a in accounts) * 60.0 / max_weight)
            raise ConfigError(
                "poll_interval_seconds",
                f"planned API weight {planned:g}/min exceeds max_weight_per_minute "
                f"{max_weight}; poll_interval_seconds: {fit} (or more) would fit, or set "
                "poll_interval_seconds: auto",
            )

    stale = _number(raw, "stale_after_seconds", 3 * interval, lo=1)
    if stale < interval:
        raise ConfigError(
            "stale_after_seconds",
            f"{stale:g} is shorter than the poll interval {interval:g}; data would vanish "
            "between polls",
        )
    return Config(
        base_url=base_url,
        time_url=time_url,
        poll_interval_seconds=interval,
        poll_interval_auto=auto,
        request_timeout_seconds=timeout,
        recv_window_ms=recv_window,
        stale_after_seconds=stale,
        include_zero_positions=include_zero,
        collectors=collectors,
        max_weight_per_minute=max_weight,
        max_response_bytes=max_bytes,
        accounts=accounts,
        accounts_configured=len(configured),
        warnings=tuple(warnings),
    )


# With `auto`, the plan may use this share of the budget: the rest is kept for what the plan
# cannot foresee (a retry after -1021, polls that drift across a minute boundary).
AUTO_BUDGET_SHARE = 0.9


def _auto_interval(accounts: tuple[AccountConfig, ...], budget: int, floor: float) -> float:
    """The shortest whole-second interval, not below ``floor``, whose plan fits the budget."""
    per_round = sum(a.weight_per_poll() for a in accounts)
    return float(max(floor, math.ceil(per_round * 60.0 / (budget * AUTO_BUDGET_SHARE))))


def _accounts(
    raw: Any, default_collectors: tuple[str, ...], warnings: list[str]
) -> tuple[AccountConfig, ...]:
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
        reject_unknown(item, _ACCOUNT_KEYS, path)
        name = _account_name(item, path, seen)
        seen.add(name)
        api_key = _secret(item, path, "api_key", warnings)
        if api_key is None:
            raise ConfigError(f"{path}.api_key", "is required (api_key or api_key_file)")
        api_secret, private_key, signer = _signing_key(item, path, warnings)
        collectors = (
            _collectors(item["collectors"], f"{path}.collectors")
            if "collectors" in item
            else default_collectors
        )
        pin = _shard_pin(item, path)
        out.append(AccountConfig(name, api_key, api_secret, private_key, collectors, pin, signer))
    return tuple(out)


def _shard_pin(item: dict, path: str) -> int | None:
    pin = item.get("shard")
    if pin is None:
        return None
    if isinstance(pin, bool) or not isinstance(pin, int) or pin < 0:
        raise ConfigError(f"{path}.shard", f"must be a shard index (0, 1, ...), not {pin!r}")
    return pin


def _owned(accounts: tuple[AccountConfig, ...], shard: Shard | None) -> tuple[AccountConfig, ...]:
    """Every account without sharding; the shard's own (planned and polled) with it."""
    if shard is None:
        return accounts
    try:
        return shard.select(accounts)
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
    private_key = _secret_file(item, path, "private_key_file", warnings, strip=False)
    if api_secret is not None and private_key is not None:
        raise ConfigError(
            f"{path}.private_key_file", "give either api_secret or private_key_file, not both"
        )
    if api_secret is None and private_key is None:
        raise ConfigError(
            f"{path}.api_secret",
            "is required (api_secret, api_secret_file or private_key_file)",
        )
    if private_key is not None:
        signer = _private_key_signer(
            private_key, f"{path}.private_key_file", item["private_key_file"]
        )
        return None, private_key, signer
    assert api_secret is not None
    return api_secret, None, HmacSigner(api_secret.reveal())


def make_signer(api_secret: Secret | None, private_key_pem: Secret | None) -> Signer:
    """The account's signer: HMAC from the secret, or RSA/Ed25519 from the private key."""
    if api_secret is not None:
        return HmacSigner(api_secret.reveal())
    if private_key_pem is None:
        raise ValueError("an account needs an API secret or a private key")
    return signer_from_pem(private_key_pem.reveal().encode())


def _private_key_signer(pem: Secret, path: str, filename: str) -> Signer:
    """The key parsed once, at load: its signer, or a config error naming the file."""
    try:
        return signer_from_pem(pem.reveal().encode())
    except InvalidKeyError as exc:
        raise ConfigError(path, f"{filename}: {exc}") from None


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


def _collectors(raw: Any, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, f"must be a non-empty list of collector names, not {raw!r}")
    out: list[str] = []
    for i, name in enumerate(raw):
        if not isinstance(name, str) or name not in COLLECTORS:
            known = ", ".join(COLLECTORS)
            raise ConfigError(f"{path}[{i}]", f"unknown collector {name!r} (known: {known})")
        if name in out:
            raise ConfigError(f"{path}[{i}]", f"collector {name!r} is listed twice")
        out.append(name)
    return tuple(out)


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
) -> Any:
    value = raw.get(key, default)
    if isinstance(value, bool) or not accept(value):
        raise ConfigError(key, f"must be {kind}, not {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite or value < lo or (hi is not None and value > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise ConfigError(key, f"{value!r} is out of range (must be {bound})")
    return value


def _number(raw: dict, key: str, default: float, lo: float, hi: float | None = None) -> float:
    accept = lambda v: isinstance(v, int | float)  # noqa: E731
    return float(_checked(raw, key, default, lo, hi, accept, "a number"))


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
