"""Sharding over real sockets: exporter processes on one config, each leaving by its own egress.

30 simulated accounts; every shard's exporter reaches "Binance" (a made-up host) only through
the HTTPS proxy in its environment, and each proxy notes the API keys it carried. So the test
sees, from the network side, which replica polled which account.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import trustme
import yaml

from exporter.simulator.accounts import SimAccount
from exporter.simulator.server import SimulatorThread
from tests.e2e.process import (
    listening_port,
    sigterm,
)
from tests.egress_proxy import EgressProxy
from tests.helpers import (
    parse_samples,
    series,
    value,
    wait_for,
)

ACCOUNTS = [f"fund-sub-{i:03d}" for i in range(30)]
KEYS = {f"key-{name}": name for name in ACCOUNTS}
HOST = "papi.shard-test.invalid"  # .invalid never resolves: only the proxy can reach it
INTERVAL = 2  # seconds; um_account costs 5: 150 weight a minute per account
BUDGET = 2000  # all 30 plan 4500/min: one replica is refused, a third of them fits


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    accounts = [
        SimAccount(name=n, api_key=f"key-{n}", api_secret=f"secret-{n}", balances={"USDT": "1000"})
        for n in ACCOUNTS
    ]
    with SimulatorThread(accounts, tick_seconds=0.5) as s:
        yield s


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    raw = {
        "base_url": f"https://{HOST}",
        "time_url": f"https://{HOST}/fapi/v1/time",
        "poll_interval_seconds": INTERVAL,
        "max_weight_per_minute": BUDGET,
        "collectors": ["um_account"],
        "accounts": [
            {"name": n, "api_key": f"key-{n}", "api_secret": f"secret-{n}"} for n in ACCOUNTS
        ],
    }
    path.write_text(yaml.safe_dump(raw))
    return path


class Replica:
    def __init__(self, proc: subprocess.Popen, port: int, proxy: EgressProxy) -> None:
        self.proc, self.port, self.proxy = proc, port, proxy

    def samples(self) -> dict:
        return parse_samples(httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text)

    def ready(self) -> bool:
        return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=5).status_code == 200

    def account_labels(self) -> set[str]:
        up = series(self.samples(), "binance_pm_exporter_up")
        return {dict(labels)["account"] for (_, labels) in up}


@contextmanager
def replicas(
    count: int, config: Path, sim: SimulatorThread, ca: trustme.CA, tmp_path: Path
) -> Iterator[list[Replica]]:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    upstream = urlsplit(sim.base_url)
    assert upstream.hostname is not None and upstream.port is not None
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with ExitStack() as stack:
        started: list[Replica] = []
        for index in range(count):
            proxy = stack.enter_context(EgressProxy(ca, HOST, (upstream.hostname, upstream.port)))
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    f"--config.file={config}",
                    "--web.listen-address=127.0.0.1:0",
                    f"--shard.count={count}",
                    # As the chart passes it: the StatefulSet pod's name.
                    f"--shard.index=binance-pm-exporter-{index}",
                ],
                env={**env, "HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": str(ca_file)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            stack.callback(sigterm, proc)
            started.append(Replica(proc, listening_port(proc, []), proxy))
        for replica in started:
            wait_for(replica.ready, timeout=30)
        yield started


def polled_by(shards: list[Replica]) -> list[set[str]]:
    return [r.proxy.accounts(KEYS) for r in shards]


def check_shards(shards: list[Replica]) -> list[set[str]]:
    """Every account polled by exactly one replica, the one that exports it; plans add up."""
    polled = polled_by(shards)
    assert sum(len(p) for p in polled) == len(ACCOUNTS)  # no account by two replicas
    assert set().union(*polled) == set(ACCOUNTS)
    for replica, accounts in zip(shards, polled, strict=True):
        assert replica.account_labels() == accounts
        assert set(replica.proxy.connects) == {f"{HOST}:443"}
        samples = replica.samples()
        assert value(samples, "binance_pm_exporter_accounts_configured") == len(ACCOUNTS)
        assert value(samples, "binance_pm_exporter_accounts_owned") == len(accounts)
        assert value(samples, "binance_pm_exporter_shards") == len(shards)
    plans = [value(r.samples(), "binance_pm_exporter_planned_weight_per_minute") for r in shards]
    assert sum(plans) == len(ACCOUNTS) * 5 * 60 / INTERVAL
    assert all(plan <= BUDGET for plan in plans)
    return polled


def test_one_replica_alone_is_refused_the_plan_of_all_thirty(config):
    run = subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={config}", "--config.check"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert run.returncode == 2
    assert "planned API weight 4500/min exceeds max_weight_per_minute 2000" in run.stderr


def test_three_shards_then_four_split_the_accounts_and_move_about_a_quarter(
    sim, ca, config, tmp_path
):
    with replicas(3, config, sim, ca, tmp_path) as three:
        before = check_shards(three)
        assert [value(r.samples(), "binance_pm_exporter_shard_index") for r in three] == [0, 1, 2]
        assert [len(p) for p in before] == [12, 8, 10]
    with replicas(4, config, sim, ca, tmp_path) as four:
        after = check_shards(four)
    owner_before = {a: i for i, accounts in enumerate(before) for a in accounts}
    owner_after = {a: i for i, accounts in enumerate(after) for a in accounts}
    moved = {a for a in ACCOUNTS if owner_before[a] != owner_after[a]}
    # Jump hashing moves accounts only onto the new shard, about 1/4 of them (30/4 = 7.5).
    assert moved == after[3]
    assert len(moved) == 9
