"""What a reload changes (exporter.reload.plan_reload): each kind of change, exact names."""

from __future__ import annotations

from typing import Any

from exporter.config import Config, parse_config
from exporter.reload import ReloadPlan, plan_reload, plan_start


def account(name: str, **keys: Any) -> dict[str, Any]:
    return {"name": name, "api_key": f"key-{name}", "api_secret": f"secret-{name}", **keys}


def config(*accounts: dict[str, Any], **keys: Any) -> Config:
    raw = {
        "base_url": "http://papi.invalid",
        "collectors": ["um_account", "account"],
        "accounts": list(accounts),
        **keys,
    }
    return parse_config(raw, {})


def test_the_same_config_changes_nothing():
    assert plan_reload(config(account("a")), config(account("a"))) == ReloadPlan()


def test_new_client_settings_need_a_new_client_and_nothing_else():
    old = config(account("a"))
    new = config(account("a"), base_url="http://other.invalid")
    assert plan_reload(old, new) == ReloadPlan(new_client=True)
    assert plan_reload(old, config(account("a"), recv_window_ms=6000)) == ReloadPlan(
        new_client=True
    )


def test_accounts_added_and_removed_in_config_order():
    old = config(account("a"), account("b"), account("c"))
    new = config(account("d"), account("b"), account("e"))
    assert plan_reload(old, new) == ReloadPlan(added=("d", "e"), removed=("a", "c"))


def test_a_new_key_changes_the_account_without_regrouping_it():
    old = config(account("a"), account("b"))
    new = config(account("a"), account("b", api_key="key-new"))
    assert plan_reload(old, new) == ReloadPlan(changed=("b",))


def test_a_new_collector_list_rebuilds_the_state_and_regroups():
    old = config(account("a"))
    new = config(account("a", collectors=["um_account", "account", "balance"]))
    assert plan_reload(old, new) == ReloadPlan(changed=("a",), recollected=("a",), regrouped=("a",))


def test_a_collector_at_another_interval_regroups_without_a_new_collector_list():
    old = config(account("a"))
    slower = ["um_account", {"name": "account", "interval_seconds": 60}]
    new = config(account("a", collectors=slower))
    assert plan_reload(old, new) == ReloadPlan(changed=("a",), regrouped=("a",), retimed=("a",))


def test_a_new_poll_interval_retimes_every_account():
    old = config(account("a"), account("b"))
    new = config(account("a"), account("b"), poll_interval_seconds=30)
    assert plan_reload(old, new) == ReloadPlan(
        changed=("a", "b"), regrouped=("a", "b"), retimed=("a", "b")
    )


def test_a_new_key_and_interval_regroup_without_retiming():
    old = config(account("a"))
    new = config(account("a", api_key="key-new"), poll_interval_seconds=30)
    assert plan_reload(old, new) == ReloadPlan(changed=("a",), regrouped=("a",))


def test_streams_start_and_stop_with_the_accounts_flag():
    old = config(account("a"), account("b", user_data_stream=True), account("c"))
    new = config(account("a", user_data_stream=True), account("b"), account("c"))
    assert plan_reload(old, new) == ReloadPlan(
        changed=("a", "b"), streams_started=("a",), streams_stopped=("b",)
    )


def test_a_removed_streamed_account_stops_its_stream_and_an_added_one_starts_it():
    old = config(account("a", user_data_stream=True))
    new = config(account("b", user_data_stream=True))
    assert plan_reload(old, new) == ReloadPlan(
        added=("b",), removed=("a",), streams_started=("b",), streams_stopped=("a",)
    )


def test_a_changed_streamed_account_restarts_its_stream():
    old = config(account("a", user_data_stream=True), account("b", user_data_stream=True))
    new = config(
        account("a", user_data_stream=True), account("b", api_key="new", user_data_stream=True)
    )
    assert plan_reload(old, new) == ReloadPlan(changed=("b",), streams_restarted=("b",))


def test_new_stream_timings_restart_no_stream():
    old = config(account("a", user_data_stream=True), account("b"))
    new = config(
        account("a", user_data_stream=True),
        account("b"),
        stream_keepalive_seconds=600,
        stream_silence_seconds=10,
    )
    assert plan_reload(old, new) == ReloadPlan()


def test_new_collectors_of_a_streamed_account_keep_its_stream():
    old = config(account("a", user_data_stream=True))
    new = config(account("a", user_data_stream=True, collectors=["um_account"]))
    assert plan_reload(old, new).streams_restarted == ()


def test_a_new_stream_url_restarts_every_stream_and_changes_no_account():
    old = config(account("a", user_data_stream=True), account("b"))
    new = config(
        account("a", user_data_stream=True), account("b"), stream_url="wss://other.invalid/ws/"
    )
    assert plan_reload(old, new) == ReloadPlan(streams_restarted=("a",))


def test_a_new_secret_restarts_the_accounts_stream():
    old = config(account("a", user_data_stream=True))
    new = config(account("a", user_data_stream=True, api_secret="another"))
    assert plan_reload(old, new).streams_restarted == ("a",)


def test_a_start_adds_every_account_and_starts_every_stream():
    started = config(account("a", user_data_stream=True), account("b"))
    assert plan_start(started) == ReloadPlan(added=("a", "b"), streams_started=("a",))
