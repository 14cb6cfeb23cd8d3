"""The poll loop: when each account is polled, back-off, Retry-After, and publishing results.

An account's collectors are polled in groups, one per interval. Every group of every account has
its own slot: the n groups are spread evenly over one cycle (the shortest interval; slot i starts
at i/n of it, plus a little jitter), and each keeps its slot, so requests of different accounts
and collectors do not start together and the weight per minute stays flat. A slow account only
delays itself; nothing here raises out of the loop.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from exporter.binance.client import Credentials, PapiClient
from exporter.binance.errors import ApiError, unexpected_error
from exporter.collectors import (
    COLLECTORS,
    BadPayload,
    Collector,
    Fetcher,
    ParseOptions,
    Result,
    followers,
    poll_order,
)
from exporter.config import AccountConfig, Config
from exporter.snapshot import AccountState, CollectorHealth, Store

log = structlog.get_logger("exporter.scheduler")

AUTH_BACKOFF_CAP = 600.0  # a bad key is retried at most every 10 minutes
MAX_SLOT_JITTER = 1.0  # seconds; never more than a quarter of the spacing between slots


def slot_offset(slot: int, slots: int, cycle: float) -> float:
    """Seconds after start at which slot ``slot`` of ``slots`` first polls, before its jitter
    (drawn by the caller, at most ``slot_jitter_bound(slots, cycle)``)."""
    return slot * (cycle / slots)


def slot_jitter_bound(slots: int, cycle: float) -> float:
    """The largest jitter for a slot: small enough that neighbouring slots never swap."""
    return min(MAX_SLOT_JITTER, cycle / slots / 4)


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
    payload: bytes | Any = b""  # what the collector's ``fetch`` returned, if it has one
    error: ApiError | None = None
    timestamp_rejections: int = 0
    seconds: float = 0.0


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


def collector_groups(account: AccountConfig) -> list[tuple[float, tuple[str, ...]]]:
    """The account's collectors by interval, shortest first, each in config order."""
    by_interval: dict[float, list[str]] = {}
    for entry in account.collectors:
        by_interval.setdefault(entry.interval_seconds, []).append(entry.name)
    return [(interval, tuple(names)) for interval, names in sorted(by_interval.items())]


def slot_layout(
    accounts: tuple[AccountConfig, ...],
) -> dict[tuple[str, float], tuple[float, float]]:
    """Each (account, interval) group's first poll after start, and its largest jitter.

    All groups share one cycle (the shortest interval), evenly spaced: requests of different
    collectors and accounts never start at the same instant, whatever their intervals.
    """
    groups = [(a.name, interval) for a in accounts for interval, _ in collector_groups(a)]
    if not groups:
        return {}
    cycle = slot_cycle(accounts)
    bound = slot_jitter_bound(len(groups), cycle)
    return {
        group: (slot_offset(slot, len(groups), cycle), bound) for slot, group in enumerate(groups)
    }


def slot_cycle(accounts: tuple[AccountConfig, ...]) -> float:
    """The cycle the slots are laid out over: the shortest interval of any collector."""
    return min((e.interval_seconds for a in accounts for e in a.collectors), default=math.inf)


def first_poll_at(slot_at: float, now: float, cycle: float) -> float:
    """A loop's first poll: its slot's first time round at or after ``now``.

    A slot recurs every cycle, so a loop a reload starts (an added or regrouped account) waits
    at most one cycle, however long its own interval: its account is ready as soon as at start.
    """
    if slot_at >= now:
        return slot_at
    return slot_at + math.ceil((now - slot_at) / cycle) * cycle


@dataclass(frozen=True)
class _Slots:
    """A config's slot layout and cycle, worked out once per start or reload, not per account."""

    layout: dict[tuple[str, float], tuple[float, float]]
    cycle: float

    @classmethod
    def of(cls, config: Config) -> _Slots:
        return cls(slot_layout(config.accounts), slot_cycle(config.accounts))


