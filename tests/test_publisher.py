"""The published exposition: what a scrape sends between polls, and when it changes."""

from __future__ import annotations

import asyncio
import gzip
import time

from exporter.collectors import COLLECTORS, ParseOptions
from exporter.config import parse_config
from exporter.negotiation import OPENMETRICS, TEXT
from exporter.render import Renderer
from exporter.snapshot import AccountState, ExporterStatus, Store
from tests.replies import futures_account, um_asset

PAYLOAD = futures_account(
    assets=[
        um_asset(crossWalletBalance="100", crossUnPnl="-5", maintMargin="2", initialMargin="4",
                 positionInitialMargin="4", openOrderInitialMargin="0", updateTime=1700000000000)
    ],
    positions=[],
)  # fmt: skip


def without_process(body: bytes) -> list[bytes]:
    """The lines each build computes anew left out: the process metrics (read from /proc) and
    the data ages (as of the build)."""
    return [
        line
        for line in body.splitlines()
        if b"process_" not in line and b"binance_pm_exporter_data_age_seconds" not in line
    ]


def store_with_account() -> tuple[Store, AccountState]:
    store = Store(ExporterStatus(version="test"))
    state = AccountState("main", ("um_account",))
    store.accounts["main"] = state
    return store, state


def poll(store: Store, state: AccountState, at: float, stale_after: float = 45.0) -> None:
    collector = COLLECTORS["um_account"]
    result = collector.parse(PAYLOAD, ParseOptions())
    state.set_data("um_account", result.samples, collector.families, at, stale_after)
    store.changed()


async def running(renderer: Renderer):
    """The publisher task, as the exporter runs it."""
    return asyncio.create_task(renderer.run())


def test_the_first_scrape_of_a_format_waits_for_its_build_off_the_loop():
    store, state = store_with_account()
    renderer = Renderer(store)
    poll(store, state, time.time())

    async def scenario() -> tuple[bytes, bool, int]:
        task = await running(renderer)
        body, gzipped = await renderer.serve(TEXT, gzip_ok=False)
        task.cancel()
        return body, gzipped, renderer.builds

    body, gzipped, builds = asyncio.run(scenario())
    assert not gzipped
    assert b'binance_pm_um_asset_margin_balance{account="main",asset="USDT"} 95.0' in body
    assert builds == 1


def test_gzip_first_asked_after_a_build_gets_the_plain_body_then_its_gzip():
    store, state = store_with_account()
    renderer = Renderer(store)
    poll(store, state, time.time())

    async def scenario() -> list[tuple[bytes, bool]]:
        task = await running(renderer)
        plain = await renderer.serve(TEXT, gzip_ok=False)  # built without a gzip
        first = await renderer.serve(TEXT, gzip_ok=True)
        for _ in range(100):  # the next publish makes it (after the publisher's gap)
            second = await renderer.serve(TEXT, gzip_ok=True)
            if second[1]:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        return [plain, first, second]

    (plain, plain_gz), (first, first_gz), (second, second_gz) = asyncio.run(scenario())
    assert not plain_gz and not first_gz and second_gz
    assert first == plain
    # A later publish: the same data, the process metrics (read from /proc) read anew.
    assert without_process(gzip.decompress(second)) == without_process(plain)


def test_scrapes_never_build_only_publishes_do():
    store, state = store_with_account()
    renderer = Renderer(store)
    poll(store, state, time.time())

    async def scenario() -> tuple[int, int]:
        task = await running(renderer)
        await renderer.serve(OPENMETRICS, gzip_ok=False)
        await renderer.serve(TEXT, gzip_ok=False)
        before = renderer.builds
        for _ in range(200):
            await renderer.serve(TEXT, gzip_ok=False)
            await renderer.serve(OPENMETRICS, gzip_ok=False)
        after = renderer.builds
        task.cancel()
        return before, after

    before, after = asyncio.run(scenario())
    assert before == after


def test_nothing_is_built_while_nobody_scrapes():
    store, state = store_with_account()
    renderer = Renderer(store)

    async def scenario() -> int:
        task = await running(renderer)
        for _ in range(20):
            poll(store, state, time.time())
            await asyncio.sleep(0.02)
        await asyncio.sleep(renderer.MIN_GAP_SECONDS + 0.1)
        task.cancel()
        return renderer.builds

    assert asyncio.run(scenario()) == 0


