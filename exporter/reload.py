"""What a reload changes: the one place a running config and a reloaded one are compared.

A reload must not disturb what it keeps: a kept, unchanged account keeps its loops (hence its
slots), its data and its stream, or a storm of reloads could starve it. So ``plan_reload`` says
exactly what differs, and each part applies only that:

- a new API client (and clock) when the client settings changed (``app``);
- accounts added (new loops and state), removed (stopped, state dropped), changed (key, signer,
  collectors or stream flag: polled at once), of which those with a new collector list get their
  state rebuilt keeping what the kept collectors have, those with new interval groups get new
  loops, and of those the *retimed* ones, where only intervals changed (a new poll interval),
  move to new slots without polling at once, or a reload would poll every account in the same
  instant (``Scheduler.apply``);
- streams started (an account newly streamed), stopped (no longer streamed or removed: its
  series go) and restarted (another API key or secret, whose listen key is another, or another
  ``stream_url``: its counters are kept); every other kept stream keeps its listen key and socket
  and takes new timings or collectors in place (``StreamManager.apply``).

Pure: it reads two frozen configs and returns names, in config order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from exporter.config import AccountConfig, Config
from exporter.slots import collector_groups


@dataclass(frozen=True)
class ReloadPlan:
    """The differences between a running config and its reload, as account names."""

    new_client: bool = False
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    recollected: tuple[str, ...] = ()  # changed, with another collector list
    regrouped: tuple[str, ...] = ()  # changed, with other interval groups: new loops
    retimed: tuple[str, ...] = ()  # regrouped by new intervals alone: no poll at once
    streams_started: tuple[str, ...] = ()
    streams_stopped: tuple[str, ...] = ()
    streams_restarted: tuple[str, ...] = ()


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """What switching from ``old`` to ``new`` changes; see the module's docstring."""
    before = {a.name: a for a in old.accounts}
    after = {a.name: a for a in new.accounts}
    changed = [a for a in new.accounts if a.name in before and before[a.name] != a]
    regrouped = [a for a in changed if collector_groups(before[a.name]) != collector_groups(a)]
    streamed_before = {a.name: a for a in old.accounts if a.user_data_stream}
    streamed_after = [a for a in new.accounts if a.user_data_stream]
    return ReloadPlan(
        new_client=old.client != new.client,
        added=tuple(name for name in after if name not in before),
        removed=tuple(name for name in before if name not in after),
        changed=_names(changed),
        recollected=_names(
            a for a in changed if before[a.name].collector_names != a.collector_names
        ),
        regrouped=_names(regrouped),
        retimed=_names(a for a in regrouped if _same_but_intervals(before[a.name], a)),
        streams_started=_names(a for a in streamed_after if a.name not in streamed_before),
        streams_stopped=tuple(
            name
            for name in streamed_before
            if name not in after or not after[name].user_data_stream
        ),
        streams_restarted=_names(
            a
            for a in streamed_after
            if a.name in streamed_before
            and (
                _credentials(streamed_before[a.name]) != _credentials(a)
                or old.stream.url != new.stream.url
            )
        ),
    )


def plan_start(config: Config) -> ReloadPlan:
    """A start as a reload from no accounts: every account is added, every stream starts."""
    return plan_reload(replace(config, accounts=()), config)


def _same_but_intervals(old: AccountConfig, new: AccountConfig) -> bool:
    """Only the collectors' intervals differ (a new poll interval, say)."""
    same_keys = replace(old, collectors=()) == replace(new, collectors=())
    return same_keys and old.collector_names == new.collector_names


def _credentials(account: AccountConfig) -> tuple[object, ...]:
    """What the account's listen key belongs to: its API key and what it signs with."""
    return (account.api_key, account.api_secret, account.private_key_pem)


def _names(accounts: Iterable[AccountConfig]) -> tuple[str, ...]:
    return tuple(a.name for a in accounts)
