"""The scheduler without sockets or real time: its arithmetic, and a poll against a fake client."""

from __future__ import annotations

import asyncio
import json
import selectors
from collections.abc import Mapping

import pytest

from exporter.binance.client import Credentials
from exporter.binance.client import Reply as ClientReply
from exporter.binance.errors import REASONS, ApiError, classify_reply
from exporter.config import parse_config
from exporter.reload import plan_reload
from exporter.scheduler import AUTH_BACKOFF_CAP, Scheduler, auth_backoff, credentials_for
from exporter.slots import (
    MAX_SLOT_JITTER,
    first_poll_at,
    slot_cycle,
    slot_jitter_bound,
    slot_offset,
)
from exporter.snapshot import AccountState, ExporterStatus, Store
from tests.helpers import private_pem, signing_key, write_key_file
from tests.replies import account_info, futures_account, open_um_position, position_risk


def test_slots_are_spread_evenly_over_the_cycle():
    assert [slot_offset(i, 4, 60.0) for i in range(4)] == [0.0, 15.0, 30.0, 45.0]
    assert [slot_offset(i, 3, 15.0) for i in range(3)] == [0.0, 5.0, 10.0]
    assert slot_offset(0, 1, 15.0) == 0.0


def test_jitter_is_at_most_a_second():
    assert MAX_SLOT_JITTER == 1.0
    assert slot_jitter_bound(1, 15.0) == 1.0
    assert slot_jitter_bound(3, 60.0) == 1.0


def test_jitter_is_at_most_a_quarter_of_the_spacing():
    assert slot_jitter_bound(10, 15.0) == 0.375
    assert slot_jitter_bound(4, 1.0) == 0.0625


def test_jittered_slots_never_reach_the_next_slot():
    slots, interval = 7, 15.0
    bound = slot_jitter_bound(slots, interval)
    for slot in range(slots - 1):
        assert slot_offset(slot, slots, interval) + bound < slot_offset(slot + 1, slots, interval)


def test_a_slot_not_yet_reached_is_the_first_poll():
    assert first_poll_at(12.5, 10.0, 15.0) == 12.5
    assert first_poll_at(10.0, 10.0, 15.0) == 10.0


def test_a_loop_started_late_polls_at_its_slots_next_time_round_in_the_cycle():
    # A 300 s group whose slot is 5 s into a 15 s cycle, started by a reload at 100 s.
    assert first_poll_at(5.0, 100.0, 15.0) == 110.0
    assert first_poll_at(5.0, 110.0, 15.0) == 110.0
    assert first_poll_at(5.0, 110.5, 15.0) == 125.0


def test_the_cycle_is_the_shortest_interval_of_any_collector():
    config = parse_config(
        {
            "base_url": "http://papi.invalid",
            "collectors": ["um_account", {"name": "balance", "interval_seconds": 60}],
            "accounts": [
                {"name": "a", "api_key": "k1", "api_secret": "s1"},
                {
                    "name": "b",
                    "api_key": "k2",
                    "api_secret": "s2",
                    "collectors": [{"name": "account", "interval_seconds": 7.5}],
                },
            ],
        },
        {},
    )
    assert slot_cycle(config.accounts) == 7.5
    assert slot_cycle(config.accounts[:1]) == 15.0


def test_auth_backoff_doubles_the_interval():
    assert [auth_backoff(n, 15.0) for n in range(1, 7)] == [15.0, 30.0, 60.0, 120.0, 240.0, 480.0]


def test_auth_backoff_is_capped():
    assert AUTH_BACKOFF_CAP == 600.0
    assert auth_backoff(7, 15.0) == 600.0
    assert auth_backoff(8, 15.0) == 600.0
    assert auth_backoff(3, 15.0, cap=45.0) == 45.0


def test_auth_backoff_of_an_interval_over_the_cap_is_the_cap():
    assert auth_backoff(1, 900.0) == 600.0


