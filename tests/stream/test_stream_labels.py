"""An account's stream adds a bounded number of series, and an event costs the rows it changed."""

from __future__ import annotations

import random
import time

import orjson

from exporter.metrics import render_rows
from exporter.stream.kinds import (
    CREDITED,
    EVENT_FAMILIES,
    MAX_ASSETS,
    MAX_LABEL_SETS,
    MAX_NAMES,
    BalanceTally,
    LabelBudget,
    LiabilityTally,
    RiskTally,
    parse_frame,
)
from exporter.stream.state import HEALTH_FAMILIES, StreamState

LABEL = 'account="desk"'
HEALTH_ROWS = 12  # up, 7 reconnect reasons, last event, 2 bad frame kinds, dropped labels


def update(entries: list[tuple[str, str]], reason: str = "ORDER", book: str = "UM") -> bytes:
    balances = [{"a": asset, "bc": bc} for asset, bc in entries]
    data = {
        "e": "ACCOUNT_UPDATE",
        "fs": book,
        "E": int(time.time() * 1000),
        "a": {"m": reason, "B": balances},
    }
    return orjson.dumps(data)


def liability(asset: str, type_: str = "BORROW") -> bytes:
    data = {"e": "liabilityChange", "E": int(time.time() * 1000), "a": asset, "t": type_, "T": 1}
    return orjson.dumps(data)


def count(state: StreamState, text: bytes) -> None:
    state.count(*parse_frame(text))


def test_a_stream_of_a_thousand_new_assets_adds_the_first_200():
    state = StreamState("desk")
    for i in range(1000):
        count(state, update([(f"COIN{i}", "1")]))
    credited = state.tally(BalanceTally).credited
    assert MAX_ASSETS == 200
    assert sorted(credited) == sorted(("UM", f"COIN{i}", "ORDER") for i in range(200))
    assert state.labels.dropped == 800
    assert state.rows()["binance_pm_exporter_stream_dropped_labels_total"] == [((), 800.0)]


def test_the_admitted_assets_keep_counting_past_the_cap():
    state = StreamState("desk")
    count(state, update([(f"COIN{i}", "1") for i in range(MAX_ASSETS + 5)]))
    count(state, update([("COIN0", "2"), ("COIN0", "-0.5"), ("LATE", "1")]))
    count(state, update([("COIN1", "1")], reason="FUNDING_FEE"))  # a new set of known values
    balances = state.tally(BalanceTally)
    assert balances.credited[("UM", "COIN0", "ORDER")] == 3
    assert balances.debited[("UM", "COIN0", "ORDER")] == 0.5
    assert balances.credited[("UM", "COIN1", "FUNDING_FEE")] == 1
    assert ("UM", "LATE", "ORDER") not in balances.credited
    assert state.labels.dropped == 6


def test_liability_changes_share_the_accounts_asset_cap():
    state = StreamState("desk")
    count(state, update([(f"COIN{i}", "1") for i in range(MAX_ASSETS)]))
    count(state, liability("COIN7"))
    count(state, liability("OTHER"))
    assert state.tally(LiabilityTally).events == {("COIN7", "BORROW"): 1}
    assert state.labels.dropped == 1


def test_reasons_types_and_levels_are_capped_per_label():
    state = StreamState("desk")
    for i in range(MAX_NAMES + 3):
        count(state, update([("USDT", "1")], reason=f"REASON_{i}"))
        count(state, liability("USDT", f"TYPE_{i}"))
    risk = {"e": "riskLevelChange", "E": int(time.time() * 1000), "u": "1.2"}
    for i in range(MAX_NAMES + 3):
        count(state, orjson.dumps({**risk, "s": f"LEVEL_{i}"}))
    assert len({reason for _, _, reason in state.tally(BalanceTally).credited}) == MAX_NAMES
    assert len(state.tally(LiabilityTally).events) == MAX_NAMES
    assert len(state.tally(RiskTally).events) == 3 + MAX_NAMES  # Binance's three, then new ones
    assert state.labels.dropped == 3 * 3


def test_label_sets_are_capped_per_account():
    state = StreamState("desk")
    for book in ("UM", "CM"):
        for r in range(30):
            count(state, update([(f"COIN{i}", "1") for i in range(20)], f"R{r}", book))
    assert len(state.tally(BalanceTally).credited) == MAX_LABEL_SETS
    assert state.labels.dropped == 2 * 30 * 20 - MAX_LABEL_SETS


def test_a_refused_label_set_leaves_no_value_behind():
    budget = LabelBudget(assets=1, names=5, label_sets=10)
    assert budget.admit(("book", "asset", "reason"), ("UM", "BTC", "ORDER"))
    assert not budget.admit(("book", "asset", "reason"), ("UM", "ETH", "FUNDING_FEE"))
    assert budget.values == {"book": {"UM"}, "asset": {"BTC"}, "reason": {"ORDER"}}
    assert (budget.label_sets, budget.dropped) == (1, 1)


def rows_rendered_by_one_event(existing_keys: int) -> int:
    big = LabelBudget(assets=10**6, names=10**6, label_sets=10**6)
    state = StreamState("desk", big)
    count(state, update([(f"COIN{i}", "1") for i in range(existing_keys)]))
    state.render(LABEL)
    before = state.rendered_rows
    count(state, update([("COIN0", "2")]))
    state.render(LABEL)
    return state.rendered_rows - before


def test_an_event_renders_the_rows_it_changed_whatever_the_series():
    # 10 series (5 credited, 5 debited) or 10,000: one credited row and the stream's health.
    assert rows_rendered_by_one_event(5) == rows_rendered_by_one_event(5000) == 1 + HEALTH_ROWS


def test_the_first_render_renders_every_row():
    state = StreamState("desk")
    count(state, update([("USDT", "1"), ("BTC", "-1")]))
    state.render(LABEL)
    # three levels, the drop counter, two sets twice
    assert state.rendered_rows == 3 + 1 + 2 * 2 + HEALTH_ROWS


def full_render(state: StreamState) -> dict[str, bytes]:
    """What rendering every row from scratch gives, sorted by label values."""
    rows = state.rows()
    return {
        fam.name: render_rows(fam.name, LABEL, fam.labels, sorted(rows[fam.name])).encode()
        for fam in (*EVENT_FAMILIES, *HEALTH_FAMILIES)
        if rows.get(fam.name) and fam not in HEALTH_FAMILIES
    } | {
        fam.name: render_rows(fam.name, LABEL, fam.labels, rows[fam.name]).encode()
        for fam in HEALTH_FAMILIES
    }


def test_rendering_what_changed_gives_the_text_of_a_full_render():
    pick = random.Random(24)
    state = StreamState("desk")
    for _ in range(60):
        entries = [
            (f"COIN{pick.randrange(300)}", pick.choice(["1", "-0.25", "0", "3.5"]))
            for _ in range(pick.randrange(1, 12))
        ]
        count(
            state, update(entries, pick.choice(["ORDER", "FUNDING_FEE"]), pick.choice("UC") + "M")
        )
        count(state, liability(f"COIN{pick.randrange(300)}"))
        if pick.random() < 0.5:
            assert state.render(LABEL) == full_render(state)
    assert state.render(LABEL) == full_render(state)
    assert len(state.tally(BalanceTally).credited) > 2 * 64 * 2  # some runs have split
    assert state.render('account="other"') == {
        name: text.replace(LABEL.encode(), b'account="other"')
        for name, text in full_render(state).items()
    }
    assert CREDITED.name in state.render(LABEL)
