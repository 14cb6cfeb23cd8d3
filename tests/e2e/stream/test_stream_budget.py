"""A storm of events never takes early polls past the weight budget's headroom, which the
stream's listen-key POST shares."""

from __future__ import annotations

import asyncio

from exporter.simulator.server import SimulatorThread
from exporter.stream.manager import StreamManager
from tests.e2e.stream.support import connected, requests, stream_config, wait_funding_credited
from tests.helpers import ExporterThread, wait_for

UM_ACCOUNT = "/papi/v1/um/account"
STORM = 40


def test_an_event_storm_stays_inside_the_budget(sim: SimulatorThread):
    # Plan: um_account (5) for two accounts each 60 s, one keepalive (1) each 30 s: 12/min.
    # The budget of 23 leaves 11 a minute: desk's listen-key POST (1), then two early polls of
    # um_account, then none.
    config = stream_config(sim, collectors=["um_account"], max_weight_per_minute=23)
    assert config.planned_weight_per_minute() == 12
    with ExporterThread(config) as exp:
        wait_for(lambda: connected(exp) and requests(sim, UM_ACCOUNT) == 1)
        for _ in range(STORM):
            sim.pay_funding("desk", "BTCUSDT", "0.01")
        wait_funding_credited(exp, STORM * 0.01)
        wait_for(lambda: requests(sim, UM_ACCOUNT) == 3)
        # One more event once the headroom is spent.
        sim.pay_funding("desk", "BTCUSDT", "1")
        wait_funding_credited(exp, STORM * 0.01 + 1)
        streams = exp.exporter.streams
        assert isinstance(streams, StreamManager)

        def debouncer() -> tuple[int, int, dict[str, set[str]]]:
            early = streams.early
            now = asyncio.get_running_loop().time()
            return early.fired, early.headroom.spent(now), early.pending

        # It waits, deferred (not dropped), for the window to make room.
        fired, spent, pending = exp.call(debouncer)
        assert (fired, spent, pending) == (2, 11, {"desk": {"um_account"}})
        assert requests(sim, UM_ACCOUNT) == 3
