"""The simulator's user data stream: Binance's listen key rules and events on a real WebSocket."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import httpx
import orjson

from exporter.simulator.server import SimulatorThread
from tests.simulator.support import KEYS, Papi

LISTEN_KEY = "/papi/v1/listenKey"


def listen_key(papi: Papi, method: str, account: str = "hmac", **headers: str) -> httpx.Response:
    sent = {"X-MBX-APIKEY": KEYS[account], **headers}
    return papi.http.request(method, LISTEN_KEY, headers=sent)


def new_key(papi: Papi, account: str = "hmac") -> str:
    reply = listen_key(papi, "POST", account)
    assert reply.status_code == 200, reply.text
    return reply.json()["listenKey"]


async def _frames(url: str, count: int, act: Any = None) -> list[dict]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        if act is not None:
            await asyncio.get_running_loop().run_in_executor(None, act)
        out = []
        while len(out) < count:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            out.append(orjson.loads(msg.data))
        return out


def frames(sim: SimulatorThread, key: str, count: int, act: Any = None) -> list[dict]:
    return asyncio.run(_frames(sim.simulator.stream_url + key, count, act))


def test_post_returns_the_active_key_and_weighs_one(papi: Papi):
    first = listen_key(papi, "POST")
    assert first.status_code == 200
    assert papi.weight(first) == 1
    assert len(first.json()["listenKey"]) == 64
    assert new_key(papi) == first.json()["listenKey"]
    assert new_key(papi, "rsa") != first.json()["listenKey"]


def test_put_and_delete_need_a_live_key(papi: Papi):
    reply = listen_key(papi, "PUT")
    assert papi.error(reply) == (400, -1125, "This listenKey does not exist.")
    new_key(papi)
    assert listen_key(papi, "PUT").json() == {}
    assert listen_key(papi, "DELETE").json() == {}
    assert papi.error(listen_key(papi, "DELETE"))[:2] == (400, -1125)


def test_listen_keys_need_a_known_api_key_and_no_signature(papi: Papi):
    reply = papi.http.post(LISTEN_KEY)
    assert papi.error(reply)[:2] == (401, -2015)
    reply = papi.http.post(LISTEN_KEY, headers={"X-MBX-APIKEY": "unknownKey123"})
    assert papi.error(reply)[:2] == (401, -2015)


def test_an_unknown_or_expired_key_cannot_open_the_stream(papi: Papi):
    papi.sim.set_listen_key_validity(0.2)
    key = new_key(papi)
    reply = httpx.get(papi.sim.base_url + "/pm/ws/" + "x" * 64)
    assert reply.status_code == 400
    papi.sim.call(asyncio.sleep, 0.4)
    reply = httpx.get(papi.sim.base_url + "/pm/ws/" + key)
    assert reply.status_code == 400
    assert reply.json() == {"code": -1125, "msg": "This listenKey does not exist."}


def test_an_expiring_key_says_listen_key_expired(papi: Papi):
    key = new_key(papi)
    got = frames(papi.sim, key, 1, lambda: papi.sim.expire_listen_key("hmac"))
    assert got[0]["e"] == "listenKeyExpired"
    assert got[0]["listenKey"] == key
    assert papi.error(listen_key(papi, "PUT"))[:2] == (400, -1125)


def test_funding_positions_and_borrows_are_pushed(papi: Papi):
    key = new_key(papi)

    def act() -> None:
        papi.sim.pay_funding("hmac", "BTCUSDT", "-1.5")
        papi.sim.close_position("hmac", "ETHUSDT")
        papi.sim.borrow("hmac", "BTC", "0.25")
        papi.sim.borrow("hmac", "BTC", "0.001", kind="INTEREST")

    funding, order, borrow, interest = frames(papi.sim, key, 4, act)
    wallet = papi.sim.account("hmac").balances["USDT"]
    assert wallet == Decimal("1998.5")
    assert funding["fs"] == "UM"
    assert funding["a"] == {
        "m": "FUNDING_FEE",
        "B": [{"a": "USDT", "wb": "1998.50000000", "cw": "1998.50000000", "bc": "-1.50000000"}],
        "P": [],
        "S": "BTCUSDT",
    }
    assert order["a"]["m"] == "ORDER"
    assert order["a"]["P"] == [
        {"s": "ETHUSDT", "pa": "0", "ep": "0", "cr": "0", "up": "0", "ps": "BOTH", "bep": "0"}
    ]
    assert (borrow["t"], borrow["p"], borrow["i"], borrow["l"]) == (
        "BORROW",
        "0.25000000",
        "0.00000000",
        "0.25000000",
    )
    assert (interest["t"], interest["p"], interest["i"], interest["l"]) == (
        "INTEREST",
        "0.25000000",
        "0.00100000",
        "0.25100000",
    )
    assert interest["T"] == borrow["T"] + 1 > 2**53


def test_trades_and_funding_rounds_push_what_they_move(papi: Papi):
    """The demo's own trading and funding reach the stream, not only the knobs that push."""
    key = new_key(papi)

    def act() -> None:
        papi.sim.pay_funding("hmac", "BTCUSD_PERP", "-0.03")  # COIN-M BTC wallet to -0.02
        papi.sim.funding_round()  # repays it by borrowing 0.02, then funds both books
        papi.sim.trade("hmac", "BTCUSDT", "BOTH", "-0.2", "65000")

    _, borrow, um_funding, cm_funding, fill = frames(papi.sim, key, 5, act)
    assert (borrow["e"], borrow["a"], borrow["t"], borrow["p"], borrow["l"]) == (
        "liabilityChange",
        "BTC",
        "BORROW",
        "0.02000000",
        "0.02000000",
    )
    funded = {"UM": Decimal(0), "CM": Decimal(0)}
    for record in papi.json("/papi/v1/um/income", params={"incomeType": "FUNDING_FEE"}):
        funded["UM"] += Decimal(record["income"])
    for record in papi.json("/papi/v1/cm/income", params={"incomeType": "FUNDING_FEE"}):
        if record["symbol"] == "BTCUSD_PERP" and record["income"] != "-0.03":
            funded["CM"] += Decimal(record["income"])
    for event, book, asset in ((um_funding, "UM", "USDT"), (cm_funding, "CM", "BTC")):
        assert (event["e"], event["fs"], event["a"]["m"]) == ("ACCOUNT_UPDATE", book, "FUNDING_FEE")
        [balance] = event["a"]["B"]
        assert balance["a"] == asset
        assert Decimal(balance["bc"]) == funded[book] != 0
    # 0.2 of the 0.5 long from 60000 sold at 65000: 1000 realized, 2.6 commission.
    assert (fill["fs"], fill["a"]["m"], fill["a"]["B"][0]["bc"]) == ("UM", "ORDER", "997.40000000")
    assert fill["a"]["P"][0]["pa"] == "0.3"