def test_data_past_stale_after_is_never_served_from_an_old_publish():
    store, state = store_with_account()
    renderer = Renderer(store)
    poll(store, state, time.time() - 9.6, stale_after=10)  # turns stale in 0.4 s

    async def scenario() -> tuple[bytes, bytes]:
        task = await running(renderer)
        fresh, _ = await renderer.serve(TEXT, gzip_ok=False)
        await asyncio.sleep(0.5)
        stale, _ = await renderer.serve(TEXT, gzip_ok=False)
        task.cancel()
        return fresh, stale

    fresh, stale = asyncio.run(scenario())
    assert b"binance_pm_um_asset_" in fresh
    assert b"binance_pm_um_asset_" not in stale
    assert b'binance_pm_exporter_up{account="main"}' in stale


def test_the_publisher_coalesces_a_burst_of_polls_into_few_publishes():
    store, state = store_with_account()
    renderer = Renderer(store)

    async def scenario() -> tuple[int, int]:
        task = await running(renderer)
        await renderer.serve(TEXT, gzip_ok=True)
        before = renderer.builds
        for _ in range(50):  # 50 polls within about 0.1 s
            poll(store, state, time.time())
            await asyncio.sleep(0.002)
        for _ in range(100):  # until the last poll is published (the gap grows with load)
            if renderer.published[TEXT].version == store.version:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        return renderer.builds - before, renderer.published[TEXT].version

    publishes, version = asyncio.run(scenario())
    assert 1 <= publishes <= 3
    assert version == store.version  # the last poll is in the last publish


def test_a_format_nobody_asks_for_any_more_is_no_longer_built_nor_kept():
    store, state = store_with_account()
    renderer = Renderer(store)
    # Long enough for both first scrapes to be built on a loaded machine (a publisher round
    # can take a few tenths of a second there), short enough to wait out.
    renderer.DEMAND_SECONDS = 1.0  # type: ignore[misc]
    renderer.REFRESH_SECONDS = 60.0  # type: ignore[misc]  # no refresh while they are asked for
    poll(store, state, time.time())

    async def scenario() -> tuple[set[str], set[str], int]:
        task = await running(renderer)
        await renderer.serve(TEXT, gzip_ok=False)
        await renderer.serve(OPENMETRICS, gzip_ok=False)
        both = set(renderer.published)
        await asyncio.sleep(1.1)  # neither asked for since
        poll(store, state, time.time())
        for _ in range(100):  # the publisher's next round (after its gap) drops them
            if not renderer.published:
                break
            await asyncio.sleep(0.05)
        builds = renderer.builds
        task.cancel()
        return both, set(renderer.published), builds

    both, left, builds = asyncio.run(scenario())
    assert both == {TEXT, OPENMETRICS}
    assert left == set()
    assert builds == 2  # one per format's first scrape, none for the poll nobody fetched


BALANCE_ROW = {"asset": "USDT", "totalWalletBalance": "250.5", "updateTime": 1700000000000}


def test_each_collectors_data_is_served_for_three_of_its_own_intervals():
    config = parse_config(
        {
            "base_url": "http://papi.invalid",
            "collectors": ["um_account", "balance"],
            "accounts": [{"name": "main", "api_key": "k", "api_secret": "s"}],
        },
        {},
    )
    stale_after = {e.name: config.polling.stale_after(e) for e in config.accounts[0].collectors}
    assert stale_after == {"um_account": 45.0, "balance": 180.0}
    um_line = b'binance_pm_um_asset_cross_wallet_balance{account="main",asset="USDT"} 100.0'
    balance_line = b'binance_pm_balance_total_wallet_balance{account="main",asset="USDT"} 250.5'

    def served(seconds_ago: float) -> tuple[bool, bool, float]:
        """Both collectors polled ``seconds_ago``: whether each is served, and until when."""
        store = Store(ExporterStatus(version="test"))
        state = store.accounts["main"] = AccountState("main", ("um_account", "balance"))
        polled_at = time.time() - seconds_ago
        for name, payload in (("um_account", PAYLOAD), ("balance", [BALANCE_ROW])):
            collector = COLLECTORS[name]
            result = collector.parse(payload, ParseOptions())
            state.set_data(name, result.samples, collector.families, polled_at, stale_after[name])
        renderer = Renderer(store)
        asyncio.run(renderer.publish({TEXT: False}))
        published = renderer.published[TEXT]
        lines = published.body.splitlines()
        return um_line in lines, balance_line in lines, published.valid_until - polled_at

    assert served(10) == (True, True, 45.0)
    # Past 3 x the poll interval, the 60 s collector's data stays.
    assert served(46) == (False, True, 180.0)
    assert served(179) == (False, True, 180.0)
    assert served(181)[:2] == (False, False)
