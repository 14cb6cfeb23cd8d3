"""Request weight per client IP and per API, and Binance's 429-then-418 escalation.

PAPI and FAPI are separate hosts at Binance, so the time endpoint does not spend the PAPI
budget. Windows are fixed, ``window_seconds`` long and aligned to the simulator's start (not the
wall-clock minute, so tests are deterministic). A request taking the window's total over
``weight_limit`` gets 429/-1003 with ``Retry-After`` = whole seconds until the window resets
(>= 1). A request arriving while that Retry-After runs gets 418/-1003 and bans the IP for
``ban_seconds`` (``Retry-After: ban_seconds``); requests during a ban get 418 with the remaining
ban time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from exporter.simulator.errors import Rejected


@dataclass
class WeightState:
    """One IP's standing with one API."""

    window: int = -1
    used: int = 0
    retry_until: float = 0.0  # a 429's Retry-After runs until then
    banned_until: float = 0.0


class RateLimits:
    """The weight every (IP, API) has spent in the current window, and its 429s and bans."""

    def __init__(self, weight_limit: int, window_seconds: float, ban_seconds: float) -> None:
        self.weight_limit = weight_limit
        self.window_seconds = window_seconds
        self.ban_seconds = ban_seconds
        self.origin = time.time()  # windows count from here (the simulator's start)
        self._states: dict[tuple[str, str], WeightState] = {}

    def spend(self, ip: str, api: str, weight: int, now: float) -> WeightState:
        """Counts a request's weight, as Binance does for every request, rejected ones too."""
        state = self._states.setdefault((ip, api), WeightState())
        window = int((now - self.origin) // self.window_seconds)
        if window != state.window:
            state.window, state.used = window, 0
        state.used += weight
        return state

    def check(
        self, state: WeightState, now: float, ip: str, clock_skew_ms: int
    ) -> tuple[Rejected, int] | None:
        """The 429 or 418 this request gets, with its Retry-After; None when it may pass."""
        if now < state.banned_until:
            return self._banned(state, ip, clock_skew_ms), max(
                1, math.ceil(state.banned_until - now)
            )
        if now < state.retry_until:
            state.banned_until, state.retry_until = now + self.ban_seconds, 0.0
            return self._banned(state, ip, clock_skew_ms), max(1, math.ceil(self.ban_seconds))
        if state.used > self.weight_limit:
            window_end = self.origin + (state.window + 1) * self.window_seconds
            state.retry_until = window_end
            msg = (
                f"Too many requests; current limit of IP({ip}) is {self.weight_limit} requests "
                "per minute. Please use the websocket for live updates to avoid polling the API."
            )
            return Rejected(429, -1003, msg), max(1, math.ceil(window_end - now))
        return None

    def reset(self) -> None:
        """Forget every IP's weight, 429 and ban."""
        self._states.clear()

    @staticmethod
    def _banned(state: WeightState, ip: str, clock_skew_ms: int) -> Rejected:
        until = int(state.banned_until * 1000) + clock_skew_ms
        msg = (
            f"Way too many requests; IP({ip}) banned until {until}. "
            "Please use the websocket for live updates to avoid bans."
        )
        return Rejected(418, -1003, msg)
