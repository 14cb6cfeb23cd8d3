"""The scenario's user data stream: the knobs on listen keys and sockets, and the events pushed
when the scenario moves money or positions or uniMMR crosses a level.

The stream's own rules (keys, sockets, keepalives): ``exporter.simulator.stream``.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from exporter.simulator.accounts import (
    CMPosition,
    Risk,
    SimAccount,
    UMPosition,
    cm_figures,
    compute_risk,
    fmt,
    plain,
    status_for,
    um_figures,
)
from exporter.simulator.books import ForceOrder
from exporter.simulator.knobs import knob
from exporter.simulator.market import UM_QUOTE, ZERO
from exporter.simulator.scene import Scene
from exporter.simulator.stream import risk_level


def book_wallets(account: SimAccount) -> dict[tuple[str, str], Decimal]:
    """The account's UM and COIN-M wallets by (book, asset), to see what an action moved."""
    um = {("UM", asset): wallet for asset, wallet in account.balances.items()}
    return um | {("CM", asset): wallet for asset, wallet in account.cm_balances.items()}


class StreamKnobs(Scene):
    """The stream knobs, and the pushes the other knobs make."""

    @knob()
    def set_listen_key_validity(self, seconds: float) -> None:
        """How long a listen key lives after its last POST or PUT (Binance: 3600 s)."""
        self.streams.validity_seconds = float(seconds)

    @knob()
    def set_stream_max_connection_seconds(self, seconds: float) -> None:
        """Close stream sockets older than this (Binance: 24 hours)."""
        self.streams.max_connection_seconds = float(seconds)

    @knob()
    def expire_listen_key(self, account: str) -> None:
        """The account's listen key expires now: ``listenKeyExpired``, then no more events."""
        self.streams.expire(account)

    @knob()
    def drop_stream(self, account: str | None = None) -> None:
        """Cut the TCP connections of the account's (None: every) stream, no close frame."""
        self.streams.drop(account)

    @knob()
    def set_stream_silent(self, silent: bool = True, account: str | None = None) -> None:
        """The account's (None: every) stream sockets send nothing and answer no ping."""
        target = self.streams.silent
        if silent:
            target.add(account)
        else:
            target.discard(account)

    @knob()
    def send_stream_frames(self, account: str, frames: list[str]) -> None:
        """Send these text frames as they are (garbage, unknown events) on the account's
        stream sockets."""
        self.streams.send_raw(account, list(frames))

    def _stream_tick(self) -> None:
        """Keys expire, old sockets are cut, and uniMMR crossing a level is pushed."""
        now = time.time()
        self.streams.tick(now)
        for name in self.streams.streamed_accounts():
            account = self._accounts.get(name)
            if account is None:
                continue
            risk = compute_risk(account, self.market, now)
            if self.streams.risk_level_change(name, status_for(risk.uni_mmr)):
                self.streams.emit(name, self._risk_event(risk))

    def _risk_event(self, risk: Risk) -> dict[str, Any]:
        level = risk_level(status_for(risk.uni_mmr))
        return {
            "e": "riskLevelChange",
            "E": self.clock_ms(),
            "u": fmt(risk.uni_mmr),
            "s": level,
            "eq": fmt(risk.account_equity),
            "ae": fmt(risk.actual_equity),
            "m": fmt(risk.maint),
        }

    def _account_update(
        self, account: SimAccount, book: str, reason: str, asset: str, change: Decimal, **extra: Any
    ) -> None:
        """ACCOUNT_UPDATE for one wallet asset (``bc`` = ``change``) and the given positions."""
        wallet = (account.balances if book == "UM" else account.cm_balances).get(asset, ZERO)
        balance = {"a": asset, "wb": fmt(wallet), "cw": fmt(wallet), "bc": fmt(change)}
        update = {"m": reason, "B": [balance], "P": extra.pop("positions", [])}
        update.update(extra)
        event = {
            "e": "ACCOUNT_UPDATE",
            "fs": book,
            "E": self.clock_ms(),
            "T": self.clock_ms(),
            "i": "",
            "a": update,
        }
        self.streams.emit(account.name, event)

    def _position_update(
        self, account: SimAccount, symbol: str, side: str, change: Decimal = ZERO
    ) -> None:
        """The ACCOUNT_UPDATE (reason ORDER) of a position that opened, changed or closed;
        ``change`` is what the fill moved its book's wallet by (commission, realized PnL)."""
        if symbol in self.market.cm:
            cm = self.market.cm[symbol]
            found: UMPosition | None = account.cm_position(symbol, side)
            book, asset = "CM", cm.base
            figures = cm_figures(found, cm) if isinstance(found, CMPosition) else None
        else:
            found = account.um_position(symbol, side)
            book, asset = "UM", UM_QUOTE
            figures = um_figures(found, self.market.um[symbol]) if found is not None else None
        row = {
            "s": symbol,
            "pa": plain(found.amount) if found is not None else "0",
            "ep": plain(found.entry_price) if found is not None else "0",
            "cr": "0",
            "up": fmt(figures.unrealized) if figures is not None else "0",
            "ps": side,
            "bep": fmt(figures.break_even) if figures is not None else "0",
        }
        self._account_update(account, book, "ORDER", asset, change, positions=[row])

    def _push_liability(
        self,
        account: str,
        asset: str,
        kind: str,
        principal: Decimal,
        interest: Decimal,
        total: Decimal,
    ) -> None:
        self.streams.emit(
            account,
            {
                "e": "liabilityChange",
                "E": self.clock_ms(),
                "a": asset,
                "t": kind,
                "T": self.streams.next_transaction(),
                "p": fmt(principal),
                "i": fmt(interest),
                "l": fmt(total),
            },
        )

    def _push_borrows(self, account: SimAccount, before: dict[str, Decimal]) -> None:
        """liabilityChange (BORROW) for each cross margin loan an auto-repay has grown, with the
        asset's principal, interest and total liability after it."""
        for asset, margin in account.cross_margin.items():
            if margin.borrowed > before.get(asset, ZERO):
                total = margin.borrowed + margin.interest
                self._push_liability(
                    account.name, asset, "BORROW", margin.borrowed, margin.interest, total
                )

    def _push_forced_fill(self, account: str, order: ForceOrder) -> None:
        """ORDER_TRADE_UPDATE: the forced order's fill, all of it at once (an IOC order at the
        mark), as the PM user data stream sends it (``fs`` UM or CM)."""
        now = self.clock_ms()
        quantity, price = plain(order.quantity), plain(order.price)
        fill = {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": "LIMIT",
            "f": "IOC",
            "q": quantity,
            "p": price,
            "ap": price,
            "sp": "0",
            "x": "TRADE",
            "X": "FILLED",
            "i": order.order_id,
            "l": quantity,
            "z": quantity,
            "L": price,
            "T": now,
            "t": self.streams.next_transaction(),
            "R": True,
            "ps": order.position_side,
        }
        event = {"e": "ORDER_TRADE_UPDATE", "fs": order.market.upper(), "E": now, "T": now}
        self.streams.emit(account, {**event, "o": fill})

    def _push_margin_balance(self, account: str, asset: str, delta: Decimal) -> None:
        """balanceUpdate: the Cross Margin wallet of ``asset`` moved by ``delta`` (a deposit, a
        withdrawal, a transfer)."""
        if delta:
            event = {
                "e": "balanceUpdate",
                "E": self.clock_ms(),
                "a": asset,
                "d": fmt(delta),
                "U": self.streams.next_transaction(),
                "T": self.clock_ms(),
            }
            self.streams.emit(account, event)

    def _push_wallet_changes(
        self, account: SimAccount, before: dict[tuple[str, str], Decimal], reason: str
    ) -> None:
        """ACCOUNT_UPDATE for each UM or COIN-M wallet that moved since ``before``."""
        for (book, asset), wallet in book_wallets(account).items():
            change = wallet - before.get((book, asset), ZERO)
            if change:
                self._account_update(account, book, reason, asset, change)
