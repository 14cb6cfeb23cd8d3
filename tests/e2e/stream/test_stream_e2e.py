"""The stream end to end: simulator and exporter over real sockets, exact counts."""

from __future__ import annotations

from exporter.simulator.server import SimulatorThread
from tests.e2e.stream.support import (
    ACCOUNTS,
    LISTEN_KEY,
    connected,
    requests,
    stream_config,
    stream_value,
    wait_value,
)
from tests.helpers import ExporterThread, series, wait_for

ACCOUNT = "/papi/v1/account"
UM_ACCOUNT = "/papi/v1/um/account"
CM_ACCOUNT = "/papi/v1/cm/account"
CM_POSITION_RISK = "/papi/v1/cm/positionRisk"
BALANCE = "/papi/v1/balance"


def test_each_event_type_is_counted_with_exact_values(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        sim.pay_funding("desk", "BTCUSDT", "12.5")
        sim.pay_funding("desk", "BTCUSDT", "-3.25")
        sim.pay_funding("desk", "BTCUSDT", "0.75")
        sim.pay_funding("desk", "BTCUSD_PERP", "-0.0001")
        sim.open_position("desk", "ETHUSDT", "BOTH", "2", "3000", 10)
        sim.borrow("desk", "BTC", "1.03453430")
        sim.borrow("desk", "BTC", "0.00001", kind="INTEREST")
        sim.borrow("desk", "USDT", "50")
        wait_value(exp, "binance_pm_liability_change_events_total", 1, asset="USDT", type="BORROW")
        samples = exp.samples()

    def got(name: str, **labels: str) -> dict[tuple, float]:
        found = series(samples, name, account="desk", **labels)
        return {tuple(sorted(dict(k[1]).items())): v for k, v in found.items()}

    um = {"account": "desk", "book": "UM", "asset": "USDT"}
    assert got("binance_pm_balance_credited_total") == {
        tuple(sorted({**um, "reason": "FUNDING_FEE"}.items())): 13.25,
        tuple(sorted({**um, "reason": "ORDER"}.items())): 0.0,
        tuple(
            sorted(
                {"account": "desk", "book": "CM", "asset": "BTC", "reason": "FUNDING_FEE"}.items()
            )
        ): 0.0,
    }
    assert got("binance_pm_balance_debited_total") == {
        tuple(sorted({**um, "reason": "FUNDING_FEE"}.items())): 3.25,
        tuple(sorted({**um, "reason": "ORDER"}.items())): 0.0,
        tuple(
            sorted(
                {"account": "desk", "book": "CM", "asset": "BTC", "reason": "FUNDING_FEE"}.items()
            )
        ): 0.0001,
    }
    assert got("binance_pm_liability_change_events_total") == {
        (("account", "desk"), ("asset", "BTC"), ("type", "BORROW")): 1.0,
        (("account", "desk"), ("asset", "BTC"), ("type", "INTEREST")): 1.0,
        (("account", "desk"), ("asset", "USDT"), ("type", "BORROW")): 1.0,
    }
    assert got("binance_pm_risk_level_events_total") == {
        (("account", "desk"), ("level", level)): 0.0
        for level in ("MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION")
    }
    assert got("binance_pm_exporter_stream_bad_frames_total") == {
        (("account", "desk"), ("kind", "malformed")): 0.0,
        (("account", "desk"), ("kind", "unknown_event")): 0.0,
    }
    assert got("binance_pm_exporter_stream_last_event_timestamp_seconds") != {}
    # No riskLevelChange yet: no uniMMR from one.
    assert got("binance_pm_risk_level_last_uni_mmr") == {}


def test_accounts_without_the_stream_have_no_stream_series(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp))
        samples = exp.samples()
    streamed = {
        dict(labels)["account"]
        for (name, labels) in samples
        if name.startswith(("binance_pm_exporter_stream_", "binance_pm_risk_level_"))
    }
    assert streamed == {"desk"}
    assert requests(sim, LISTEN_KEY, "POST", account="quiet") == 0


def test_a_level_crossed_and_recovered_between_two_polls_is_counted_and_polled_early(
    sim: SimulatorThread,
):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp) and requests(sim, ACCOUNT) == 1)
        sim.falling_uni_mmr("desk", 0, start=1.4, end=1.4)  # into MARGIN_CALL at once
        wait_value(exp, "binance_pm_risk_level_events_total", 1, level="MARGIN_CALL")
        sim.falling_uni_mmr("desk", 0, start=3.0, end=3.0)  # and back, long before the next poll
        # The event asked for an early poll of the account collector only.
        wait_for(lambda: requests(sim, ACCOUNT) == 2)
        assert stream_value(exp, "binance_pm_risk_level_last_uni_mmr") == 1.4
        assert stream_value(exp, "binance_pm_risk_level_events_total", level="REDUCE_ONLY") == 0
        assert requests(sim, UM_ACCOUNT) == 1
        assert requests(sim, CM_ACCOUNT) == 1
        event_time = stream_value(exp, "binance_pm_risk_level_last_event_timestamp_seconds")
        assert event_time is not None and event_time > 0


def test_position_and_funding_events_poll_their_books_early(sim: SimulatorThread):
    with ExporterThread(stream_config(sim)) as exp:
        wait_for(lambda: connected(exp) and requests(sim, CM_ACCOUNT) == 1)
        sim.open_position("desk", "ETHUSDT", "BOTH", "1", "3000", 10)
        wait_for(lambda: requests(sim, UM_ACCOUNT) == 2)
        sim.pay_funding("desk", "BTCUSD_PERP", "0.001")
        wait_for(lambda: requests(sim, CM_ACCOUNT) == 2)
        assert requests(sim, ACCOUNT) == 1


def test_a_coin_m_funding_event_polls_the_coin_m_positions_early_too(sim: SimulatorThread):
    config = stream_config(sim, collectors=["account", "cm_account", "cm_position_risk"])
    with ExporterThread(config) as exp:
        wait_for(lambda: connected(exp) and requests(sim, CM_POSITION_RISK) == 1)
        sim.pay_funding("desk", "BTCUSD_PERP", "0.001")
        wait_for(lambda: (requests(sim, CM_ACCOUNT), requests(sim, CM_POSITION_RISK)) == (2, 2))
        assert requests(sim, ACCOUNT) == 1


def test_a_borrow_polls_balance_early_in_its_own_interval_group_only(sim: SimulatorThread):
    """balance polls on an interval of its own (its own slot, long after start): a
    liabilityChange polls it at once, and nothing of the account's other group."""
    desk = {
        **ACCOUNTS[0],
        "user_data_stream": True,
        "collectors": ["um_account", "account", {"name": "balance", "interval_seconds": 120}],
    }
    quiet = {**ACCOUNTS[1], "collectors": ["um_account"]}
    with ExporterThread(stream_config(sim, [desk, quiet])) as exp:
        wait_for(lambda: connected(exp) and requests(sim, ACCOUNT) == 1)
        assert requests(sim, BALANCE) == 0  # its slot is a third of the cycle away
        sim.borrow("desk", "BTC", "0.25")
        wait_for(lambda: requests(sim, BALANCE) == 1)
        changes = {"asset": "BTC", "type": "BORROW"}
        wait_value(exp, "binance_pm_liability_change_events_total", 1, **changes)
        assert (requests(sim, ACCOUNT), requests(sim, UM_ACCOUNT)) == (1, 1)
