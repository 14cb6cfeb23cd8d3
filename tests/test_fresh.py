"""Newest wins between a collector's poll and the stream's values: the rule alone, then applied
to an account's served data."""

from __future__ import annotations

from exporter.collectors import COLLECTORS
from exporter.fresh import Close, Push, Pushed, Pushes, merge, merge_family
from exporter.snapshot import AccountState, data_age_lines

POLLED_MS = 1_700_000_000_000
WALLET = "binance_pm_um_asset_cross_wallet_balance"
ASSET_UPDATE = "binance_pm_um_asset_update_timestamp_seconds"
AMOUNT = "binance_pm_um_position_amount"
ENTRY = "binance_pm_um_position_entry_price"
MARK = "binance_pm_um_position_mark_price"
UM = COLLECTORS["um_account"].families
RISK = COLLECTORS["um_position_risk"].families
BTC = ("BTCUSDT", "BOTH")
ETH = ("ETHUSDT", "BOTH")


def rows_of(pushed: dict, closed: dict | None = None, updated: dict | None = None) -> list:
    rows = [(("USDT",), 100.0), (("BTC",), 1.0)]
    return merge_family(rows, POLLED_MS, updated or {}, pushed, closed or {})[0]


def test_a_value_pushed_after_the_poll_replaces_the_polled_row():
    pushed = {("USDT",): Pushed(POLLED_MS + 1, 150.0)}
    assert rows_of(pushed) == [(("USDT",), 150.0), (("BTC",), 1.0)]


def test_a_poll_sent_after_the_push_or_with_it_keeps_its_own_row():
    for at in (POLLED_MS - 1, POLLED_MS):
        assert rows_of({("USDT",): Pushed(at, 150.0)}) == [(("USDT",), 100.0), (("BTC",), 1.0)]


def test_a_row_binance_updated_after_the_push_wins_even_from_an_earlier_poll():
    pushed = {("USDT",): Pushed(POLLED_MS + 5, 150.0)}
    updated = {("USDT",): POLLED_MS + 6}
    assert rows_of(pushed, updated=updated) == [(("USDT",), 100.0), (("BTC",), 1.0)]


def test_a_pushed_series_the_poll_lacks_appears_only_when_newer():
    newer = {("ETH",): Pushed(POLLED_MS + 1, 2.0)}
    older = {("ETH",): Pushed(POLLED_MS - 1, 2.0)}
    assert rows_of(newer) == [(("USDT",), 100.0), (("BTC",), 1.0), (("ETH",), 2.0)]
    assert rows_of(older) == [(("USDT",), 100.0), (("BTC",), 1.0)]


def test_the_newest_pushed_time_served_is_reported():
    pushed = {("USDT",): Pushed(POLLED_MS + 7, 150.0), ("BTC",): Pushed(POLLED_MS - 7, 2.0)}
    rows = [(("USDT",), 100.0), (("BTC",), 1.0)]
    assert merge_family(rows, POLLED_MS, {}, pushed, {})[1] == POLLED_MS + 7


def test_an_older_event_never_replaces_a_newer_events_value():
    pushes = Pushes()
    pushes.add(POLLED_MS + 10, [Push("um_account", WALLET, ("USDT",), 150.0)])
    pushes.add(POLLED_MS + 5, [Push("um_account", WALLET, ("USDT",), 120.0)])
    assert pushes.values["um_account"][WALLET][("USDT",)] == Pushed(POLLED_MS + 10, 150.0)


def test_a_poll_drops_the_pushed_values_it_overtakes():
    pushes = Pushes()
    pushes.add(POLLED_MS + 10, [Push("um_account", WALLET, ("USDT",), 150.0)])
    pushes.add(POLLED_MS + 20, [Push("um_account", WALLET, ("BTC",), 2.0)])
    pushes.add(POLLED_MS + 10, [Close("um_account", BTC)])
    pushes.overtaken("um_account", POLLED_MS + 10)
    assert pushes.values["um_account"][WALLET] == {("BTC",): Pushed(POLLED_MS + 20, 2.0)}
    assert pushes.closed["um_account"] == {}


def test_a_push_touches_its_family_and_a_close_every_family_of_the_leader_and_followers():
    pushes = Pushes()
    touched = pushes.add(POLLED_MS + 1, [Push("um_account", WALLET, ("USDT",), 150.0)])
    assert touched == {"um_account": {WALLET}}
    touched = pushes.add(POLLED_MS + 2, [Close("um_account", BTC)])
    assert touched == {"um_account": None, "um_position_risk": None, "um_adl_quantile": None}


