"""Live reload: SIGHUP and POST /-/reload re-read the config file without a restart."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
import yaml

from exporter.config import load_config
from tests.helpers import (
    ExporterThread,
    parse_samples,
    replace_with_fifo,
    series,
    unblock,
    value,
    wait_for,
)
from tests.test_process import listening_port, start_exporter


def write_config(path: Path, sim, accounts: list[dict], **extra) -> Path:
    raw = {
        "base_url": sim.base_url,
        "time_url": sim.time_url,
        "poll_interval_seconds": 1,
        "max_weight_per_minute": 6000,
        "collectors": ["um_account"],
        "accounts": accounts,
        **extra,
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def reload(exp: ExporterThread) -> httpx.Response:
    return httpx.post(exp.url + "/-/reload", timeout=10)


def up_accounts(exp: ExporterThread) -> set[str]:
    samples = exp.samples()
    return {dict(k[1])["account"] for k, v in series(samples, "binance_pm_exporter_up").items()}


class Watcher:
    """Scrapes continuously and remembers any scrape that lacked the account's data."""

    def __init__(self, exp: ExporterThread, account: str) -> None:
        self.exp, self.account = exp, account
        self.gaps = 0
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            samples = parse_samples(httpx.get(self.exp.url + "/metrics", timeout=5).text)
            self.scrapes += 1
            if not series(samples, "binance_pm_um_asset_margin_balance", account=self.account):
                self.gaps += 1

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_added_and_removed_accounts_take_effect_without_a_gap_for_the_others(
    sim, accounts, tmp_path
):
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
    config = load_config(path)
    with ExporterThread(config, config_path=str(path)) as exp:
        wait_for(
            lambda: series(exp.samples(), "binance_pm_um_asset_margin_balance", account="oneway")
        )
        with Watcher(exp, "oneway") as watch:
            write_config(path, sim, accounts)
            reply = reload(exp)
            assert reply.status_code == 200
            wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="hedge") == 1)
        write_config(path, sim, accounts[1:])
        assert reload(exp).status_code == 200
        assert up_accounts(exp) == {"hedge"}
        samples = exp.samples()
    assert watch.scrapes > 5
    assert watch.gaps == 0
    assert not [k for k in samples if ("account", "oneway") in k[1]]
    assert value(samples, "binance_pm_exporter_config_last_reload_successful") == 1


def test_a_broken_file_is_refused_and_the_running_config_stays(sim, accounts, tmp_path):
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(load_config(path), config_path=str(path)) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        before = value(
            exp.samples(), "binance_pm_exporter_config_last_reload_success_timestamp_seconds"
        )
        path.write_text("accounts: [\n")  # bad YAML
        reply = reload(exp)
        assert reply.status_code == 500 and "bad YAML" in reply.text
        # Over budget: 2 accounts polled every second with weight 5 each need 600/min.
        write_config(path, sim, accounts, max_weight_per_minute=500)
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


def test_a_changed_account_is_polled_with_its_new_settings(sim, accounts, tmp_path):
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(load_config(path), config_path=str(path)) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        changed = dict(accounts[0], collectors=["um_account", "account"])
        write_config(path, sim, [changed])
        assert reload(exp).status_code == 200
        wait_for(lambda: series(exp.samples(), "binance_pm_account_uni_mmr", account="oneway"))
        samples = exp.samples()
    assert value(samples, "binance_pm_exporter_planned_weight_per_minute") == 25 * 60
    collectors = {
        dict(k[1])["collector"] for k in series(samples, "binance_pm_exporter_collector_up")
    }
    assert collectors == {"um_account", "account"}


def test_sighup_reloads_the_config_file(sim, accounts, tmp_path):
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
    proc = start_exporter(path)
    try:
        url = f"http://127.0.0.1:{listening_port(proc, [])}/metrics"
        write_config(path, sim, accounts)
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
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
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
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert stopped_in < 5
    log = "".join(lines) + err
    assert "Traceback" not in log
    assert "configuration reload" not in log  # still waiting for the read when stopped


def test_a_reload_whose_read_does_not_end_in_time_is_refused(sim, accounts, tmp_path):
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(load_config(path), config_path=str(path), config_load_timeout=0.5) as exp:
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
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
    with ExporterThread(load_config(path), config_path=str(path), config_load_timeout=0.5) as exp:
        replace_with_fifo(path)
        assert reload(exp).status_code == 500  # its thread stays blocked in open()
        started = time.monotonic()
        second = reload(exp)
        took = time.monotonic() - started
        unblock(path)  # the first read ends; nobody waits for it any more
        path.unlink()
        write_config(path, sim, accounts)
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
    path = write_config(tmp_path / "config.yaml", sim, accounts[:1])
    proc = start_exporter(path)
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
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        stopped_in = time.monotonic() - started
        for post in posts:
            post.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
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
