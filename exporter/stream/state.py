"""An account's stream series: the event kinds' tallies, the stream's own health, and their text.

The event families are declared beside their kinds (``exporter.stream.kinds``), the stream's
health families here; ``render`` gives the fragments ``AccountState`` carries in
``stream_fragments`` (absent for accounts without the stream), which the publisher joins like the
per-account self metrics.

An account's stream may carry thousands of series and an event a second or more, so ``render``
formats only the event rows counted since the last render (each family keeps its rendered lines,
sorted by label values) and the stream's health rows, a dozen; the series an event did not touch
cost only their share of joining their family's bytes.
"""

from __future__ import annotations

import bisect
import time
from typing import Any, Literal, TypeVar, cast, get_args

from exporter.metrics import Family, Row, Samples, render_rows
from exporter.stream.events import BadKind
from exporter.stream.kinds import EVENT_FAMILIES, TALLIES, EventKind, LabelBudget, Tally, Values

ReconnectReason = Literal[
    "closed",  # Binance (or the network) closed the socket, the 24-hour cut included
    "network",  # the socket failed, or could not be opened
    "silence",  # no frame and no pong for stream_silence_seconds
    "garbage",  # a run of frames that are not JSON events
    "listen_key_expired",  # listenKeyExpired, or a keepalive answered -1125
    "renewal",  # our own fresh connection before Binance's 24-hour cut
    "listen_key",  # POST /papi/v1/listenKey failed
]
RECONNECT_REASONS: tuple[ReconnectReason, ...] = get_args(ReconnectReason)
BAD_KINDS: tuple[BadKind, ...] = get_args(BadKind)

STREAM_UP = Family(
    "binance_pm_exporter_stream_up",
    "1 while the account's user data stream is connected.",
    (),
)
STREAM_RECONNECTS = Family(
    "binance_pm_exporter_stream_reconnects_total",
    "Times the user data stream was connected again, by why the previous connection ended.",
    ("reason",),
    "counter",
)
STREAM_LAST_EVENT = Family(
    "binance_pm_exporter_stream_last_event_timestamp_seconds",
    "When the exporter last received an event on the account's stream (0: never).",
    (),
)
STREAM_BAD_FRAMES = Family(
    "binance_pm_exporter_stream_bad_frames_total",
    "Stream frames that could not be counted: malformed, or of an unknown event type.",
    ("kind",),
    "counter",
)
STREAM_DROPPED_LABELS = Family(
    "binance_pm_exporter_stream_dropped_labels_total",
    "Event entries not counted because their new label set was over the account's caps "
    "(distinct assets, distinct values of another label, label sets).",
    (),
    "counter",
)
HEALTH_FAMILIES = (
    STREAM_UP,
    STREAM_RECONNECTS,
    STREAM_LAST_EVENT,
    STREAM_BAD_FRAMES,
    STREAM_DROPPED_LABELS,
)
STREAM_FAMILIES = (*EVENT_FAMILIES, *HEALTH_FAMILIES)

T = TypeVar("T", bound=Tally)


class FamilyText:
    """One event family's rendered lines, in the order of their label values, and their text.

    The lines are kept in runs of consecutive keys, each run's text joined once: an update
    formats its rows, re-joins the runs they fall in and then the runs' texts, so that its
    Python work stays far below one step per series.
    """

    RUN = 64  # a run splits in two beyond twice this

    def __init__(self, family: Family) -> None:
        self.family = family
        self.runs: list[list[tuple[str, ...]]] = []  # sorted keys, run after run
        self.run_texts: list[bytes] = []
        self.lines: dict[tuple[str, ...], bytes] = {}
        self.text = b""

    def update(self, prefix: str, rows: list[Row]) -> None:
        fam, runs = self.family, self.runs
        dirty: set[int] = set()
        for key, value in rows:
            i = max(0, bisect.bisect_right(runs, key, key=lambda run: run[0]) - 1)
            if key not in self.lines:
                if not runs:
                    runs.append([])
                    self.run_texts.append(b"")
                bisect.insort(runs[i], key)
                if len(runs[i]) > 2 * self.RUN:  # split: the indices after it move by one
                    runs[i : i + 1] = [runs[i][: self.RUN], runs[i][self.RUN :]]
                    self.run_texts.insert(i + 1, b"")
                    dirty = {d + 1 if d > i else d for d in dirty} | {i + 1}
            self.lines[key] = render_rows(fam.name, prefix, fam.labels, [(key, value)]).encode()
            dirty.add(i)
        lines = self.lines
        for i in dirty:
            self.run_texts[i] = b"".join([lines[k] for k in runs[i]])
        self.text = b"".join(self.run_texts)


