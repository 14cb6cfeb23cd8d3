"""Scenarios and entry points: falling uniMMR, the demo accounts, the standalone module."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from exporter.binance.signing import HmacSigner, signer_from_pem
from exporter.simulator.accounts import SimAccount
from exporter.simulator.demo import demo_accounts, start_demo
from exporter.simulator.server import Simulator

ACCOUNT = "/papi/v1/account"
UM = "/papi/v1/um/account"
RISK = "/papi/v1/um/positionRisk"
STATUSES = ["NORMAL", "MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION", "BANKRUPTED"]


def expected_status(uni_mmr: Decimal) -> str:
    """Binance's published levels: 1.5, 1.2, 1.05 (liquidation) and 1.0 (bankruptcy)."""
    if uni_mmr > Decimal("1.5"):
        return "NORMAL"
    if uni_mmr > Decimal("1.2"):
        return "MARGIN_CALL"
    if uni_mmr > Decimal("1.05"):
        return "REDUCE_ONLY"
    if uni_mmr > Decimal("1.0"):
        return "FORCE_LIQUIDATION"
    return "BANKRUPTED"


def test_falling_uni_mmr_walks_the_status_through_every_threshold(papi):
    papi.sim.freeze_prices()
    papi.sim.falling_uni_mmr("hmac", duration_seconds=1.6, start=2.0, end=1.0)
    seen: list[tuple[Decimal, str]] = []
    deadline = time.monotonic() + 1.9
    while time.monotonic() < deadline:
        served = papi.json(ACCOUNT)
        seen.append((Decimal(served["uniMMR"]), served["accountStatus"]))
        time.sleep(0.02)
    ratios = [u for u, _ in seen]
    assert ratios == sorted(ratios, reverse=True)
    assert Decimal("1.8") <= ratios[0] <= Decimal("2.0")
    assert abs(ratios[-1] - 1) < Decimal("0.00000002")
    assert all(status == expected_status(u) for u, status in seen)
    order = [s for i, (_, s) in enumerate(seen) if i == 0 or s != seen[i - 1][1]]
    assert order == STATUSES


@pytest.mark.parametrize(
    ("uni_mmr", "status"),
    [
        (1.51, "NORMAL"),
        (1.5, "MARGIN_CALL"),
        (1.21, "MARGIN_CALL"),
        (1.2, "REDUCE_ONLY"),
        (1.06, "REDUCE_ONLY"),
        (1.05, "FORCE_LIQUIDATION"),
        (1.01, "FORCE_LIQUIDATION"),
        (1.0, "BANKRUPTED"),
        (0.8, "BANKRUPTED"),
    ],
)
def test_status_follows_binances_uni_mmr_levels(papi, uni_mmr, status):
    papi.sim.falling_uni_mmr("hmac", duration_seconds=0, start=uni_mmr, end=uni_mmr)
    served = papi.json(ACCOUNT)
    assert abs(Decimal(served["uniMMR"]) - Decimal(repr(uni_mmr))) < Decimal("0.00000002")
    assert served["accountStatus"] == status


def test_falling_uni_mmr_holds_the_end_value_while_prices_move(papi):
    papi.sim.falling_uni_mmr("ed", duration_seconds=0.1, start=1.6, end=1.3)
    time.sleep(0.3)  # prices keep ticking every 50 ms
    for _ in range(3):
        served = papi.json(ACCOUNT, "ed")
        assert abs(Decimal(served["uniMMR"]) - Decimal("1.3")) < Decimal("0.00000002")
        assert served["accountStatus"] == "MARGIN_CALL"
        time.sleep(0.06)
    papi.sim.clear_ramp("ed")
    assert papi.sim.account("ed").ramp is None


def test_falling_uni_mmr_needs_a_position(papi):
    with pytest.raises(ValueError, match="position"):
        papi.sim.falling_uni_mmr("rsa", 1.0)


def test_accounts_can_be_added_and_removed_while_running(papi):
    papi.sim.add_account(SimAccount("late", "lateKey1", api_secret="late-secret"))
    signer = HmacSigner("late-secret")
    assert papi.get(ACCOUNT, api_key="lateKey1", signer=signer).status_code == 200
    papi.sim.remove_account("late")
    assert papi.get(ACCOUNT, api_key="lateKey1", signer=signer).status_code == 401


