"""A peer that answers every connection with listenKeyExpired: one back-off and the weight
headroom keep the listen-key POSTs few, and the polls never meet a 429."""

from __future__ import annotations

import asyncio
import time

import pytest

from exporter.simulator.server import SimulatorThread
from exporter.stream import connection
from exporter.stream.manager import StreamManager
from tests.e2e.stream.hostile import HostileStream
from tests.e2e.stream.support import ACCOUNTS, LISTEN_KEY, requests, stream_config
from tests.helpers import ExporterThread, wait_for

UM_ACCOUNT = "/papi/v1/um/account"
# A minute of the real back-off (1 s doubling, 60 s cap), six times faster.
SCALE = 6.0
STORM_SECONDS = 60.0 / SCALE
# Real constants: at most 0.5 + 1 + 2 + 4 + 8 + 16 + 32 s of waits fit a minute after the first
# POST, so 8 POSTs at the very most; the bound is 10.
MAX_POSTS_PER_MINUTE = 10


def streamed_both() -> list[dict]:
    return [{**a, "user_data_stream": True} for a in ACCOUNTS]


def headroom_spent(exp: ExporterThread) -> int:
    streams = exp.exporter.streams
    assert isinstance(streams, StreamManager)
    return exp.call(lambda: streams.early.headroom.spent(asyncio.get_running_loop().time()))


def test_a_listen_key_expired_storm_costs_a_few_posts_a_minute_and_no_429(
    sim: SimulatorThread, hostile: HostileStream, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(connection, "RECONNECT_BACKOFF_SECONDS", 1.0 / SCALE)
    monkeypatch.setattr(connection, "RECONNECT_BACKOFF_CAP_SECONDS", 60.0 / SCALE)
    monkeypatch.setattr(connection, "CLOSE_SECONDS", 1.0 / SCALE)
    hostile.mode = "expired"
    config = stream_config(sim, streamed_both(), stream_url=hostile.url, poll_interval_seconds=1)
    with ExporterThread(config):
        time.sleep(STORM_SECONDS)
        posts = {a["name"]: requests(sim, LISTEN_KEY, "POST", a["name"]) for a in ACCOUNTS}
        polls = requests(sim, UM_ACCOUNT)
    statuses = {r.status for r in sim.requests}
    assert all(2 <= n < MAX_POSTS_PER_MINUTE for n in posts.values()), posts
    assert hostile.connections == sum(posts.values())
    assert 429 not in statuses and 418 not in statuses
    assert polls >= STORM_SECONDS - 2  # the polls went on, every second


def test_listen_key_posts_wait_for_the_weight_headroom(
    sim: SimulatorThread, hostile: HostileStream, monkeypatch: pytest.MonkeyPatch
):
    # No back-off to speak of: only the headroom holds the POSTs back.
    monkeypatch.setattr(connection, "RECONNECT_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(connection, "RECONNECT_BACKOFF_CAP_SECONDS", 0.01)
    monkeypatch.setattr(connection, "CLOSE_SECONDS", 0.01)
    hostile.mode = "expired"
    # Plan: um_account (5) twice a minute, one keepalive a 30 s each: 14/min; 3 left.
    config = stream_config(
        sim,
        streamed_both(),
        stream_url=hostile.url,
        collectors=["um_account"],
        max_weight_per_minute=17,
    )
    assert config.planned_weight_per_minute() == 14
    with ExporterThread(config) as exp:
        wait_for(lambda: hostile.connections == 3)
        time.sleep(2)
        assert headroom_spent(exp) == 3
    assert sum(requests(sim, LISTEN_KEY, "POST", a["name"]) for a in ACCOUNTS) == 3
    assert hostile.connections == 3
