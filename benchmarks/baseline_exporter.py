"""The benchmark's baseline: the same UM account metrics, written the way most exporters are.

``python benchmarks/baseline_exporter.py --config.file CONFIG --web.listen-address HOST:PORT``
reads the exporter's own YAML (base_url, time_url, poll_interval_seconds, positions.include_zero,
accounts with inline api_key/api_secret) and polls ``GET /papi/v1/um/account`` for every account:

* prometheus_client's default registry (with its process, platform and GC collectors) and
  ``start_http_server``, which renders every series on every scrape and gzips it when asked;
* ``Gauge(...).labels(...).set(...)`` for every field of every kept entry on each poll, and
  ``.remove(...)`` for the label sets of positions that closed since the last poll;
* stdlib ``json`` (through ``httpx.Response.json``) on the whole reply, positions filtered after;
* httpx's synchronous client on a small thread pool, accounts spread evenly over the interval;
* requests signed with the exporter's own ``HmacSigner``, so both sides do the same signing.

It implements only what the benchmark needs (HMAC keys, the um_account collector) and is not
part of the exporter.
"""

from __future__ import annotations

import argparse
import heapq
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import yaml
from prometheus_client import Gauge, Histogram, start_http_server

from exporter.binance.signing import HmacSigner

UM_ACCOUNT = "/papi/v1/um/account"
ASSET_LABELS = ["account", "asset"]
POSITION_LABELS = ["account", "symbol", "position_side"]
ASSET_FIELDS = {
    "cross_wallet_balance": "crossWalletBalance",
    "cross_unrealized_pnl": "crossUnPnl",
    "maint_margin": "maintMargin",
    "initial_margin": "initialMargin",
    "position_initial_margin": "positionInitialMargin",
    "open_order_initial_margin": "openOrderInitialMargin",
}
POSITION_FIELDS = {
    "amount": "positionAmt",
    "entry_price": "entryPrice",
    "leverage": "leverage",
    "unrealized_pnl": "unrealizedProfit",
    "initial_margin": "initialMargin",
    "maint_margin": "maintMargin",
    "position_initial_margin": "positionInitialMargin",
    "open_order_initial_margin": "openOrderInitialMargin",
    "max_notional": "maxNotional",
}

