"""Faults a scenario injects into the API's answers: an error, bad bytes, a latency, or a body
too slow (trickle) or too big (huge) to read.

A fault applies after the request's weight is spent, so a faulted answer still spends weight
and carries the weight header; the first matching fault, in the order they were set, applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass

from aiohttp import web

from exporter.simulator.errors import MESSAGES, Rejected, default_code

TRICKLE_BODY_BYTES = 4096
HUGE_CHUNK_BYTES = 64 * 1024
MALFORMED_BODY = b'{"assets":[{"asset":"USDT","crossWalletBalance":"23.7246'
_PAD_HEAD, _PAD_TAIL = b'{"pad":"', b'"}'


@dataclass
class Fault:
    account: str | None
    path: str | None
    kind: str  # "error", "latency", "malformed", "body", "trickle", "huge"
    status: int = 500
    code: int | None = None
    msg: str = ""
    retry_after: float | None = None
    latency: float = 0.0
    body: bytes | None = None
    times: int | None = None
    rate: float = 0.0  # trickle: bytes per second
    size: int = 0  # huge: bytes
    after: int = 0  # matching requests let through before it applies

    def matches(self, account: str | None, path: str) -> bool:
        return (self.account is None or self.account == account) and (
            self.path is None or self.path == path
        )


class Faults:
    """The faults set, in order; each counts down its ``after`` and ``times``."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, account: str | None, path: str) -> Fault | None:
        """The fault that applies to this request, if any, counted as used."""
        for fault in self._faults:
            if fault.matches(account, path):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None


def fault_answer(fault: Fault, headers: dict[str, str]) -> Rejected | tuple[int, bytes] | None:
    """What a fault answers instead of the payload (status and body, or an API error); None
    for a fault with only a latency, which answers normally after it."""
    if fault.kind == "malformed":
        return 200, MALFORMED_BODY
    if fault.kind == "body":
        return fault.status, fault.body or b""
    if fault.kind != "error":
        return None
    if fault.retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after)))
    code = default_code(fault.status) if fault.code is None else fault.code
    return Rejected(fault.status, code, fault.msg or MESSAGES.get(code, ""))


async def pause(closing: asyncio.Event, seconds: float) -> bool:
    """Sleep, or return True early when the simulator is stopping."""
    try:
        await asyncio.wait_for(closing.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def streamed_body(
    request: web.Request, fault: Fault, headers: dict[str, str], closing: asyncio.Event
) -> web.StreamResponse:
    """A trickle's or a huge body's 200: a complete JSON document, written as it goes."""
    size = TRICKLE_BODY_BYTES if fault.kind == "trickle" else fault.size
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "application/json"
    response.content_length = size
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        await response.prepare(request)
        if fault.kind == "trickle":
            body = _PAD_HEAD + b"x" * (size - len(_PAD_HEAD) - len(_PAD_TAIL)) + _PAD_TAIL
            for i in range(size):
                await response.write(body[i : i + 1])
                if await pause(closing, 1.0 / fault.rate):
                    break
        else:
            await _write_huge(response, size, closing)
    return response


async def _write_huge(response: web.StreamResponse, size: int, closing: asyncio.Event) -> None:
    """Streamed in ``HUGE_CHUNK_BYTES`` chunks, never held in memory."""
    chunk = b"x" * HUGE_CHUNK_BYTES
    await response.write(_PAD_HEAD)
    remaining = size - len(_PAD_HEAD) - len(_PAD_TAIL)
    while remaining > 0:
        if closing.is_set():
            return
        piece = chunk if remaining >= len(chunk) else chunk[:remaining]
        await response.write(piece)
        remaining -= len(piece)
    await response.write(_PAD_TAIL)
