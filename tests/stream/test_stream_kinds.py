"""The event-kind table: each frame finds its entry, and the entries name what exists."""

from __future__ import annotations

import orjson
import pytest

from exporter.collectors import COLLECTORS
from exporter.fresh import Push
from exporter.stream.kinds import (
    CREDITED,
    DEBITED,
    EVENT_FAMILIES,
    IGNORED_UNITS,
    KINDS,
    LIABILITY_EVENTS,
    MARGIN_CREDITED,
    MARGIN_DEBITED,
    RISK_EVENTS,
    RISK_TIME,
    RISK_UNI_MMR,
    TALLIES,
    UNI_MMR_DROPS,
    BalanceTally,
    LiabilityTally,
    MarginBalanceTally,
    OtherUnitTally,
    RiskTally,
    UniMMRDropTally,
    parse_frame,
)

E = 1736996475556  # an event time of January 2025

RISK = {"e": "riskLevelChange", "E": E, "s": "MARGIN_CALL", "u": "1.4"}
UM_UPDATE = {"e": "ACCOUNT_UPDATE", "fs": "UM", "E": E, "a": {"m": "ORDER", "B": []}}
CM_FUNDING = {
    "e": "ACCOUNT_UPDATE",
    "fs": "CM",
    "E": E,
    "a": {"m": "FUNDING_FEE", "B": [{"a": "BTC", "bc": "1"}]},
}
LIABILITY = {"e": "liabilityChange", "E": E, "a": "BTC", "t": "BORROW", "T": 2**60}


def kind_of(data: dict):
    return parse_frame(orjson.dumps(data))[0]


@pytest.mark.parametrize(
    ("data", "collectors"),
    [
        (RISK, ("account",)),
        (UM_UPDATE, ("um_account", "um_position_risk")),
        (CM_FUNDING, ("cm_account", "cm_position_risk")),
        (LIABILITY, ("balance",)),
        ({"e": "listenKeyExpired", "E": E}, ()),
        ({"e": "ORDER_TRADE_UPDATE", "E": E}, ()),
    ],
)
def test_each_event_asks_for_the_collectors_it_changes(data, collectors):
    assert kind_of(data).refreshes == collectors


def test_a_coin_m_account_update_refreshes_the_coin_m_positions_too():
    assert "cm_position_risk" in kind_of(CM_FUNDING).refreshes


def test_every_collector_an_entry_refreshes_exists():
    named = {c for kind in KINDS for c in kind.refreshes}
    assert named - COLLECTORS.keys() == set()


def test_the_um_and_coin_m_account_updates_mirror_each_other():
    um, cm = (kind_of(UM_UPDATE), kind_of(CM_FUNDING))
    assert (um.book, cm.book) == ("UM", "CM")
    assert um.event_type == cm.event_type == "ACCOUNT_UPDATE"
    assert (um.parse, um.tally) == (cm.parse, cm.tally)
    assert tuple(c.replace("um_", "cm_", 1) for c in um.refreshes) == cm.refreshes


def test_one_entry_per_event_type_unless_one_per_book():
    seen = [(kind.event_type, kind.book) for kind in KINDS]
    assert len(seen) == len(set(seen))
    by_book = {kind.event_type for kind in KINDS if kind.book is not None}
    assert all(kind.book is not None for kind in KINDS if kind.event_type in by_book)


def test_the_event_families_are_each_tallys_once_in_table_order():
    assert (
        RiskTally,
        UniMMRDropTally,
        BalanceTally,
        OtherUnitTally,
        LiabilityTally,
        MarginBalanceTally,
    ) == TALLIES
    assert EVENT_FAMILIES == (
        RISK_EVENTS,
        RISK_UNI_MMR,
        RISK_TIME,
        UNI_MMR_DROPS,
        CREDITED,
        DEBITED,
        IGNORED_UNITS,
        LIABILITY_EVENTS,
        MARGIN_CREDITED,
        MARGIN_DEBITED,
    )
    assert kind_of(UM_UPDATE).families == kind_of(CM_FUNDING).families == (CREDITED, DEBITED)
    assert kind_of({"e": "listenKeyExpired", "E": E}).families == ()


def full_update(book: str) -> dict:
    balance = {"a": "BTC", "wb": "1", "cw": "1", "bc": "0"}
    opened = {"s": "BTCUSDT", "pa": "1", "ep": "2", "up": "3", "ps": "BOTH"}
    closed = {"s": "ETHUSDT", "pa": "0", "ep": "0", "up": "0", "ps": "BOTH"}
    update = {"m": "ORDER", "B": [balance], "P": [opened, closed]}
    return {"e": "ACCOUNT_UPDATE", "fs": book, "E": E, "a": update}


FULL = [
    {**RISK, "eq": "30.2", "ae": "30.5", "m": "15.1"},
    full_update("UM"),
    full_update("CM"),
    {**LIABILITY, "p": "1", "i": "0.1", "l": "1.1"},
    {"e": "uniMMRDrop", "E": E, "u": 1.3},
]


@pytest.mark.parametrize("data", FULL, ids=lambda d: f"{d['e']}-{d.get('fs', '')}")
def test_every_value_an_event_carries_lands_in_a_family_of_its_collector(data: dict):
    kind, event = parse_frame(orjson.dumps(data))
    assert kind.values is not None
    _, effects = kind.values(event)
    assert effects
    for effect in effects:
        families = {f.name for f in COLLECTORS[effect.collector].families}
        if isinstance(effect, Push):
            assert effect.family in families
