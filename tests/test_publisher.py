"""The published exposition: what a scrape sends between polls, and when it changes."""

from __future__ import annotations

import asyncio
import gzip
import time

from exporter.collectors import COLLECTORS, ParseOptions
from exporter.render import Renderer
from exporter.snapshot import AccountState, ExporterStatus, Store

PAYLOAD = {
    "assets": [
        {"asset": "USDT", "crossWalletBalance": "100", "crossUnPnl": "-5", "maintMargin": "2",
         "initialMargin": "4", "positionInitialMargin": "4", "openOrderInitialMargin": "0",
         "updateTime": 1700000000000}
    ],
    "positions": [],
}  # fmt: skip


def store_with_account(stale_after: float = 45.0) -> tuple[Store, AccountState]:
    store = Store(ExporterStatus(version="test"), stale_after)
    state = AccountState("main", ("um_account",))
    store.accounts["main"] = state
    return store, state


def poll(store: Store, state: AccountState, at: float) -> None:
    collector = COLLECTORS["um_account"]
    result = collector.parse(PAYLOAD, ParseOptions())
    state.set_data("um_account", result.samples, collector.families, at)
    store.changed()


def test_before_the_first_publish_a_scrape_gets_the_current_text_uncompressed():
    store, state = store_with_account()
    renderer = Renderer(store)
    poll(store, state, time.time())
    body, gzipped = renderer.serve(time.time(), gzip_ok=True)
    assert not gzipped
    assert b'binance_pm_um_asset_margin_balance{account="main",asset="USDT"} 95.0' in body


def test_a_published_exposition_is_served_gzipped_and_identical_to_the_text():
    store, state = store_with_account()
    renderer = Renderer(store)
    poll(store, state, time.time())
    asyncio.run(renderer.publish())
    now = time.time()
    body, gzipped = renderer.serve(now, gzip_ok=True)
    plain, plain_gzipped = renderer.serve(now, gzip_ok=False)
    assert gzipped and not plain_gzipped
    assert gzip.decompress(body) == plain == renderer.text(now)


def test_data_past_stale_after_is_never_served_from_an_old_publish():
    store, state = store_with_account(stale_after=10)
    renderer = Renderer(store)
    polled = time.time()
    poll(store, state, polled)
    asyncio.run(renderer.publish())
    body, _ = renderer.serve(polled + 11, gzip_ok=False)
    assert b"binance_pm_um_asset_" not in body
    assert b'binance_pm_exporter_up{account="main"}' in body


def test_the_publisher_coalesces_a_burst_of_polls_into_few_publishes():
    store, state = store_with_account()
    renderer = Renderer(store)
    published: list[int] = []

    async def scenario() -> None:
        original = renderer.publish

        async def counting() -> None:
            await original()
            published.append(renderer.published.version)

        renderer.publish = counting  # type: ignore[method-assign]
        task = asyncio.create_task(renderer.run())
        for _ in range(50):  # 50 polls within about 0.1 s
            poll(store, state, time.time())
            await asyncio.sleep(0.002)
        await asyncio.sleep(renderer.MIN_GAP_SECONDS * 2 + 0.2)
        task.cancel()

    asyncio.run(scenario())
    assert 1 <= len(published) <= 3
    assert published[-1] == store.version  # the last poll is in the last publish
