"""A hostile stream's data over a real socket: names past the account's caps are dropped and
counted, extreme numbers and times are bad frames, and none of it ends the connection."""

from __future__ import annotations

import time

import orjson

from exporter.simulator.server import SimulatorThread
from exporter.stream.kinds import MAX_ASSETS
from tests.e2e.stream.support import (
    connected,
    reconnects,
    stream_config,
    stream_value,
    wait_value,
)
from tests.helpers import ExporterThread, series, wait_for

CREDITED = "binance_pm_balance_credited_total"
DROPPED = "binance_pm_exporter_stream_dropped_labels_total"
BAD_FRAMES = "binance_pm_exporter_stream_bad_frames_total"


def now_ms() -> int:
    return int(time.time() * 1000)


def account_update(entries: list[tuple[str, str]], reason: str = "ORDER") -> str:
    balances = [{"a": asset, "bc": bc} for asset, bc in entries]
    event = {"e": "ACCOUNT_UPDATE", "fs": "UM", "E": now_ms(), "a": {"m": reason, "B": balances}}
    return orjson.dumps(event).decode()


def risk_level_change(time_ms: object, uni_mmr: str, level: str = "MARGIN_CALL") -> str:
    event = {"e": "riskLevelChange", "E": time_ms, "s": level, "u": uni_mmr}
    return orjson.dumps(event).decode()


def test_a_thousand_new_asset_names_expose_the_caps_worth_and_count_the_rest(
    sim: SimulatorThread,
):
    names = [f"NEW{i}" for i in range(1000)]
    frames = [account_update([(n, "1") for n in names[i : i + 50]]) for i in range(0, 1000, 50)]
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        sim.send_stream_frames("desk", frames)
        wait_value(exp, DROPPED, 1000 - MAX_ASSETS)
        credited = series(exp.samples(), CREDITED, account="desk")
    assert MAX_ASSETS == 200
    assert {dict(k[1])["asset"]: v for k, v in credited.items()} == dict.fromkeys(
        names[:MAX_ASSETS], 1.0
    )


def test_a_far_future_event_time_is_a_bad_frame_and_the_next_event_wins(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        malformed = stream_value(exp, BAD_FRAMES, kind="malformed")
        normal = now_ms()
        sim.send_stream_frames(
            "desk",
            [
                risk_level_change(2**63 - 1, "1.05", "FORCE_LIQUIDATION"),
                risk_level_change(normal, "1.3"),
            ],
        )
        wait_value(exp, "binance_pm_risk_level_last_uni_mmr", 1.3)
        assert stream_value(exp, "binance_pm_risk_level_last_event_timestamp_seconds") == (
            normal / 1000
        )
        assert stream_value(exp, BAD_FRAMES, kind="malformed") == malformed + 1
        assert (
            stream_value(exp, "binance_pm_risk_level_events_total", level="FORCE_LIQUIDATION") == 0
        )
        assert reconnects(exp) == {}


def test_extreme_amounts_and_times_are_bad_frames_never_infinite_counters(
    sim: SimulatorThread,
):
    frames = [
        account_update([("USDT", "1E+5000")], "FUNDING_FEE"),
        account_update([("USDT", "1e999999999")], "FUNDING_FEE"),
        risk_level_change("²", "1.2"),
        account_update([("USDT", "2.5")], "FUNDING_FEE"),
    ]
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        malformed = stream_value(exp, BAD_FRAMES, kind="malformed")
        sim.send_stream_frames("desk", frames)
        labels = {"book": "UM", "asset": "USDT", "reason": "FUNDING_FEE"}
        wait_value(exp, CREDITED, 2.5, **labels)
        assert stream_value(exp, BAD_FRAMES, kind="malformed") == malformed + 3
        assert reconnects(exp) == {}
