"""Live reload: SIGHUP and POST /-/reload re-read the config file without a restart."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import psutil
import pytest

from exporter.config import load_config
from exporter.simulator.accounts import SimAccount
from exporter.simulator.endpoints import ACCOUNT, UM_ACCOUNT
from exporter.simulator.server import SimulatorThread
from tests.e2e.process import (
    Watcher,
    kill_if_running,
    listening_port,
    reload,
    sigterm,
    start_exporter,
    up_accounts,
    up_value,
    write_sim_config,
)
from tests.helpers import (
    ExporterThread,
    oneway_account,
    parse_samples,
    replace_with_fifo,
    series,
    unblock,
    value,
    wait_for,
)


def test_added_and_removed_accounts_take_effect_without_a_gap_for_the_others(
    sim, accounts, tmp_path
):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    config = load_config(path)
    with ExporterThread(config, config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(
            lambda: series(exp.samples(), "binance_pm_um_asset_margin_balance", account="oneway")
        )
        with Watcher(exp, "oneway") as watch:
            write_sim_config(path, sim, accounts)
            reply = reload(exp)
            assert reply.status_code == 200
            wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="hedge") == 1)
            wait_for(lambda: watch.scrapes > 5)  # hedge's first slot may come at once
        write_sim_config(path, sim, accounts[1:])
        assert reload(exp).status_code == 200
        assert up_accounts(exp) == {"hedge"}
        samples = exp.samples()
    assert watch.scrapes > 5
    assert watch.gaps == 0
    assert not [k for k in samples if ("account", "oneway") in k[1]]
    assert value(samples, "binance_pm_exporter_config_last_reload_successful") == 1


def test_a_broken_file_is_refused_and_the_running_config_stays(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        before = value(
            exp.samples(), "binance_pm_exporter_config_last_reload_success_timestamp_seconds"
        )
        path.write_text("accounts: [\n")  # bad YAML
        reply = reload(exp)
        assert reply.status_code == 500 and "bad YAML" in reply.text
        # Over budget: 2 accounts polled every second with weight 5 each need 600/min.
        write_sim_config(path, sim, accounts, max_weight_per_minute=500)
        reply = reload(exp)
        assert reply.status_code == 500 and "max_weight_per_minute" in reply.text
        samples = exp.samples()
        assert value(samples, "binance_pm_exporter_config_last_reload_successful") == 0
        assert (
            value(samples, "binance_pm_exporter_config_last_reload_success_timestamp_seconds")
            == before
        )
        assert up_accounts(exp) == {"oneway"}
        last = value(
            samples, "binance_pm_exporter_last_success_timestamp_seconds", account="oneway"
        )
        wait_for(
            lambda: (
                value(
                    exp.samples(),
                    "binance_pm_exporter_last_success_timestamp_seconds",
                    account="oneway",
                )
                > last
            )
        )


# Values PyYAML matches by pattern and then cannot build: once the reload failed silently, with
# config_last_reload_successful still 1.
UNBUILDABLE = {
    "impossible date": (
        "poll_interval_seconds: 2024-02-30\n",
        "poll_interval_seconds: {path} at line 1, column 24: YAML cannot build a date from this "
        "value (day is out of range for month); quote it if it is meant as a string",
    ),
    "integer of 5,000 digits": (
        f"max_weight_per_minute: {'7' * 5000}\n",
        "max_weight_per_minute: {path} at line 1, column 24: YAML cannot build an integer from "
        "this value (Exceeds the limit (4300 digits) for integer string conversion: value has "
        "5000 digits); quote it if it is meant as a string",
    ),
}


@pytest.mark.parametrize("case", list(UNBUILDABLE), ids=list(UNBUILDABLE))
def test_a_value_yaml_cannot_build_is_a_refused_reload(sim, accounts, tmp_path, case):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(lambda: up_value(exp, "oneway") == 1)
        line, error = UNBUILDABLE[case]
        key = line.split(":")[0]
        kept = [row for row in path.read_text().splitlines() if not row.startswith(f"{key}:")]
        path.write_text(line + "\n".join(kept) + "\n")  # the running file, one value changed
        reply = reload(exp)
        samples = exp.samples()
        assert up_accounts(exp) == {"oneway"}
    assert (reply.status_code, reply.text) == (
        500,
        "reload refused: " + error.format(path=path) + "\n",
    )
    assert value(samples, "binance_pm_exporter_config_last_reload_successful") == 0
    assert value(samples, "binance_pm_exporter_up", account="oneway") == 1


def test_a_changed_account_is_polled_with_its_new_settings(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        changed = dict(accounts[0], collectors=["um_account", "account"])
        write_sim_config(path, sim, [changed])
        assert reload(exp).status_code == 200
        wait_for(lambda: series(exp.samples(), "binance_pm_account_uni_mmr", account="oneway"))
        samples = exp.samples()
    assert value(samples, "binance_pm_exporter_planned_weight_per_minute") == 25 * 60
    collectors = {
        dict(k[1])["collector"] for k in series(samples, "binance_pm_exporter_collector_up")
    }
    assert collectors == {"um_account", "account"}


def test_sighup_reloads_the_config_file(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    proc = start_exporter(path)
    try:
        url = f"http://127.0.0.1:{listening_port(proc, [])}/metrics"
        write_sim_config(path, sim, accounts)
        proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda: series(
                parse_samples(httpx.get(url).text), "binance_pm_exporter_up", account="hedge"
            )
        )
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_a_config_that_blocks_on_read_holds_neither_scrapes_nor_polls_nor_sigterm(
    sim, accounts, tmp_path
):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    proc = start_exporter(path)
    lines: list[str] = []
    try:
        url = f"http://127.0.0.1:{listening_port(proc, lines)}/metrics"

        def last_success() -> float:
            samples = parse_samples(httpx.get(url, timeout=1).text)
            name = "binance_pm_exporter_last_success_timestamp_seconds"
            return value(samples, name, account="oneway")

        wait_for(lambda: last_success() > 0)
        replace_with_fifo(path)
        proc.send_signal(signal.SIGHUP)
        before = last_success()
        # The reload waits up to 10 s for the read: meanwhile every scrape answers within a
        # second (httpx's timeout) and the account is polled again.
        wait_for(lambda: last_success() > before, timeout=5)
        for _ in range(10):
            assert httpx.get(url, timeout=1).status_code == 200
        _, err, stopped_in = sigterm(proc)
    finally:
        kill_if_running(proc)
    assert proc.returncode == 0
    assert stopped_in < 5
    log = "".join(lines) + err
    assert "Traceback" not in log
    assert "configuration reload" not in log  # still waiting for the read when stopped


def test_a_reload_whose_read_does_not_end_in_time_is_refused(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(
        load_config(path), config_path=str(path), enable_lifecycle=True, config_load_timeout=0.5
    ) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        replace_with_fifo(path)
        try:
            started = time.monotonic()
            reply = reload(exp)
            took = time.monotonic() - started
            samples = exp.samples()
        finally:
            unblock(path)
    assert (reply.status_code, reply.text) == (
        500,
        f"reload refused: config file {path} was not read within 0.5 s (a FIFO, or a hung "
        "mount?)\n",
    )
    assert took < 3
    assert value(samples, "binance_pm_exporter_config_last_reload_successful") == 0
    assert value(samples, "binance_pm_exporter_up", account="oneway") == 1


def test_while_a_read_is_still_blocked_the_next_reload_is_refused_at_once(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(
        load_config(path), config_path=str(path), enable_lifecycle=True, config_load_timeout=0.5
    ) as exp:
        replace_with_fifo(path)
        assert reload(exp).status_code == 500  # its thread stays blocked in open()
        started = time.monotonic()
        second = reload(exp)
        took = time.monotonic() - started
        unblock(path)  # the first read ends; nobody waits for it any more
        path.unlink()
        write_sim_config(path, sim, accounts)
        third = wait_for(lambda: (r := reload(exp)).status_code == 200 and r)
        samples = exp.samples()
    assert (second.status_code, second.text) == (
        500,
        f"reload refused: config file {path}: the previous read of it is still blocked\n",
    )
    assert took < 0.5
    assert third.text == "configuration reloaded\n"
    assert value(samples, "binance_pm_exporter_config_last_reload_successful") == 1


def test_sigterm_while_reload_requests_wait_for_a_blocked_read_exits_at_once(
    sim, accounts, tmp_path
):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    proc = start_exporter(path, "--web.enable-lifecycle")
    replies: list[object] = []

    def post_reload(port: int) -> None:
        try:
            replies.append(httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=20))
        except httpx.HTTPError as exc:
            replies.append(exc)

    try:
        port = listening_port(proc, [])
        replace_with_fifo(path)
        # The first waits for the read, the others for the first.
        posts = [threading.Thread(target=post_reload, args=(port,)) for _ in range(3)]
        for post in posts:
            post.start()
        wait_for(lambda: len(established(proc.pid, port)) == 3)
        _, err, stopped_in = sigterm(proc)
        for post in posts:
            post.join(5)
    finally:
        kill_if_running(proc)
    assert proc.returncode == 0
    assert stopped_in < 5
    assert "Traceback" not in err
    # Dropped unanswered, as aiohttp does at shutdown with a request still being handled, or
    # (a request whose handler had not started yet) refused.
    for reply in replies:
        if isinstance(reply, httpx.Response):
            assert (reply.status_code, reply.text) == (
                500,
                "reload refused: the exporter is stopping\n",
            )
        else:
            assert isinstance(reply, httpx.RemoteProtocolError)


def established(pid: int, port: int) -> list:
    """The process' accepted TCP connections on ``port``."""
    return [
        c
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
    ]


