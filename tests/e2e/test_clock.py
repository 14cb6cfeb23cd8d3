"""The clock offset against slow, failing and oversized time replies."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from exporter.binance.clock import MAX_ROUND_TRIP_SECONDS
from exporter.simulator.accounts import SimAccount
from exporter.simulator.server import SimulatorThread
from tests.helpers import ExporterThread, make_config, value, wait_for

UM = "/papi/v1/um/account"
TIME = "/fapi/v1/time"
MAX_BYTES = 256 * 1024  # above the simulator's full-market UM reply (about 130 KB)


def up(exp: ExporterThread, account: str) -> float:
    return value(exp.samples(), "binance_pm_exporter_up", account=account)


def polls(exp: ExporterThread, account: str, collector: str = "um_account") -> float:
    return value(
        exp.samples(),
        "binance_pm_exporter_poll_duration_seconds_count",
        account=account,
        collector=collector,
    )


def timestamp_errors(exp: ExporterThread, account: str) -> float:
    return value(
        exp.samples(),
        "binance_pm_exporter_poll_errors_total",
        account=account,
        collector="um_account",
        reason="timestamp",
    )


def clock_lines(logs: list[dict], level: str) -> list[dict]:
    return [e for e in logs if e["event"].startswith("clock ") and e["log_level"] == level]


def test_a_slow_time_reply_is_discarded_and_polls_still_succeed(sim, accounts):
    # The simulator stamps serverTime after the delay: taken as is, the sample would put our
    # clock 1.1 s ahead of Binance's, and every request would be refused with -1021.
    delay = 2.2
    assert delay > MAX_ROUND_TRIP_SECONDS
    sim.set_fault(path=TIME, latency=delay)
    config = make_config(
        sim.base_url, accounts[:1], collectors=["um_account"], request_timeout_seconds=3
    )
    with capture_logs() as logs, ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1 and polls(exp, "oneway") >= 2)
        samples = exp.samples()
    assert value(samples, "binance_pm_exporter_clock_offset_seconds") == 0.0
    assert value(samples, "binance_pm_um_asset_margin_balance", account="oneway", asset="USDT")
    assert [r for r in sim.requests if r.code == -1021] == []
    [warning] = clock_lines(logs, "warning")
    assert "round trip" in warning["error"] and "discarded" in warning["error"]
    assert len([e for e in logs if e["event"].startswith("clock ")]) == 1


def test_a_timestamp_rejection_is_not_retried_when_the_clock_cannot_be_measured(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1)
        sim.set_fault(path=TIME, status=500)
        sim.set_fault("oneway", UM, status=400, code=-1021, times=1)
        hit = wait_for(lambda: [r for r in sim.requests if r.code == -1021])[0]
        wait_for(lambda: timestamp_errors(exp, "oneway") == 1)
        wait_for(lambda: up(exp, "oneway") == 1)  # the next poll, at its slot, succeeds
        assert timestamp_errors(exp, "oneway") == 1
    syncs = [r for r in sim.requests if r.path == TIME and r.time > hit.time]
    assert syncs and syncs[0].status == 500
    # The retry would be refused again: the poll that got -1021 sent nothing more. The next
    # poll comes at the next slot, a second later.
    after = [r for r in sim.requests if r.path == UM and hit.time <= r.time < hit.time + 0.5]
    assert after == [hit]


def test_a_failing_clock_sync_is_logged_once_per_run_and_its_recovery_once(sim, accounts):
    config = make_config(sim.base_url, accounts[:1], collectors=["um_account"])
    with capture_logs() as logs, ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1)
        sim.set_fault(path=TIME, status=503)
        sim.set_fault("oneway", UM, status=400, code=-1021, times=2)
        wait_for(lambda: timestamp_errors(exp, "oneway") == 2)
        sim.clear_faults()
        sim.set_fault("oneway", UM, status=400, code=-1021, times=1)
        wait_for(lambda: clock_lines(logs, "info"))
        wait_for(lambda: up(exp, "oneway") == 1)
    failed = [r for r in sim.requests if r.path == TIME and r.status == 503]
    assert len(failed) == 2  # one measurement per -1021 ...
    [warning] = clock_lines(logs, "warning")  # ... one line for the run
    assert warning["error"].startswith("ValueError: HTTP 503")
    [recovered] = clock_lines(logs, "info")
    assert recovered["event"] == "clock sync recovered"


class TimeServer:
    """A time URL that sends a body over MAX_BYTES: announced, or chunked without end."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sent = 0  # body bytes written before the client hung up
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}{TIME}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):  # the client cut the reply off
                    self._reply(conn)

    def _reply(self, conn: socket.socket) -> None:
        if self.mode == "announced":
            # Valid JSON with a wrong serverTime: read whole, it would move the clock by years.
            body = b'{"serverTime": 0, "pad": "' + b"x" * MAX_BYTES + b'"}'
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            conn.sendall(head + body)
            self.sent += len(body)
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while True:
            conn.sendall(framed)
            self.sent += len(chunk)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def time_server(request: pytest.FixtureRequest) -> Iterator[TimeServer]:
    server = TimeServer(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("time_server", ["announced", "endless"], indirect=True)
def test_an_oversized_time_reply_is_cut_and_the_offset_kept(sim, accounts, time_server):
    config = make_config(
        sim.base_url,
        accounts[:1],
        collectors=["um_account"],
        time_url=time_server.url,
        max_response_bytes=MAX_BYTES,
    )
    with capture_logs() as logs, ExporterThread(config) as exp:
        wait_for(lambda: up(exp, "oneway") == 1)
        samples = exp.samples()
    assert value(samples, "binance_pm_exporter_clock_offset_seconds") == 0.0
    [warning] = clock_lines(logs, "warning")
    assert "over the limit" in warning["error"] or "cut off" in warning["error"]
    # The endless body stopped soon after the cap (socket buffers hold a few MB at most).
    assert time_server.sent < 16 * 1024 * 1024


DESKS = [f"desk{i}" for i in range(10)]
SLOW_TIME_SECONDS = 3.0  # the time URL's answer while it is slow
INTERVAL = 2.0  # poll interval of the slow-time-URL tests


@pytest.fixture
def desks() -> Iterator[tuple[SimulatorThread, list[dict]]]:
    """A simulator with ten HMAC accounts, desk0 to desk9, and their config entries."""
    accounts = [
        SimAccount(name, f"{name}-key-0123456789", f"{name}-secret-0123456789") for name in DESKS
    ]
    with SimulatorThread(accounts, tick_seconds=0.2) as sim:
        entries = [
            {"name": a.name, "api_key": a.api_key, "api_secret": a.api_secret} for a in accounts
        ]
        yield sim, entries


def up_desks(exp: ExporterThread) -> set[str]:
    samples = exp.samples()
    return {n for n in DESKS if value(samples, "binance_pm_exporter_up", account=n) == 1}


def first_success_after(sim, since: float) -> dict[str, float]:
    """Each account's first UM reply of 200 to a request that arrived after ``since``."""
    first: dict[str, float] = {}
    for r in sim.requests:
        if r.path == UM and r.status == 200 and r.time > since and r.account not in first:
            first[r.account] = r.time
    return first


def slow_time_config(sim, entries: list[dict], recv_window_ms: int):
    return make_config(
        sim.base_url,
        entries,
        collectors=["um_account"],
        poll_interval_seconds=INTERVAL,
        request_timeout_seconds=5,
        recv_window_ms=recv_window_ms,
    )


OFFSET = "binance_pm_exporter_clock_offset_seconds"


def test_a_resync_with_a_slow_time_url_uses_its_safe_end_and_keeps_every_account_up(desks):
    # Binance's clock 4 s behind ours: every stamp is ahead and refused (-1021); the time URL
    # answers in 3 s. Its sample, read at the safe end, is within the 5 s window.
    sim, entries = desks
    with capture_logs() as logs, ExporterThread(slow_time_config(sim, entries, 5000)) as exp:
        wait_for(lambda: up_desks(exp) == set(DESKS))
        sim.set_fault(path=TIME, latency=SLOW_TIME_SECONDS)
        sim.set_clock_skew(-4000)
        skewed = time.time()
        wait_for(lambda: len(first_success_after(sim, skewed)) == len(DESKS), timeout=20)
        assert up_desks(exp) == set(DESKS)
        # The offset the polls used, once the exposition carries it (publishes are coalesced).
        wait_for(lambda: -4.5 < value(exp.samples(), OFFSET) <= -4.0)
    # Each account was refused once at most: its retry, and every poll after, went through.
    refused = Counter(r.account for r in sim.requests if r.code == -1021)
    assert refused and max(refused.values()) == 1
    # The refused polls shared the measurements in flight: a new one a second at most while
    # the answer takes 3 s, not one for each.
    measured = [r for r in sim.requests if r.path == TIME and r.time > skewed]
    assert 1 <= len(measured) <= SLOW_TIME_SECONDS + 2
    # The offset (checked above) is behind Binance's clock, never ahead of it.
    [slow] = [e for e in logs if e["event"].startswith("clock offset taken from a slow sample")]
    assert slow["round_trip_seconds"] >= SLOW_TIME_SECONDS


def test_accounts_are_up_within_two_intervals_of_the_time_url_recovering(desks):
    # A 2 s window: a 3 s round trip cannot be used, and every poll is refused until the time
    # URL answers fast again.
    sim, entries = desks
    with ExporterThread(slow_time_config(sim, entries, 2000)) as exp:
        wait_for(lambda: up_desks(exp) == set(DESKS))
        sim.set_fault(path=TIME, latency=SLOW_TIME_SECONDS)
        sim.set_clock_skew(-4000)
        skewed = time.time()
        # Each refused poll waits for a usable sample up to the request timeout, then fails.
        wait_for(lambda: up_desks(exp) == set(), timeout=INTERVAL + 10)
        time.sleep(INTERVAL)  # a whole interval refused: a slow measurement is in flight
        assert first_success_after(sim, skewed + INTERVAL) == {}
        sim.clear_faults()
        recovered = time.time()
        wait_for(lambda: up_desks(exp) == set(DESKS), timeout=4 * INTERVAL)
    first = first_success_after(sim, recovered)
    assert sorted(first) == DESKS
    took = max(first.values()) - recovered
    print(f"all {len(DESKS)} accounts up {took:.2f} s after the time URL recovered")
    assert took < 2 * INTERVAL