@pytest.mark.parametrize("failures", [1100, 10**6])
def test_auth_backoff_of_a_key_refused_for_days_is_the_cap(failures):
    assert auth_backoff(failures, 15.0) == AUTH_BACKOFF_CAP


# --- one poll against a fake client ------------------------------------------------------------

UM_V1 = "/papi/v1/um/account"
UM_V2 = "/papi/v2/um/account"
UM_REPLY = b'{"assets": [], "positions": []}'
RETIRED_BODY = (
    b'{"code": -5000, "msg": "GET /papi/v1/um/account is retired, '
    b'please use GET /papi/v2/um/account"}'
)

Reply = bytes | ClientReply | Exception


class FakeClock:
    offset_seconds = 0.25


class FakeClient:
    """What the scheduler uses of a PapiClient; each path answers its canned replies in turn."""

    def __init__(self, replies: dict[str, list[Reply]]) -> None:
        self.replies = replies
        self.requested: list[str] = []
        self.used_weight_1m: float | None = 42.0
        self.clock = FakeClock()

    async def get_signed(
        self, path: str, credentials: Credentials, params: Mapping[str, str] | None = None
    ) -> ClientReply:
        self.requested.append(path)
        reply = self.replies[path].pop(0)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, bytes):
            return ClientReply(reply)
        return reply


def make_scheduler(replies: dict[str, list[Reply]], collectors: list[str] | None = None):
    config = parse_config(
        {
            "base_url": "http://papi.invalid",
            "collectors": collectors or ["um_account"],
            "accounts": [{"name": "main", "api_key": "key-0123", "api_secret": "secret-4567"}],
        },
        {},
    )
    store = Store(ExporterStatus(version="test"))
    client = FakeClient(replies)
    scheduler = Scheduler(config, store, client)  # type: ignore[arg-type]
    return scheduler, store, client


def poll(scheduler: Scheduler, store: Store) -> tuple[bool, AccountState]:
    account = scheduler.config.accounts[0]
    state = store.accounts[account.name]
    refused = asyncio.run(scheduler.poll(account, state, credentials_for(account)))
    return refused, state


def counted(**reasons: int) -> dict[str, int]:
    return {reason: reasons.get(reason, 0) for reason in REASONS}


def test_a_good_reply_sets_the_collector_and_the_account_up():
    scheduler, store, client = make_scheduler({UM_V1: [UM_REPLY]})
    refused, state = poll(scheduler, store)
    health = state.health["um_account"]
    assert refused is False
    assert client.requested == [UM_V1]
    assert (state.up, state.ever_succeeded, health.up) == (True, True, True)
    assert health.errors == counted()
    assert (health.skipped, health.skipped_fields, health.duration_count) == (0, 0, 1)
    assert state.last_success == health.last_success > 0
    assert "um_account" in state.data
    assert (store.status.used_weight_1m, store.status.clock_offset_seconds) == (42.0, 0.25)
    assert store.version == 1


def test_skipped_entries_and_fields_are_counted_on_a_success():
    asset = b'{"asset": "USDT", "crossWalletBalance": "1"}'
    reply = b'{"assets": [' + asset + b", " + asset + b", 5], " + b'"positions": []}'
    scheduler, store, _ = make_scheduler({UM_V1: [reply, reply]})
    _, state = poll(scheduler, store)
    health = state.health["um_account"]
    assert (health.skipped, health.skipped_fields) == (2, 6)
    assert (state.up, health.up) == (True, True)
    assert health.errors == counted()
    poll(scheduler, store)
    assert (health.skipped, health.skipped_fields) == (4, 12)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ApiError("timeout", "no complete reply within 10s"), "timeout"),
        (ApiError("network", "ConnectError"), "network"),
        (classify_reply(502, b"Bad Gateway", None), "http_5xx"),
        (classify_reply(400, b'{"code": -1100, "msg": "Illegal characters"}', None), "other"),
        (classify_reply(418, b'{"code": -1003}', "120"), "ip_banned"),
        (classify_reply(429, b'{"code": -1003}', "30"), "rate_limited"),
    ],
)
def test_a_failed_request_is_counted_once_under_its_reason(error, reason):
    scheduler, store, _ = make_scheduler({UM_V1: [error]})
    refused, state = poll(scheduler, store)
    health = state.health["um_account"]
    assert refused is False
    assert (state.up, health.up, health.last_success) == (False, False, 0.0)
    assert health.errors == counted(**{reason: 1})
    assert health.duration_count == 1
    assert state.last_error == f"um_account: {reason}: {error}"


