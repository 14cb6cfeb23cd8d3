"""Streams scale to every account a process polls: one connection each, past aiohttp's default
limit of 100 connections per session."""

from __future__ import annotations

import resource

import pytest

from exporter.listener import raise_fd_limit
from tests.e2e.stream.hostile import HostileStream
from tests.helpers import ExporterThread, make_config, series, wait_for


def accounts(count: int) -> list[dict]:
    return [
        {
            "name": f"acct{i:04d}",
            "api_key": f"scaleKey{i:04d}",
            "api_secret": f"scale-secret-{i:04d}",
            "user_data_stream": True,
        }
        for i in range(count)
    ]


def streams_up(exp: ExporterThread) -> int:
    return sum(1 for v in series(exp.samples(), "binance_pm_exporter_stream_up").values() if v == 1)


def every_account_streams_on_one_connection(hostile: HostileStream, count: int) -> None:
    # Both ends of every socket live in this process: two descriptors per stream.
    soft, _ = raise_fd_limit()
    if soft != resource.RLIM_INFINITY and soft < 2 * count + 200:
        pytest.fail(f"open files limit {soft} too low for {count} streams here")
    config = make_config(
        hostile.base_url,
        accounts(count),
        # The polls find nothing here (404): long between them, and light on the weight plan.
        poll_interval_seconds=600,
        collectors=["um_account"],
        stream_url=hostile.url,
        stream_silence_seconds=120,
        request_timeout_seconds=10,
    )
    with ExporterThread(config) as exp:
        wait_for(lambda: hostile.open == count, timeout=60, interval=0.5)
        wait_for(lambda: streams_up(exp) == count, timeout=30, interval=0.5)
        assert hostile.connections == count
        assert hostile.listen_keys_posted == count


def test_150_accounts_stream_on_150_connections(hostile: HostileStream):
    every_account_streams_on_one_connection(hostile, 150)


@pytest.mark.soak
def test_1000_accounts_stream_on_1000_connections(hostile: HostileStream):
    every_account_streams_on_one_connection(hostile, 1000)
