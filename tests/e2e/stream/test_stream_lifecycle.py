"""The listen key's whole life and every way a socket ends, over real sockets."""

from __future__ import annotations

import pytest

from exporter.simulator.server import SimulatorThread
from exporter.stream import connection
from tests.e2e.stream.support import (
    LISTEN_KEY,
    connected,
    reconnects,
    requests,
    stream_config,
    stream_value,
    wait_funding_credited,
)
from tests.helpers import ExporterThread, wait_for


def listen_keys(sim: SimulatorThread) -> dict[str, str]:
    return sim.call(lambda: {a: k.key for a, k in sim.simulator.streams.keys.items()})


def sockets_opened(sim: SimulatorThread) -> int:
    return sim.call(lambda: sim.simulator.streams.connections)


def a_funding_fee_arrives(sim: SimulatorThread, exp: ExporterThread, amount: int) -> None:
    """A funding fee paid now reaches the exporter: events flow on the (new) connection."""
    sim.pay_funding("desk", "BTCUSDT", str(amount))
    wait_funding_credited(exp, amount)


def test_keepalives_keep_a_short_lived_key_and_its_socket(sim: SimulatorThread):
    sim.set_listen_key_validity(3)
    with ExporterThread(stream_config(sim, stream_keepalive_seconds=1)) as exp:
        wait_for(lambda: requests(sim, LISTEN_KEY, "PUT") >= 3)
        assert requests(sim, LISTEN_KEY, "POST") == 1
        assert sockets_opened(sim) == 1
        assert reconnects(exp) == {}
        assert connected(exp)


def test_a_fresh_connection_comes_before_the_connection_limit(
    sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(connection, "MAX_CONNECTION_SECONDS", 0.5)
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: reconnects(exp).get("renewal", 0) >= 2 and connected(exp))
        assert set(reconnects(exp)) == {"renewal"}
        # The key was still alive: POST returned the same one.
        assert len(set(listen_keys(sim).values())) == 1


def test_binance_cutting_the_connection_is_followed_by_a_new_one(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        sim.set_stream_max_connection_seconds(0.3)
        wait_for(lambda: reconnects(exp).get("closed", 0) >= 1)
        sim.set_stream_max_connection_seconds(86400)
        wait_for(lambda: connected(exp))
        assert set(reconnects(exp)) == {"closed"}
        a_funding_fee_arrives(sim, exp, 1)


def test_an_expired_key_is_replaced_and_events_flow_again(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        old = listen_keys(sim)["desk"]
        sim.expire_listen_key("desk")
        wait_for(lambda: reconnects(exp) == {"listen_key_expired": 1} and connected(exp))
        new = listen_keys(sim)["desk"]
        assert new != old
        assert requests(sim, LISTEN_KEY, "POST") == 2
        a_funding_fee_arrives(sim, exp, 2)


def test_a_keepalive_answered_key_gone_gets_a_new_key(sim: SimulatorThread):
    with ExporterThread(stream_config(sim, stream_keepalive_seconds=1)) as exp:
        wait_for(lambda: connected(exp))
        # Binance lost the key without a word on the socket: the next PUT is answered -1125.
        sim.call(lambda: sim.simulator.streams.keys.pop("desk"))
        wait_for(lambda: reconnects(exp) == {"listen_key_expired": 1} and connected(exp))
        assert requests(sim, LISTEN_KEY, "POST") == 2


def test_a_refused_listen_key_is_retried_with_back_off(sim: SimulatorThread):
    sim.set_fault(account="desk", path=LISTEN_KEY, status=503, times=3)
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        assert reconnects(exp) == {"listen_key": 3}
        assert requests(sim, LISTEN_KEY, "POST") == 1


def test_a_dropped_connection_is_reconnected(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        sim.drop_stream("desk")
        wait_for(lambda: sum(reconnects(exp).values()) == 1 and connected(exp))
        assert set(reconnects(exp)) <= {"closed", "network"}
        assert sockets_opened(sim) == 2


def test_a_silent_stream_is_detected_and_reconnected(sim: SimulatorThread):
    with ExporterThread(stream_config(sim, stream_silence_seconds=1)) as exp:
        wait_for(lambda: connected(exp))
        sim.set_stream_silent(True, "desk")
        wait_for(lambda: reconnects(exp).get("silence", 0) >= 1)
        sim.set_stream_silent(False, "desk")
        wait_for(lambda: connected(exp))
        assert set(reconnects(exp)) == {"silence"}
        a_funding_fee_arrives(sim, exp, 3)


def test_garbage_frames_are_counted_and_the_loop_goes_on(sim: SimulatorThread):
    frames = [
        "not json",
        "[1, 2]",
        '{"e": "somethingNew", "E": 1}',
        '{"E": 1}',
        '{"e": "ACCOUNT_UPDATE", "fs": "XX", "E": 1, "a": {"m": "ORDER", "B": []}}',
    ]
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        sim.send_stream_frames("desk", frames)
        a_funding_fee_arrives(sim, exp, 4)
        assert (
            stream_value(exp, "binance_pm_exporter_stream_bad_frames_total", kind="malformed") == 4
        )
        assert (
            stream_value(exp, "binance_pm_exporter_stream_bad_frames_total", kind="unknown_event")
            == 1
        )
        assert reconnects(exp) == {}


def test_a_run_of_garbage_ends_the_connection(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        sim.send_stream_frames("desk", ["\x00garbage"] * connection.GARBAGE_RUN)
        wait_for(lambda: reconnects(exp) == {"garbage": 1} and connected(exp))
        assert (
            stream_value(exp, "binance_pm_exporter_stream_bad_frames_total", kind="malformed")
            == connection.GARBAGE_RUN
        )


def test_shutdown_deletes_the_listen_key(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
    assert requests(sim, LISTEN_KEY, "DELETE") == 1
    assert listen_keys(sim) == {}
    wait_for(lambda: sim.call(lambda: len(sim.simulator.streams.sockets)) == 0)
