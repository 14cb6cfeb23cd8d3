"""Calls that may block for good (open() of a FIFO, a read on a hung mount), kept off the loop.

Such a call runs in a daemon thread of its own and is awaited under a deadline. Not the default
executor: ``asyncio.run`` joins its threads at shutdown, so one thread stuck in ``open()``, which
nothing can interrupt, would hold SIGTERM for good; a daemon thread is simply left behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def start_in_daemon_thread(call: Callable[[], T], name: str) -> concurrent.futures.Future[T]:
    """Start ``call`` in a new daemon thread; its outcome arrives in the returned future."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        future.set_running_or_notify_cancel()  # from here on, cancel() cannot race the result
        try:
            result = call()
        except BaseException as exc:  # handed to whoever waits, like an executor does
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


async def thread_result(future: concurrent.futures.Future[T]) -> T:
    """The future's result, awaited without blocking the loop.

    Put a deadline around it with ``asyncio.timeout``: when it expires, the call goes on in its
    thread and its outcome is dropped.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def wake(_: concurrent.futures.Future[T]) -> None:
        # Runs in the call's thread; a loop closed since (the process is stopping) has no waiter.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, done)

    future.add_done_callback(wake)
    await done
    return future.result()


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():  # cancelled by the deadline
        done.set_result(None)
