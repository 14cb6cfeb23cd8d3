"""The simulated exchange's state: what the scenario knobs change and the HTTP layer serves.

Accounts (by name and by API key), the market, the clock, how numbers are spelled, the faults, rate
limits, user data and market streams, the records of requests received and the last payload served
per account and path. The knobs that add and remove accounts are here, beside the two indexes they
keep in step; the others live in the ``*_knobs`` modules, the HTTP layer in ``api``.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from exporter.simulator.accounts import Payload, SimAccount, Spelling
from exporter.simulator.faults import Faults
from exporter.simulator.knobs import account_args, knob
from exporter.simulator.limits import RateLimits
from exporter.simulator.market import Market
from exporter.simulator.market_stream import MarkStreams
from exporter.simulator.stream import UserStreams

MAX_RECORDS = 100_000


@dataclass(frozen=True)
class RequestRecord:
    time: float  # server wall clock, seconds
    path: str
    account: str | None
    status: int
    code: int | None
    weight: int
    ip_weight_after: int
    method: str = "GET"
    # The query's parameters as sent but the signature's (what a client asked for)
    params: dict[str, str] = field(default_factory=dict)


class Scene:
    """The state every knob and every request shares; it runs on the simulator's event loop."""

    def __init__(
        self,
        accounts: list[SimAccount] | None = None,
        *,
        seed: int = 1,
        tick_seconds: float = 1.0,
        weight_limit: int = 6000,
        window_seconds: float = 60.0,
        ban_seconds: float = 120.0,
        funding_seconds: float | None = None,
        trade_seconds: float | None = None,
        liquidation_seconds: float | None = None,
    ) -> None:
        self.market = Market(seed)
        # Funding rates and the demo's trades come from the seed too (not the marks' stream).
        self._ledger_rng = random.Random(seed * 7919 + 1)
        self.funding_seconds = funding_seconds
        self.trade_seconds = trade_seconds
        self.liquidation_seconds = liquidation_seconds
        self._since_funding = 0.0
        self._since_trade = 0.0
        self._since_liquidation = 0.0
        self._liquidations = 0
        self._fills = 0
        self.tick_seconds = tick_seconds
        self.limits = RateLimits(weight_limit, window_seconds, ban_seconds)
        self.clock_skew_ms = 0
        self.prices_frozen = False
        self.spelling = Spelling()
        self.flat_position_rows = False
        self.requests: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._accounts: dict[str, SimAccount] = {}
        self._by_key: dict[str, SimAccount] = {}
        self.faults = Faults()
        self._payloads: dict[tuple[str, str], Payload] = {}
        self.streams = UserStreams(self.clock_ms)
        self.mark_streams = MarkStreams(self.market, self.clock_ms)
        # (account, asset) -> the principal and interest the borrow knob has booked
        self._liabilities: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        for account in accounts or []:
            self.add_account(account)

    def clock_ms(self) -> int:
        """The simulator clock: the wall clock plus ``clock_skew_ms``."""
        return int(time.time() * 1000) + self.clock_skew_ms

    @knob(account_args)
    def add_account(self, account: SimAccount) -> None:
        """Serve a new account (its symbols and assets checked); over HTTP, the account's own
        fields as ``account_from_json`` reads them."""
        if account.name in self._accounts:
            raise ValueError(f"account {account.name} already exists")
        if account.api_key in self._by_key:
            raise ValueError(f"api key of {account.name} is already used")
        for position in account.um_positions:
            if position.symbol not in self.market.um:
                raise ValueError(f"{account.name}: unknown UM symbol {position.symbol}")
        for position in account.cm_positions:
            if position.symbol not in self.market.cm:
                raise ValueError(f"{account.name}: unknown COIN-M symbol {position.symbol}")
        for asset in [*account.balances, *account.cm_balances, *account.cross_margin]:
            try:
                self.market.usd_price(asset)
            except KeyError as exc:
                raise ValueError(f"{account.name}: cannot value asset {asset}") from exc
        now = self.clock_ms()
        account.update_time = account.update_time or now
        for position in [*account.um_positions, *account.cm_positions]:
            position.update_time = position.update_time or now
        self._accounts[account.name] = account
        self._by_key[account.api_key] = account

    @knob()
    def remove_account(self, name: str) -> None:
        """Forget an account and its API key."""
        account = self._accounts.pop(name)
        self._by_key.pop(account.api_key, None)

    def account(self, name: str) -> SimAccount:
        try:
            return self._accounts[name]
        except KeyError:
            raise KeyError(f"no simulated account {name}") from None

    def find_account(self, name: str) -> SimAccount | None:
        return self._accounts.get(name)

    @property
    def accounts(self) -> list[SimAccount]:
        return list(self._accounts.values())

    def account_by_key(self, api_key: str | None) -> SimAccount | None:
        return self._by_key.get(api_key) if api_key else None

    def keep_payload(self, account: str, path: str, payload: Payload) -> None:
        self._payloads[(account, path)] = payload

    def served_payload(self, account: str, path: str) -> Payload | None:
        """The account's last reply on ``path`` as kept for the next one (shared entries)."""
        return self._payloads.get((account, path))

    def last_payload(self, account: str, path: str) -> dict | list | None:
        payload = self.served_payload(account, path)
        return None if payload is None else orjson.loads(bytes(payload))
