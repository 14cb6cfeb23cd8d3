"""Income counters: exact sums, each record once across pages, polls and restarts; nothing
before start-up; a failed page commits nothing. Polls run against the simulator over sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from exporter.binance.client import PapiClient, RetryAfterGate
from exporter.binance.clock import ServerClock
from exporter.collectors._income import MAX_PAGES_PER_POLL, PAGE_LIMIT
from exporter.collectors.um_income import COLLECTOR as UM_INCOME
from exporter.config import Config
from exporter.scheduler import Scheduler, credentials_for
from exporter.simulator.server import SimulatorThread
from exporter.snapshot import AccountState, ExporterStatus, Store
from tests.helpers import ExporterThread, make_config, value, wait_for

RECEIVED = "binance_pm_um_income_received_total"
PAID = "binance_pm_um_income_paid_total"
CM_RECEIVED = "binance_pm_cm_income_received_total"
CM_PAID = "binance_pm_cm_income_paid_total"
UNREADABLE = "binance_pm_exporter_income_unreadable_total"


class Poller:
    """The real scheduler and client polling the simulator once per ``poll()``: no timing."""

    def __init__(self, sim: SimulatorThread, accounts: list[dict], collectors: list[str]):
        self.sim = sim
        self.config: Config = make_config(sim.base_url, accounts[:1], collectors=collectors)
        self.loop = asyncio.new_event_loop()
        self.store = Store(ExporterStatus("test"))
        self.http = httpx.AsyncClient()
        clock = ServerClock(self.http, self.config.client.time_url, 2.0, 1 << 20)
        client = PapiClient(
            self.http,
            self.config.client.base_url,
            clock,
            RetryAfterGate(),
            recv_window_ms=5000,
            timeout=5.0,
            max_response_bytes=64 << 20,
        )
        self.scheduler = Scheduler(self.config, self.store, client)
        self.account = self.config.accounts[0]

    @property
    def state(self) -> AccountState:
        return self.store.accounts[self.account.name]

    def poll(self) -> AccountState:
        creds = credentials_for(self.account)
        self.loop.run_until_complete(self.scheduler.poll(self.account, self.state, creds))
        return self.state

    def samples(self, collector: str = "um_income") -> dict[tuple[str, tuple[str, ...]], float]:
        data = self.state.data.get(collector)
        if data is None:
            return {}
        return {(name, labels): v for name, rows in data.samples.items() for labels, v in rows}

    def income_requests(self, path: str = UM_INCOME.path) -> int:
        return sum(1 for r in self.sim.requests if r.path == path)

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


@pytest.fixture
def poller(sim, accounts) -> Iterator[Poller]:
    made = Poller(sim, accounts, ["um_income", "cm_income"])
    yield made
    made.close()


def funding(sim: SimulatorThread, income: str, symbol: str = "BTCUSDT", **kw: Any) -> None:
    sim.add_income("oneway", "FUNDING_FEE", income, "USDT", symbol, **kw)


def started_and_two_past_milliseconds(poller: Poller) -> int:
    """Polls once (the ledger starts), then waits until the millisecond returned and the next,
    both after the start, are past: Binance serves no record before its time."""
    poller.poll()
    later = poller.sim.clock_ms() + 5
    wait_for(lambda: poller.sim.clock_ms() > later + 1)
    return later


def test_records_after_start_are_summed_exactly_by_direction(poller) -> None:
    sim = poller.sim
    poller.poll()
    funding(sim, "0.12345678")
    funding(sim, "0.00000001")
    funding(sim, "-1.5", "ETHUSDT")
    sim.add_income("oneway", "COMMISSION", "-0.01", "USDT", "BTCUSDT")
    sim.add_income("oneway", "TRANSFER", "100", "USDT")
    sim.add_income("oneway", "FUNDING_FEE", "-0.00002", "BTC", "BTCUSD_PERP", book="cm")
    state = poller.poll()
    assert state.health["um_income"].up and state.health["cm_income"].up
    assert poller.samples() == {
        (RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT")): 0.12345679,
        (PAID, ("USDT", "FUNDING_FEE", "BTCUSDT")): 0.0,
        (RECEIVED, ("USDT", "FUNDING_FEE", "ETHUSDT")): 0.0,
        (PAID, ("USDT", "FUNDING_FEE", "ETHUSDT")): 1.5,
        (RECEIVED, ("USDT", "COMMISSION", "BTCUSDT")): 0.0,
        (PAID, ("USDT", "COMMISSION", "BTCUSDT")): 0.01,
        (RECEIVED, ("USDT", "TRANSFER", "")): 100.0,
        (PAID, ("USDT", "TRANSFER", "")): 0.0,
        (UNREADABLE, ("um",)): 0.0,
    }
    assert poller.samples("cm_income") == {
        (CM_RECEIVED, ("BTC", "FUNDING_FEE", "BTCUSD_PERP")): 0.0,
        (CM_PAID, ("BTC", "FUNDING_FEE", "BTCUSD_PERP")): 0.00002,
        (UNREADABLE, ("cm",)): 0.0,
    }


def test_sums_are_exact_to_the_last_digit_over_many_records(poller) -> None:
    poller.poll()
    funding(poller.sim, "0.1", count=3)  # 0.1 + 0.1 + 0.1 as floats is 0.30000000000000004
    poller.poll()
    assert poller.samples()[(RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT"))] == 0.3


def test_records_at_or_before_start_are_never_counted(poller) -> None:
    sim = poller.sim
    now = sim.clock_ms()
    funding(sim, "5", time_ms=now - 60_000)
    poller.poll()  # builds the ledger: its start is now
    funding(sim, "7", time_ms=now - 1000)  # booked late, dated before start
    funding(sim, "2")
    poller.poll()
    assert poller.samples()[(RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT"))] == 2.0


def test_the_same_tran_id_under_two_income_types_counts_twice(poller) -> None:
    sim = poller.sim
    poller.poll()
    sim.add_income("oneway", "REALIZED_PNL", "3", "USDT", "BTCUSDT", trade_id="77")
    sim.add_income("oneway", "COMMISSION", "-0.5", "USDT", "BTCUSDT", trade_id="77")
    poller.poll()
    served = sim.last_payload("oneway", UM_INCOME.path)
    assert served is not None
    assert len({r["tranId"] for r in served}) == 1  # both ids are 9689322392
    assert poller.samples()[(RECEIVED, ("USDT", "REALIZED_PNL", "BTCUSDT"))] == 3.0
    assert poller.samples()[(PAID, ("USDT", "COMMISSION", "BTCUSDT"))] == 0.5


def interleaved(sim: SimulatorThread, time_ms: int, n: int, *kinds: tuple[str, str, str]) -> None:
    """``n`` records of each (income type, amount, symbol) at one millisecond, one of each in turn,
    so that the first page shows every kind."""
    for _ in range(n):
        for income_type, income, symbol in kinds:
            sim.add_income("oneway", income_type, income, "USDT", symbol, time_ms=time_ms)


def unreadable(poller: Poller, market: str = "um") -> float:
    return poller.samples(f"{market}_income")[(UNREADABLE, (market,))]


def test_more_than_a_page_in_one_poll_is_counted_once(poller) -> None:
    sim = poller.sim
    later = started_and_two_past_milliseconds(poller)
    funding(sim, "0.01", count=700, time_ms=later)
    funding(sim, "-0.02", count=2500, time_ms=later + 1)  # 700 + 2500 = 3200 over 2 ms
    funding(sim, "0.03", count=600, time_ms=later + 1)
    before = poller.income_requests()
    poller.poll()
    # from later (full: 700 + 300), from later + 1 (full, one millisecond: split by type,
    # then by symbol, both full: unreadable), then nothing after later + 1
    assert poller.income_requests() - before == 5
    assert unreadable(poller) == 1.0
    key = ("USDT", "FUNDING_FEE", "BTCUSDT")
    assert poller.samples()[(RECEIVED, key)] == 7.0
    assert poller.samples()[(PAID, key)] == 20.0  # the first 1000 of later + 1, no more
    poller.poll()
    poller.poll()
    assert poller.samples()[(RECEIVED, key)] == 7.0
    assert poller.samples()[(PAID, key)] == 20.0
    assert unreadable(poller) == 1.0


def test_a_full_millisecond_is_split_by_income_type_without_page(poller) -> None:
    sim = poller.sim
    later = started_and_two_past_milliseconds(poller)
    interleaved(
        sim, later, 600, ("FUNDING_FEE", "-0.5", "BTCUSDT"), ("COMMISSION", "-0.25", "BTCUSDT")
    )
    funding(sim, "1", count=700, time_ms=later + 1)
    before = len(sim.requests)
    poller.poll()
    asked = [r.params for r in sim.requests[before:] if r.path == UM_INCOME.path]
    assert all("page" not in params for params in asked)
    assert [params.get("incomeType") for params in asked] == [
        None,
        "FUNDING_FEE",
        "COMMISSION",
        None,
    ]
    assert asked[1]["startTime"] == asked[1]["endTime"] == str(later)
    assert asked[3]["startTime"] == str(later + 1)
    samples = poller.samples()
    assert samples[(PAID, ("USDT", "FUNDING_FEE", "BTCUSDT"))] == 300.0
    assert samples[(RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT"))] == 700.0
    assert samples[(PAID, ("USDT", "COMMISSION", "BTCUSDT"))] == 150.0
    assert unreadable(poller) == 0.0
    before = poller.income_requests()
    poller.poll()  # from later + 1: the split millisecond is closed, not split again
    assert poller.income_requests() - before == 1
    assert poller.samples() == samples


def test_a_type_still_full_is_split_by_symbol(poller) -> None:
    sim = poller.sim
    later = started_and_two_past_milliseconds(poller)
    interleaved(sim, later, 600, ("FUNDING_FEE", "-1", "BTCUSDT"), ("FUNDING_FEE", "-2", "ETHUSDT"))
    before = len(sim.requests)
    poller.poll()
    asked = [r.params for r in sim.requests[before:] if r.path == UM_INCOME.path]
    parts = [(params.get("incomeType"), params.get("symbol")) for params in asked]
    assert parts == [
        (None, None),
        ("FUNDING_FEE", None),
        ("FUNDING_FEE", "BTCUSDT"),
        ("FUNDING_FEE", "ETHUSDT"),
        (None, None),
    ]
    assert poller.samples()[(PAID, ("USDT", "FUNDING_FEE", "BTCUSDT"))] == 600.0
    assert poller.samples()[(PAID, ("USDT", "FUNDING_FEE", "ETHUSDT"))] == 1200.0
    assert unreadable(poller) == 0.0


def test_an_unreadable_millisecond_is_counted_once_and_counting_moves_on(poller) -> None:
    sim = poller.sim
    later = started_and_two_past_milliseconds(poller)
    funding(sim, "1", count=1500, time_ms=later)
    funding(sim, "2", count=3, time_ms=later + 1)
    poller.poll()
    key = (RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT"))
    assert poller.samples()[key] == 1006.0
    assert unreadable(poller) == 1.0
    assert poller.samples("cm_income")[(UNREADABLE, ("cm",))] == 0.0
    funding(sim, "0.5")
    poller.poll()
    assert poller.samples()[key] == 1006.5
    assert unreadable(poller) == 1.0


def test_a_backlog_longer_than_a_poll_allows_is_caught_up_by_the_next_polls(poller) -> None:
    sim = poller.sim
    poller.poll()
    start = sim.clock_ms() + 5
    total = PAGE_LIMIT * MAX_PAGES_PER_POLL + 300
    for i in range(total // 100):  # 100 records per millisecond
        funding(sim, "1", count=100, time_ms=start + i)
    # Binance serves no record dated after its own now: wait until the last one is in the past.
    wait_for(lambda: sim.clock_ms() > start + total // 100)
    before = poller.income_requests()
    poller.poll()
    assert poller.income_requests() - before == MAX_PAGES_PER_POLL
    key = (RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT"))
    assert PAGE_LIMIT * (MAX_PAGES_PER_POLL - 1) < poller.samples()[key] < total
    poller.poll()
    assert poller.samples()[key] == total


def test_a_failing_page_commits_nothing_and_the_next_poll_catches_up(poller) -> None:
    sim = poller.sim
    later = started_and_two_past_milliseconds(poller)
    funding(sim, "1", count=750, time_ms=later)
    funding(sim, "1", count=750, time_ms=later + 1)
    sim.set_fault("oneway", UM_INCOME.path, status=503, times=1, after=1)
    state = poller.poll()
    assert not state.health["um_income"].up
    assert state.health["um_income"].errors["http_5xx"] == 1
    assert (RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT")) not in poller.samples()
    state = poller.poll()
    assert state.health["um_income"].up
    assert poller.samples()[(RECEIVED, ("USDT", "FUNDING_FEE", "BTCUSDT"))] == 1500.0


def test_a_page_that_is_not_a_list_fails_the_poll_as_a_bad_response(poller) -> None:
    poller.poll()
    poller.sim.set_fault("oneway", UM_INCOME.path, body=b'{"code": 0}', times=1)
    state = poller.poll()
    assert state.health["um_income"].errors["bad_response"] == 1


def um_income_up(exporter: ExporterThread) -> bool:
    return (
        value(
            exporter.samples(),
            "binance_pm_exporter_collector_up",
            account="oneway",
            collector="um_income",
        )
        == 1.0
    )


def test_a_restart_starts_again_at_zero_and_counts_only_what_came_after(sim, accounts) -> None:
    config = make_config(
        sim.base_url, accounts[:1], collectors=[{"name": "um_income", "interval_seconds": 1}]
    )
    labels = {"account": "oneway", "asset": "USDT", "income_type": "FUNDING_FEE"}
    labels["symbol"] = "BTCUSDT"
    with ExporterThread(config) as exporter:
        wait_for(lambda: um_income_up(exporter))
        funding(sim, "4")
        wait_for(lambda: (RECEIVED, frozenset(labels.items())) in exporter.samples())
        assert value(exporter.samples(), RECEIVED, **labels) == 4.0
    with ExporterThread(config) as exporter:
        wait_for(lambda: um_income_up(exporter))
        assert (RECEIVED, frozenset(labels.items())) not in exporter.samples()
        funding(sim, "0.5")
        wait_for(lambda: (RECEIVED, frozenset(labels.items())) in exporter.samples())
        assert value(exporter.samples(), RECEIVED, **labels) == 0.5
