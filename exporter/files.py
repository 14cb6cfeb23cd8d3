"""Reading the files the exporter is configured by: bounded, safe YAML, and within a deadline.

The config file, its secret files and the web configuration file are all read through here: never
more than a limit (so /dev/zero or a huge file is refused at once instead of filling the memory),
YAML without anchors or deep nesting, and a load that does not end in time (a FIFO nobody writes,
a hung mount) given up on. Every refusal is a one-line ``ConfigError``.

It sits below ``exporter.config`` rather than inside it: the web configuration reads its file the
same way and must not import the exporter config (its accounts, collectors and signers) to do so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

from exporter.blocking import start_in_daemon_thread, thread_result
from exporter.validation import ConfigError

# A config or web config file is a few KiB. Only this much (plus one byte, to tell) is ever read.
MAX_CONFIG_BYTES = 1024 * 1024
# Deeper nesting than any config needs; PyYAML composes recursively, so this also keeps a
# "[[[[..." file from ending in a RecursionError.
MAX_YAML_DEPTH = 32
# Reading and validating a config file, its secret files included, must end within this: a FIFO
# nobody writes or a hung mount would otherwise hold start-up, or a reload, for good.
LOAD_TIMEOUT_SECONDS = 10.0

T = TypeVar("T")


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
        raise ConfigError("", f"{what} {path} is larger than {size_text(MAX_CONFIG_BYTES)}")
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


def size_text(limit: int) -> str:
    """A byte limit as the messages say it: ``1 MiB``, ``64 KiB``, else in bytes."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"
