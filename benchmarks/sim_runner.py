"""The benchmark's simulator process: N hedge-mode accounts with 20 open UM positions each.

``python -m benchmarks.sim_runner --accounts 1000 --port P --log-port Q`` serves the fake PAPI on
127.0.0.1:P with a request-weight limit high enough never to refuse (the benchmark measures the
exporters, not the rate limiter), and a small request log on 127.0.0.1:Q that the driver reads
to count polls without paying for the simulator's full ``/_sim/requests`` dump:

``GET /polls?since=T`` -> ``[[time, account, status], ...]`` of UM account requests since T
(wall-clock seconds), oldest first.

Credentials are derived from the account index (``credentials(i)``), so the driver can write
both exporters' configuration without talking to this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import signal
import sys
from decimal import Decimal

import orjson
from aiohttp import web

from exporter.simulator.accounts import SimAccount, UMPosition
from exporter.simulator.endpoints import UM_ACCOUNT
from exporter.simulator.market import Market, quantum
from exporter.simulator.server import Simulator

OPEN_SYMBOLS = 10  # LONG and SHORT on each: 20 open positions per account
WEIGHT_LIMIT = 10**9


def credentials(index: int) -> tuple[str, str, str]:
    """(name, api key, HMAC secret) of account ``index``: deterministic, nothing to keep."""
    name = f"bench-{index:04d}"
    key = hashlib.sha256(f"bench-key-{index}".encode()).hexdigest()
    secret = hashlib.sha256(f"bench-secret-{index}".encode()).hexdigest()
    return name, key, secret


def bench_account(index: int, market: Market) -> SimAccount:
    """A hedge-mode account with ten symbols open both ways, rotating through the market."""
    name, key, secret = credentials(index)
    symbols = list(market.um.values())
    positions = []
    for k in range(OPEN_SYMBOLS):
        sym = symbols[(index * OPEN_SYMBOLS + k) % len(symbols)]
        for side, sign, skew in (("LONG", 1, "0.995"), ("SHORT", -1, "1.004")):
            notional = Decimal(2_000 + 100 * k) * sign
            amount = (notional / sym.mark).quantize(quantum(sym.quantity_precision))
            if not amount:  # a coarse quantity step on a pricey symbol: one unit
                amount = quantum(sym.quantity_precision) * sign
            entry = (sym.mark * Decimal(skew)).quantize(quantum(sym.price_precision))
            positions.append(UMPosition(sym.symbol, side, amount, entry, 10))
    return SimAccount(
        name=name,
        api_key=key,
        api_secret=secret,
        mode="hedge",
        balances={"USDT": Decimal(200_000), "USDC": Decimal(10_000), "BTC": Decimal("0.5")},
        um_positions=positions,
    )


async def _serve(args: argparse.Namespace) -> None:
    market = Market()
    accounts = [bench_account(i, market) for i in range(args.accounts)]
    sim = Simulator(accounts, weight_limit=WEIGHT_LIMIT, tick_seconds=1.0)
    await sim.start("127.0.0.1", args.port)

    async def polls(request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0"))
        rows = [
            (r.time, r.account, r.status)
            for r in list(sim.requests)
            if r.time >= since and r.path == UM_ACCOUNT
        ]
        return web.Response(body=orjson.dumps(rows), content_type="application/json")

    app = web.Application()
    app.router.add_get("/polls", polls)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.log_port).start()
    print(f"ready {sim.base_url}", flush=True)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await runner.cleanup()
    await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sim_runner", description=__doc__)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-port", type=int, required=True)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
