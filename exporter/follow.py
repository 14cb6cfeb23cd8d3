"""Who follows whom: no position series is exported twice, and none is lost.

An account-detail collector (``um_account``, ``cm_account``) leads the collectors that declare
``Collector.follows`` on it (its position-risk and ADL twins). The leader gives some families of
each open position; a follower keeps exactly the leader's rows (positions) and leaves out the
families the leader gives for them. Three consequences, one function each:

- a poll settles a leader before its followers (``poll_order``), so a follower polled with it
  sees this poll's positions;
- a follower is handed the positions of the leader's *served* data (``leader_positions``), even
  from an earlier poll at another interval, and nothing once that data is stale: then it gives
  every family of its own rows, so nothing is lost while the leader is down;
- when a leader's data is served again, each follower's served data shrinks at once to what its
  next poll would keep (``trimmed_followers``), or both would serve the same series until then.

A position-risk follower also keeps an open row its leader lacks (``Collector.keeps_unled``): its
own reply says the position is open, and a position is never lost.

A follower's rows are matched on a position (symbol and side, ``Collector.follow_key``
"position") or, for figures of a symbol rather than of a side (leverage brackets), on the symbols
the leader holds a position in ("symbol").

Pure: no I/O, no clock of its own. The scheduler applies what these functions return.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.collectors import COLLECTORS, FollowKey, Provided
from exporter.metrics import Samples
from exporter.snapshot import CollectorData

# leader -> the collectors that follow it, by name (the registry's order).
FOLLOWERS: dict[str, tuple[str, ...]] = {
    leader: tuple(c.name for c in COLLECTORS.values() if c.follows == leader)
    for leader in {c.follows for c in COLLECTORS.values() if c.follows is not None}
}


def poll_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """The order a poll settles collectors in: each after the one it follows.

    Follows chains are one step (a position-risk collector after its account detail); the
    relative order of the others is kept.
    """
    return tuple(sorted(names, key=lambda n: COLLECTORS[n].follows in names))


def followers(leader: str) -> tuple[str, ...]:
    """The collectors that follow ``leader``."""
    return FOLLOWERS.get(leader, ())


def leader_positions(
    leader: str | None,
    data: Mapping[str, CollectorData],
    provided: Mapping[str, Provided | None],
    now: float,
) -> Provided | None:
    """The positions ``leader`` exported, while its data is still served at ``now`` (else None).

    A follower keeps exactly the rows, and leaves out exactly the families, that the leader's
    served data has: no series is exported twice, none is lost while the leader's data lasts,
    even when the leader's latest poll failed.
    """
    if leader is None:
        return None
    served = data.get(leader)
    if served is None or now > served.valid_until:
        return None
    return provided.get(leader)


def left_to_leader(
    samples: Samples, given: Provided, key: FollowKey = "position", keeps_unled: bool = False
) -> Samples:
    """A follower's samples less what the leader now gives: only the leader's rows (and, with
    ``keeps_unled``, the rows it lacks), and of those only the families the leader does not
    give. What the follower's next poll keeps.

    A follower keyed by symbol keeps the rows of every symbol the leader holds a position in.
    """
    taken = {(labels, family) for labels, families in given.items() for family in families}
    held = {symbol for symbol, _ in given} if key == "symbol" else None
    return {
        name: [
            row
            for row in rows
            if (row[0][0] in held if held is not None else keeps_unled or row[0] in given)
            and (row[0], name) not in taken
        ]
        for name, rows in samples.items()
    }


def trimmed_followers(
    leader: str, given: Provided | None, data: Mapping[str, CollectorData]
) -> dict[str, Samples]:
    """The followers of ``leader`` whose served data must shrink now that the leader gave
    ``given``, each with the samples it keeps (followers with nothing to drop are left out).

    A follower that polled while its leader's data was stale gave every family of its own rows;
    once the leader is back, until the follower's next poll, both would serve them.
    """
    if given is None:
        return {}
    trimmed: dict[str, Samples] = {}
    for follower in followers(leader):
        served = data.get(follower)
        if served is None:
            continue
        collector = COLLECTORS[follower]
        kept = left_to_leader(served.samples, given, collector.follow_key, collector.keeps_unled)
        if kept != served.samples:
            trimmed[follower] = kept
    return trimmed
