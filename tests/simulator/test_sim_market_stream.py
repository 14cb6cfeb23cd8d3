"""The simulator's market streams: every mark of a market each interval, on Binance's paths."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from exporter.simulator.demo import start_demo
from exporter.simulator.server import SimulatorThread

INTERVAL = 0.1


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread([], tick_seconds=0.05) as s:
        s.freeze_prices()
        s.set_market_stream_interval(INTERVAL)
        yield s


async def _frames(url: str, count: int, wait: float) -> list[Any]:
    """Up to ``count`` text frames, each within ``wait`` seconds (fewer when the stream is
    silent)."""
    out: list[Any] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        while len(out) < count:
            try:
                msg = await ws.receive(timeout=wait)
            except TimeoutError:
                break
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            out.append(orjson.loads(msg.data))
    return out


def frames(url: str, count: int, wait: float = 5.0) -> list[Any]:
    return asyncio.run(_frames(url, count, wait))


def by_symbol(frame: list[dict]) -> dict[str, dict]:
    return {entry["s"]: entry for entry in frame}


def test_usds_m_marks_come_every_interval_on_the_market_path(sim: SimulatorThread):
    sim.set_mark_price("BTCUSDT", "70000.5")
    got = frames(sim.simulator.um_market_stream_url, 3)
    assert len(got) == 3
    entries = by_symbol(got[-1])
    assert len(entries) == len(sim.market.um)  # every symbol of the market, one array
    btc = entries["BTCUSDT"]
    assert btc["e"] == "markPriceUpdate"
    assert btc["p"] == "70000.50000000"
    assert abs(btc["E"] - sim.clock_ms()) < 5_000


def test_coin_m_marks_carry_their_pair_on_the_ws_path(sim: SimulatorThread):
    sim.set_mark_price("BTCUSD_PERP", "64000.1")
    entries = by_symbol(frames(sim.simulator.cm_market_stream_url, 1)[0])
    assert set(entries) == set(sim.market.cm)
    assert entries["BTCUSD_PERP"]["p"] == "64000.10000000"
    assert entries["BTCUSD_PERP"]["ps"] == "BTCUSD"
    assert entries["BTCUSD_260925"]["r"] == ""  # a delivery contract has no funding
    assert entries["BTCUSD_260925"]["T"] == 0


def test_a_new_mark_is_pushed_with_the_next_frame(sim: SimulatorThread):
    async def watch() -> list[str]:
        seen: list[str] = []
        url = sim.simulator.um_market_stream_url
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            for price in ("1000.25", "2000.75"):
                await asyncio.to_thread(sim.set_mark_price, "ETHUSDT", price)
                while True:
                    msg = await ws.receive(timeout=5)
                    mark = by_symbol(orjson.loads(msg.data))["ETHUSDT"]["p"]
                    if mark != (seen[-1] if seen else "3400.00000000"):
                        seen.append(mark)
                        break
        return seen

    assert asyncio.run(watch()) == ["1000.25000000", "2000.75000000"]


def test_usds_m_on_the_bare_ws_path_connects_and_sends_nothing(sim: SimulatorThread):
    assert frames(sim.simulator.um_bare_market_stream_url, 1, wait=10 * INTERVAL) == []
    assert sim.call(lambda: dict(sim.simulator.mark_streams.connections)) == {
        "um": 0,
        "cm": 0,
        "bare": 1,
    }


@pytest.mark.parametrize("market", ["um", None])
def test_a_silenced_stream_stays_connected_and_sends_nothing(
    sim: SimulatorThread, market: str | None
):
    sim.set_market_stream_silent(True, market)
    assert frames(sim.simulator.um_market_stream_url, 1, wait=10 * INTERVAL) == []
    silent = market is None
    cm = frames(sim.simulator.cm_market_stream_url, 1, wait=10 * INTERVAL if silent else 5.0)
    assert len(cm) == (0 if silent else 1)
    sim.set_market_stream_silent(False, market)
    assert len(frames(sim.simulator.um_market_stream_url, 1)) == 1


def test_a_dropped_stream_loses_its_connection(sim: SimulatorThread):
    async def dropped(drop: Callable[[], None]) -> aiohttp.WSMsgType:
        url = sim.simulator.um_market_stream_url
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.receive(timeout=5)
            await asyncio.to_thread(drop)
            while True:
                msg = await ws.receive(timeout=5)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return msg.type

    ended = asyncio.run(dropped(lambda: sim.drop_market_stream("um")))
    assert ended in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


def test_frames_can_be_sent_as_they_are(sim: SimulatorThread):
    async def garbage() -> list[str]:
        url = sim.simulator.cm_market_stream_url
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.receive(timeout=5)
            await asyncio.to_thread(sim.send_market_stream_frames, "cm", ["not json", "{}"])
            texts = []
            while len(texts) < 2:
                msg = await ws.receive(timeout=5)
                if not msg.data.startswith("["):
                    texts.append(msg.data)
            return texts

    assert asyncio.run(garbage()) == ["not json", "{}"]


def test_unknown_markets_are_refused(sim: SimulatorThread):
    with pytest.raises(ValueError, match="unknown market 'spot'"):
        sim.set_market_stream_silent(True, "spot")


def test_the_demo_turns_the_market_streams_on():
    async def demo() -> tuple[tuple[list[bool], str, str, tuple[str, str]], list[Any]]:
        simulator, config = await start_demo()
        try:
            urls = (simulator.um_market_stream_url, simulator.cm_market_stream_url)
            first = await _frames(config.market_stream.um_url, 1, wait=5)
            return (
                [a.market_stream for a in config.accounts],
                config.market_stream.um_url,
                config.market_stream.cm_url,
                urls,
            ), first
        finally:
            await simulator.stop()

    (wanted, um, cm, urls), first = asyncio.run(demo())
    assert wanted == [True, True]
    assert (um, cm) == urls
    assert len(first) == 1