def test_demo_accounts_start_normal_with_the_promised_shape(make_papi):
    accounts, credentials = demo_accounts()
    papi = make_papi(accounts)
    for c in credentials:
        signer = HmacSigner(c.api_secret) if c.api_secret else signer_from_pem(c.private_key_pem)
        served = papi.json(ACCOUNT, api_key=c.api_key, signer=signer)
        assert served["accountStatus"] == "NORMAL"
        assert Decimal(served["uniMMR"]) > 3
        risk = papi.json(RISK, api_key=c.api_key, signer=signer)
        um = papi.json(UM, api_key=c.api_key, signer=signer)
        if c.name == "demo-oneway":
            assert len(risk) == 5 and {p["positionSide"] for p in risk} == {"BOTH"}
            order_only = [
                p
                for p in um["positions"]
                if Decimal(p["positionAmt"]) == 0 and Decimal(p["openOrderInitialMargin"]) > 0
            ]
            assert [p["symbol"] for p in order_only] == ["LINKUSDT"]
            assert {a["asset"] for a in um["assets"]} == {"USDT", "BTC", "BNB"}
        else:
            assert c.private_key_pem is not None and b"PRIVATE KEY" in c.private_key_pem
            assert len(risk) == 20 and {p["positionSide"] for p in risk} == {"LONG", "SHORT"}


def test_start_demo_gives_a_config_that_matches_the_simulator():
    async def run() -> tuple[str, list[str], int]:
        simulator, config = await start_demo()
        try:
            assert isinstance(simulator, Simulator)
            return config.client.base_url, [a.name for a in config.accounts], simulator.port
        finally:
            await simulator.stop()

    base_url, names, port = asyncio.run(run())
    assert base_url == f"http://127.0.0.1:{port}"
    assert names == ["demo-oneway", "demo-hedge"]


def test_module_runs_standalone_and_writes_credentials(tmp_path: Path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.simulator",
            "--port",
            "0",
            "--credentials-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = first.split("listening on ")[1].split()[0]
        assert httpx.get(base_url + "/fapi/v1/time", timeout=5).json()["serverTime"] > 0
        deadline = time.monotonic() + 5
        while not (tmp_path / "demo-hedge.pem").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "demo-oneway.api_secret").read_text().strip()
        assert (tmp_path / "demo-hedge.api_key").read_text().startswith("demo")
        assert (tmp_path / "demo-hedge.pem").stat().st_mode & 0o077 == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


def test_demo_money_moves_funding_of_both_signs_commissions_and_interest(make_papi):
    accounts, credentials = demo_accounts()
    papi = make_papi(accounts, funding_seconds=0.1, trade_seconds=0.1)
    keys = {c.name: c for c in credentials}
    oneway = keys["demo-oneway"]
    signer = HmacSigner(oneway.api_secret)

    def um_income() -> list[dict]:
        return papi.json("/papi/v1/um/income", api_key=oneway.api_key, signer=signer)

    def moved() -> bool:
        records = um_income()
        fees = {Decimal(r["income"]) > 0 for r in records if r["incomeType"] == "FUNDING_FEE"}
        return fees == {True, False} and any(r["incomeType"] == "COMMISSION" for r in records)

    deadline = time.monotonic() + 10
    while not moved() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert moved()
    balance = papi.json("/papi/v1/balance", api_key=oneway.api_key, signer=signer)
    usdc = next(r for r in balance if r["asset"] == "USDC")
    assert Decimal(usdc["crossMarginInterest"]) > 0


def test_demo_hedge_coin_m_wallet_goes_negative_and_the_next_round_repays_it(make_papi):
    accounts, credentials = demo_accounts()
    papi = make_papi(accounts)
    papi.sim.freeze_prices()
    hedge = next(c for c in credentials if c.name == "demo-hedge")
    signer = signer_from_pem(hedge.private_key_pem)

    def eth() -> dict:
        rows = papi.json("/papi/v1/balance", api_key=hedge.api_key, signer=signer)
        return next(r for r in rows if r["asset"] == "ETH")

    for _ in range(50):
        papi.sim.funding_round()
        if Decimal(eth()["negativeBalance"]) > 0:
            break
    row = eth()
    assert Decimal(row["negativeBalance"]) == -Decimal(row["cmWalletBalance"]) > 0
    borrowed = Decimal(row["crossMarginBorrowed"]) - Decimal(row["crossMarginFree"])
    papi.sim.funding_round()
    repaid = eth()
    # What free could not cover was borrowed: owed less held grew by the negative balance.
    owed = Decimal(repaid["crossMarginBorrowed"]) - Decimal(repaid["crossMarginFree"])
    assert owed - borrowed == Decimal(row["negativeBalance"])
