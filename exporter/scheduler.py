"""The poll loop: when each account is polled, back-off, Retry-After, and publishing results.

An account's collectors are polled in groups, one per interval, each group at its slot
(``exporter.slots``). One poll is four steps: fetch every asked collector at once, then for each
(leaders first, ``exporter.follow``) settle its reply (parse it, count its errors, and move to the
successor endpoint when Binance retired it) and apply it to the account's state, and finally roll
the account up and publish. A slow account only delays itself; nothing here raises out of the
loop.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from exporter.binance.client import Credentials, PapiClient
from exporter.binance.errors import ApiError, unexpected_error
from exporter.collectors import COLLECTORS, BadPayload, Collector, ParseOptions, Result
from exporter.config import AccountConfig, Config
from exporter.follow import leader_positions, poll_order, trimmed_followers
from exporter.reload import ReloadPlan
from exporter.slots import Slots, collector_groups, first_poll_at, next_slot
from exporter.snapshot import AccountState, CollectorHealth, Store

log = structlog.get_logger("exporter.scheduler")

AUTH_BACKOFF_CAP = 600.0  # a bad key is retried at most every 10 minutes


def auth_backoff(failures: int, interval: float, cap: float = AUTH_BACKOFF_CAP) -> float:
    """The delay after ``failures`` refused polls in a row: the interval, doubled each time."""
    # The exponent is bounded: a key refused for days would otherwise overflow a float.
    doublings = min(failures - 1, 64)
    return min(interval * 2**doublings, cap)


def credentials_for(account: AccountConfig) -> Credentials:
    """The key and the signer the config built at load (a private key is parsed once)."""
    return Credentials(account.api_key.reveal(), account.signer)


@dataclass
class _Fetched:
    """One collector's fetch in a poll: what its ``decode`` takes, or why there is none."""

    collector: Collector  # the endpoint asked (the successor, once Binance retired the first)
    payload: bytes | Any = b""
    error: ApiError | None = None
    timestamp_retried: bool = False  # one of its requests was the retry after a -1021
    seconds: float = 0.0


class _SignedGets:
    """What a collector's fetch strategy is given: signed GETs with the account's key.

    It notes whether any request was the retry after a -1021 (the reply's or the error's
    ``timestamp_retried``), so a strategy that pages needs not know about the retry.
    """

    def __init__(self, client: PapiClient, creds: Credentials) -> None:
        self._client, self._creds = client, creds
        self.timestamp_retried = False

    async def __call__(self, path: str, params: Mapping[str, str]) -> bytes:
        try:
            reply = await self._client.get_signed(path, self._creds, params)
        except ApiError as exc:
            self.timestamp_retried |= exc.timestamp_retried
            raise
        self.timestamp_retried |= reply.timestamp_retried
        return reply.body


@dataclass
class _Group:
    """An account's collectors that share an interval: polled together, at one slot.

    ``wake`` set means poll now (the slot stays where it is): a reload changed the account
    (``requested`` None: all of them), or ``request_poll`` asked for ``requested`` only.
    """

    interval: float
    names: tuple[str, ...]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    requested: set[str] | None = None

    def ask(self, names: set[str] | None) -> None:
        if names is None or (self.wake.is_set() and self.requested is None):
            self.requested = None
        else:
            self.requested = (self.requested or set()) | names
        self.wake.set()

    def take(self) -> tuple[str, ...]:
        """The collectors this round polls, and the request cleared."""
        requested, self.requested = self.requested, None
        self.wake.clear()
        if requested is None:
            return self.names
        return tuple(n for n in self.names if n in requested)


