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
import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Generic, TypeVar

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


class Load(Generic[T]):
    """A load run in a daemon thread of its own, and the file it is reading at the moment.

    A thread blocked in open() cannot be stopped (a daemon one does not hold the exit), so a
    load is given up on after a deadline; the refusal then names the file the load was stuck in
    (a secret file, say ``accounts[0].api_secret_file``), not only the config file it began
    with. Each read marks its file with ``reading``.
    """

    def __init__(self, call: Callable[[], T], what: str, path: str | os.PathLike[str]) -> None:
        # (key path, what, file) of the config file and of the file read inside it, if any.
        self._reading: list[tuple[str, str, str]] = [("", what, str(path))]
        self.future = start_in_daemon_thread(partial(self._run, call), f"load {what}")

    def _run(self, call: Callable[[], T]) -> T:
        _reading.set(self._reading)  # the thread is new: its context is its own
        return call()

    def done(self) -> bool:
        return self.future.done()

    def wait(self, seconds: float | None = None) -> T:
        """The outcome, waited for up to ``seconds`` (LOAD_TIMEOUT_SECONDS when None)."""
        seconds = LOAD_TIMEOUT_SECONDS if seconds is None else seconds
        done, _ = concurrent.futures.wait([self.future], seconds)
        if not done:
            raise self._not_in_time(seconds)
        return self.future.result()

    async def result(self, seconds: float) -> T:
        """The outcome, awaited off the loop; after ``seconds`` a ConfigError like any refusal."""
        try:
            async with asyncio.timeout(seconds):
                return await thread_result(self.future)
        except TimeoutError:
            raise self._not_in_time(seconds) from None

    def _not_in_time(self, seconds: float) -> ConfigError:
        where, what, path = self._reading[-1]
        return ConfigError(
            where, f"{what} {path} was not read within {seconds:g} s (a FIFO, or a hung mount?)"
        )


_reading: contextvars.ContextVar[list[tuple[str, str, str]] | None] = contextvars.ContextVar(
    "reading", default=None
)


@contextlib.contextmanager
def reading(where: str, what: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """Marks the file read inside a ``Load``, so that a load stuck in it names it."""
    stack = _reading.get()
    if stack is None:  # not inside a Load (a test, a check)
        yield
        return
    stack.append((where, what, str(path)))
    try:
        yield
    finally:
        stack.pop()


def load_in_time(
    load: Callable[[], T],
    what: str,
    path: str | os.PathLike[str],
    seconds: float | None = None,
) -> T:
    """``load()`` in a daemon thread, given up on after ``seconds`` (at start-up)."""
    return Load(load, what, path).wait(seconds)


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
    loader = ConfigLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        try:
            return loader.construct_document(root)
        except UnbuildableValue as exc:
            raise _unbuildable(path, root, exc) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("", f"{path}: bad YAML{_at(mark)}: {problem}") from None
    finally:
        loader.dispose()


def _at(mark: yaml.Mark | None) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


# What YAML tried to build, by its tag's last part, for the message.
_KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "a null",
    "timestamp": "a date",
    "binary": "binary data",
}


def _unbuildable(
    path: str | os.PathLike[str], root: yaml.Node, exc: UnbuildableValue
) -> ConfigError:
    """The one-line error for a value YAML parsed but could not build, at its key path.

    The exception's text says why (``day is out of range for month``) unless it may quote the
    value, which may be a secret: a text with a quote in it, or the value in any case, is left
    out (``!!bool`` says ``KeyError: '<the value, lowercased>'``).
    """
    node = exc.node
    kind = node.tag.rsplit(":", 1)[-1]
    what = _KINDS.get(kind, f"a {kind!r} value")
    reason = str(exc.error).split(";")[0].strip()[:120]
    value = node.value.strip().lower() if isinstance(node.value, str) else ""
    quotes = any(mark in reason for mark in "'\"`")
    shown = reason and not quotes and (not value or value not in reason.lower())
    because = f" ({reason})" if shown else ""
    return ConfigError(
        key_path(root, node) or "",
        f"{path}{_at(node.start_mark)}: YAML cannot build {what} from this value{because}; "
        "quote it if it is meant as a string",
    )


def key_path(root: yaml.Node, target: yaml.Node, path: str = "") -> str | None:
    """Where ``target`` sits under ``root``, as config errors say it (``accounts[0].name``)."""
    if root is target:
        return path
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            inner = f"{path}.{name}" if path else str(name)
            if key is target:
                return inner
            found = key_path(value, target, inner)
            if found is not None:
                return found
    elif isinstance(root, yaml.SequenceNode):
        for index, item in enumerate(root.value):
            found = key_path(item, target, f"{path}[{index}]")
            if found is not None:
                return found
    return None


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

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """The value of ``node``; a constructor's own failure becomes an ``UnbuildableValue``.

        SafeLoader's constructors raise plain Python errors for some scalars they matched by
        pattern: ``2024-02-30`` (a date, ValueError), an integer of more than 4300 digits
        (Python's int-string limit), ``!!bool maybe`` (KeyError).
        """
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            raise UnbuildableValue(node, exc) from exc


class UnbuildableValue(yaml.constructor.ConstructorError):
    """A scalar YAML parsed but could not build; ``node`` is where it is."""

    def __init__(self, node: yaml.Node, error: Exception) -> None:
        super().__init__(None, None, f"cannot build: {type(error).__name__}", node.start_mark)
        self.node = node
        self.error = error


def size_text(limit: int) -> str:
    """A byte limit as the messages say it: ``1 MiB``, ``64 KiB``, else in bytes."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"
