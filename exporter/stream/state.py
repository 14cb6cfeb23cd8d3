"""An account's stream series: the event kinds' tallies, the stream's own health, and their text.

The event families are declared beside their kinds (``exporter.stream.kinds``), the stream's
health families here; ``render`` gives the fragments ``AccountState`` carries in
``stream_fragments`` (absent for accounts without the stream), which the publisher joins like the
per-account self metrics.
"""

from __future__ import annotations

import time
from typing import Any, Literal, TypeVar, cast, get_args

from exporter.metrics import Family, Samples, render_rows
from exporter.stream.events import BadKind
from exporter.stream.kinds import EVENT_FAMILIES, TALLIES, EventKind, Tally

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
STREAM_FAMILIES = (
    *EVENT_FAMILIES,
    STREAM_UP,
    STREAM_RECONNECTS,
    STREAM_LAST_EVENT,
    STREAM_BAD_FRAMES,
)

T = TypeVar("T", bound=Tally)


class StreamState:
    """Everything one account's stream has counted; the connection is its only writer."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.tallies: dict[type[Tally], Tally] = {tally: tally() for tally in TALLIES}
        self.up = False
        self.reconnects: dict[ReconnectReason, int] = dict.fromkeys(RECONNECT_REASONS, 0)
        self.last_event_time = 0.0
        self.bad_frames: dict[BadKind, int] = dict.fromkeys(BAD_KINDS, 0)

    def tally(self, tally: type[T]) -> T:
        """The account's counters of one tally class."""
        return cast(T, self.tallies[tally])

    def count(self, kind: EventKind[Any], event: object, now: float | None = None) -> None:
        """One event of ``kind`` into its tally."""
        self.last_event_time = time.time() if now is None else now
        if kind.tally is not None:
            self.tallies[kind.tally].count(event)

    def rows(self) -> Samples:
        out: Samples = {}
        for tally in self.tallies.values():
            out.update(tally.rows())
        out[STREAM_UP.name] = [((), 1.0 if self.up else 0.0)]
        out[STREAM_RECONNECTS.name] = [((r,), float(n)) for r, n in self.reconnects.items()]
        out[STREAM_LAST_EVENT.name] = [((), self.last_event_time)]
        out[STREAM_BAD_FRAMES.name] = [((k,), float(n)) for k, n in self.bad_frames.items()]
        return out

    def render(self, label: str) -> dict[str, bytes]:
        """The fragments, by family name, for the account label ``label`` (pre-rendered)."""
        rows = self.rows()
        return {
            fam.name: render_rows(fam.name, label, fam.labels, rows[fam.name]).encode()
            for fam in STREAM_FAMILIES
            if rows.get(fam.name)
        }