@dataclass
class _Polling:
    """What an account's loops poll with. A reload updates it in place (the loops keep running
    and so keep their slots) and wakes them when the account changed, to poll it at once."""

    account: AccountConfig
    credentials: Credentials
    groups: list[_Group]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def count_errors(health: CollectorHealth, item: _Fetched, error: ApiError | None) -> None:
    """The one place a request's outcome becomes ``poll_errors_total``.

    Binance refusing the timestamp (-1021) counts once per request, whether the client's retry
    after a resync then succeeded (``timestamp_retried``), failed otherwise, or was refused
    again; any other failure that was sent counts under its own reason.
    """
    if item.timestamp_retried or (error is not None and error.reason == "timestamp"):
        health.errors["timestamp"] += 1
    if error is not None and error.sent and error.reason != "timestamp":
        health.errors[error.reason] += 1


class Scheduler:
    def __init__(self, config: Config, store: Store, client: PapiClient) -> None:
        self.config = config
        self.store = store
        self.client = client  # read at each request: a reload may replace it
        self._polling: dict[str, _Polling] = {}
        self._epoch = 0.0  # loop time of start(): slot k of n is at epoch + k/n of the cycle
        self._running = False
        self._warned: set[tuple[str, str, str]] = set()
        self._auth_failing: set[str] = set()
        for account in config.accounts:
            store.accounts[account.name] = AccountState(account.name, account.collector_names)

    def start(self) -> None:
        self._running = True
        self._epoch = asyncio.get_running_loop().time()
        self._publish_clock()
        slots = Slots.of(self.config)
        for account in self.config.accounts:
            self._start_account(account, slots, prompt=False)

    def _start_account(self, account: AccountConfig, slots: Slots, *, prompt: bool) -> None:
        """Start the account's loops, one per interval, each at its slot (polling at once too
        when ``prompt``: a reload added or regrouped it)."""
        loop = asyncio.get_running_loop()
        layout, cycle = slots.layout, slots.cycle
        polling = _Polling(account, credentials_for(account), [])
        self._polling[account.name] = polling
        for interval, names in collector_groups(account):
            offset, jitter_bound = layout[(account.name, interval)]
            slot_at = self._epoch + offset + random.uniform(0, jitter_bound)
            first_at = first_poll_at(slot_at, loop.time(), cycle)
            group = _Group(interval, names)
            if prompt:
                group.ask(None)
            polling.groups.append(group)
            task = asyncio.create_task(
                self._run_group(account.name, group, first_at),
                name=f"poll-{account.name}-{interval:g}s",
            )
            polling.tasks.append(task)

    def request_poll(self, account: str, collectors: Collection[str]) -> None:
        """Poll these collectors of the account soon, without moving their slots.

        Unknown accounts and collectors the account does not poll are ignored: the caller (an
        event stream) does not need to know the config.
        """
        polling = self._polling.get(account)
        if polling is None:
            return
        wanted = set(collectors)
        for group in polling.groups:
            names = wanted.intersection(group.names)
            if names:
                group.ask(names)

    async def apply(self, new: Config, client: PapiClient, plan: ReloadPlan) -> None:
        """Switch to a reloaded config as ``plan`` says, without disturbing what it keeps.

        A kept, unchanged account keeps its running loops, hence its slots and its data: a storm
        of reloads cannot starve it. A changed account (key, signer or collectors) is polled at
        once, then at its slots; a retimed one (its collectors' intervals alone changed) moves to
        new slots without polling at once; added accounts get slots and removed ones stop. Loops
        read the client at each poll, so a new one applies from the next poll.
        """
        fresh = {a.name: self._state_after(a, plan) for a in new.accounts}
        await self._stop_accounts([*plan.removed, *plan.regrouped])
        self.store.accounts.clear()
        self.store.accounts.update(fresh)
        self.config, self.client = new, client
        if plan.new_client:
            self._publish_clock()
        self._auth_failing &= set(fresh)
        if not self._running:
            return
        slots = Slots.of(new)
        started, changed = {*plan.added, *plan.regrouped}, set(plan.changed)
        at_once = set(plan.regrouped) - set(plan.retimed)
        for account in new.accounts:
            if account.name in started:
                self._start_account(account, slots, prompt=account.name in at_once)
            elif account.name in changed:
                polling = self._polling[account.name]
                polling.account, polling.credentials = account, credentials_for(account)
                for group in polling.groups:
                    group.ask(None)

    def _state_after(self, account: AccountConfig, plan: ReloadPlan) -> AccountState:
        """The account's state under the reloaded config: new when added, rebuilt for a new
        collector list (keeping what the kept collectors have), else the same."""
        state = self.store.accounts.get(account.name)
        if state is None or account.name in plan.added:
            return AccountState(account.name, account.collector_names)
        if account.name in plan.recollected:
            return state.with_collectors(account.collector_names)
        return state

    async def stop(self) -> None:
        self._running = False
        await self._stop_accounts(list(self._polling))

    def running_accounts(self) -> list[str]:
        """The accounts whose loops run (for tests and diagnostics)."""
        return [name for name, p in self._polling.items() if any(not t.done() for t in p.tasks)]

    async def _stop_accounts(self, names: list[str]) -> None:
        tasks = [t for name in names if (p := self._polling.pop(name, None)) for t in p.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_group(self, name: str, group: _Group, first_at: float) -> None:
        loop = asyncio.get_running_loop()
        polling = self._polling[name]
        auth_failures = 0
        crashed = False
        next_at = first_at
        interval = group.interval
        while True:
            prompt = await sleep_or_wake(group.wake, next_at - loop.time())
            asked = group.take()  # a slot's poll polls them all, asked for or not
            names = asked if prompt else group.names
            try:
                auth_failed = await self.poll(
                    polling.account, self.store.accounts[name], polling.credentials, names
                )
                crashed = False
            except Exception as exc:  # a bug must not end the account's loop, nor flood the log
                auth_failed = False
                if not crashed:
                    log.error("poll crashed", account=name, error=_describe(exc))
                    log.debug("poll crashed", account=name, exc_info=exc)
                crashed = True
            if auth_failed:
                auth_failures += 1
                delay = auth_backoff(auth_failures, interval)
                if auth_failures > 1 or delay > interval:
                    log.info("auth back-off", account=name, retry_in_seconds=delay)
            else:
                auth_failures = 0
                delay = interval
            next_at = next_slot(next_at, delay, interval, loop.time(), prompt, auth_failed)

    async def poll(
        self,
        account: AccountConfig,
        state: AccountState,
        creds: Credentials,
        names: tuple[str, ...] | None = None,
    ) -> bool:
        """Poll the account's collectors once (``names``, default all of them).

        Returns True when the key was refused.
        """
        names = account.collector_names if names is None else names
        # The poll's time on Binance's clock: what a stream value is compared with (a row
        # Binance updated later carries its own updateTime, ``exporter.fresh``).
        sent_ms = int((time.time() + self.client.clock.offset_seconds) * 1000)
        fetched = await asyncio.gather(
            *(self._fetch(self._endpoint(state, n), creds, state) for n in names)
        )
        if self.store.accounts.get(account.name) is not state:
            return False  # a reload replaced the account meanwhile; it is polled again at once
        by_name = dict(zip(names, fetched, strict=True))
        now = time.time()
        auth_error: ApiError | None = None
        # Leaders first: their positions decide which of their followers' rows are kept.
        for name in poll_order(names):
            collector, outcome = await self._settle(state, name, by_name[name], creds, now)
            state.health[name].attempted = True
            if isinstance(outcome, ApiError):
                self._record_failure(state, name, state.health[name], outcome)
                if outcome.reason == "auth":
                    auth_error = auth_error or outcome
            else:
                self._apply(account, state, name, collector, outcome, now, sent_ms)
        self._roll_up(state, now)
        self._note_auth(account.name, auth_error)
        return auth_error is not None

    async def _settle(
        self, state: AccountState, name: str, item: _Fetched, creds: Credentials, now: float
    ) -> tuple[Collector, Result | ApiError]:
        """A collector's fetched reply parsed and its errors counted: its result, or why there
        is none, and the endpoint that gave it.

        When Binance answered that the endpoint is retired, its successor takes over for this
        account from now on, starting with a request now.
        """
        health = state.health[name]
        options = self._options(state, item.collector, now)
        outcome = self._parse(item, health, options)
        retired = item.collector
        if isinstance(outcome, ApiError) and outcome.retired and retired.successor is not None:
            count_errors(health, item, None)  # that answer is not a failure
            self._fall_back(state, name, health, retired, outcome)
            item = await self._fetch(retired.successor, creds, state)
            outcome = self._parse(item, health, options)
        count_errors(health, item, outcome if isinstance(outcome, ApiError) else None)
        return item.collector, outcome

    def _options(self, state: AccountState, collector: Collector, now: float) -> ParseOptions:
        """What a collector's parse is given for this account: its leader's served positions
        and the state its fetch strategy keeps."""
        leader = leader_positions(collector.follows, state.data, state.provided, now)
        memory = state.memory.get(collector.name)
        return ParseOptions(self.config.positions.include_zero, leader, memory)

    def _apply(
        self,
        account: AccountConfig,
        state: AccountState,
        name: str,
        collector: Collector,
        result: Result,
        now: float,
        sent_ms: int,
    ) -> None:
        """A collector's success into the account's state: its data, the positions it gives its
        followers (and what they now leave to it), and its health."""
        health = state.health[name]
        entry = next(e for e in account.collectors if e.name == name)
        state.provided[name] = result.positions
        stale_after = self.config.polling.stale_after(entry)
        state.set_data(name, result.samples, collector.families, now, stale_after, sent_ms)
        for follower, kept in trimmed_followers(name, result.positions, state.data).items():
            served, families = state.data[follower], self._endpoint(state, follower).families
            state.set_data(
                follower, kept, families, served.time, served.stale_after, served.polled_ms
            )
        if health.failure_logged:
            log.info("collector recovered", account=account.name, collector=name)
        health.up, health.last_success, health.failure_logged = True, now, False
        self._note_result(account.name, name, health, result)

    def _roll_up(self, state: AccountState, now: float) -> None:
        """The account's own state after its collectors settled, and the poll published.

        The account is up when the latest request of every one of its collectors succeeded,
        whichever interval each polls at.
        """
        if all(h.up for h in state.health.values()):
            if not state.up and state.ever_succeeded:
                log.info("account recovered", account=state.name)
            state.up, state.last_success, state.ever_succeeded = True, now, True
        else:
            state.up = False
        state.render_health()
        if self.client.used_weight_1m is not None:
            self.store.status.used_weight_1m = self.client.used_weight_1m
        self._publish_clock()
        self.store.changed()

    def _publish_clock(self) -> None:
        """The client's clock offset into the status: after each poll, and as soon as a client
        starts (its clock was just measured), before its first poll."""
        self.store.status.clock_offset_seconds = self.client.clock.offset_seconds

    @staticmethod
    def _endpoint(state: AccountState, name: str) -> Collector:
        """The collector's endpoint for this account: its successor once Binance retired it."""
        collector = COLLECTORS[name]
        if state.health[name].on_successor and collector.successor is not None:
            return collector.successor
        return collector

    def _parse(
        self, item: _Fetched, health: CollectorHealth, options: ParseOptions
    ) -> Result | ApiError:
        """One fetched reply parsed, its duration observed: the result, or why there is none."""
        collector = item.collector
        if item.error is not None:
            outcome: Result | ApiError = item.error
        else:
            started = time.perf_counter()
            try:
                outcome = collector.parse(collector.decode(item.payload, options), options)
            except BadPayload as exc:
                outcome = ApiError("bad_response", f"unexpected payload: {exc}")
            except Exception as exc:  # a bug in one collector fails only that collector
                outcome = unexpected_error(exc)
            item.seconds += time.perf_counter() - started
        if item.error is None or item.error.sent:
            health.observe(item.seconds)
        return outcome

    def _fall_back(
        self,
        state: AccountState,
        name: str,
        health: CollectorHealth,
        retired: Collector,
        error: ApiError,
    ) -> None:
        """The account moved to the retired endpoint's successor, once and for all."""
        successor = retired.successor
        assert successor is not None
        health.on_successor = True
        health.fallbacks += 1
        log.warning(
            "Binance retired the endpoint; using its successor for this account",
            account=state.name,
            collector=name,
            retired=retired.path,
            successor=successor.path,
            error=str(error),
        )

    def _note_auth(self, account: str, error: ApiError | None) -> None:
        """One line when a key starts or stops being refused, not one per poll and endpoint."""
        if error is not None and account not in self._auth_failing:
            self._auth_failing.add(account)
            log.error(
                "API key refused; check the key, its IP whitelist and its permissions",
                account=account,
                error=str(error),
            )
        elif error is None and account in self._auth_failing:
            self._auth_failing.discard(account)
            log.info("API key accepted again", account=account)

    async def _fetch(
        self, collector: Collector, creds: Credentials, state: AccountState
    ) -> _Fetched:
        """The collector's payload by its fetch strategy, given the account's memory for it."""
        started = time.perf_counter()
        out = _Fetched(collector)
        get = _SignedGets(self.client, creds)
        try:
            if collector.name not in state.memory:  # the account's first poll of it
                state.memory[collector.name] = collector.fetch.new_memory()
            memory = state.memory[collector.name]
            out.payload = await collector.fetch.fetch(get, collector.path, memory)
        except ApiError as exc:
            out.error = exc
        except Exception as exc:  # e.g. httpx refusing a header value it cannot encode
            out.error = unexpected_error(exc, secrets=(creds.api_key,))
        out.timestamp_retried = get.timestamp_retried
        out.seconds = time.perf_counter() - started
        return out

    def _record_failure(
        self,
        state: AccountState,
        collector: str,
        health: CollectorHealth,
        error: ApiError,
    ) -> None:
        first = not health.failure_logged
        health.up = False
        state.last_error = f"{collector}: {error.reason}: {error}"
        state.last_error_time = time.time()
        fields: dict[str, Any] = {
            "account": state.name,
            "collector": collector,
            "reason": error.reason,
        }
        if error.detail:
            fields["detail"] = error.detail
        if not error.sent:
            log.debug("poll skipped", error=str(error), **fields)
        elif error.reason == "auth":
            log.debug("key refused", error=str(error), **fields)  # _note_auth logs it once
        elif first:
            health.failure_logged = True
            log.warning("poll failed", error=str(error), **fields)
            if error.__cause__ is not None:  # an unexpected exception: its traceback, quietly
                log.debug("poll failed", exc_info=error.__cause__, **fields)
        else:
            log.debug("poll failed again", error=str(error), **fields)
        if error.retry_after is not None:
            log.warning("backing off all accounts", retry_after_seconds=error.retry_after, **fields)

    def _note_result(
        self, account: str, collector: str, health: CollectorHealth, result: Result
    ) -> None:
        if result.skipped:
            health.skipped += result.skipped
            self._warn_once(
                (account, collector, "skipped"),
                "malformed entries skipped",
                account=account,
                collector=collector,
                count=result.skipped,
            )
        if result.skipped_fields:
            health.skipped_fields += result.skipped_fields
            self._warn_once(
                (account, collector, "fields"),
                "unreadable fields left out",
                account=account,
                collector=collector,
                count=result.skipped_fields,
            )
        for note in result.notes:
            # e.g. a new account status: once per process, whichever account shows it first
            self._warn_once(("", collector, note), note, account=account, collector=collector)

    def _warn_once(self, key: tuple[str, str, str], event: str, **fields: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(event, **fields)


async def sleep_or_wake(wake: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds``; True when ``wake`` was set first (a reload changed the account)."""
    if wake.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await wake.wait()
    except TimeoutError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    return type(exc).__name__ + (f": {str(exc)[:200]}" if str(exc) else "")
