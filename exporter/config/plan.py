"""The weight plan: what the polls and the stream keepalives cost against the weight budget.

Binance limits REQUEST_WEIGHT per IP and minute, so every rule about fitting this replica's calls
under ``max_weight_per_minute`` lives here: a collector's weight times its polls per minute, the
interval ``auto`` chooses, the listen key keepalives, and the headroom early polls may spend.
Pure arithmetic on collector names and intervals: ``parse`` reads the keys and builds the frozen
objects from what comes back (which is why this imports the model for its types only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from exporter.collectors import COLLECTORS
from exporter.sharding import MAX_SHARDS, shard_loads
from exporter.stream.config import StreamSettings
from exporter.validation import ConfigError

if TYPE_CHECKING:
    from exporter.config.model import AccountConfig, Config

# Binance's PM REST limit per IP per minute (REQUEST_WEIGHT); the budget may not exceed it.
BINANCE_WEIGHT_LIMIT = 6000
DEFAULT_POLL_INTERVAL = 15.0
# With `auto`, the plan may use this share of the budget: the rest is kept for what the plan
# cannot foresee (a retry after -1021, polls that drift across a minute boundary).
AUTO_BUDGET_SHARE = 0.9
# POST, PUT and DELETE /papi/v1/listenKey each weigh 1 (Binance's PM "User Data Streams").
LISTEN_KEY_WEIGHT = 1

# Binance's /sapi/ limit ("/sapi/ Limit Introduction", General API Information of the Spot API):
# each SAPI endpoint with IP limits has an independent 12000 weight a minute, on api.binance.com,
# apart from the PAPI host's REQUEST_WEIGHT. The process-wide polls (exporter.process_poll) plan
# against a budget of their own: by default a tenth of it, for other tools on the same IP.
SAPI_WEIGHT_LIMIT = 12_000
DEFAULT_SAPI_MAX_WEIGHT = 1200


def check_sapi_budget(weight: int, interval_seconds: float, budget: int, where: str) -> None:
    """A process-wide poll of ``weight`` every ``interval_seconds`` must fit the SAPI budget."""
    planned = weight * 60.0 / interval_seconds
    if planned > budget:
        raise ConfigError(
            where,
            f"{interval_seconds:g}s plans {planned:g} weight/min, over sapi_max_weight_per_minute "
            f"{budget} (at weight {weight}, at least {math.ceil(weight * 60 / budget)}s)",
        )


# A collector entry as written: its name and its own interval (None: the collector's default).
Wanted = tuple[str, float | None]


def follows_poll(name: str, every: float | None) -> bool:
    """Whether the collector polls at the poll interval: no interval given, none by default."""
    return every is None and COLLECTORS[name].default_interval is None


def fixed_interval(name: str, every: float | None) -> float:
    """The interval of a collector that does not follow the poll: its own, else its default."""
    chosen = every if every is not None else COLLECTORS[name].default_interval
    assert chosen is not None
    return chosen


def planned_weight(accounts: Iterable[AccountConfig]) -> float:
    """Request weight per minute: each collector's weight times its polls per minute.

    Weights are summed per interval first, so one interval's plan is exactly weight x 60 / it.
    """
    per_interval: dict[float, int] = {}
    for account in accounts:
        for entry in account.collectors:
            weight = COLLECTORS[entry.name].weight
            per_interval[entry.interval_seconds] = (
                per_interval.get(entry.interval_seconds, 0) + weight
            )
    return sum(weight * 60.0 / interval for interval, weight in per_interval.items())


def keepalive_weight(stream: StreamSettings, accounts: Iterable[AccountConfig]) -> float:
    """What the streamed ones of ``accounts`` add to the plan: one PUT per keepalive each.

    The POST of each (re)connection, about one a day, is left to the budget's headroom.
    """
    streams = sum(1 for a in accounts if a.user_data_stream)
    return streams * LISTEN_KEY_WEIGHT * 60.0 / stream.keepalive_seconds


def split_weight(wanted: Iterable[Wanted], keepalives: float) -> tuple[int, float]:
    """The weight per poll of the collectors that follow the poll interval, and the weight per
    minute of the rest: those with intervals of their own, and the keepalives."""
    wanted = tuple(wanted)
    following = sum(_weight(n) for n, every in wanted if follows_poll(n, every))
    fixed = keepalives + sum(
        _weight(n) * 60.0 / fixed_interval(n, every)
        for n, every in wanted
        if not follows_poll(n, every)
    )
    return following, fixed


def auto_interval(following: float, fixed: float, budget: int, floor: float) -> float:
    """The shortest whole-second interval, not below ``floor``, whose plan fits the budget.

    Only the collectors that follow the poll interval are stretched; the weight per minute of
    the others is taken off the budget first.
    """
    room = budget * AUTO_BUDGET_SHARE - fixed
    if following == 0:
        return floor
    if room <= 0:
        raise ConfigError(
            "poll_interval_seconds",
            f"auto: the collectors with intervals of their own alone plan {fixed:g}/min, more "
            f"than {AUTO_BUDGET_SHARE:.0%} of max_weight_per_minute {budget}",
        )
    return float(max(floor, math.ceil(following * 60.0 / room)))


def check_budget(planned: float, budget: int, following: float, fixed: float) -> None:
    """Refuse a plan over the budget, saying what would fit."""
    if planned <= budget:
        return
    message = f"planned API weight {planned:g}/min exceeds max_weight_per_minute {budget}"
    if fixed >= budget:
        message = (
            f"{message}; the collectors with intervals of their own alone plan {fixed:g}/min: "
            "lengthen their interval_seconds or poll fewer of them"
        )
    else:
        fit = math.ceil(following * 60.0 / (budget - fixed))
        message = f"{message}; poll_interval_seconds: {fit} (or more) would fit, or set it to auto"
    raise ConfigError("poll_interval_seconds", message)


def check_stale(stale: float, accounts: Iterable[AccountConfig]) -> None:
    """Refuse a ``stale_after_seconds`` under a collector's interval: its data would blink."""
    for account in accounts:
        for entry in account.collectors:
            if stale < entry.interval_seconds:
                raise ConfigError(
                    "stale_after_seconds",
                    f"{stale:g} is shorter than the interval {entry.interval_seconds:g} of "
                    f"collector {entry.name} (account {account.name}); its data would vanish "
                    "between polls",
                )