def test_a_refused_key_is_counted_as_auth_and_reported_to_the_loop():
    error = classify_reply(401, b'{"code": -2015, "msg": "Invalid API-key"}', None)
    scheduler, store, _ = make_scheduler({UM_V1: [error]})
    refused, state = poll(scheduler, store)
    assert refused is True
    assert state.health["um_account"].errors == counted(auth=1)
    assert (state.up, state.health["um_account"].up) == (False, False)


def test_a_request_held_back_by_retry_after_is_not_counted():
    error = ApiError("rate_limited", "Retry-After: 30s left, not sent", sent=False)
    scheduler, store, _ = make_scheduler({UM_V1: [error]})
    refused, state = poll(scheduler, store)
    health = state.health["um_account"]
    assert refused is False
    assert health.errors == counted()
    assert (state.up, health.up, health.duration_count) == (False, False, 0)


def test_a_body_that_is_not_json_is_a_bad_response():
    scheduler, store, _ = make_scheduler({UM_V1: [b"<html>maintenance</html>"]})
    _, state = poll(scheduler, store)
    assert state.health["um_account"].errors == counted(bad_response=1)
    assert state.last_error == "um_account: bad_response: unexpected payload: body is not JSON"
    assert state.up is False


def test_an_unexpected_exception_is_counted_as_other_without_its_text():
    scheduler, store, _ = make_scheduler({UM_V1: [RuntimeError("key-0123 in a message")]})
    _, state = poll(scheduler, store)
    assert state.health["um_account"].errors == counted(other=1)
    assert state.last_error == "um_account: other: unexpected error: RuntimeError"
    assert state.up is False


def test_a_timestamp_refusal_that_succeeded_on_retry_is_counted_once_and_up():
    scheduler, store, _ = make_scheduler({UM_V1: [ClientReply(UM_REPLY, timestamp_retried=True)]})
    refused, state = poll(scheduler, store)
    health = state.health["um_account"]
    assert refused is False
    assert health.errors == counted(timestamp=1)
    assert (state.up, health.up) == (True, True)


def test_a_timestamp_refusal_refused_again_on_retry_is_counted_once():
    error = classify_reply(400, b'{"code": -1021, "msg": "Timestamp outside recvWindow"}', None)
    error.timestamp_retried = True
    scheduler, store, _ = make_scheduler({UM_V1: [error]})
    refused, state = poll(scheduler, store)
    health = state.health["um_account"]
    assert refused is False
    assert health.errors == counted(timestamp=1)
    assert (state.up, health.up) == (False, False)


def test_a_timestamp_refusal_without_a_retry_is_counted_once():
    # The clock could not be measured, so the client did not retry.
    error = classify_reply(400, b'{"code": -1021, "msg": "Timestamp outside recvWindow"}', None)
    scheduler, store, _ = make_scheduler({UM_V1: [error]})
    _, state = poll(scheduler, store)
    assert state.health["um_account"].errors == counted(timestamp=1)


def test_a_timestamp_refusal_whose_retry_failed_otherwise_counts_both_reasons_once():
    error = ApiError("network", "ConnectError")
    error.timestamp_retried = True
    scheduler, store, _ = make_scheduler({UM_V1: [error]})
    _, state = poll(scheduler, store)
    assert state.health["um_account"].errors == counted(timestamp=1, network=1)