def count_errors(health: CollectorHealth, item: _Fetched, error: ApiError | None) -> None:
    """The one place a request's outcome becomes ``poll_errors_total``.

    Binance refusing the timestamp (-1021) counts once per request, whether the client's retry
    after a resync then succeeded (``timestamp_rejections``), failed otherwise, or was refused
    again; any other failure that was sent counts under its own reason.
    """
    if item.timestamp_rejections or (error is not None and error.reason == "timestamp"):
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
        slots = _Slots.of(self.config)
        for account in self.config.accounts:
            self._start_account(account, slots, prompt=False)

    def _start_account(self, account: AccountConfig, slots: _Slots, *, prompt: bool) -> None:
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

    async def apply(
        self, new: Config, client: PapiClient
    ) -> tuple[list[str], list[str], list[str]]:
        """Switch to a reloaded config without disturbing the accounts it keeps.

        A kept, unchanged account keeps its running loops, hence its slots and its data: a storm
        of reloads cannot starve it. A changed account (key, signer or collectors) is polled at
        once, then at its slots; one whose collectors' intervals alone changed moves to new slots
        without polling at once; added accounts get slots and removed ones stop. Loops read the
        client at each poll, so a new one applies from the next poll.
        """
        old = {a.name: a for a in self.config.accounts}
        states = self.store.accounts
        fresh, added, changed, regrouped, retimed = self._compare(old, new)
        removed = [name for name in old if name not in fresh]
        await self._stop_accounts(removed + regrouped)
        states.clear()
        states.update(fresh)
        self.config, self.client = new, client
        self._auth_failing &= set(fresh)
        if self._running:
            slots = _Slots.of(new)
            for account in new.accounts:
                if account.name in added or account.name in regrouped:
                    prompt = account.name in regrouped and account.name not in retimed
                    self._start_account(account, slots, prompt=prompt)
                elif account.name in changed:
                    polling = self._polling[account.name]
                    polling.account, polling.credentials = account, credentials_for(account)
                    for group in polling.groups:
                        group.ask(None)
        return added, removed, changed

    def _compare(
        self, old: dict[str, AccountConfig], new: Config
    ) -> tuple[dict[str, AccountState], list[str], list[str], list[str], set[str]]:
        """The reloaded accounts' states, and which were added, changed, regrouped and retimed.

        Retimed: regrouped by new intervals alone (a new poll interval). Those move to new slots
        without a poll at once, or a reload would poll every account in the same instant.
        """
        states = self.store.accounts
        added, changed, regrouped = [], [], []
        retimed: set[str] = set()
        fresh: dict[str, AccountState] = {}
        for account in new.accounts:
            previous = old.get(account.name)
            state = states.get(account.name)
            if previous is None or state is None:
                added.append(account.name)
                state = AccountState(account.name, account.collector_names)
            elif previous != account:
                changed.append(account.name)
                if previous.collector_names != account.collector_names:
                    state = state.with_collectors(account.collector_names)
                if collector_groups(previous) != collector_groups(account):
                    regrouped.append(account.name)
                    if _same_but_intervals(previous, account):
                        retimed.add(account.name)
            fresh[account.name] = state
        return fresh, added, changed, regrouped, retimed

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
            next_at = _next_slot(next_at, delay, interval, loop.time(), prompt, auth_failed)

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
        endpoints = {n: self._endpoint(state, n) for n in names}
        fetched = await asyncio.gather(*(self._fetch(endpoints[n], creds, state) for n in names))
        if self.store.accounts.get(account.name) is not state:
            return False  # a reload replaced the account meanwhile; it is polled again at once
        by_name = dict(zip(names, fetched, strict=True))
        now = time.time()
        stale_after = {e.name: self.config.polling.stale_after(e) for e in account.collectors}
        auth_error: ApiError | None = None
        # Account details first: their positions decide which position-risk rows are kept.
        for name in poll_order(names):
            item = by_name[name]
            health = state.health[name]
            collector = endpoints[name]
            leader = state.leader_positions(collector.follows, now)
            memory = state.memory.get(name)
            options = ParseOptions(self.config.positions.include_zero, leader, memory)
            result, error = self._settle(collector, item, health, options)
            if error is not None and error.retired and collector.successor is not None:
                # Binance retired the endpoint: its successor from now on, starting now.
                count_errors(health, item, None)  # that answer is not a failure
                collector = self._fall_back(state, name, health, collector, error)
                item = await self._fetch(collector, creds, state)
                result, error = self._settle(collector, item, health, options)
            count_errors(health, item, error)
            if error is not None:
                self._record_failure(state, name, health, error)
                if error.reason == "auth":
                    auth_error = auth_error or error
                continue
            assert result is not None
            state.provided[name] = result.positions
            state.set_data(name, result.samples, collector.families, now, stale_after[name])
            for follower in followers(name):
                if follower in state.data and result.positions is not None:
                    families = self._endpoint(state, follower).families
                    state.leave_to_leader(follower, result.positions, families)
            if health.failure_logged:
                log.info("collector recovered", account=account.name, collector=name)
            health.up, health.last_success, health.failure_logged = True, now, False
            self._note_result(account.name, name, health, result)
        self._roll_up(state, now)
        self._note_auth(account.name, auth_error)
        return auth_error is not None

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
        status = self.store.status
        if self.client.used_weight_1m is not None:
            status.used_weight_1m = self.client.used_weight_1m
        status.clock_offset_seconds = self.client.clock.offset_seconds
        self.store.changed()

    @staticmethod
    def _endpoint(state: AccountState, name: str) -> Collector:
        """The collector's endpoint for this account: its successor once Binance retired it."""
        collector = COLLECTORS[name]
        if state.health[name].on_successor and collector.successor is not None:
            return collector.successor
        return collector

    def _settle(
        self, collector: Collector, item: _Fetched, health: CollectorHealth, options: ParseOptions
    ) -> tuple[Result | None, ApiError | None]:
        """One fetched reply parsed, its duration observed: the result, or why there is none."""
        error = item.error
        result: Result | None = None
        if error is None:
            started = time.perf_counter()
            try:
                result = collector.parse(collector.decode(item.payload, options), options)
            except BadPayload as exc:
                error = ApiError("bad_response", f"unexpected payload: {exc}")
            except Exception as exc:  # a bug in one collector fails only that collector
                error = unexpected_error(exc)
            item.seconds += time.perf_counter() - started
        if item.error is None or item.error.sent:
            health.observe(item.seconds)
        return result, error

    def _fall_back(
        self,
        state: AccountState,
        name: str,
        health: CollectorHealth,
        retired: Collector,
        error: ApiError,
    ) -> Collector:
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
        return successor

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
        started = time.perf_counter()
        out = _Fetched()
        try:
            if collector.fetch is None:
                out.payload, out.timestamp_rejections = await self.client.get_signed(
                    collector.path, creds
                )
            else:
                memory = state.memory.get(collector.name)
                if memory is None and collector.memory is not None:
                    memory = state.memory[collector.name] = collector.memory()
                out.payload = await collector.fetch(self._fetcher(creds, out), memory)
        except ApiError as exc:
            out.error = exc
            if exc.after_timestamp_retry:
                out.timestamp_rejections = 1
        except Exception as exc:  # e.g. httpx refusing a header value it cannot encode
            out.error = unexpected_error(exc, secrets=(creds.api_key,))
        out.seconds = time.perf_counter() - started
        return out

    def _fetcher(self, creds: Credentials, out: _Fetched) -> Fetcher:
        """Signed GETs for a collector's own ``fetch``, their -1021 retries added to ``out``."""

        async def get(path: str, params: Mapping[str, str]) -> bytes:
            body, rejections = await self.client.get_signed(path, creds, params)
            out.timestamp_rejections += rejections
            return body

        return get

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


def _same_but_intervals(old: AccountConfig, new: AccountConfig) -> bool:
    """Only the collectors' intervals differ (a new poll interval, say)."""
    same_keys = replace(old, collectors=()) == replace(new, collectors=())
    return same_keys and old.collector_names == new.collector_names


def _next_slot(
    next_at: float, delay: float, interval: float, now: float, prompt: bool, auth_failed: bool
) -> float:
    """When a loop polls next, after a poll that was due at ``next_at`` (or ``prompt``)."""
    if not prompt:  # a poll a reload or an event asked for leaves the slot where it was
        next_at += delay
    if next_at < now:  # we fell behind (a long poll): keep the slot, skip missed polls
        next_at += ((now - next_at) // interval + 1) * interval
    elif not auth_failed and next_at > now + interval:
        # A prompt poll succeeded where a back-off (or a longer interval) had put the slot far
        # away: the slot's next time round.
        next_at -= (math.ceil((next_at - now) / interval) - 1) * interval
    return next_at


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