def test_a_running_ban_outlives_a_reload_that_rebuilds_the_client(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts)
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(lambda: up_value(exp, "oneway") == 1 and up_value(exp, "hedge") == 1)
        sim.set_fault("oneway", UM_ACCOUNT, status=418, retry_after=2, times=1)
        ban = wait_for(lambda: [r for r in sim.requests if r.status == 418])[0]
        write_sim_config(path, sim, accounts, recv_window_ms=6000)  # a new client
        assert reload(exp).status_code == 200
        # Both accounts poll every second: after the ban they come back.
        wait_for(lambda: papi_requests(sim, ban.time + 2.0), timeout=5)
    inside = [r for r in papi_requests(sim, ban.time) if r.time < ban.time + 2.0 and r is not ban]
    assert inside == []


def papi_requests(sim, since: float) -> list:
    return [r for r in sim.requests if r.path.startswith("/papi/") and r.time >= since]


@pytest.fixture
def desks() -> Iterator[tuple[SimulatorThread, list[dict]]]:
    """A simulator with ten HMAC accounts, desk0 to desk9, and their config entries."""
    accounts = [
        SimAccount(
            f"desk{i}",
            f"desk{i}-key-0123456789",
            f"desk{i}-secret-0123456789",
            balances={"USDT": "1000"},
        )
        for i in range(10)
    ]
    with SimulatorThread(accounts, tick_seconds=0.2) as sim:
        yield (
            sim,
            [{"name": a.name, "api_key": a.api_key, "api_secret": a.api_secret} for a in accounts],
        )


