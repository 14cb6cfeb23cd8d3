"""The clock offset against slow, failing and oversized time replies."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from exporter.binance.clock import MAX_ROUND_TRIP_SECONDS
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
