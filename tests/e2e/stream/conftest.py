"""Fixtures: a simulator whose accounts stream, and an exporter that listens to them.

Everything goes over real loopback sockets: listen keys over HTTP, events over a real WebSocket.
The reconnect back-off and the early-poll gap are shortened so that each test stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.simulator.server import SimulatorThread
from exporter.stream import connection, triggers
from tests.e2e.stream.hostile import HostileStream
from tests.e2e.stream.support import quiet_account, stream_account


@pytest.fixture(autouse=True)
def fast_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "RECONNECT_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(connection, "RECONNECT_BACKOFF_CAP_SECONDS", 0.2)
    monkeypatch.setattr(triggers, "MIN_GAP_SECONDS", 0.3)


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread([stream_account(), quiet_account()], tick_seconds=0.05) as s:
        s.freeze_prices()
        yield s


@pytest.fixture
def hostile() -> Iterator[HostileStream]:
    """A stream server of the test's own that misbehaves as told (it starts by holding)."""
    with HostileStream() as server:
        yield server
