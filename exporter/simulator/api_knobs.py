"""The scenario knobs on how the API answers: faults, the clock, number spelling, flat position
rows, retired endpoints and rate limits."""

from __future__ import annotations

from exporter.simulator.accounts import NumberStyle, Spelling
from exporter.simulator.faults import Fault
from exporter.simulator.knobs import fault_args, knob
from exporter.simulator.scene import Scene


class ApiKnobs(Scene):
    """Knobs that change the answers, not the accounts."""

    @knob(fault_args)
    def set_fault(
        self,
        account: str | None = None,
        path: str | None = None,
        *,
        status: int | None = None,
        code: int | None = None,
        msg: str = "",
        retry_after: float | None = None,
        latency: float = 0.0,
        malformed: bool = False,
        body: bytes | None = None,
        times: int | None = None,
        after: int = 0,
    ) -> None:
        """Answer matching requests with an error, bad bytes, or just later.

        Requests matching ``account`` (name) and ``path`` (``None`` = any) are answered with
        ``status`` (default 500) and ``{"code": code, "msg": msg}`` (code and msg default from
        the status: 5xx -1001, 429/418 -1003, 401/403 -2015, else -1000); ``retry_after`` adds
        ``Retry-After`` (whole seconds, rounded up); ``latency`` sleeps first; ``malformed``
        answers 200 with truncated JSON; ``body`` answers those exact bytes with ``status``
        (default 200). A fault with only ``latency`` answers normally after the delay.
        ``times`` = how many requests it applies to (None: until cleared), ``after`` = how many
        matching requests it lets through first (the second page of a paged poll). The first
        matching fault, in the order they were set, applies.
        """
        if body is not None:
            kind, status = "body", 200 if status is None else status
        elif malformed:
            kind, status = "malformed", 200
        elif status is None and code is None and not msg and retry_after is None:
            kind, status = "latency", 200
        else:
            kind, status = "error", 500 if status is None else status
        self.faults.add(
            Fault(
                account,
                path,
                kind,
                status,
                code,
                msg,
                retry_after,
                latency,
                body,
                times,
                after=after,
            )
        )

    @knob()
    def trickle(
        self,
        path: str,
        bytes_per_second: float,
        *,
        account: str | None = None,
        times: int | None = None,
    ) -> None:
        """A 200 that sends its body a byte at a time: for read timeouts that must fire.

        The body is a complete JSON document of ``TRICKLE_BODY_BYTES`` bytes.
        """
        if bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        self.faults.add(Fault(account, path, "trickle", 200, times=times, rate=bytes_per_second))

    @knob()
    def huge_body(
        self, path: str, size_bytes: int, *, account: str | None = None, times: int | None = None
    ) -> None:
        """A 200 with a body of ``size_bytes``: for response size limits that must hold.

        A valid JSON document, streamed in 64 KiB chunks and never held in memory.
        """
        if size_bytes < 16:
            raise ValueError("size_bytes must be at least 16")
        self.faults.add(Fault(account, path, "huge", 200, times=times, size=size_bytes))

    @knob()
    def clear_faults(self) -> None:
        """Forget every fault."""
        self.faults.clear()

    @knob()
    def set_clock_skew(self, ms: int) -> None:
        """The simulator clock runs ``ms`` ahead (negative: behind)."""
        self.clock_skew_ms = int(ms)

    @knob()
    def set_number_style(self, style: NumberStyle) -> None:
        """``"live"`` (the default) spells numbers as live PM replies do ("0.0",
        "45464.1735922"), ``"padded"`` as Binance's doc examples do ("0.00000000"); see
        ``exporter.simulator.accounts``."""
        self.spelling = Spelling(style)

    @knob()
    def set_flat_position_rows(self, enabled: bool = True) -> None:
        """The position risk endpoints also return flat rows, as Binance's examples show (see
        ``exporter.simulator.accounts``)."""
        self.flat_position_rows = bool(enabled)

    @knob()
    def retire_endpoint(self, path: str, successor: str) -> None:
        """Answer ``path`` as Binance answered for an endpoint it retired (HTTP 400, code -5000,
        "GET <path> is retired, please use GET <successor>"); ``/papi/v2/um/account`` is always
        served, in v2's shape."""
        msg = f"GET {path} is retired, please use GET {successor}"
        self.set_fault(path=path, status=400, code=-5000, msg=msg)

    @knob()
    def reset_rate_limits(self) -> None:
        """Forget every IP's weight, 429 and ban."""
        self.limits.reset()