def all_up(exp: ExporterThread, names: list[str]) -> bool:
    samples = exp.samples()
    return all(value(samples, "binance_pm_exporter_up", account=n) == 1 for n in names)


def test_a_reload_storm_leaves_kept_accounts_on_their_schedule(desks, tmp_path):
    sim, entries = desks
    names = [e["name"] for e in entries]
    path = write_sim_config(tmp_path / "config.yaml", sim, entries)
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        wait_for(lambda: all_up(exp, names))
        started = time.time()
        while time.time() < started + 3.0:  # the file is unchanged: nothing to do
            assert reload(exp).status_code == 200
            time.sleep(0.2)
        ended = time.time()
        assert all_up(exp, names)
    polled = Counter(r.account for r in sim.requests if started <= r.time < ended)
    expected = int(ended - started)  # one poll a second, at each account's slot
    assert {n: polled[n] for n in names if polled[n] < expected - 1} == {}


def test_a_changed_account_is_polled_at_once_then_keeps_its_slot(desks, tmp_path):
    sim, entries = desks
    entries = entries[:3]
    path = write_sim_config(tmp_path / "config.yaml", sim, entries, poll_interval_seconds=2)
    with ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp:
        before = wait_for(lambda: requests_of(sim, "desk2", UM_ACCOUNT))[0]
        time.sleep(max(0.0, before.time + 1.0 - time.time()))  # mid-way to its next slot
        changed = dict(entries[2], collectors=["um_account", "account"])
        write_sim_config(path, sim, [*entries[:2], changed], poll_interval_seconds=2)
        asked = time.time()
        assert reload(exp).status_code == 200
        prompt = wait_for(lambda: requests_of(sim, "desk2", ACCOUNT))[0]
        following = wait_for(
            lambda: [r for r in requests_of(sim, "desk2", ACCOUNT) if r.time > prompt.time + 0.3]
        )[0]
    assert prompt.time - asked < 0.7  # its slot was a second away
    # Then at its slot, two seconds after the poll before the reload (not two after the prompt).
    assert 1.6 < following.time - before.time < 2.6


def requests_of(sim: SimulatorThread, account: str, path: str) -> list:
    return [r for r in sim.requests if r.account == account and r.path == path]


def test_running_loops_move_to_a_new_base_url(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    with (
        SimulatorThread([oneway_account()], tick_seconds=0.2) as moved,
        ExporterThread(load_config(path), config_path=str(path), enable_lifecycle=True) as exp,
    ):
        wait_for(lambda: up_value(exp, "oneway") == 1)
        write_sim_config(path, moved, accounts[:1])
        assert reload(exp).status_code == 200
        switched = time.time()
        wait_for(lambda: len(papi_requests(moved, switched)) >= 2)
    assert papi_requests(sim, switched) == []


def test_post_reload_needs_the_lifecycle_flag_and_sighup_does_not(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts[:1])
    proc = start_exporter(path)
    lines: list[str] = []
    try:
        url = f"http://127.0.0.1:{listening_port(proc, lines)}"
        refused = httpx.post(url + "/-/reload", timeout=10)
        write_sim_config(path, sim, accounts)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "hedge" in httpx.get(url + "/", timeout=5).text)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert refused.status_code == 403
    assert refused.text == "Lifecycle API is not enabled (--web.enable-lifecycle).\n"
