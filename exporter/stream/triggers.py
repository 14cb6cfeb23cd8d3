"""When a pushed event asks the scheduler for an early poll: debounced and within the budget.

An event that changes what a collector shows asks for that collector (its kind's ``refreshes``).
``EarlyPolls`` turns those asks into ``Scheduler.request_poll`` calls: at most one early poll of a
collector of an account per ``min_gap`` seconds (an ask inside the gap is deferred to its end,
never dropped), and never more weight in any 60 s than the ``Headroom``
(``max_weight_per_minute`` minus the planned weight). The headroom is one object shared by every
account, since Binance's limit is per IP, and by everything the plan cannot foresee: early polls,
and the streams' listen-key POSTs and retried keepalives. A storm of events or of reconnects costs
at most the headroom, whatever its size, so it never brings a 429 on the polls.
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


class Headroom:
    """The weight per minute the plan leaves, and what has been spent of it in the last minute."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute  # replaced on reload
        self.clock = clock
        self._spent: deque[tuple[float, int]] = deque()  # (when, weight) within the window
        self._warned = False

    def spent(self, now: float) -> int:
        """Weight spent in the last WINDOW_SECONDS."""
        self._expire(now)
        return sum(w for _, w in self._spent)

    def fits(self, cost: int, now: float) -> bool:
        return self.spent(now) + cost <= self.per_minute

    def spend(self, cost: int, now: float) -> None:
        self._spent.append((now, cost))

    def room_at(self, cost: int) -> float:
        """When enough of the window's spending has aged out for ``cost`` more."""
        total = sum(w for _, w in self._spent)
        for when, weight in self._spent:
            total -= weight
            if total + cost <= self.per_minute:
                return when + WINDOW_SECONDS
        return math.inf  # only when cost > per_minute

    async def take(self, cost: int) -> None:
        """Wait until ``cost`` fits, then spend it: a request the plan did not foresee.

        With no headroom at all (a plan that fills the budget) it goes at once, said once: what
        calls this is essential (a listen key) and already spaced by its own back-off.
        """
        while True:
            now = self.clock()
            if self.fits(cost, now) or cost > self.per_minute:
                if cost > self.per_minute:
                    self._warn_none(cost)
                self.spend(cost, now)
                return
            await asyncio.sleep(max(0.01, self.room_at(cost) - now))

    def _warn_none(self, cost: int) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "no weight headroom for listen key requests; sent anyway, spaced by the back-off",
                weight=cost,
                headroom_per_minute=round(self.per_minute, 1),
            )

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] + WINDOW_SECONDS <= now:
            self._spent.popleft()


class EarlyPolls:
    """The debouncer between the streams' events and the scheduler."""

    def __init__(
        self,
        request_poll: RequestPoll,
        headroom: Headroom,
        *,
        min_gap: float | None = None,
        weight: Callable[[str], int] = collector_weight,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._request_poll = request_poll
        self.headroom = headroom
        self.min_gap = MIN_GAP_SECONDS if min_gap is None else min_gap
        self._weight = weight
        self._clock = clock
        self.pending: dict[str, set[str]] = {}  # account -> collectors asked for, not yet polled
        self._fired: dict[tuple[str, str], float] = {}  # (account, collector) -> last early poll
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

    def due(self, now: float) -> tuple[list[tuple[str, frozenset[str]]], float | None]:
        """The early polls to ask for now, and when to look again (None: nothing pending)."""
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
        if ready and cost > self.headroom.per_minute:
            # Not even one early poll fits the headroom: the regular polls carry it.
            self._warn_no_headroom(cost)
            wanted -= ready
            ready = frozenset()
        elif ready and not self.headroom.fits(cost, now):
            later.append(self.headroom.room_at(cost))
            ready = frozenset()
        for collector in ready:
            self._fired[(account, collector)] = now
        if ready:
            self.headroom.spend(cost, now)
            self.fired += 1
            wanted -= ready
        if not wanted:
            del self.pending[account]
        return ready, min(later, default=math.inf)

    def _warn_no_headroom(self, cost: int) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "no weight headroom for early polls; events wait for the regular polls",
                early_poll_weight=cost,
                headroom_per_minute=round(self.headroom.per_minute, 1),
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