def early_poll_budget(config: Config) -> float:
    """Weight per minute early polls may spend: what the plan leaves of the budget."""
    return max(0.0, config.polling.max_weight_per_minute - config.planned_weight_per_minute())


# --config.plan lists this many shard counts past the smallest one that fits.
PLAN_EXTRA_COUNTS = 2


def shard_limit(config: Config) -> float:
    """What one shard's plan may reach: the budget, or the share of it ``auto`` plans at its
    floor interval (over that, ``auto`` would stretch the interval)."""
    budget = config.polling.max_weight_per_minute
    return budget * AUTO_BUDGET_SHARE if config.polling.interval_auto else float(budget)


def capacity_plan(config: Config) -> str:
    """``--config.plan``: the weight per account and collector of ``config`` (every account,
    loaded with ``planning``), the busiest shard under the real hash and pins for shard counts
    1..N, and the smallest ``--shard.count`` whose busiest shard fits ``shard_limit``."""
    accounts = config.accounts
    polling = config.polling
    limit = shard_limit(config)
    interval = f"{polling.interval_seconds:g}s" + (
        " (auto, at its floor)" if polling.interval_auto else ""
    )
    names = list(dict.fromkeys(c.name for a in accounts for c in a.collectors))
    streamed = any(a.user_data_stream for a in accounts)
    weights = [planned_weight((a,)) + keepalive_weight(config.stream, (a,)) for a in accounts]
    head = ["account", *names, *(["stream"] if streamed else []), "total"]
    rows = [head]
    for account, total in zip(accounts, weights, strict=True):
        per = {
            c.name: COLLECTORS[c.name].weight * 60.0 / c.interval_seconds
            for c in account.collectors
        }
        row = [account.name, *(f"{per[n]:g}" if n in per else "-" for n in names)]
        if streamed:
            row.append(f"{keepalive_weight(config.stream, (account,)):g}")
        rows.append([*row, f"{total:g}"])
    lines = [
        f"{len(accounts)} accounts, poll interval {interval}, max_weight_per_minute "
        f"{polling.max_weight_per_minute}: a shard fits at {limit:g} weight/min or less",
        "",
        "weight per minute by account and collector:",
        *_table(rows),
        f"all accounts: {sum(weights):g}/min",
        "",
        "busiest shard by --shard.count (jump hash of the account names, and the pins):",
    ]
    counts = [["shards", "busiest shard's weight/min", "its accounts", "fits"]]
    fit = None
    count = 0
    while count < MAX_SHARDS and (fit is None or count < fit + PLAN_EXTRA_COUNTS):
        count += 1
        try:
            loads = shard_loads(accounts, weights, count)
        except ConfigError:
            counts.append([str(count), "-", "-", "no (a pin is outside the shards)"])
            continue
        busiest, owned = max(loads)
        fits = busiest <= limit
        if fits and fit is None:
            fit = count
        counts.append([str(count), f"{busiest:g}", str(owned), "yes" if fits else "no"])
    if fit is None:
        counts = counts[:1] + counts[-5:]
    lines.extend(_table(counts))
    if fit is None:
        heaviest = max(weights, default=0.0)
        lines.append(
            f"no --shard.count up to {MAX_SHARDS} fits (the heaviest account alone plans "
            f"{heaviest:g}/min): poll less, or raise max_weight_per_minute"
        )
    else:
        lines.append(f"smallest --shard.count whose busiest shard fits: {fit}")
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def _weight(name: str) -> int:
    return COLLECTORS[name].weight
