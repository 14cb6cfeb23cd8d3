"""Marks into the served positions: the position figures a mark needs, the contract size the
polls imply, and the merge rule's newest-wins against the poll, on an account's state."""

from __future__ import annotations

import asyncio

from exporter.collectors import COLLECTORS
from exporter.snapshot import AccountState, ExporterStatus, Store
from exporter.stream.mark_values import MarkValues, contract_size, held_positions
from exporter.stream.marks import MarkBook, MarkUpdate
from tests.helpers import make_config

POLLED_MS = 1_700_000_000_000
BTC = ("BTCUSDT", "BOTH")
PERP = ("BTCUSD_PERP", "BOTH")
UM_MARK = "binance_pm_um_position_mark_price"
UM_PNL = "binance_pm_um_position_unrealized_pnl"
CM_PNL = "binance_pm_cm_position_unrealized_pnl"
CM_MARK = "binance_pm_cm_position_mark_price"
ACCOUNT = {"name": "desk", "api_key": "key-desk", "api_secret": "secret-desk"}


def desk() -> AccountState:
    state = AccountState("desk", ("um_account", "um_position_risk", "cm_position_risk"))
    um = {
        "binance_pm_um_position_amount": [(BTC, -0.5)],
        "binance_pm_um_position_entry_price": [(BTC, 60000.0)],
        UM_PNL: [(BTC, 100.0)],
    }
    state.set_data("um_account", um, COLLECTORS["um_account"].families, 0, 60, POLLED_MS)
    risk = {UM_MARK: [(BTC, 59800.0)]}
    state.set_data(
        "um_position_risk", risk, COLLECTORS["um_position_risk"].families, 0, 60, POLLED_MS
    )
    # Without the COIN-M detail, the position-risk reply serves amount, entry and PnL itself.
    cm = {
        "binance_pm_cm_position_amount": [(PERP, 10.0)],
        "binance_pm_cm_position_entry_price": [(PERP, 64000.0)],
        "binance_pm_cm_position_notional_value": [(PERP, 0.01538462)],
        CM_MARK: [(PERP, 65000.0)],
        CM_PNL: [(PERP, 0.00024038)],
    }
    state.set_data(
        "cm_position_risk", cm, COLLECTORS["cm_position_risk"].families, 0, 60, POLLED_MS
    )
    return state


def served(state: AccountState, collector: str, name: str) -> float:
    return dict(state.data[collector].samples[name])[
        BTC if name.startswith("binance_pm_um") else PERP
    ]


def test_a_coin_m_contract_size_comes_from_notional_mark_and_amount():
    assert contract_size(10.0, 0.01538462, 65000.0) == 100.0
    assert contract_size(-3.0, -0.00882353, 3400.0) == 10.0
    assert contract_size(0.0, 0.0, 65000.0) is None


def test_positions_are_read_where_they_are_served():
    state = desk()
    [um] = held_positions(state, "um")
    [cm] = held_positions(state, "cm")
    assert (um.amount, um.entry_price, um.pnl_collector, um.contract_size) == (
        -0.5,
        60000.0,
        "um_account",
        None,
    )
    assert (cm.amount, cm.entry_price, cm.pnl_collector, cm.contract_size) == (
        10.0,
        64000.0,
        "cm_position_risk",
        100.0,
    )


def run_marks(state: AccountState, frames: list[tuple[str, MarkUpdate]]) -> int:
    """Apply ``frames`` to a book in one loop turn; the number of changes the store saw."""
    store = Store(ExporterStatus(version="test"))
    store.accounts["desk"] = state
    config = make_config("http://127.0.0.1:1", [{**ACCOUNT, "market_stream": True}])

    async def go() -> None:
        book = MarkBook()
        MarkValues(book, store, config)
        for market in ("um", "cm"):
            book.open(market)  # type: ignore[arg-type]
        for market, update in frames:
            book.apply(market, [update])  # type: ignore[arg-type]
        await asyncio.sleep(0)

    asyncio.run(go())
    return store.version


def test_a_newer_mark_moves_mark_and_pnl_an_older_one_never_rolls_the_poll_back():
    state = desk()
    run_marks(state, [("um", MarkUpdate("BTCUSDT", 61000.0, POLLED_MS - 1))])
    assert served(state, "um_position_risk", UM_MARK) == 59800.0
    assert served(state, "um_account", UM_PNL) == 100.0
    run_marks(state, [("um", MarkUpdate("BTCUSDT", 61000.0, POLLED_MS + 1))])
    assert served(state, "um_position_risk", UM_MARK) == 61000.0
    assert served(state, "um_account", UM_PNL) == -500.0  # -0.5 x (61000 - 60000)


def test_a_coin_m_mark_moves_the_inverse_pnl():
    state = desk()
    run_marks(state, [("cm", MarkUpdate("BTCUSD_PERP", 80000.0, POLLED_MS + 1))])
    assert served(state, "cm_position_risk", CM_MARK) == 80000.0
    assert served(state, "cm_position_risk", CM_PNL) == 10 * 100 * (1 / 64000 - 1 / 80000)


def test_frames_of_one_loop_turn_are_pushed_in_one_change():
    state = desk()
    frames = [("um", MarkUpdate("BTCUSDT", 61000.0 + i, POLLED_MS + 1 + i)) for i in range(5)]
    # Each book change notifies (the market's own series); the pushes add one change in all.
    assert run_marks(state, frames) == 1
    assert served(state, "um_position_risk", UM_MARK) == 61004.0


def test_an_account_without_market_stream_is_left_alone():
    state = desk()
    store = Store(ExporterStatus(version="test"))
    store.accounts["desk"] = state
    config = make_config("http://127.0.0.1:1", [ACCOUNT])

    async def go() -> None:
        book = MarkBook()
        MarkValues(book, store, config)
        book.open("um")
        book.apply("um", [MarkUpdate("BTCUSDT", 61000.0, POLLED_MS + 1)])
        await asyncio.sleep(0)

    asyncio.run(go())
    assert served(state, "um_position_risk", UM_MARK) == 59800.0
