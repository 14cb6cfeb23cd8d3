"""The scenario knobs on the market and the accounts: marks, accounts served, positions, statuses
and uniMMR ramps."""

from __future__ import annotations

import time
from decimal import Decimal

from exporter.simulator.accounts import CMPosition, UMPosition, UniMMRRamp
from exporter.simulator.knobs import knob
from exporter.simulator.stream_knobs import StreamKnobs


class MarketKnobs(StreamKnobs):
    """Knobs that set what the accounts hold; a position's change is pushed on its stream."""

    @knob()
    def freeze_prices(self, frozen: bool = True) -> None:
        """Stop (or restart) the marks' walk."""
        self.prices_frozen = frozen

    @knob()
    def tick(self) -> None:
        """Move every mark one step, even when frozen."""
        self.market.tick()

    @knob()
    def set_mark_price(self, symbol: str, price: Decimal | str) -> None:
        """The mark of a UM or COIN-M symbol."""
        self.market.set_mark(symbol, Decimal(price))

    @knob()
    def set_collateral_rate(self, asset: str, rate: Decimal | str) -> None:
        """The Portfolio Margin collateral rate of ``asset`` (0 to 1): served by collateralRate
        and applied to the asset's value in every account's adjusted equity (uniMMR)."""
        value = Decimal(rate)
        if not 0 <= value <= 1:
            raise ValueError("rate must be between 0 and 1")
        self.market.collateral_rates[asset] = value

    @knob()
    def set_status_override(self, account: str, status: str | None) -> None:
        """Serve this ``accountStatus`` (any of Binance's seven, SUPPLY_MARGIN and
        ACTIVE_LIQUIDATION included, or one it does not have yet); ``None`` goes back to the
        uniMMR levels."""
        self.account(account).status_override = status

    @knob()
    def open_position(
        self,
        account: str,
        symbol: str,
        side: str,
        amount: Decimal | str,
        entry_price: Decimal | str,
        leverage: int = 20,
        *,
        open_order_initial_margin: Decimal | str = "0",
    ) -> None:
        """Open or replace a UM or COIN-M (symbol with ``_``) position; amount 0 with an
        open-order margin is an open order without a position."""
        sim = self.account(account)
        amount, entry = Decimal(amount), Decimal(entry_price)
        sim.check_side(side, amount)
        now = self.clock_ms()
        if symbol in self.market.cm:
            sim.cm_positions = [p for p in sim.cm_positions if (p.symbol, p.side) != (symbol, side)]
            sim.cm_positions.append(
                CMPosition(
                    symbol, side, amount, entry, leverage, Decimal(open_order_initial_margin), now
                )
            )
        elif symbol in self.market.um:
            sim.um_positions = [p for p in sim.um_positions if (p.symbol, p.side) != (symbol, side)]
            sim.um_positions.append(
                UMPosition(
                    symbol, side, amount, entry, leverage, Decimal(open_order_initial_margin), now
                )
            )
        else:
            raise KeyError(f"unknown symbol {symbol}")
        self._position_update(sim, symbol, side)

    @knob()
    def close_position(self, account: str, symbol: str, side: str = "BOTH") -> None:
        """Close a UM or COIN-M position side."""
        sim = self.account(account)
        sim.um_positions = [p for p in sim.um_positions if (p.symbol, p.side) != (symbol, side)]
        sim.cm_positions = [p for p in sim.cm_positions if (p.symbol, p.side) != (symbol, side)]
        if symbol in self.market.um or symbol in self.market.cm:
            self._position_update(sim, symbol, side)

    @knob()
    def falling_uni_mmr(
        self, account: str, duration_seconds: float, start: float = 2.0, end: float = 1.0
    ) -> None:
        """Walk uniMMR down a straight line so the status crosses 1.5, 1.2, 1.05 and 1.0 in turn.

        From now on the account's USDT wallet is set, on every computation, so that uniMMR goes
        from ``start`` to ``end`` over the duration, then holds ``end``. The account needs
        maintenance margin (an open position).
        """
        sim = self.account(account)
        if not sim.um_positions and not sim.cm_positions:
            raise ValueError(f"{account}: needs a position (maintenance margin) to drive uniMMR")
        sim.ramp = UniMMRRamp(start, end, time.time(), duration_seconds)

    @knob()
    def clear_ramp(self, account: str) -> None:
        """Stop the account's ``falling_uni_mmr``."""
        self.account(account).ramp = None
