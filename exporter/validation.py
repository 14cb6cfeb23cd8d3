"""The one configuration error and the typed getters every config reader checks its keys with.

The exporter config, the stream keys, the web config and the shard flags all report a mistake as
``ConfigError`` at its key path (``accounts[1].api_secret_file``, ``--shard.index``), so the CLI
prints one line and exits 2 and a reload keeps the old settings, whoever found the mistake. It
sits at the bottom of the package (it imports only ``redaction``), so any layer can raise it
without importing the layers above.

A getter reads ``raw[key]`` (or its default), checks it and returns it typed; ``where`` is the
key path when it is not ``key`` itself. ``show_found=False`` leaves out what was found, for the
web configuration's messages that never said it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from exporter.redaction import redact_url

_TYPE_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


class ConfigError(Exception):
    """A configuration mistake, located by its key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def type_name(value: Any) -> str:
    """What a YAML value is, in words: ``a list``, ``null``, ``an integer``."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def join(path: str, key: str) -> str:
    """The key path of ``key`` inside the mapping at ``path`` (the top level when empty)."""
    return f"{path}.{key}" if path else key


def reject_unknown(
    raw: Mapping[Any, Any], known: set[str], path: str, refused: Mapping[str, str] | None = None
) -> None:
    """Every key of ``raw`` (the mapping at ``path``) must be in ``known``.

    ``refused`` maps a key path to why it is refused: a documented key this exporter does not do
    is refused with that reason rather than as unknown.
    """
    for key in raw:
        name = join(path, str(key))
        if refused and name in refused:
            raise ConfigError(name, refused[name])
        if key not in known:
            raise ConfigError(name, f"unknown key {key!r}")


def number(
    raw: Mapping[str, Any],
    key: str,
    default: float,
    lo: float,
    hi: float | None = None,
    where: str | None = None,
) -> float:
    """A finite number within ``lo`` and ``hi`` (no upper bound when None); not a boolean."""
    accept: Callable[[Any], bool] = lambda v: isinstance(v, int | float)  # noqa: E731
    return float(_in_range(raw, key, default, lo, hi, accept, "a number", where))


def integer(
    raw: Mapping[str, Any],
    key: str,
    default: int,
    lo: int,
    hi: int | None = None,
    where: str | None = None,
) -> int:
    """An integer within ``lo`` and ``hi`` (no upper bound when None); not a boolean."""
    accept: Callable[[Any], bool] = lambda v: isinstance(v, int)  # noqa: E731
    return int(_in_range(raw, key, default, lo, hi, accept, "an integer", where))


def flag(
    raw: Mapping[str, Any],
    key: str,
    default: bool,
    where: str | None = None,
    *,
    show_found: bool = True,
) -> bool:
    """``true`` or ``false``: YAML's ``yes`` or ``1`` is a mistake, not a guess."""
    value = raw.get(key, default)
    if not isinstance(value, bool):
        found = f", not {value!r}" if show_found else ""
        raise ConfigError(where or key, f"must be true or false{found}")
    return value


def string(
    raw: Mapping[str, Any],
    key: str,
    default: str,
    where: str | None = None,
    *,
    show_found: bool = True,
) -> str:
    """A string; what was found instead is said by its type only, as it may be a secret."""
    value = raw.get(key, default)
    if not isinstance(value, str):
        found = f", not {type_name(value)}" if show_found else ""
        raise ConfigError(where or key, f"must be a string{found}")
    return value


def mapping(
    raw: Mapping[str, Any], key: str, where: str | None = None, *, show_found: bool = True
) -> dict[Any, Any]:
    """A section: a mapping, empty when the key is missing or null."""
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        found = f", not {type_name(value)}" if show_found else ""
        raise ConfigError(where or key, f"must be a mapping{found}")
    return value


def url(raw: Mapping[str, Any], key: str, default: str) -> str:
    """An http(s) URL, without its trailing slash; an error shows it with the password hidden."""
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a URL string, not {type_name(value)}")
    parts = _split(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(key, f"{redact_url(value)!r} is not an http(s) URL")
    return value.rstrip("/")


def ws_url(raw: Mapping[str, Any], key: str, default: str) -> str:
    """A ws(s) URL that a path (the listen key) is appended to, so it ends with ``/``."""
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a ws(s) URL string, not {value!r}")
    parts = _split(value)
    if parts is None:
        raise ConfigError(key, f"{redact_url(value)!r} is not a ws(s) URL")
    if parts.scheme not in ("ws", "wss") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            key, f"{redact_url(value)!r} is not a ws(s) URL (the listen key is appended)"
        )
    return value if value.endswith("/") else value + "/"


def ws_stream_url(raw: Mapping[str, Any], key: str, default: str) -> str:
    """A ws(s) URL of a whole stream (a market stream's path names it), used as it is."""
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a ws(s) URL string, not {value!r}")
    parts = _split(value)
    if (
        parts is None
        or parts.scheme not in ("ws", "wss")
        or not parts.netloc
        or parts.path in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(key, f"{redact_url(value)!r} is not a ws(s) URL of a stream")
    return value


def _split(value: str) -> SplitResult | None:
    """The URL's parts, or None when it has no valid port or is otherwise unparseable."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a port that is not a number in 0-65535
    except ValueError:
        return None
    return parts


def _in_range(
    raw: Mapping[str, Any],
    key: str,
    default: float,
    lo: float,
    hi: float | None,
    accept: Callable[[Any], bool],
    kind: str,
    where: str | None,
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