def polled_positions() -> dict:
    return {
        AMOUNT: [(BTC, 0.5), (ETH, 2.0)],
        ENTRY: [(BTC, 60000.0), (ETH, 3000.0)],
        "binance_pm_um_position_update_timestamp_seconds": [
            (BTC, (POLLED_MS - 60_000) / 1000),
            (ETH, (POLLED_MS - 60_000) / 1000),
        ],
    }


def test_a_close_leaves_the_position_out_of_the_leader_and_its_followers():
    pushes = Pushes()
    pushes.add(POLLED_MS + 1, [Close("um_account", BTC)])
    leader, _ = merge(polled_positions(), UM, POLLED_MS, pushes, "um_account")
    assert leader[AMOUNT] == [(ETH, 2.0)]
    assert leader[ENTRY] == [(ETH, 3000.0)]
    # The follower polled after the close, handed the leader's positions of before it.
    follower, _ = merge(
        {MARK: [(BTC, 61000.0), (ETH, 3100.0)]}, RISK, POLLED_MS + 9, pushes, "um_position_risk"
    )
    assert follower[MARK] == [(ETH, 3100.0)]


def test_a_poll_newer_than_the_close_shows_the_position_again():
    pushes = Pushes()
    pushes.add(POLLED_MS - 1, [Close("um_account", BTC)])
    leader, _ = merge(polled_positions(), UM, POLLED_MS, pushes, "um_account")
    assert leader[AMOUNT] == [(BTC, 0.5), (ETH, 2.0)]


def test_a_position_reopened_after_its_close_is_served_with_the_new_figures():
    pushes = Pushes()
    pushes.add(POLLED_MS + 1, [Close("um_account", BTC)])
    pushes.add(POLLED_MS + 2, [Push("um_account", AMOUNT, BTC, -0.25)])
    leader, newest = merge(polled_positions(), UM, POLLED_MS, pushes, "um_account")
    assert leader[AMOUNT] == [(BTC, -0.25), (ETH, 2.0)]
    assert leader[ENTRY] == [(BTC, 60000.0), (ETH, 3000.0)]
    assert newest == POLLED_MS + 2


def account_with_wallets() -> AccountState:
    state = AccountState("desk", ("um_account", "um_position_risk"))
    polled = {
        WALLET: [(("USDT",), 100.0)],
        ASSET_UPDATE: [(("USDT",), (POLLED_MS - 1000) / 1000)],
        AMOUNT: [(BTC, 0.5)],
    }
    state.set_data("um_account", polled, UM, POLLED_MS / 1000, 45.0, POLLED_MS)
    return state


def test_an_event_re_renders_only_the_family_it_touched():
    state = account_with_wallets()
    before = state.data["um_account"]
    state.push(POLLED_MS + 500, (Push("um_account", WALLET, ("USDT",), 150.0),))
    after = state.data["um_account"]
    assert after.fragments[WALLET] == (
        b'binance_pm_um_asset_cross_wallet_balance{account="desk",asset="USDT"} 150.0\n'
    )
    assert after.fragments[AMOUNT] is before.fragments[AMOUNT]
    assert after.polled is before.polled
    assert after.newest_ms == POLLED_MS + 500


def test_values_of_collectors_the_account_does_not_poll_are_not_kept():
    state = account_with_wallets()
    state.push(
        POLLED_MS + 500, (Push("balance", "binance_pm_balance_um_wallet_balance", ("USDT",), 1.0),)
    )
    assert "balance" not in state.pushes.values
    assert "balance" not in state.data


def test_the_next_poll_overrides_the_pushed_value_and_ages_from_itself():
    state = account_with_wallets()
    state.push(POLLED_MS + 500, (Push("um_account", WALLET, ("USDT",), 150.0),))
    polled = {WALLET: [(("USDT",), 149.0)]}
    state.set_data("um_account", polled, UM, POLLED_MS / 1000 + 1, 45.0, POLLED_MS + 1000)
    assert state.data["um_account"].samples[WALLET] == [(("USDT",), 149.0)]
    assert state.ages() == {"um_account": POLLED_MS + 1000}


def test_data_age_is_seconds_since_the_newest_value_at_the_build():
    lines = data_age_lines(
        'account="desk"', {"um_account": 1_700_000_000_500, "account": 0}, 1_700_000_010.0
    )
    assert (
        lines
        == b'binance_pm_exporter_data_age_seconds{account="desk",collector="um_account"} 9.5\n'
    )
