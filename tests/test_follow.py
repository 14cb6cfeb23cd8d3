"""Who follows whom (exporter.follow): exact rows kept and left, without a poll."""

from __future__ import annotations

from exporter.follow import (
    FOLLOWERS,
    followers,
    leader_positions,
    left_to_leader,
    poll_order,
    trimmed_followers,
)
from exporter.snapshot import CollectorData

NOTIONAL = "binance_pm_um_position_notional"
MARK = "binance_pm_um_position_mark_price"
ADL = "binance_pm_um_adl_quantile"
BTC, ETH = ("BTCUSDT", "BOTH"), ("ETHUSDT", "BOTH")


def served(samples, time: float = 1000.0, stale_after: float = 45.0) -> CollectorData:
    return CollectorData(samples, {}, time, stale_after)


def test_poll_order_puts_each_collector_after_the_one_it_follows() -> None:
    assert poll_order(("um_position_risk", "account", "um_account")) == (
        "account",
        "um_account",
        "um_position_risk",
    )
    assert poll_order(("cm_position_risk", "um_position_risk", "cm_account", "um_account")) == (
        "cm_account",
        "um_account",
        "cm_position_risk",
        "um_position_risk",
    )
    # Without its leader, a follower keeps its place (it then keeps open positions alone).
    assert poll_order(("um_position_risk", "account")) == ("um_position_risk", "account")


def test_each_account_detail_leads_its_position_risk_and_adl_collectors() -> None:
    # Only the account details lead; a new follower of theirs adds to these, by name.
    assert set(FOLLOWERS) == {"um_account", "cm_account"}
    assert {"um_adl_quantile", "um_position_risk"} <= set(followers("um_account"))
    assert {"cm_adl_quantile", "cm_position_risk"} <= set(followers("cm_account"))
    assert followers("um_account") == tuple(sorted(followers("um_account")))
    assert followers("balance") == ()


def test_a_follower_gets_the_positions_of_its_leaders_served_data() -> None:
    given = {BTC: frozenset({NOTIONAL})}
    data = {"um_account": served({}, time=1000.0, stale_after=45.0)}
    provided = {"um_account": given}
    assert leader_positions("um_account", data, provided, 1045.0) == given
    # Once the leader's data is stale, the follower gives every family of its own rows.
    assert leader_positions("um_account", data, provided, 1045.5) is None


def test_a_follower_without_a_leader_or_its_data_gets_nothing() -> None:
    given = {BTC: frozenset({NOTIONAL})}
    assert leader_positions(None, {"um_account": served({})}, {"um_account": given}, 0) is None
    assert leader_positions("um_account", {}, {"um_account": given}, 1000.0) is None
    # A leader that never exported positions (its reply had none to give) provides nothing.
    assert leader_positions("um_account", {"um_account": served({})}, {}, 1000.0) is None


def test_a_follower_keeps_the_leaders_rows_less_the_families_the_leader_gives() -> None:
    samples = {
        NOTIONAL: [(BTC, 667.95), (ETH, 667.95)],
        MARK: [(BTC, 6679.5), (ETH, 2000.0)],
    }
    assert left_to_leader(samples, {BTC: frozenset({NOTIONAL})}) == {
        NOTIONAL: [],
        MARK: [(BTC, 6679.5)],
    }
    assert left_to_leader(samples, {}) == {NOTIONAL: [], MARK: []}


def test_followers_shrink_when_their_leader_gives_positions_again() -> None:
    risk = {NOTIONAL: [(BTC, 667.95)], MARK: [(BTC, 6679.5)]}
    adl = {ADL: [(BTC, 2.0), (ETH, 1.0)]}
    data = {"um_position_risk": served(risk), "um_adl_quantile": served(adl)}
    given = {BTC: frozenset({NOTIONAL})}
    assert trimmed_followers("um_account", given, data) == {
        "um_position_risk": {NOTIONAL: [], MARK: [(BTC, 6679.5)]},
        "um_adl_quantile": {ADL: [(BTC, 2.0)]},
    }


def test_followers_with_nothing_to_drop_or_no_data_are_left_alone() -> None:
    data = {"um_position_risk": served({MARK: [(BTC, 6679.5)]})}
    given = {BTC: frozenset({NOTIONAL})}
    assert trimmed_followers("um_account", given, data) == {}
    assert trimmed_followers("um_account", None, data) == {}
    assert trimmed_followers("balance", given, data) == {}


def test_a_follower_keyed_by_symbol_keeps_every_symbol_the_leader_holds_a_side_of() -> None:
    bracket = "binance_pm_um_leverage_bracket_maint_margin_ratio"
    samples = {
        bracket: [(("BTCUSDT", "1"), 0.004), (("BTCUSDT", "2"), 0.005), (("ETHUSDT", "1"), 0.004)]
    }
    short_btc = {("BTCUSDT", "SHORT"): frozenset()}
    assert left_to_leader(samples, short_btc, "symbol") == {
        bracket: [(("BTCUSDT", "1"), 0.004), (("BTCUSDT", "2"), 0.005)]
    }
    # Matched as positions, no (symbol, bracket) row is one of the leader's.
    assert left_to_leader(samples, short_btc) == {bracket: []}
    assert left_to_leader(samples, {}, "symbol") == {bracket: []}
