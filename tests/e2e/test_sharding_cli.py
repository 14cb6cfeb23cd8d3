"""Sharding through the command line and one exporter: --config.check, flag mistakes, the shard
self metrics and a reload that re-shards."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.config import load_config
from exporter.sharding import Shard
from tests.e2e.process import (
    Watcher,
    kill_if_running,
    listening_port,
    reload,
    run_exporter,
    sigterm,
    start_exporter,
    up_accounts,
    write_sim_config,
)
from tests.helpers import DESKS, ExporterThread, desk, shard_raw_config, value, wait_for


def write(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def test_config_check_prints_the_owned_accounts_and_their_plan(tmp_path):
    config = write(tmp_path / "config.yaml", shard_raw_config(DESKS))
    run = run_exporter(
        "--config.file", str(config), "--config.check", "--shard.count=3", "--shard.index=pm-1"
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "planned weight: 40/min (budget 100/min)" in lines
    assert "accounts: 2" in lines
    assert [line.split(":")[0].strip() for line in lines if line.startswith("  - ")] == [
        "- desk1",
        "- desk4",
    ]
    assert lines[-1] == "shard 1 of 0..2: owns 2 of 4 accounts"


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (("--shard.count=3", "--shard.index=3"), "--shard.index: 3 is outside 0..2"),
        (("--shard.count=3", "--shard.index=exporter"), "is neither a number nor a pod name"),
        (("--shard.count=0",), "--shard.count: must be between 1 and 1000, not 0"),
        (("--shard.count=1000000",), "--shard.count: must be between 1 and 1000, not 1000000"),
        (("--shard.count=abc",), "--shard.count: 'abc' is not a whole number"),
        (("--shard.count=2", "--shard.index=-1"), "--shard.index: -1 is negative"),
    ],
)
def test_a_wrong_shard_flag_stops_the_program_with_one_line(tmp_path, flags, error):
    config = write(tmp_path / "config.yaml", shard_raw_config(DESKS))
    run = run_exporter("--config.file", str(config), *flags)
    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1
    assert "invalid flag" in run.stderr and error in run.stderr


def test_a_pin_outside_the_shards_stops_the_program_with_one_line(tmp_path):
    pinned = [*DESKS[:3], desk("desk4", shard=4)]
    config = write(tmp_path / "config.yaml", shard_raw_config(pinned))
    run = run_exporter("--config.file", str(config), "--shard.count=2", "--shard.index=0")
    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1
    assert "accounts[3].shard: 4 is outside the shards 0..1 (--shard.count=2)" in run.stderr


def test_a_shard_that_owns_no_account_warns_and_every_line_names_the_shard(tmp_path):
    # Of 3 shards, shard 1 owns desk1 and desk4: with both pinned elsewhere it owns nothing.
    pinned = [desk("desk1", shard=0), DESKS[1], DESKS[2], desk("desk4", shard=2)]
    config = write(tmp_path / "config.yaml", shard_raw_config(pinned))
    proc = start_exporter(config, "--shard.count=3", "--shard.index=pm-1")
    try:
        lines: list[str] = []
        listening_port(proc, lines)
        assert proc.stderr is not None
        warning = proc.stderr.readline()
        _, err, _ = sigterm(proc)
    finally:
        kill_if_running(proc)
    assert 'level=warning event="shard owns no account"' in warning
    assert "shard 1 of 0..2 owns none of the 4 accounts: it polls nothing" in warning
    logged = [line for line in [*lines, warning, *err.splitlines()] if line.strip()]
    assert len(logged) >= 3
    assert all(" shard=1" in line for line in logged), logged


def shard_values(exp: ExporterThread) -> tuple[float, ...]:
    samples = exp.samples()
    return tuple(
        value(samples, f"binance_pm_exporter_{name}")
        for name in ("shard_index", "shards", "accounts_configured", "accounts_owned")
    )


def test_self_metrics_without_sharding(sim, accounts, tmp_path):
    path = write_sim_config(tmp_path / "config.yaml", sim, accounts)
    with ExporterThread(load_config(path)) as exp:
        assert shard_values(exp) == (0.0, 1.0, 2.0, 2.0)


def test_a_reload_re_shards_and_kept_accounts_keep_their_series(sim, accounts, tmp_path):
    # Of 2 shards, oneway and hedge both hash to 0; hedge is pinned to 1 first.
    shard = Shard(0, 2)
    hedge_pinned = [accounts[0], dict(accounts[1], shard=1)]
    path = write_sim_config(tmp_path / "config.yaml", sim, hedge_pinned)
    config = load_config(path, shard=shard)
    with ExporterThread(config, config_path=str(path), enable_lifecycle=True, shard=shard) as exp:
        wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="oneway") == 1)
        assert up_accounts(exp) == {"oneway"}
        assert shard_values(exp) == (0.0, 2.0, 2.0, 1.0)
        with Watcher(exp, "oneway") as watch:
            write_sim_config(path, sim, accounts)  # the pin goes: hedge hashes to shard 0
            assert reload(exp).status_code == 200
            wait_for(lambda: value(exp.samples(), "binance_pm_exporter_up", account="hedge") == 1)
            wait_for(lambda: watch.scrapes > 5)
        assert watch.gaps == 0
        assert shard_values(exp) == (0.0, 2.0, 2.0, 2.0)
        write_sim_config(path, sim, [dict(accounts[0], shard=1), accounts[1]])
        assert reload(exp).status_code == 200
        assert up_accounts(exp) == {"hedge"}
        assert shard_values(exp) == (0.0, 2.0, 2.0, 1.0)
        write_sim_config(path, sim, [dict(accounts[0], shard=2), accounts[1]])
        refused = reload(exp)
        assert refused.status_code != 200
        assert "accounts[0].shard: 2 is outside the shards 0..1" in refused.text
        assert up_accounts(exp) == {"hedge"}
