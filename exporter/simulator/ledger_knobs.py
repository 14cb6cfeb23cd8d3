"""The scenario knobs that move money: cross margin loans and their interest, funding, trades,
income records and liabilities, and the ticks that do it on their own (see
``exporter.simulator.ledger`` for each figure)."""

from __future__ import annotations

import time
from decimal import Decimal

from exporter.simulator import ledger
from exporter.simulator.accounts import compute_risk
from exporter.simulator.books import CrossMargin, ForceOrder
from exporter.simulator.knobs import knob
from exporter.simulator.market import UM_QUOTE, ZERO, quantum
from exporter.simulator.stream_knobs import StreamKnobs, book_wallets

FIRST_TRADE_ID = 2059192  # the tradeId of Binance's income example; fills count on from it


class LedgerKnobs(StreamKnobs):
    """Knobs that book money; what moves a wallet is pushed on the account's stream."""

    @knob()
    def set_cross_margin(
        self,
        account: str,
        asset: str,
        free: Decimal | str = "0",
        locked: Decimal | str = "0",
        borrowed: Decimal | str = "0",
        interest: Decimal | str = "0",
        hourly_rate: Decimal | str | None = None,
    ) -> None:
        """The account's cross margin holding of ``asset``: free, locked, a loan (``borrowed``)
        and its interest, which then grows by ``hourly_rate`` of the loan an hour (default
        ``DEFAULT_HOURLY_RATE``)."""
        sim = self.account(account)
        self.market.usd_price(asset)  # an asset the market cannot value is refused
        margin = CrossMargin(Decimal(free), Decimal(locked), Decimal(borrowed), Decimal(interest))
        margin.update_time = self.clock_ms()
        if hourly_rate is not None:
            margin.hourly_rate = Decimal(hourly_rate)
        before = sim.cross_margin.get(asset)
        held = ZERO if before is None else before.free + before.locked
        sim.cross_margin[asset] = margin
        self._push_margin_balance(sim.name, asset, margin.free + margin.locked - held)

    @knob()
    def accrue_interest(self, hours: float) -> None:
        """Every loan's interest grows by ``hours`` of its rate (the ticks do this on their own
        while prices are not frozen)."""
        now = self.clock_ms()
        for account in self._accounts.values():
            ledger.accrue_interest(account, Decimal(repr(hours)), now)

    @knob()
    def set_funding(self, every_seconds: float | None) -> None:
        """A funding round every ``every_seconds`` of ticks (None: none, the default)."""
        self.funding_seconds = every_seconds
        self._since_funding = 0.0

    @knob()
    def set_trading(self, every_seconds: float | None) -> None:
        """A small trade (commission, realized PnL) every ``every_seconds`` of ticks, on each
        account's UM positions in turn (None: none, the default)."""
        self.trade_seconds = every_seconds
        self._since_trade = 0.0

    @knob()
    def set_liquidations(self, every_seconds: float | None) -> None:
        """A forced order every ``every_seconds`` of ticks (None: none, the default): in turn a
        UM liquidation, a UM auto-deleveraging and a margin liquidation of a sliver of an
        account's position, the UM ones traded back at once so the positions stay (--demo)."""
        self.liquidation_seconds = every_seconds
        self._since_liquidation = 0.0

    @knob()
    def force_close(
        self,
        account: str,
        symbol: str,
        side: str = "BOTH",
        quantity: Decimal | str | None = None,
        kind: str = "LIQUIDATION",
    ) -> None:
        """Binance forces ``quantity`` (default all) of a UM or COIN-M position closed at the
        mark: a fill like ``trade`` (COMMISSION, REALIZED_PNL, the stream's update) and a forced
        order of ``kind`` (LIQUIDATION or ADL) in the account's forceOrders."""
        if kind not in ("LIQUIDATION", "ADL"):
            raise ValueError("kind must be LIQUIDATION or ADL")
        cm = symbol in self.market.cm
        sim = self.account(account)
        positions: list = sim.cm_positions if cm else sim.um_positions
        position = next((p for p in positions if (p.symbol, p.side) == (symbol, side)), None)
        if position is None or not position.amount:
            raise ValueError(f"{account} holds no {symbol} {side} position")
        amount = position.amount
        closed = abs(amount) if quantity is None else Decimal(quantity)
        if not 0 < closed <= abs(amount):
            raise ValueError("quantity must be above 0 and at most the position's")
        sign = 1 if amount > 0 else -1
        price = (self.market.cm[symbol] if cm else self.market.um[symbol]).mark
        self.trade(account, symbol, side, -sign * closed)
        self._book_force_order(
            sim.name,
            "cm" if cm else "um",
            symbol,
            "SELL" if sign > 0 else "BUY",
            side,
            closed,
            price,
            kind,
        )

    @knob()
    def add_margin_force_order(
        self,
        account: str,
        symbol: str,
        quantity: Decimal | str,
        price: Decimal | str,
        side: str = "SELL",
    ) -> None:
        """A margin liquidation order of ``quantity`` at ``price`` in the account's margin
        forceOrders (the cross margin wallet is left as it is)."""
        self._book_force_order(
            account,
            "margin",
            symbol,
            side,
            "BOTH",
            Decimal(quantity),
            Decimal(price),
            "LIQUIDATION",
        )

    def _book_force_order(
        self,
        account: str,
        market: str,
        symbol: str,
        side: str,
        position_side: str,
        quantity: Decimal,
        price: Decimal,
        kind: str,
    ) -> None:
        book = self.account(account).force_orders
        order = ForceOrder(
            market,
            book.next_id,
            symbol,
            side,
            position_side,
            quantity,
            price,
            self.clock_ms(),
            kind,
        )
        book.next_id += 1
        book.orders.append(order)
        if market != "margin":
            self._push_forced_fill(account, order)

    def _liquidate(self) -> None:
        """The demo's forced orders (``set_liquidations``), one account in turn."""
        accounts = [a for a in self._accounts.values() if any(p.amount for p in a.um_positions)]
        if not accounts:
            return
        turn = self._liquidations
        self._liquidations += 1
        account = accounts[turn % len(accounts)]
        position = next(p for p in account.um_positions if p.amount)
        places = self.market.um[position.symbol].quantity_precision
        quantity = (abs(position.amount) * Decimal("0.01")).quantize(quantum(places))
        if not quantity:
            return
        sign = 1 if position.amount > 0 else -1
        if turn // len(accounts) % 3 == 2:
            price = self.market.um[position.symbol].mark
            self.add_margin_force_order(account.name, position.symbol, quantity, price)
            return
        kind = "ADL" if turn // len(accounts) % 3 == 1 else "LIQUIDATION"
        self.force_close(account.name, position.symbol, position.side, quantity, kind)
        self.trade(account.name, position.symbol, position.side, sign * quantity)

    @knob()
    def funding_round(self) -> None:
        """Repay negative wallets, then pay funding on every open position of every account, at
        one rate per symbol drawn from the seed (see ``exporter.simulator.ledger``)."""
        now = self.clock_ms()
        symbols = [
            p.symbol for a in self._accounts.values() for p in [*a.um_positions, *a.cm_positions]
        ]
        rates = ledger.funding_rates(self._ledger_rng, symbols)
        for account in self._accounts.values():
            borrowed = {a: m.borrowed for a, m in account.cross_margin.items()}
            ledger.auto_repay(account, now)
            self._push_borrows(account, borrowed)
            wallets = book_wallets(account)
            ledger.pay_funding(account, compute_risk(account, self.market, time.time()), rates, now)
            self._push_wallet_changes(account, wallets, "FUNDING_FEE")

    @knob()
    def trade(
        self,
        account: str,
        symbol: str,
        side: str,
        quantity: Decimal | str,
        price: Decimal | str | None = None,
    ) -> None:
        """A fill of ``quantity`` (signed; COIN-M in contracts) at ``price`` (default the mark):
        moves the position, books its COMMISSION and, when it reduces the position, its
        REALIZED_PNL."""
        if symbol not in self.market.um and symbol not in self.market.cm:
            raise KeyError(f"unknown symbol {symbol}")
        self._fills += 1
        fill = None if price is None else Decimal(price)
        sim = self.account(account)
        wallets = book_wallets(sim)
        ledger.trade(
            sim,
            self.market,
            symbol,
            side,
            Decimal(quantity),
            fill,
            self.clock_ms(),
            str(FIRST_TRADE_ID + self._fills),
        )
        book, asset = (
            ("CM", self.market.cm[symbol].base) if symbol in self.market.cm else ("UM", UM_QUOTE)
        )
        change = book_wallets(sim).get((book, asset), ZERO) - wallets.get((book, asset), ZERO)
        self._position_update(sim, symbol, side, change)

    @knob()
    def add_income(
        self,
        account: str,
        income_type: str,
        income: Decimal | str,
        asset: str = "USDT",
        symbol: str = "",
        *,
        book: str = "um",
        count: int = 1,
        time_ms: int | None = None,
        info: str | None = None,
        trade_id: str = "",
    ) -> None:
        """Book ``count`` records of ``income`` each in the ``book`` ("um" or "cm") income
        history, at ``time_ms`` (default now), each with the next tranId of its type, moving
        the book's wallet."""
        if book not in ("um", "cm"):
            raise ValueError("book must be um or cm")
        sim, amount = self.account(account), Decimal(income)
        when = self.clock_ms() if time_ms is None else int(time_ms)
        for _ in range(count):
            ledger.add_income(
                sim, book == "cm", income_type, amount, asset, when, symbol, info, trade_id
            )

    @knob()
    def pay_funding(self, account: str, symbol: str, amount: Decimal | str) -> None:
        """Funding of a UM or COIN-M symbol: ``amount`` (signed; negative is paid) into the
        USDT or coin wallet, pushed as ACCOUNT_UPDATE with reason FUNDING_FEE."""
        sim, change = self.account(account), Decimal(amount)
        if symbol in self.market.cm:
            book, asset, wallets = "CM", self.market.cm[symbol].base, sim.cm_balances
        elif symbol in self.market.um:
            book, asset, wallets = "UM", UM_QUOTE, sim.balances
        else:
            raise KeyError(f"unknown symbol {symbol}")
        wallets[asset] = wallets.get(asset, ZERO) + change
        sim.update_time = self.clock_ms()
        self._account_update(sim, book, "FUNDING_FEE", asset, change, S=symbol)

    @knob()
    def borrow(self, account: str, asset: str, amount: Decimal | str, kind: str = "BORROW") -> None:
        """A margin liability grows by ``amount`` (``kind`` BORROW or INTEREST), pushed as
        liabilityChange with the asset's principal, interest and total liability after it; its
        transaction id is above 2**53."""
        self.account(account)
        self.market.usd_price(asset)  # a KeyError for an asset the market cannot value
        key = (account, asset)
        principal, interest = self._liabilities.get(key, (ZERO, ZERO))
        if kind == "BORROW":
            principal += Decimal(amount)
        else:
            interest += Decimal(amount)
        self._liabilities[key] = (principal, interest)
        self._push_liability(account, asset, kind, principal, interest, principal + interest)

    def _ledger_tick(self) -> None:
        """Interest for one tick; a funding round and a trade when their time has come."""
        self.accrue_interest(self.tick_seconds / 3600)
        if self.funding_seconds:
            self._since_funding += self.tick_seconds
            if self._since_funding >= self.funding_seconds:
                self._since_funding = 0.0
                self.funding_round()
        if self.liquidation_seconds:
            self._since_liquidation += self.tick_seconds
            if self._since_liquidation >= self.liquidation_seconds:
                self._since_liquidation = 0.0
                self._liquidate()
        if self.trade_seconds:
            self._since_trade += self.tick_seconds
            if self._since_trade >= self.trade_seconds:
                self._since_trade = 0.0
                self._rebalance()

    def _rebalance(self) -> None:
        """The demo's trading: one account in turn trims 5% off a position or adds it back."""
        accounts = [a for a in self._accounts.values() if any(p.amount for p in a.um_positions)]
        if not accounts:
            return
        account = accounts[self._fills % len(accounts)]
        held = [p for p in account.um_positions if p.amount]
        position = held[self._fills // len(accounts) % len(held)]
        places = self.market.um[position.symbol].quantity_precision
        quantity = (position.amount * Decimal("0.05")).quantize(quantum(places))
        if quantity:
            # Trim on one pass over the positions, add back on the next.
            trim = self._fills // (len(accounts) * len(held)) % 2 == 0
            self.trade(
                account.name, position.symbol, position.side, -quantity if trim else quantity
            )
        else:
            self._fills += 1
