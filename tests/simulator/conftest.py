"""Fixtures: a simulator with HMAC, RSA and Ed25519 accounts, and a client that signs requests.

Requests go over real loopback sockets; signatures come from the exporter's signing module, and
the simulator checks them with its own code, so the two keep each other honest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from exporter.simulator.accounts import SimAccount
from exporter.simulator.server import SimulatorThread
from tests.simulator.support import Papi, make_accounts


@pytest.fixture
def make_papi() -> Iterator[Callable[..., Papi]]:
    """Start a simulator with the standard accounts and the given options."""
    started: list[Papi] = []

    def start(accounts: list[SimAccount] | None = None, **options: Any) -> Papi:
        options.setdefault("tick_seconds", 0.05)
        sim = SimulatorThread(make_accounts() if accounts is None else accounts, **options)
        sim.start()
        papi = Papi(sim, httpx.Client(base_url=sim.base_url, timeout=5.0))
        started.append(papi)
        return papi

    yield start
    for papi in started:
        papi.http.close()
        papi.sim.stop()


@pytest.fixture
def papi(make_papi: Callable[..., Papi]) -> Papi:
    return make_papi()
