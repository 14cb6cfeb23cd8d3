"""Whatever a stream sends, parsing raises only BadFrame and no counter holds a non-finite value."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.stream.events import BadFrame
from exporter.stream.kinds import KINDS, parse_frame
from exporter.stream.state import StreamState

NOW = 1736996475.556

# Numbers a hostile or broken stream might send, as JSON numbers or as strings.
NUMBERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.sampled_from([2**63 - 1, 1736996475556, 0, -1, 10**15, 1483228800000]),
    st.floats(allow_nan=False, allow_infinity=False),
)
NUMBER_TEXTS = st.one_of(
    NUMBERS.map(str),
    st.sampled_from(
        ["1E+5000", "1e999999999", "-1e999999999", "1e-999999999", "NaN", "-Infinity", "sNaN"]
    ),
    st.sampled_from(["²", "١٢٣", "1_000", " 1 ", "0x10", "1e", ".", "-0", "+5"]),
    st.text(alphabet="0123456789eE+-._²", max_size=30),
)
NAMES = st.one_of(
    st.sampled_from(["USDT", "BTC", "ORDER", "FUNDING_FEE", "BORROW", "MARGIN_CALL", "UM", "CM"]),
    st.text(max_size=45),
)
SCALARS: st.SearchStrategy[Any] = st.one_of(st.none(), st.booleans(), NUMBERS, NUMBER_TEXTS, NAMES)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)
FIELD = st.one_of(SCALARS, JSON)
BALANCE = st.fixed_dictionaries({"a": FIELD, "bc": FIELD}, optional={"wb": FIELD})
EVENT_TYPES = sorted({kind.event_type for kind in KINDS})


@st.composite
def frames(draw: st.DrawFn) -> dict[str, Any]:
    """A frame shaped like an event of one of the kinds, every field possibly hostile."""
    frame: dict[str, Any] = {"e": draw(st.sampled_from(EVENT_TYPES) | FIELD), "E": draw(FIELD)}
    for key in draw(st.sets(st.sampled_from(["s", "u", "fs", "a", "t", "T"]))):
        frame[key] = draw(FIELD)
    if draw(st.booleans()):
        balances = draw(st.lists(BALANCE, max_size=4) | FIELD)
        frame["a"] = {"m": draw(FIELD), "B": balances}
    if draw(st.booleans()):  # an order update's order, as a forced fill's or hostile
        client_id = st.sampled_from(["autoclose-1", "adl_autoclose-1"]) | FIELD
        frame["o"] = {
            "x": draw(st.just("TRADE") | FIELD),
            "c": draw(client_id),
            **{key: draw(FIELD) for key in draw(st.sets(st.sampled_from(["s", "i", "l", "T"])))},
        }
    return frame


def counted_values(state: StreamState) -> list[float]:
    return [v for rows in state.rows().values() for _, v in rows]


def read(state: StreamState, text: str | bytes) -> None:
    try:
        kind, event = parse_frame(text, now=NOW)
    except BadFrame:
        return
    state.count(kind, event)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), min_size=1, max_size=5))
def test_event_shaped_frames_never_raise_but_bad_frame_nor_count_a_non_finite_value(
    batch: list[dict[str, Any]],
):
    state = StreamState("desk")
    for frame in batch:
        read(state, orjson.dumps(frame))
    assert all(math.isfinite(v) for v in counted_values(state))
    state.render('account="desk"')


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EVENT_TYPES), NUMBER_TEXTS, NUMBER_TEXTS)
def test_raw_numbers_in_time_and_amount_never_raise_but_bad_frame(
    event_type: str, time_text: str, amount: str
):
    state = StreamState("desk")
    # As JSON text, so that numbers orjson itself refuses (1e999999999, 2**70) reach it raw.
    balance = f'{{"a":"USDT","bc":{orjson.dumps(amount).decode()}}}'
    for e in (time_text, orjson.dumps(time_text).decode()):
        read(state, f'{{"e":"{event_type}","E":{e},"s":"MARGIN_CALL","u":"1.2"}}')
        read(state, f'{{"e":"{event_type}","fs":"UM","E":{e},"a":{{"m":"ORDER","B":[{balance}]}}}}')
        read(
            state,
            f'{{"e":"{event_type}","E":1736996475556,"u":{orjson.dumps(amount).decode()},"s":"MARGIN_CALL"}}',
        )
    assert all(math.isfinite(v) for v in counted_values(state))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), JSON.map(orjson.dumps)))
def test_any_text_is_an_event_or_a_bad_frame(text: str | bytes):
    with contextlib.suppress(BadFrame):
        kind, _ = parse_frame(text, now=NOW)
        assert kind in KINDS
