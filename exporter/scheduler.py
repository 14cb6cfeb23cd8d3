"""The poll loop: when each account is polled, back-off, Retry-After, and publishing results.

Accounts are spread evenly over the interval (slot i of n starts at i/n of it, plus a little
jitter) and keep their slot, so the request weight per minute stays flat. A slow account only
delays itself; nothing here raises out of the loop.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import structlog

from exporter.binance.client import Credentials, PapiClient
from exporter.binance.errors import ApiError, unexpected_error
from exporter.collectors import (
    COLLECTORS,
    BadPayload,
    Collector,
    ParseOptions,
    Provided,
    Result,
    poll_order,
)
from exporter.config import AccountConfig, Config
from exporter.snapshot import AccountState, CollectorHealth, Store

log = structlog.get_logger("exporter.scheduler")

AUTH_BACKOFF_CAP = 600.0  # a bad key is retried at most every 10 minutes
MAX_SLOT_JITTER = 1.0  # seconds; never more than a quarter of the spacing between slots


def slot_offset(slot: int, slots: int, interval: float, jitter: float) -> float:
    """Seconds after the epoch at which slot ``slot`` of ``slots`` first polls.

    ``jitter`` is drawn by the caller, at most ``slot_jitter_bound(slots, interval)``.
    """
    return slot * (interval / slots) + jitter


def slot_jitter_bound(slots: int, interval: float) -> float:
    """The largest jitter for a slot: small enough that neighbouring slots never swap."""
    return min(MAX_SLOT_JITTER, interval / slots / 4)


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
    payload: bytes = b""
    error: ApiError | None = None
    timestamp_rejections: int = 0
    seconds: float = 0.0


@dataclass
class _Polling:
    """What an account's loop polls with. A reload updates it in place (the loop keeps running
    and so keeps its slot) and sets ``wake`` when the account changed, to poll it at once;
    ``request_poll`` adds to ``early`` and sets ``wake``, to poll only those collectors."""

    account: AccountConfig
    credentials: Credentials
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    early: set[str] = field(default_factory=set)
    changed: bool = False  # set with ``wake`` by a reload: the prompt poll covers everything


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
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._polling: dict[str, _Polling] = {}
        self._epoch = 0.0  # loop time of start(): slot i of n is at epoch + i/n of the interval
        self._running = False
        self._warned: set[tuple[str, str, str]] = set()
        self._auth_failing: set[str] = set()
        for account in config.accounts:
            store.accounts[account.name] = AccountState(account.name, account.collectors)

    def start(self) -> None:
        self._running = True
        self._epoch = asyncio.get_running_loop().time()
        accounts = self.config.accounts
        for i, account in enumerate(accounts):
            self._start_account(account, i, len(accounts))

    def _start_account(self, account: AccountConfig, slot: int, slots: int) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.poll_interval_seconds
        jitter = random.uniform(0, slot_jitter_bound(slots, interval))
        first_at = self._epoch + slot_offset(slot, slots, interval, jitter)
        now = loop.time()
        if first_at < now:  # added by a reload: the next time round at its slot
            first_at += math.ceil((now - first_at) / interval) * interval
        self._polling[account.name] = _Polling(account, credentials_for(account))
        self._tasks[account.name] = asyncio.create_task(
            self._run_account(account.name, first_at), name=f"poll-{account.name}"
        )

    async def apply(
        self, new: Config, client: PapiClient
    ) -> tuple[list[str], list[str], list[str]]:
        """Switch to a reloaded config without disturbing the accounts it keeps.

        A kept, unchanged account keeps its running loop, hence its slot and its data: a storm
        of reloads cannot starve it. A changed account (key, signer or collectors) is polled at
        once, then at its slot; added accounts get a slot and removed ones stop. Loops read the
        interval and the client at each poll, so a new one applies from the next poll.
        """
        old = {a.name: a for a in self.config.accounts}
        states = self.store.accounts
        added, changed = [], []
        fresh: dict[str, AccountState] = {}
        for account in new.accounts:
            previous = old.get(account.name)
            state = states.get(account.name)
            if previous is None or state is None:
                added.append(account.name)
                state = AccountState(account.name, account.collectors)
            elif previous != account:
                changed.append(account.name)
                if previous.collectors != account.collectors:
                    state = state.with_collectors(account.collectors)
            fresh[account.name] = state
        removed = [name for name in old if name not in fresh]
        await self._stop_accounts(removed)
        states.clear()
        states.update(fresh)
        self.config, self.client = new, client
        self._auth_failing &= set(fresh)
        if self._running:
            for i, account in enumerate(new.accounts):
                if account.name in added:
                    self._start_account(account, i, len(new.accounts))
                elif account.name in changed:
                    polling = self._polling[account.name]
                    polling.account, polling.credentials = account, credentials_for(account)
                    polling.changed = True
                    polling.wake.set()
        return added, removed, changed

    def request_poll(self, account: str, collectors: Collection[str]) -> None:
        """Poll these collectors of this account soon, without moving its slot.

        Collectors the account does not poll are left out; an unknown or stopped account is
        ignored. Whoever asks (exporter.stream) decides how often and within what weight.
        """
        polling = self._polling.get(account)
        if polling is None:
            return
        wanted = set(collectors) & set(polling.account.collectors)
        if wanted:
            polling.early |= wanted
            polling.wake.set()

    async def stop(self) -> None:
        self._running = False
        await self._stop_accounts(list(self._tasks))

    async def _stop_accounts(self, names: list[str]) -> None:
        tasks = [self._tasks.pop(name) for name in names if name in self._tasks]
        for name in names:
            self._polling.pop(name, None)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_account(self, name: str, first_at: float) -> None:
        loop = asyncio.get_running_loop()
        polling = self._polling[name]
        auth_failures = 0
        crashed = False
        next_at = first_at
        while True:
            prompt = await _sleep_or_wake(polling.wake, next_at - loop.time())
            polling.wake.clear()
            # An early poll covers only the collectors asked for; a slot or a reload, all.
            early = polling.early if prompt and polling.early and not polling.changed else None
            polling.early, polling.changed = set(), False
            try:
                auth_failed = await self.poll(
                    polling.account, self.store.accounts[name], polling.credentials, early
                )
                crashed = False
            except Exception as exc:  # a bug must not end the account's loop, nor flood the log
                auth_failed = False
                if not crashed:
                    log.error("poll crashed", account=name, error=_describe(exc))
                    log.debug("poll crashed", account=name, exc_info=exc)
                crashed = True
            interval = self.config.poll_interval_seconds
            if auth_failed:
                auth_failures += 1
                delay = auth_backoff(auth_failures, interval)
                if auth_failures > 1 or delay > interval:
                    log.info("auth back-off", account=name, retry_in_seconds=delay)
            else:
                auth_failures = 0
                delay = interval
            if not prompt:  # a poll a reload asked for leaves the slot where it was
                next_at += delay
            now = loop.time()
            if next_at < now:  # we fell behind (a long poll): keep the slot, skip missed polls
                next_at += ((now - next_at) // interval + 1) * interval
            elif not auth_failed and next_at > now + interval:
                # A prompt poll succeeded where a back-off (or a longer interval) had put the
                # slot far away: the slot's next time round.
                next_at -= (math.ceil((next_at - now) / interval) - 1) * interval

    async def poll(
        self,
        account: AccountConfig,
        state: AccountState,
        creds: Credentials,
        only: Collection[str] | None = None,
    ) -> bool:
        """Poll every collector of the account (or those in ``only``) once; returns True when the
        key was refused."""
        names = tuple(n for n in account.collectors if only is None or n in only)
        endpoints = {n: self._endpoint(state, n) for n in names}
        fetched = await asyncio.gather(*(self._fetch(endpoints[n].path, creds) for n in names))
        if self.store.accounts.get(account.name) is not state:
            return False  # a reload replaced the account meanwhile; it is polled again at once
        by_name = dict(zip(names, fetched, strict=True))
        now = time.time()
        provided: dict[str, Provided | None] = {}
        auth_error: ApiError | None = None
        all_ok = True
        # Account details first: their positions decide which position-risk rows are kept.
        for name in poll_order(names):
            item = by_name[name]
            health = state.health[name]
            collector = endpoints[name]
            leader = provided.get(collector.follows) if collector.follows else None
            options = ParseOptions(self.config.include_zero_positions, leader)
            result, error = self._settle(collector, item, health, options)
            if error is not None and error.retired and collector.successor is not None:
                # Binance retired the endpoint: its successor from now on, starting now.
                count_errors(health, item, None)  # that answer is not a failure
                collector = self._fall_back(state, name, health, collector, error)
                item = await self._fetch(collector.path, creds)
                result, error = self._settle(collector, item, health, options)
            count_errors(health, item, error)
            if error is not None:
                all_ok = False
                self._record_failure(state, name, health, error)
                if error.reason == "auth":
                    auth_error = auth_error or error
                continue
            assert result is not None
            provided[name] = result.positions
            state.set_data(name, result.samples, collector.families, now)
            if health.failure_logged:
                log.info("collector recovered", account=account.name, collector=name)
            health.up, health.last_success, health.failure_logged = True, now, False
            self._note_result(account.name, name, health, result)
        self._roll_up(state, all_ok, now, partial=len(names) < len(account.collectors))
        self._note_auth(account.name, auth_error)
        return auth_error is not None

    def _roll_up(self, state: AccountState, all_ok: bool, now: float, partial: bool) -> None:
        """The account's own state after its collectors settled, and the poll published.

        An early poll of some collectors can take the account down, but only a poll of every
        collector brings it up.
        """
        if all_ok and partial:
            pass
        elif all_ok:
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

    async def _fetch(self, path: str, creds: Credentials) -> _Fetched:
        started = time.perf_counter()
        out = _Fetched()
        try:
            out.payload, out.timestamp_rejections = await self.client.get_signed(path, creds)
        except ApiError as exc:
            out.error = exc
            if exc.after_timestamp_retry:
                out.timestamp_rejections = 1
        except Exception as exc:  # e.g. httpx refusing a header value it cannot encode
            out.error = unexpected_error(exc, secrets=(creds.api_key,))
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


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> bool:
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
