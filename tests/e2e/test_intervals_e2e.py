"""Per-collector intervals end to end: each endpoint is requested at its own pace."""

from __future__ import annotations

from collections import Counter

from tests.helpers import ExporterThread, make_config, wait_for


def test_request_counts_per_endpoint_follow_each_collectors_interval(sim, accounts) -> None:
    config = make_config(
        sim.base_url,
        accounts[:1],
        collectors=[
            {"name": "um_account", "interval_seconds": 1},
            {"name": "account", "interval_seconds": 2},
        ],
    )
    with ExporterThread(config) as exp:
        wait_for(lambda: len(_times(sim, "/papi/v1/account")) >= 3, timeout=15)
        exp.stop_polling()
    first, _, third = _times(sim, "/papi/v1/account")[:3]
    between = [t for t in _times(sim, "/papi/v1/um/account") if first <= t < third]
    # Two groups share the 1 s cycle: um_account's slot at 0 s, account's at 0.5 s. The window
    # (two account polls, 4 s) holds exactly 4 um_account polls, each 0.5 s from its edges.
    assert len(between) == 4
    assert Counter(r.path for r in sim.requests if r.account == "oneway").keys() == {
        "/papi/v1/um/account",
        "/papi/v1/account",
    }


def _times(sim, path: str) -> list[float]:
    return [r.time for r in list(sim.requests) if r.path == path and r.account == "oneway"]
