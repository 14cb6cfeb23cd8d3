"""The stream leaves through the same egress as the polls: the HTTPS proxy in the environment.

A shard's listen key and its socket must come from the shard's own IP like its polls, and a
network that only lets traffic out through the proxy must still carry the stream. "Binance" is a
made-up host here: only the proxy can reach it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import trustme
import yaml

from exporter.simulator.server import SimulatorThread
from tests.e2e.process import listening_port, sigterm
from tests.e2e.stream.support import KEY, SECRET, requests
from tests.egress_proxy import EgressProxy
from tests.helpers import parse_samples, value, wait_for

HOST = "papi.stream-egress.invalid"  # never resolves


def test_the_stream_goes_through_the_https_proxy_like_the_polls(
    sim: SimulatorThread, tmp_path: Path
):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = tmp_path / "config.yaml"
    raw = {
        "base_url": f"https://{HOST}",
        "time_url": f"https://{HOST}/fapi/v1/time",
        "stream_url": f"wss://{HOST}/pm/ws/",
        "poll_interval_seconds": 60,
        "collectors": ["um_account"],
        "accounts": [{"name": "desk", "api_key": KEY, "api_secret": SECRET}],
        "user_data_stream": True,
    }
    config.write_text(yaml.safe_dump(raw))
    upstream = urlsplit(sim.base_url)
    assert upstream.hostname is not None and upstream.port is not None
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with EgressProxy(ca, HOST, (upstream.hostname, upstream.port)) as proxy:
        args = ["--web.listen-address=127.0.0.1:0", f"--config.file={config}"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args],
            env={**env, "HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": str(ca_file)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            port = listening_port(proc, [])

            def desk(name: str, **labels: str) -> float | None:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                try:
                    return value(parse_samples(text), name, account="desk", **labels)
                except AssertionError:
                    return None

            wait_for(lambda: desk("binance_pm_exporter_stream_up") == 1, timeout=20)
            sim.pay_funding("desk", "BTCUSDT", "-1.5")
            debited = {"book": "UM", "asset": "USDT", "reason": "FUNDING_FEE"}
            wait_for(lambda: desk("binance_pm_balance_debited_total", **debited) == 1.5)
        finally:
            sigterm(proc)
        assert set(proxy.connects) == {f"{HOST}:443"}
    assert requests(sim, "/papi/v1/listenKey", "DELETE") == 1