def test_uni_mmr_crossing_levels_is_pushed_once_per_level(papi: Papi):
    key = new_key(papi)
    papi.sim.freeze_prices()

    async def run() -> list[dict]:
        url = papi.sim.simulator.stream_url + key
        loop = asyncio.get_running_loop()
        got = []
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            for level in (1.3, 1.1, 1.02):  # each after the previous one was pushed
                await loop.run_in_executor(
                    None, lambda u=level: papi.sim.falling_uni_mmr("hmac", 0, start=u, end=u)
                )
                got.append(orjson.loads((await ws.receive(timeout=5)).data))
        return got

    got = asyncio.run(run())
    assert [(e["e"], e["s"]) for e in got] == [
        ("riskLevelChange", "MARGIN_CALL"),
        ("riskLevelChange", "REDUCE_ONLY"),
        ("riskLevelChange", "FORCE_LIQUIDATION"),
    ]
    # uniMMR is truncated to 8 decimals from the served equity and maintenance margin.
    for event, target in zip(got, ("1.3", "1.1", "1.02"), strict=True):
        assert Decimal(target) - Decimal("0.00000001") <= Decimal(event["u"]) <= Decimal(target)
        assert Decimal(event["eq"]) / Decimal(event["m"]) >= Decimal(event["u"])


def test_garbage_frames_are_sent_as_they_are(papi: Papi):
    key = new_key(papi)

    async def read() -> str:
        url = papi.sim.simulator.stream_url + key
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                None, lambda: papi.sim.send_stream_frames("hmac", ["{not json"])
            )
            return (await ws.receive(timeout=5)).data

    assert asyncio.run(read()) == "{not json"


def test_a_silent_stream_answers_no_ping_and_a_cut_closes_it(papi: Papi):
    key = new_key(papi)

    async def run() -> tuple[bool, aiohttp.WSMsgType]:
        url = papi.sim.simulator.stream_url + key
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, autoping=False) as ws:
                await loop.run_in_executor(None, papi.sim.set_stream_silent)
                await ws.ping()
                try:
                    await ws.receive(timeout=0.5)
                    answered = True
                except TimeoutError:
                    answered = False
            await loop.run_in_executor(None, lambda: papi.sim.set_stream_silent(False))
            async with session.ws_connect(url) as ws:
                await loop.run_in_executor(
                    None, lambda: papi.sim.set_stream_max_connection_seconds(0.1)
                )
                return answered, (await ws.receive(timeout=5)).type

    answered, ended = asyncio.run(run())
    assert answered is False
    assert ended == aiohttp.WSMsgType.CLOSE


def test_a_cross_margin_movement_is_pushed_as_balance_update(papi: Papi):
    key = new_key(papi)

    def act() -> None:
        papi.sim.set_cross_margin("hmac", "USDT", free="500", locked="20")
        papi.sim.set_cross_margin("hmac", "USDT", free="300", locked="20")

    deposit, withdrawal = frames(papi.sim, key, 2, act)
    assert (deposit["e"], deposit["a"], deposit["d"]) == ("balanceUpdate", "USDT", "520.00000000")
    assert (withdrawal["a"], withdrawal["d"]) == ("USDT", "-200.00000000")
