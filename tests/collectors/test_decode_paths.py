"""The fast decoder of the account replies gives exactly what the general JSON path gives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from exporter.collectors import COLLECTORS, BadPayload, ParseOptions, Result
from exporter.collectors._futures import DecodedAccount
from tests.replies import um_asset, um_position


def entry(symbol: str, side: str, amount: Any = "0", orders: Any = "0", **extra: Any) -> dict:
    fields = {
        "initialMargin": "1.5", "maintMargin": "0.5", "unrealizedProfit": "-2.25",
        "positionInitialMargin": "1.5", "openOrderInitialMargin": orders, "leverage": "20",
        "entryPrice": "100.0", "maxQty": "50", "positionAmt": amount, "updateTime": 1700000000123,
    }  # fmt: skip
    return um_position(symbol, side, **{**fields, **extra})


ASSETS = [um_asset("USDT", crossWalletBalance="10.0", crossUnPnl="0.0", maintMargin="1.0",
                   initialMargin="2", positionInitialMargin="2", openOrderInitialMargin="0",
                   updateTime=0)]  # fmt: skip

PAYLOADS = {
    "open-and-flat": {
        "assets": ASSETS,
        "positions": [
            entry("BTCUSDT", "LONG", "0.5"),
            entry("BTCUSDT", "SHORT"),
            entry("ETHUSDT", "BOTH", "0.000"),
            entry("XRPUSDT", "BOTH", "0", "12.5"),
        ],
    },
    "zero-spellings": {
        "assets": ASSETS,
        "positions": [
            entry(f"S{i}USDT", "BOTH", z, z)
            for i, z in enumerate(
                ["0", "0.0", "0.00000000", "-0", "-0.0", "-0.000", "0.000000000", "0E-8", 0, 0.0]
            )
        ]
        + [entry("OPENUSDT", "BOTH", "-1.0")],
    },
    "malformed-kept": {
        "assets": ASSETS,
        "positions": [
            entry("BTCUSDT", "LONG", "abc"),
            entry("ETHUSDT", "LONG", "1", leverage=None),
            entry("XRPUSDT", "LONG"),
            entry("", "LONG", "2"),
        ],
    },
    "all-open-malformed": {
        "assets": ASSETS,
        "positions": [
            entry("BTCUSDT", "LONG", "abc"),
            entry("XRPUSDT", "LONG"),
        ],
    },
    "only-malformed": {"assets": ASSETS, "positions": [entry("BTCUSDT", "LONG", "x")]},
    "object-amount": {
        "assets": ASSETS,
        "positions": [
            entry("BTCUSDT", "LONG", {"v": 1}),
            entry("ETHUSDT", "LONG", "1"),
        ],
    },
    "non-object-entry": {"assets": ASSETS, "positions": [7, entry("ETHUSDT", "LONG", "1")]},
    "duplicates": {
        "assets": ASSETS,
        "positions": [
            entry("ETHUSDT", "LONG", "1"),
            entry("ETHUSDT", "LONG", "2"),
        ],
    },
    "unreadable-fields": {
        "assets": [{**ASSETS[0], "crossUnPnl": "NaN", "maintMargin": None}],
        "positions": [
            entry("BTCUSDT", "LONG", "abc", leverage=None, entryPrice=""),
            entry("ETHUSDT", "LONG", "1", updateTime=-5, maintMargin={"v": 1}),
            entry("XRPUSDT", "LONG", "0", "x"),
        ],
    },
    "nothing-readable": {
        "assets": [{"asset": ""}, 7],
        "positions": [entry("", "LONG", "1"), entry("BTCUSDT", "LONG")],
    },
    "only-flat": {"assets": [], "positions": [entry("BTCUSDT", "LONG")]},
    "empty": {"assets": [], "positions": []},
    "no-positions-key": {"assets": ASSETS},
    "positions-not-list": {"assets": ASSETS, "positions": {"a": 1}},
    "top-level-list": [1, 2, 3],
}


def outcome(result_or_error: Result | BadPayload) -> Any:
    if isinstance(result_or_error, BadPayload):
        return ("BadPayload", str(result_or_error))
    r = result_or_error
    return (r.samples, r.skipped, r.skipped_fields, r.positions, r.notes)


def run(parse, payload: Any, options: ParseOptions) -> Any:
    try:
        return outcome(parse(payload, options))
    except BadPayload as exc:
        return outcome(exc)


@pytest.mark.parametrize("collector", ["um_account", "cm_account"])
@pytest.mark.parametrize("include_zero", [False, True], ids=["open", "include-zero"])
@pytest.mark.parametrize("case", list(PAYLOADS))
def test_fast_and_general_decoding_agree(collector: str, include_zero: bool, case: str) -> None:
    c = COLLECTORS[collector]
    options = ParseOptions(include_zero)
    body = orjson.dumps(PAYLOADS[case])
    fast = run(c.parse, c.decode(body, options), options)
    general = run(c.parse, orjson.loads(body), options)
    assert fast == general


def test_flat_entries_never_become_python_objects() -> None:
    c = COLLECTORS["um_account"]
    decoded = c.decode(orjson.dumps(PAYLOADS["open-and-flat"]), ParseOptions())
    assert isinstance(decoded, DecodedAccount)
    assert [(p["symbol"], p["positionSide"]) for p in decoded.positions] == [
        ("BTCUSDT", "LONG"),
        ("XRPUSDT", "BOTH"),  # an open order keeps a flat position
    ]
    assert decoded.flat == 2
    assert "bidNotional" not in decoded.positions[0]  # never exported, never decoded


def test_every_zero_spelling_is_dropped_before_it_becomes_an_object() -> None:
    spellings = ["0", "0.0", "0.000", "0.00000000", "-0", "-0.0", "-0.000", "0E-8", 0, 0.0, -0.0]
    positions = [entry(f"S{i}USDT", "BOTH", z, z) for i, z in enumerate(spellings)]
    body = orjson.dumps({"assets": ASSETS, "positions": positions})
    decoded = COLLECTORS["um_account"].decode(body, ParseOptions())
    assert isinstance(decoded, DecodedAccount)
    assert (decoded.positions, decoded.flat) == ([], len(spellings))


def test_a_body_that_is_not_json_is_a_bad_payload() -> None:
    with pytest.raises(BadPayload, match="not JSON"):
        COLLECTORS["um_account"].decode(b"<html>busy</html>", ParseOptions())