class StreamState:
    """Everything one account's stream has counted; the connection is its only writer."""

    def __init__(self, account: str, labels: LabelBudget | None = None) -> None:
        self.account = account
        self.tallies: dict[type[Tally], Tally] = {tally: tally() for tally in TALLIES}
        self.labels = LabelBudget() if labels is None else labels
        self.up = False
        self.reconnects: dict[ReconnectReason, int] = dict.fromkeys(RECONNECT_REASONS, 0)
        self.last_event_time = 0.0
        self.bad_frames: dict[BadKind, int] = dict.fromkeys(BAD_KINDS, 0)
        # Event rows counted since the last render, by family and label values.
        self._changed: dict[str, dict[tuple[str, ...], float]] = {}
        self._texts: dict[str, FamilyText] = {}
        self._prefix: str | None = None  # the account label the texts were rendered with
        self.rendered_rows = 0  # rows formatted by every render so far (the per-event cost)
        # The events' values for the collectors' gauges, until the publisher takes them.
        self._values: list[Values] = []

    def tally(self, tally: type[T]) -> T:
        """The account's counters of one tally class."""
        return cast(T, self.tallies[tally])

    def count(self, kind: EventKind[Any], event: object, now: float | None = None) -> None:
        """One event of ``kind`` into its tally, and its values kept for the publisher."""
        self.last_event_time = time.time() if now is None else now
        if kind.values is not None:
            self._values.append(kind.values(event))
        if kind.tally is not None:
            changed = self.tallies[kind.tally].count(event, self.labels)
            for name, rows in changed.items():
                self._changed.setdefault(name, {}).update(rows)

    def take_values(self) -> list[Values]:
        """The values of the events counted since the last call, oldest first."""
        values, self._values = self._values, []
        return values

    def rows(self) -> Samples:
        out: Samples = {}
        for tally in self.tallies.values():
            out.update(tally.rows())
        out.update(self.health_rows())
        return out

    def health_rows(self) -> Samples:
        """The stream's own rows: a dozen, whatever the events."""
        return {
            STREAM_UP.name: [((), 1.0 if self.up else 0.0)],
            STREAM_RECONNECTS.name: [((r,), float(n)) for r, n in self.reconnects.items()],
            STREAM_LAST_EVENT.name: [((), self.last_event_time)],
            STREAM_BAD_FRAMES.name: [((k,), float(n)) for k, n in self.bad_frames.items()],
            STREAM_DROPPED_LABELS.name: [((), float(self.labels.dropped))],
        }

    def render(self, label: str) -> dict[str, bytes]:
        """The fragments, by family name, for the account label ``label`` (pre-rendered).

        A new dict each time: the publisher may still be reading the previous one.
        """
        if label != self._prefix:  # the first render: every event row
            self._prefix, self._changed = label, {}
            self._texts = {fam.name: FamilyText(fam) for fam in EVENT_FAMILIES}
            changed: Samples = {}
            for tally in self.tallies.values():
                changed.update(tally.rows())
        else:
            changed = {name: list(rows.items()) for name, rows in self._changed.items()}
            self._changed = {}
        for name, rows in changed.items():
            if rows:
                self._texts[name].update(label, rows)
            self.rendered_rows += len(rows)
        out = {name: text.text for name, text in self._texts.items() if text.text}
        health = self.health_rows()
        for fam in HEALTH_FAMILIES:
            rows = health[fam.name]
            out[fam.name] = render_rows(fam.name, label, fam.labels, rows).encode()
            self.rendered_rows += len(rows)
        return out