ASSET_GAUGES = {
    suffix: Gauge(f"binance_pm_um_asset_{suffix}", f"UM asset {field}.", ASSET_LABELS)
    for suffix, field in ASSET_FIELDS.items()
}
ASSET_UPDATED = Gauge(
    "binance_pm_um_asset_update_timestamp_seconds", "UM asset updateTime.", ASSET_LABELS
)
MARGIN_BALANCE = Gauge(
    "binance_pm_um_asset_margin_balance", "Cross wallet balance plus PnL.", ASSET_LABELS
)
MARGIN_RATIO = Gauge(
    "binance_pm_um_asset_margin_ratio", "Maintenance margin / margin balance.", ASSET_LABELS
)
POSITION_GAUGES = {
    suffix: Gauge(f"binance_pm_um_position_{suffix}", f"UM position {field}.", POSITION_LABELS)
    for suffix, field in POSITION_FIELDS.items()
}
POSITION_UPDATED = Gauge(
    "binance_pm_um_position_update_timestamp_seconds", "UM position updateTime.", POSITION_LABELS
)
UP = Gauge("binance_pm_exporter_up", "1 if the last poll succeeded.", ["account"])
POLL_DURATION = Histogram(
    "binance_pm_exporter_poll_duration_seconds",
    "Request plus parse time.",
    ["account", "collector"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class AccountPoller:
    def __init__(self, config: dict, account: dict, http: httpx.Client, offset_ms: int) -> None:
        self.name = account["name"]
        self.api_key = account["api_key"]
        self.signer = HmacSigner(account["api_secret"])
        self.base_url = config["base_url"]
        self.recv_window = config.get("recv_window_ms", 5000)
        self.include_zero = config.get("positions", {}).get("include_zero", False)
        self.http = http
        self.offset_ms = offset_ms
        self.positions: set[tuple[str, str]] = set()

    def poll(self) -> None:
        started = time.perf_counter()
        try:
            self._poll()
            UP.labels(self.name).set(1)
        except Exception:
            UP.labels(self.name).set(0)
        POLL_DURATION.labels(self.name, "um_account").observe(time.perf_counter() - started)

    def _poll(self) -> None:
        query = (
            f"recvWindow={self.recv_window}&timestamp={int(time.time() * 1000) + self.offset_ms}"
        )
        url = f"{self.base_url}{UM_ACCOUNT}?{query}&signature={self.signer.sign(query)}"
        reply = self.http.get(url, headers={"X-MBX-APIKEY": self.api_key})
        reply.raise_for_status()
        data = reply.json()
        name = self.name
        for asset in data["assets"]:
            code = asset["asset"]
            for suffix, field in ASSET_FIELDS.items():
                ASSET_GAUGES[suffix].labels(name, code).set(float(asset[field]))
            ASSET_UPDATED.labels(name, code).set(asset["updateTime"] / 1000)
            wallet, pnl = float(asset["crossWalletBalance"]), float(asset["crossUnPnl"])
            maint, balance = float(asset["maintMargin"]), wallet + pnl
            MARGIN_BALANCE.labels(name, code).set(balance)
            if maint == 0:
                ratio = 0.0
            elif balance <= 0:
                ratio = float("inf")
            else:
                ratio = maint / balance
            MARGIN_RATIO.labels(name, code).set(ratio)
        seen = set()
        for position in data["positions"]:
            flat = (
                float(position["positionAmt"]) == 0
                and float(position["openOrderInitialMargin"]) == 0
            )
            if flat and not self.include_zero:
                continue
            key = (position["symbol"], position["positionSide"])
            seen.add(key)
            for suffix, field in POSITION_FIELDS.items():
                POSITION_GAUGES[suffix].labels(name, *key).set(float(position[field]))
            POSITION_UPDATED.labels(name, *key).set(position["updateTime"] / 1000)
        for key in self.positions - seen:  # closed since the last poll: drop its series
            for gauge in (*POSITION_GAUGES.values(), POSITION_UPDATED):
                gauge.remove(name, *key)
        self.positions = seen


def clock_offset_ms(http: httpx.Client, time_url: str) -> int:
    before = time.time()
    server_ms = http.get(time_url).json()["serverTime"]
    return int(server_ms - (before + time.time()) / 2 * 1000)


def run(config: dict, host: str, port: int, stop: threading.Event) -> None:
    interval = float(config.get("poll_interval_seconds", 15))
    http = httpx.Client(timeout=config.get("request_timeout_seconds", 10))
    offset = clock_offset_ms(http, config["time_url"])
    pollers = [AccountPoller(config, a, http, offset) for a in config["accounts"]]
    server, _ = start_http_server(port, addr=host)
    # Each account on its own slot of the interval, a small pool doing the requests.
    start = time.monotonic()
    due = [(start + i * interval / len(pollers), i) for i in range(len(pollers))]
    heapq.heapify(due)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="poll") as pool:
        while not stop.is_set():
            at, i = due[0]
            if stop.wait(max(0.0, at - time.monotonic())):
                break
            heapq.heapreplace(due, (at + interval, i))
            pool.submit(pollers[i].poll)
    server.shutdown()
    http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config.file", dest="config_file", required=True)
    parser.add_argument("--web.listen-address", dest="listen_address", default="127.0.0.1:10092")
    args = parser.parse_args()
    with open(args.config_file, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    host, _, port = args.listen_address.rpartition(":")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(config, host or "0.0.0.0", int(port), stop)


if __name__ == "__main__":
    main()
