"""When a pushed event asks the scheduler for an early poll: debounced and within the budget.

An event that changes what a collector shows asks for that collector (its kind's ``refreshes``).
``EarlyPolls`` turns those asks into ``Scheduler.request_poll`` calls: at most one early poll of a
collector of an account per ``min_gap`` seconds (an ask inside the gap is deferred to its end,
never dropped), and never more early-poll weight in any 60 s than the budget's headroom
(``max_weight_per_minute`` minus the planned weight), shared by every account since Binance's
limit is per IP. A storm of events costs at most the headroom, whatever its size.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Collection

import structlog

from exporter.collectors import COLLECTORS

log = structlog.get_logger("exporter.stream")

MIN_GAP_SECONDS = 5.0  # per account and collector
WINDOW_SECONDS = 60.0  # the budget is per minute, as Binance's weight limit

RequestPoll = Callable[[str, Collection[str]], None]


def collector_weight(name: str) -> int:
    collector = COLLECTORS.get(name)
    return collector.weight if collector is not None else 0


class EarlyPolls:
    """The debouncer between the streams' events and the scheduler."""

    def __init__(
        self,
        request_poll: RequestPoll,
        budget_per_minute: float,
        *,
        min_gap: float | None = None,
        weight: Callable[[str], int] = collector_weight,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._request_poll = request_poll
        self.budget = budget_per_minute
        self.min_gap = MIN_GAP_SECONDS if min_gap is None else min_gap
        self._weight = weight
        self._clock = clock
        self.pending: dict[str, set[str]] = {}  # account -> collectors asked for, not yet polled
        self._fired: dict[tuple[str, str], float] = {}  # (account, collector) -> last early poll
        self._spent: deque[tuple[float, int]] = deque()  # (when, weight) within the window
        self.fired = 0  # early polls asked of the scheduler, for tests and logs
        self._wake = asyncio.Event()
        self._warned = False

    def trigger(self, account: str, collectors: Collection[str]) -> None:
        if collectors:
            self.pending.setdefault(account, set()).update(collectors)
            self._wake.set()

    def forget(self, account: str) -> None:
        """An account that no longer streams (or no longer exists) asks for nothing."""
        self.pending.pop(account, None)
        for key in [k for k in self._fired if k[0] == account]:
            del self._fired[key]

    def spent(self, now: float) -> int:
        """Early-poll weight spent in the last WINDOW_SECONDS."""
        self._expire(now)
        return sum(w for _, w in self._spent)

    def due(self, now: float) -> tuple[list[tuple[str, frozenset[str]]], float | None]:
        """The early polls to ask for now, and when to look again (None: nothing pending)."""
        self._expire(now)
        fire: list[tuple[str, frozenset[str]]] = []
        wake_at = math.inf
        for account in list(self.pending):
            polled, at = self._settle(account, now)
            if polled:
                fire.append((account, polled))
            wake_at = min(wake_at, at)
        return fire, (None if wake_at == math.inf else wake_at)

    def _settle(self, account: str, now: float) -> tuple[frozenset[str], float]:
        """One account's pending asks: what is polled now, and when the rest can be."""
        wanted = self.pending[account]
        gap_ends = {c: self._fired.get((account, c), -math.inf) + self.min_gap for c in wanted}
        ready = frozenset(c for c, end in gap_ends.items() if end <= now)
        later = [end for c, end in gap_ends.items() if c not in ready]
        cost = sum(self._weight(c) for c in ready)
        if ready and cost > self.budget:
            # Not even one early poll fits the headroom: the regular polls carry it.
            self._warn_no_headroom(cost)
            wanted -= ready
            ready = frozenset()
        elif ready and self.spent(now) + cost > self.budget:
            later.append(self._room_at(cost))
            ready = frozenset()
        for collector in ready:
            self._fired[(account, collector)] = now
        if ready:
            self._spent.append((now, cost))
            self.fired += 1
            wanted -= ready
        if not wanted:
            del self.pending[account]
        return ready, min(later, default=math.inf)

    def _room_at(self, cost: int) -> float:
        """When enough of the window's spending has aged out for ``cost`` more."""
        total = sum(w for _, w in self._spent)
        for when, weight in self._spent:
            total -= weight
            if total + cost <= self.budget:
                return when + WINDOW_SECONDS
        return math.inf  # unreachable: cost <= budget was checked

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] + WINDOW_SECONDS <= now:
            self._spent.popleft()

    def _warn_no_headroom(self, cost: int) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "no weight headroom for early polls; events wait for the regular polls",
                early_poll_weight=cost,
                headroom_per_minute=round(self.budget, 1),
            )

    async def run(self) -> None:
        """Ask for early polls as they come due; never raises out of the loop."""
        while True:
            self._wake.clear()
            fire, wake_at = self.due(self._clock())
            for account, collectors in fire:
                try:
                    self._request_poll(account, collectors)
                except Exception:  # the scheduler's bug must not end the stream's triggers
                    log.exception("early poll request failed", account=account)
            timeout = None if wake_at is None else max(0.0, wake_at - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