def test_a_timestamp_retry_on_any_page_counts_the_paged_fetch_once():
    um_income = "/papi/v1/um/income"
    row = {"symbol": "", "incomeType": "TRANSFER", "income": "1", "asset": "USDT"}
    full_page = [{**row, "tranId": i, "time": 2_000_000_000_000 + i} for i in range(1000)]
    page = ClientReply(json.dumps(full_page).encode(), timestamp_retried=True)
    scheduler, store, client = make_scheduler(
        {um_income: [page, ClientReply(b"[]", timestamp_retried=True)]}, collectors=["um_income"]
    )
    _, state = poll(scheduler, store)
    assert client.requested == [um_income, um_income]
    assert state.health["um_income"].errors == counted(timestamp=1)
    assert state.health["um_income"].up is True


def test_a_failed_page_after_a_timestamp_retry_counts_both_reasons_once():
    um_income = "/papi/v1/um/income"
    row = {"symbol": "", "incomeType": "TRANSFER", "income": "1", "asset": "USDT"}
    full_page = [{**row, "tranId": i, "time": 2_000_000_000_000 + i} for i in range(1000)]
    page = ClientReply(json.dumps(full_page).encode(), timestamp_retried=True)
    scheduler, store, _ = make_scheduler({um_income: [page, TIMEOUT]}, collectors=["um_income"])
    _, state = poll(scheduler, store)
    assert state.health["um_income"].errors == counted(timestamp=1, timeout=1)
    assert state.health["um_income"].up is False


def test_a_retired_endpoint_moves_the_account_to_its_successor_within_the_poll():
    retired = classify_reply(400, RETIRED_BODY, None)
    assert retired is not None and retired.retired
    scheduler, store, client = make_scheduler({UM_V1: [retired], UM_V2: [UM_REPLY, UM_REPLY]})
    refused, state = poll(scheduler, store)
    health = state.health["um_account"]
    assert refused is False
    assert client.requested == [UM_V1, UM_V2]
    assert (health.on_successor, health.fallbacks) == (True, 1)
    assert health.errors == counted()
    assert (state.up, health.up) == (True, True)
    fallbacks = state.self_fragments["binance_pm_exporter_endpoint_fallbacks_total"]
    assert b'{account="main",collector="um_account"} 1.0' in fallbacks
    poll(scheduler, store)
    assert client.requested == [UM_V1, UM_V2, UM_V2]
    assert health.fallbacks == 1


def test_one_failing_collector_sets_the_account_down_and_leaves_the_others_up():
    scheduler, store, _ = make_scheduler(
        {UM_V1: [UM_REPLY], "/papi/v1/account": [ApiError("timeout", "slow")]},
        collectors=["um_account", "account"],
    )
    _, state = poll(scheduler, store)
    assert state.up is False
    assert (state.health["um_account"].up, state.health["account"].up) == (True, False)
    assert state.health["um_account"].errors == counted()
    assert state.health["account"].errors == counted(timeout=1)


# --- an account's loop in fake time ------------------------------------------------------------


class Stop(BaseException):
    """Ends an account's loop once its scripted polls are used up."""


class FakeTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when the scheduler sleeps."""

    now = 0.0

    def time(self) -> float:
        return self.now


def poll_times(monkeypatch, refusals: list[bool]) -> list[float]:
    """When the account's loop polls, given whether each poll's key was refused."""
    scheduler, _, _ = make_scheduler({})
    assert scheduler.config.polling.interval_seconds == 15.0
    loop = FakeTimeLoop()
    polled: list[float] = []
    finished = asyncio.Event()

    async def fake_poll(*args: object) -> bool:
        if len(polled) == len(refusals):
            finished.set()
            raise Stop
        polled.append(loop.now)
        return refusals[len(polled) - 1]

    async def fake_sleep(wake: asyncio.Event, seconds: float) -> bool:
        loop.now += max(0.0, seconds)
        return False

    monkeypatch.setattr(scheduler, "poll", fake_poll)
    monkeypatch.setattr("exporter.scheduler.sleep_or_wake", fake_sleep)
    monkeypatch.setattr("exporter.scheduler.random.uniform", lambda low, high: low)

    async def run() -> None:
        scheduler.start()  # one account, one interval: its slot is the start
        await finished.wait()
        await scheduler.stop()

    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(run())
    return polled


def test_a_refused_key_is_retried_after_a_doubling_delay_up_to_the_cap(monkeypatch):
    polled = poll_times(monkeypatch, [True] * 9)
    assert polled == [0.0, 15.0, 45.0, 105.0, 225.0, 465.0, 945.0, 1545.0, 2145.0]


def test_an_accepted_key_is_polled_at_the_interval_again(monkeypatch):
    polled = poll_times(monkeypatch, [True, True, True, False, False, True, False])
    assert polled == [0.0, 15.0, 45.0, 105.0, 120.0, 135.0, 150.0]


def test_each_signer_is_built_once_at_load_and_never_shows_its_key(tmp_path) -> None:
    from exporter.config import parse_config

    key_file = write_key_file(tmp_path / "key.pem", private_pem(signing_key("ed25519")))
    raw = {
        "base_url": "http://127.0.0.1:1",
        "accounts": [
            {"name": "h", "api_key": "k1", "api_secret": "s3cr3t-value"},
            {"name": "e", "api_key": "k2", "private_key_file": str(key_file)},
        ],
    }
    first, again = parse_config(raw, {}), parse_config(raw, {})
    hmac_account, ed_account = first.accounts
    assert (hmac_account.signer.kind, ed_account.signer.kind) == ("hmac", "ed25519")
    assert credentials_for(ed_account).signer is ed_account.signer  # no parse per loop start
    assert first.accounts == again.accounts  # a reload of the same file changes no account
    shown = repr(first.accounts) + repr(hmac_account.signer) + repr(ed_account.signer)
    assert "s3cr3t-value" not in shown and "PRIVATE KEY" not in shown


# --- collectors at different intervals, on a fake wall clock -----------------------------------

UM_RISK = "/papi/v1/um/positionRisk"
TIMEOUT = ApiError("timeout", "no complete reply within 10s")


class FakeWallClock:
    """Stands in for the scheduler's ``time`` module: wall time moves only when a test says."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return 0.0


def poll_at(
    scheduler: Scheduler, store: Store, clock: FakeWallClock, at: float, *names: str
) -> AccountState:
    """Poll ``names`` (all collectors when none) ``at`` seconds after the fake clock's start."""
    clock.now = 1_000_000.0 + at
    account = scheduler.config.accounts[0]
    state = store.accounts[account.name]
    asyncio.run(scheduler.poll(account, state, credentials_for(account), names or None))
    return state


def series(state: AccountState, family: str) -> list[bytes]:
    """The family's sample lines over every collector's served data of the account."""
    return [
        line
        for data in state.data.values()
        for line in data.fragments.get(family, b"").splitlines()
    ]


