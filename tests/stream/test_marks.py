"""The mark book: frames read defensively, newest marks kept, listeners told, PnL formulas."""

from __future__ import annotations

import orjson
import pytest

from exporter.stream.events import BadFrame
from exporter.stream.marks import (
    Mark,
    MarkBook,
    MarkChange,
    MarkUpdate,
    cm_unrealized_pnl,
    parse_marks,
    um_unrealized_pnl,
)

NOW_MS = 1_750_000_000_000


def entry(symbol: str = "BTCUSDT", price: object = "70000.50000000", **extra: object) -> dict:
    return {"e": "markPriceUpdate", "E": NOW_MS, "s": symbol, "p": price, "r": "0.0001", **extra}


def frame(*entries: object) -> bytes:
    return orjson.dumps(list(entries))


def test_a_frame_gives_every_symbol_s_mark_and_event_time():
    updates, bad = parse_marks(frame(entry(), entry("BTCUSD_PERP", "64000.1", ps="BTCUSD")), NOW_MS)
    assert updates == [
        MarkUpdate("BTCUSDT", 70000.5, NOW_MS),
        MarkUpdate("BTCUSD_PERP", 64000.1, NOW_MS),
    ]
    assert bad == 0


@pytest.mark.parametrize(
    "odd",
    [
        entry(price="1e20"),  # beyond any mark
        entry(price="NaN"),
        entry(price="Infinity"),
        entry(price="0"),
        entry(price="-1"),
        entry(price="1e-40"),
        entry(symbol="btc usdt"),
        entry(symbol=None),
        {**entry(), "E": 1_000},  # before 2017
        {**entry(), "E": NOW_MS + 2 * 86_400_000},  # days ahead
        {**entry(), "e": "aggTrade"},
        "markPriceUpdate",
        None,
    ],
)
def test_an_unreadable_entry_is_counted_and_left_out(odd: object):
    updates, bad = parse_marks(frame(entry("ETHUSDT", "3400"), odd), NOW_MS)
    assert updates == [MarkUpdate("ETHUSDT", 3400.0, NOW_MS)]
    assert bad == 1


def test_a_json_number_where_a_string_is_documented_is_read() -> None:
    # As for the user data stream's events: Binance documents a string, a number is no error.
    updates, bad = parse_marks(frame(entry("BTCUSDT", 70000.5)), NOW_MS)
    assert updates == [MarkUpdate("BTCUSDT", 70000.5, NOW_MS)]
    assert bad == 0


@pytest.mark.parametrize("text", [b"not json", b'{"e":"markPriceUpdate"}', b"5", b""])
def test_a_frame_that_is_not_an_array_is_bad(text: bytes):
    with pytest.raises(BadFrame):
        parse_marks(text, NOW_MS)


def test_the_book_keeps_the_newest_mark_by_event_time():
    book = MarkBook()
    book.open("um")
    book.apply("um", [MarkUpdate("BTCUSDT", 70000.5, NOW_MS)], now=1.0)
    book.apply("um", [MarkUpdate("BTCUSDT", 69000.0, NOW_MS - 1000)], now=2.0)  # older
    assert book.mark("um", "BTCUSDT") == Mark(70000.5, NOW_MS)
    assert book.mark("cm", "BTCUSDT") is None
    assert book.is_up("um")
    assert not book.is_up("cm")


def test_listeners_hear_the_symbols_that_moved_and_the_market_s_state():
    book = MarkBook()
    heard: list[MarkChange] = []
    unsubscribe = book.subscribe(heard.append)
    book.open("cm")
    first = [MarkUpdate("BTCUSD_PERP", 64000.1, NOW_MS), MarkUpdate("ETHUSD_PERP", 3400, NOW_MS)]
    book.apply("cm", first)
    book.apply("cm", [MarkUpdate("BTCUSD_PERP", 64000.1, NOW_MS + 1000)])  # unchanged price
    book.apply("cm", [MarkUpdate("ETHUSD_PERP", 3401, NOW_MS + 1000)])
    book.down("cm")
    unsubscribe()
    book.apply("cm", first)
    assert heard == [
        MarkChange("cm", frozenset(), up=False),
        MarkChange("cm", frozenset({"BTCUSD_PERP", "ETHUSD_PERP"}), up=True),
        MarkChange("cm", frozenset(), up=True),
        MarkChange("cm", frozenset({"ETHUSD_PERP"}), up=True),
        MarkChange("cm", frozenset({"BTCUSD_PERP", "ETHUSD_PERP"}), up=False),
    ]


def test_a_market_that_goes_down_has_no_marks_until_it_delivers_again():
    book = MarkBook()
    book.open("um")
    book.apply("um", [MarkUpdate("BTCUSDT", 70000.5, NOW_MS)])
    book.down("um")
    assert book.marks("um") == {}
    assert not book.is_up("um")
    book.apply("um", [MarkUpdate("BTCUSDT", 70001.0, NOW_MS + 1000)])
    assert book.mark("um", "BTCUSDT") == Mark(70001.0, NOW_MS + 1000)


def test_the_book_renders_each_running_market_s_series():
    book = MarkBook()
    book.open("um")
    book.open("cm")
    book.apply("um", [MarkUpdate("BTCUSDT", 70000.5, NOW_MS)], bad=2, now=1_750_000_000.5)
    book.count_bad("cm")
    assert book.render() == {
        "binance_pm_exporter_market_stream_up": (
            b'binance_pm_exporter_market_stream_up{market="um"} 1.0\n'
            b'binance_pm_exporter_market_stream_up{market="cm"} 0.0\n'
        ),
        "binance_pm_exporter_market_stream_last_event_timestamp_seconds": (
            b'binance_pm_exporter_market_stream_last_event_timestamp_seconds{market="um"} '
            b"1750000000.5\n"
            b'binance_pm_exporter_market_stream_last_event_timestamp_seconds{market="cm"} 0.0\n'
        ),
        "binance_pm_exporter_market_stream_bad_frames_total": (
            b'binance_pm_exporter_market_stream_bad_frames_total{market="um"} 2.0\n'
            b'binance_pm_exporter_market_stream_bad_frames_total{market="cm"} 1.0\n'
        ),
    }
    book.close("um")
    book.close("cm")
    assert book.render() == {}


def test_usds_m_unrealized_pnl_is_linear():
    assert um_unrealized_pnl(0.5, 60000.0, 70000.5) == 5000.25
    assert um_unrealized_pnl(-2.0, 3400.0, 3300.25) == 199.5  # a short gains as the mark falls


def test_coin_m_unrealized_pnl_is_inverse_in_the_base_asset():
    # 10 contracts of 100 USD: 1000 USD, entered at 2**16, marked at 2**17 (exact in binary).
    assert cm_unrealized_pnl(10.0, 65536.0, 131072.0, 100.0) == 1000 / 131072
    assert cm_unrealized_pnl(10.0, 65536.0, 131072.0, 100.0) == 0.00762939453125
    assert cm_unrealized_pnl(-10.0, 65536.0, 131072.0, 100.0) == -0.00762939453125
    assert cm_unrealized_pnl(4.0, 2048.0, 1024.0, 10.0) == -0.01953125  # the long loses