def test_a_leader_back_from_stale_takes_its_families_from_the_follower_at_once(monkeypatch):
    # um_account every 15 s (stale after 45), um_position_risk every 60 s (stale after 180).
    leader_row = open_um_position(notional="10500.0")
    um_reply = json.dumps(futures_account(positions=[leader_row])).encode()
    risk_rows = [position_risk(positionAmt="0.250"), position_risk("ETHUSDT", positionAmt="2")]
    risk_reply = json.dumps(risk_rows).encode()
    scheduler, store, client = make_scheduler(
        {UM_V1: [um_reply, TIMEOUT, um_reply], UM_RISK: [risk_reply, risk_reply]},
        collectors=["um_account", {"name": "um_position_risk", "interval_seconds": 60}],
    )
    clock = FakeWallClock()
    monkeypatch.setattr("exporter.scheduler.time", clock)
    notional = "binance_pm_um_position_notional"

    state = poll_at(scheduler, store, clock, 0)
    # BTCUSDT's from the account detail (the follower leaves it); the open ETHUSDT the detail
    # lacks from the follower
    assert len(series(state, notional)) == 2
    state = poll_at(scheduler, store, clock, 50, "um_account")  # fails; its data is stale
    state = poll_at(scheduler, store, clock, 60, "um_position_risk")
    # The leader's data is no longer served: the follower gives every family of the row.
    assert state.data["um_position_risk"].fragments[notional] == (
        b'binance_pm_um_position_notional{account="main",symbol="BTCUSDT",'
        b'position_side="BOTH"} 667.950671178\n'
        b'binance_pm_um_position_notional{account="main",symbol="ETHUSDT",'
        b'position_side="BOTH"} 667.950671178\n'
    )
    state = poll_at(scheduler, store, clock, 65, "um_account")  # the leader is back

    assert client.requested == [UM_V1, UM_RISK, UM_V1, UM_RISK, UM_V1]
    assert series(state, notional) == [
        b'binance_pm_um_position_notional{account="main",symbol="BTCUSDT",'
        b'position_side="BOTH"} 10500.0',
        b'binance_pm_um_position_notional{account="main",symbol="ETHUSDT",'
        b'position_side="BOTH"} 667.950671178',
    ]
    assert b"BTCUSDT" not in state.data["um_position_risk"].fragments[notional]
    # What only the follower gives stays until its next poll; an open ETHUSDT the account
    # detail does not list stays whole (the follower's next poll would keep it too).
    assert series(state, "binance_pm_um_position_mark_price") == [
        b'binance_pm_um_position_mark_price{account="main",symbol="BTCUSDT",'
        b'position_side="BOTH"} 6679.50671178',
        b'binance_pm_um_position_mark_price{account="main",symbol="ETHUSDT",'
        b'position_side="BOTH"} 6679.50671178',
    ]
    assert series(state, "binance_pm_um_position_amount")[1:] == [
        b'binance_pm_um_position_amount{account="main",symbol="ETHUSDT",position_side="BOTH"} 2.0'
    ]


ACCOUNT = "/papi/v1/account"
BALANCE = "/papi/v1/balance"


def test_a_poll_of_some_collectors_requests_and_settles_only_those(monkeypatch):
    scheduler, store, client = make_scheduler(
        {
            UM_V1: [UM_REPLY],
            ACCOUNT: [TIMEOUT, json.dumps(account_info()).encode()],
            BALANCE: [b"[]"],
        },
        collectors=["um_account", "account", "balance"],
    )
    clock = FakeWallClock()
    monkeypatch.setattr("exporter.scheduler.time", clock)

    state = poll_at(scheduler, store, clock, 0, "account")
    health = state.health
    assert client.requested == [ACCOUNT]
    assert health["account"].errors == counted(timeout=1)
    assert [health[c].duration_count for c in ("um_account", "account", "balance")] == [0, 1, 0]
    assert (state.up, state.ever_succeeded, store.version) == (False, False, 1)

    poll_at(scheduler, store, clock, 5, "um_account", "balance")
    assert client.requested == [ACCOUNT, UM_V1, BALANCE]
    assert [health[c].up for c in ("um_account", "account", "balance")] == [True, False, True]
    # Every collector's latest request must have succeeded: account's did not.
    assert (state.up, state.ever_succeeded, state.last_success) == (False, False, 0.0)

    poll_at(scheduler, store, clock, 9, "account")
    assert client.requested == [ACCOUNT, UM_V1, BALANCE, ACCOUNT]
    assert (state.up, state.ever_succeeded, state.last_success) == (True, True, 1_000_009.0)
    assert health["um_account"].last_success == 1_000_005.0
    assert [health[c].errors for c in ("um_account", "balance")] == [counted(), counted()]


# --- loops on a virtual clock: slots, early polls and reloads ---------------------------------


class JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """Never waits: when nothing is ready, the loop's clock jumps to the next timer."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("nothing scheduled: the scenario would wait forever")
        self.loop.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(JumpingSelector(self))

    def time(self) -> float:
        return self.now


Polled = tuple[float, str, tuple[str, ...]]


def run_on_virtual_clock(monkeypatch, scheduler: Scheduler, scenario) -> list[Polled]:
    """Start the scheduler at 0, run ``scenario(loop)``, stop: each poll's (time, account,
    collectors)."""
    loop = VirtualTimeLoop()
    polled: list[Polled] = []

    async def fake_poll(account, state, creds, names=None) -> bool:
        polled.append((loop.now, account.name, names))
        return False

    monkeypatch.setattr(scheduler, "poll", fake_poll)
    monkeypatch.setattr("exporter.scheduler.random.uniform", lambda low, high: low)

    async def run() -> None:
        scheduler.start()
        await scenario(loop)
        await scheduler.stop()

    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(run())
    return polled


def config_with(poll_interval: float = 15, key: str = "key-0123", extra: list | None = None):
    main = {"name": "main", "api_key": key, "api_secret": "secret-4567"}
    return parse_config(
        {
            "base_url": "http://papi.invalid",
            "poll_interval_seconds": poll_interval,
            "collectors": ["um_account"],
            "accounts": [main, *(extra or [])],
        },
        {},
    )


async def until(loop: asyncio.AbstractEventLoop, at: float) -> None:
    await asyncio.sleep(at - loop.time())


def test_an_early_poll_polls_only_the_asked_collectors_and_leaves_the_slot(monkeypatch):
    scheduler, _, _ = make_scheduler({}, collectors=["um_account", "account"])

    async def scenario(loop) -> None:
        await until(loop, 5)
        scheduler.request_poll("main", ["account", "cm_account"])  # cm_account: not polled
        scheduler.request_poll("nobody", ["account"])
        await until(loop, 31)

    polled = run_on_virtual_clock(monkeypatch, scheduler, scenario)
    both = ("um_account", "account")
    assert polled == [
        (0.0, "main", both),
        (5.0, "main", ("account",)),
        (15.0, "main", both),
        (30.0, "main", both),
    ]


def reload_at_20(monkeypatch, new) -> list[Polled]:
    scheduler, _, client = make_scheduler({})
    scheduler.config = config_with()

    async def scenario(loop) -> None:
        await until(loop, 20)
        await scheduler.apply(new, client, plan_reload(scheduler.config, new))
        await until(loop, 61)

    return [(at, name) for at, name, _ in run_on_virtual_clock(monkeypatch, scheduler, scenario)]


def test_a_reload_that_changes_only_intervals_moves_the_slot_without_polling_at_once(monkeypatch):
    polled = reload_at_20(monkeypatch, config_with(poll_interval=30))

    assert polled == [(0.0, "main"), (15.0, "main"), (30.0, "main"), (60.0, "main")]


def test_a_reload_that_changes_the_key_polls_at_once_then_at_the_slot(monkeypatch):
    polled = reload_at_20(monkeypatch, config_with(key="key-new"))

    assert [at for at, _ in polled] == [0.0, 15.0, 20.0, 30.0, 45.0, 60.0]


def test_a_reload_that_changes_the_key_and_the_interval_polls_at_once(monkeypatch):
    polled = reload_at_20(monkeypatch, config_with(poll_interval=30, key="key-new"))

    assert [at for at, _ in polled] == [0.0, 15.0, 20.0, 30.0, 60.0]


def test_an_added_account_polls_each_interval_within_the_shortest_one(monkeypatch):
    second = {
        "name": "second",
        "api_key": "key-2",
        "api_secret": "secret-2",
        "collectors": ["um_account", {"name": "balance", "interval_seconds": 60}],
    }
    polled = reload_at_20(monkeypatch, config_with(extra=[second]))

    # Three groups share the 15 s cycle: main at 0, second's 15 s group at 5, its 60 s one at
    # 10; the added account's first polls are its slots' next times round, within 15 s.
    assert polled == [
        (0.0, "main"),
        (15.0, "main"),
        (20.0, "second"),
        (25.0, "second"),
        (30.0, "main"),
        (35.0, "second"),
        (45.0, "main"),
        (50.0, "second"),
        (60.0, "main"),
    ]
