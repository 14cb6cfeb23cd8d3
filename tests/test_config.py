"""Config loading: defaults, ${VAR} expansion, *_file secrets, weight budget, every mistake."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from exporter.config import (
    MAX_CONFIG_BYTES,
    MAX_SECRET_BYTES,
    ConfigError,
    load_config,
    parse_config,
)
from tests.helpers import ALIAS_BOMB, private_pem, signing_key, write_key_file

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.yaml"

# Distinctive values so a leak is found by a plain substring search.
API_KEY = "APIKEY-ZQ7XW9V1-must-not-leak"
API_SECRET = "SECRET-K4J8P2M6-must-not-leak"


def account(name: str = "main", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "api_key": API_KEY, "api_secret": API_SECRET}
    entry.update(fields)
    return entry


def raw_config(**top: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"accounts": [account()]}
    raw.update(top)
    return raw


def many_accounts(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [account(f"acc{i}", **fields) for i in range(count)]


def config_error(raw: Any, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env or {})
    return caught.value


# --- the documented example and the defaults ---------------------------------------------------


@pytest.fixture
def example_config_path(tmp_path: Path, ed25519_pem: str) -> Path:
    """config.example.yaml with its /run/secrets files moved into tmp_path."""
    write_key_file(tmp_path / "desk2_key", "desk2-api-key\n")
    write_key_file(tmp_path / "desk2_ed25519.pem", ed25519_pem)
    text = EXAMPLE.read_text(encoding="utf-8").replace("/run/secrets/", f"{tmp_path}/")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


EXAMPLE_ENV = {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}


def test_example_config_parses_with_documented_values(example_config_path: Path) -> None:
    config = load_config(example_config_path, env=EXAMPLE_ENV)

    assert config.client.base_url == "https://papi.binance.com"
    assert config.client.time_url == "https://fapi.binance.com/fapi/v1/time"
    assert config.polling.interval_seconds == 15
    assert config.polling.interval_auto is False
    assert config.client.request_timeout_seconds == 10
    assert config.client.recv_window_ms == 5000
    assert config.polling.stale_after_seconds is None
    assert config.positions.include_zero is False
    assert config.accounts[0].collector_names == (
        "um_account",
        "account",
        "um_position_risk",
        "balance",
    )
    assert config.polling.max_weight_per_minute == 3000
    assert config.warnings == ()


def test_example_config_accounts(example_config_path: Path, ed25519_pem: str) -> None:
    config = load_config(example_config_path, env=EXAMPLE_ENV)

    main, desk2 = config.accounts
    assert (main.name, main.api_key.reveal(), main.api_secret.reveal()) == (
        "main",
        API_KEY,
        API_SECRET,
    )
    assert main.private_key_pem is None
    assert main.collector_names == ("um_account", "account", "um_position_risk", "balance")
    assert desk2.name == "desk2"
    assert desk2.api_key.reveal() == "desk2-api-key"
    assert desk2.api_secret is None
    assert desk2.private_key_pem.reveal() == ed25519_pem
    assert [(e.name, e.interval_seconds) for e in desk2.collectors] == [
        ("um_account", 15),
        ("account", 15),
        ("um_position_risk", 15),
        ("balance", 60),
        ("cm_account", 15),
        ("um_income", 600),
    ]


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(raw_config(), {})

    assert config.client.base_url == "https://papi.binance.com"
    assert config.client.time_url == "https://fapi.binance.com/fapi/v1/time"
    assert config.polling.interval_seconds == 15
    assert config.client.request_timeout_seconds == 10
    assert config.client.recv_window_ms == 5000
    assert config.polling.stale_after_seconds is None
    assert {config.polling.stale_after(e) for e in config.accounts[0].collectors} == {45, 180}
    assert config.positions.include_zero is False
    assert [(e.name, e.interval_seconds) for e in config.accounts[0].collectors] == [
        ("um_account", 15),
        ("account", 15),
        ("um_position_risk", 15),
        ("balance", 60),
    ]
    assert config.polling.max_weight_per_minute == 3000


def test_stale_after_defaults_to_three_poll_intervals() -> None:
    config = parse_config(raw_config(poll_interval_seconds=20), {})

    entries = config.accounts[0].collectors
    # balance polls every 60 s by default: 3 x its own interval.
    assert [config.polling.stale_after(e) for e in entries] == [60, 60, 60, 180]


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError) as caught:
        load_config(missing, env={})

    assert str(missing) in str(caught.value)


def test_bad_yaml_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("accounts:\n  - name: main\n   api_key: [oops\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    message = str(caught.value)
    assert str(path) in message
    assert "bad YAML at line 3" in message


# --- bounded input: size limits, no anchors or aliases ---------------------------------------


def test_alias_bomb_is_refused_in_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(ALIAS_BOMB, encoding="utf-8")

    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    took = time.monotonic() - started

    assert took < 1
    assert str(caught.value) == (
        f"{path}: bad YAML at line 1, column 4: anchors and aliases are not allowed"
    )


def test_an_anchor_alone_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"accounts:\n  - name: main\n    api_key: &key {API_KEY}\n    api_secret: x\n",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert str(caught.value) == (
        f"{path}: bad YAML at line 3, column 14: anchors and aliases are not allowed"
    )


def test_nesting_deeper_than_32_levels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("accounts: " + "[" * 10_000, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert str(caught.value) == (
        f"{path}: bad YAML at line 1, column 42: nested deeper than 32 levels"
    )


def test_config_file_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = f"accounts: [{{name: main, api_key: {API_KEY}, api_secret: {API_SECRET}}}]\n#"
    path.write_text(text + "x" * (MAX_CONFIG_BYTES - len(text)), encoding="utf-8")

    config = load_config(path, env={})

    assert path.stat().st_size == MAX_CONFIG_BYTES == 1024 * 1024
    assert [a.name for a in config.accounts] == ["main"]


def test_config_file_one_byte_over_1_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("#" + "x" * MAX_CONFIG_BYTES, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert str(caught.value) == f"config file {path} is larger than 1 MiB"


def test_secret_file_over_64_kib_is_refused_naming_key_path(tmp_path: Path) -> None:
    big = write_key_file(tmp_path / "secret", "s" * (MAX_SECRET_BYTES + 1))
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "api_secret_file": str(big)}])

    error = config_error(raw)

    assert MAX_SECRET_BYTES == 64 * 1024
    assert str(error) == f"accounts[0].api_secret_file: {big} is larger than 64 KiB"


def test_endless_secret_file_is_refused_after_64_kib() -> None:
    raw = raw_config(
        accounts=[{"name": "main", "api_key": API_KEY, "private_key_file": "/dev/zero"}]
    )

    error = config_error(raw)

    assert str(error) == "accounts[0].private_key_file: /dev/zero is larger than 64 KiB"


# --- ${VAR} expansion ----------------------------------------------------------------------------


def test_env_variable_expands_inside_a_top_level_string() -> None:
    raw = raw_config(base_url="https://${PAPI_HOST}/")

    config = parse_config(raw, {"PAPI_HOST": "papi.example.test"})

    assert config.client.base_url == "https://papi.example.test"


def test_env_variables_expand_in_account_fields() -> None:
    raw = raw_config(accounts=[{"name": "desk-${DESK}", "api_key": "${K}", "api_secret": "${S}"}])

    config = parse_config(raw, {"DESK": "7", "K": API_KEY, "S": API_SECRET})

    acc = config.accounts[0]
    assert (acc.name, acc.api_key.reveal(), acc.api_secret.reveal()) == (
        "desk-7",
        API_KEY,
        API_SECRET,
    )


def test_env_variable_expands_in_a_list_item() -> None:
    raw = raw_config(collectors=["um_account", "${EXTRA}"])

    config = parse_config(raw, {"EXTRA": "cm_account"})

    assert config.accounts[0].collector_names == ("um_account", "cm_account")


def test_unset_env_variable_names_the_variable_and_key_path() -> None:
    raw = raw_config(accounts=[account(api_secret="${BINANCE_API_SECRET}")])

    error = config_error(raw, {})

    assert error.path == "accounts[0].api_secret"
    assert "BINANCE_API_SECRET" in str(error)
    assert "not set" in str(error)


# --- *_file secrets --------------------------------------------------------------------------


def test_secret_files_are_read_with_whitespace_stripped(tmp_path: Path) -> None:
    key_file = write_key_file(tmp_path / "key", f"  {API_KEY}\n")
    secret_file = write_key_file(tmp_path / "secret", f"\n{API_SECRET}  \n\n")
    raw = raw_config(
        accounts=[
            {"name": "main", "api_key_file": str(key_file), "api_secret_file": str(secret_file)}
        ]
    )

    acc = parse_config(raw, {}).accounts[0]

    assert acc.api_key.reveal() == API_KEY
    assert acc.api_secret.reveal() == API_SECRET


def test_inline_keys_are_read_with_surrounding_whitespace_stripped() -> None:
    raw = raw_config(accounts=[account(api_key="${K}", api_secret=f"  {API_SECRET}\t")])

    acc = parse_config(raw, {"K": f"{API_KEY}\r\n"}).accounts[0]

    assert acc.api_key.reveal() == API_KEY
    assert acc.api_secret.reveal() == API_SECRET


@pytest.mark.parametrize(
    ("inside", "kind"),
    [(" ", "a space"), ("\0", "a control character"), ("\x7f", "a control character")],
    ids=["space", "NUL", "DEL"],
)
def test_key_with_a_character_binance_keys_never_hold_is_refused(inside: str, kind: str) -> None:
    raw = raw_config(accounts=[account(api_key=f"ab{inside}cd")])

    error = config_error(raw)

    assert str(error) == (
        f"accounts[0].api_key: character 3 is {kind}; Binance keys are printable ASCII "
        "without spaces"
    )


def test_every_printable_ascii_character_is_accepted_in_a_key() -> None:
    printable = "".join(chr(c) for c in range(0x21, 0x7F))
    raw = raw_config(accounts=[account(api_key=printable, api_secret=printable)])

    acc = parse_config(raw, {}).accounts[0]

    assert acc.api_key.reveal() == acc.api_secret.reveal() == printable


def test_ed25519_private_key_file_is_accepted(tmp_path: Path, ed25519_pem: str) -> None:
    pem = write_key_file(tmp_path / "ed25519.pem", ed25519_pem)
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "private_key_file": str(pem)}])

    acc = parse_config(raw, {}).accounts[0]

    assert acc.api_secret is None
    assert acc.private_key_pem.reveal() == ed25519_pem


def test_rsa_private_key_file_is_accepted(tmp_path: Path, rsa_pem: str) -> None:
    pem = write_key_file(tmp_path / "rsa.pem", rsa_pem)
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "private_key_file": str(pem)}])

    acc = parse_config(raw, {}).accounts[0]

    assert acc.private_key_pem.reveal() == rsa_pem


def test_unreadable_secret_file_names_key_path_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "desk2_secret"
    raw = raw_config(
        accounts=[
            account("main"),
            {"name": "desk2", "api_key": API_KEY, "api_secret_file": str(missing)},
        ]
    )

    error = config_error(raw)

    assert error.path == "accounts[1].api_secret_file"
    assert str(error).startswith("accounts[1].api_secret_file: ")
    assert str(missing) in str(error)


def test_empty_secret_file_is_rejected(tmp_path: Path) -> None:
    empty = write_key_file(tmp_path / "secret", " \n\t\n")
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "api_secret_file": str(empty)}])

    error = config_error(raw)

    assert error.path == "accounts[0].api_secret_file"
    assert f"{empty} is empty" in str(error)


def test_private_key_file_that_is_not_a_key_is_rejected(tmp_path: Path) -> None:
    not_a_key = write_key_file(tmp_path / "key.pem", "this is not a key\n")
    raw = raw_config(
        accounts=[{"name": "main", "api_key": API_KEY, "private_key_file": str(not_a_key)}]
    )

    error = config_error(raw)

    assert error.path == "accounts[0].private_key_file"
    assert str(not_a_key) in str(error)
    assert "not a PEM private key" in str(error)


def test_api_secret_and_private_key_file_together_are_rejected(
    tmp_path: Path, ed25519_pem: str
) -> None:
    pem = write_key_file(tmp_path / "ed25519.pem", ed25519_pem)
    raw = raw_config(accounts=[account(private_key_file=str(pem))])

    error = config_error(raw)

    assert error.path == "accounts[0].private_key_file"
    assert "not both" in str(error)


def test_world_readable_secret_file_warns_naming_the_file(tmp_path: Path) -> None:
    loose = write_key_file(tmp_path / "secret", API_SECRET, mode=0o644)
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "api_secret_file": str(loose)}])

    config = parse_config(raw, {})

    assert len(config.warnings) == 1
    assert str(loose) in config.warnings[0]
    assert "0644" in config.warnings[0]


def test_owner_only_secret_file_does_not_warn(tmp_path: Path) -> None:
    tight = write_key_file(tmp_path / "secret", API_SECRET, mode=0o600)
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "api_secret_file": str(tight)}])

    config = parse_config(raw, {})

    assert config.warnings == ()


# --- mistakes, each one ConfigError at its key path ---------------------------------------------


def test_unknown_top_level_key_is_rejected() -> None:
    error = config_error(raw_config(poll_intervall_seconds=15))

    assert error.path == "poll_intervall_seconds"
    assert "unknown key 'poll_intervall_seconds'" in str(error)


def test_unknown_account_key_is_rejected() -> None:
    error = config_error(raw_config(accounts=[account(api_secrt="x")]))

    assert error.path == "accounts[0].api_secrt"
    assert "unknown key 'api_secrt'" in str(error)


def test_string_poll_interval_is_rejected() -> None:
    error = config_error(raw_config(poll_interval_seconds="fifteen"))

    assert error.path == "poll_interval_seconds"
    assert "'fifteen'" in str(error)


def test_boolean_for_an_integer_is_rejected() -> None:
    error = config_error(raw_config(recv_window_ms=True))

    assert error.path == "recv_window_ms"
    assert "True" in str(error)


def test_recv_window_above_60000_is_rejected() -> None:
    error = config_error(raw_config(recv_window_ms=60001))

    assert error.path == "recv_window_ms"
    assert "60001" in str(error)
    assert "60000" in str(error)


def test_zero_poll_interval_is_rejected() -> None:
    error = config_error(raw_config(poll_interval_seconds=0))

    assert error.path == "poll_interval_seconds"
    assert str(error).startswith("poll_interval_seconds: 0 is out of range")


def test_max_weight_above_binance_limit_is_rejected() -> None:
    error = config_error(raw_config(max_weight_per_minute=6001))

    assert error.path == "max_weight_per_minute"
    assert "6001" in str(error)
    assert "6000" in str(error)


def test_huge_integer_is_a_config_error() -> None:
    error = config_error(raw_config(recv_window_ms=10**400))

    assert error.path == "recv_window_ms"


def test_malformed_base_url_is_a_config_error() -> None:
    error = config_error(raw_config(base_url="https://[papi.binance.com"))

    assert error.path == "base_url"
    assert "https://[papi.binance.com" in str(error)


def test_non_http_base_url_is_rejected() -> None:
    error = config_error(raw_config(base_url="ftp://papi.binance.com"))

    assert error.path == "base_url"
    assert "ftp://papi.binance.com" in str(error)


def test_duplicate_account_name_is_named() -> None:
    error = config_error(raw_config(accounts=[account("desk"), account("desk")]))

    assert error.path == "accounts[1].name"
    assert "duplicate account name 'desk'" in str(error)


def test_invalid_account_name_is_rejected() -> None:
    error = config_error(raw_config(accounts=[account("bad name!")]))

    assert error.path == "accounts[0].name"
    assert "'bad name!'" in str(error)


def test_account_name_with_trailing_newline_is_rejected() -> None:
    error = config_error(raw_config(accounts=[account("main\n")]))

    assert error.path == "accounts[0].name"


def test_missing_api_key_is_rejected() -> None:
    error = config_error(raw_config(accounts=[{"name": "main", "api_secret": API_SECRET}]))

    assert error.path == "accounts[0].api_key"
    assert "is required" in str(error)


def test_missing_api_secret_is_rejected() -> None:
    error = config_error(raw_config(accounts=[{"name": "main", "api_key": API_KEY}]))

    assert error.path == "accounts[0].api_secret"
    assert "is required" in str(error)


def test_secret_file_path_with_nul_byte_is_a_config_error() -> None:
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "api_secret_file": "/a\0b"}])

    error = config_error(raw)

    assert error.path == "accounts[0].api_secret_file"


def test_unknown_collector_name_is_rejected() -> None:
    error = config_error(raw_config(collectors=["um_account", "spot_account"]))

    assert error.path == "collectors[1]"
    assert "unknown collector 'spot_account'" in str(error)


def test_unknown_collector_in_account_override_is_rejected() -> None:
    error = config_error(raw_config(accounts=[account(collectors=["um_acount"])]))

    assert error.path == "accounts[0].collectors[0]"
    assert "'um_acount'" in str(error)


def test_stale_after_shorter_than_interval_is_rejected() -> None:
    error = config_error(raw_config(poll_interval_seconds=15, stale_after_seconds=10))

    assert error.path == "stale_after_seconds"
    assert str(error).startswith(
        "stale_after_seconds: 10 is shorter than the interval 15 of collector um_account"
    )


# --- the weight budget ------------------------------------------------------------------------


def test_twenty_accounts_at_15s_fit_the_default_budget() -> None:
    config = parse_config(raw_config(accounts=many_accounts(20)), {})

    # 20 accounts x ((5 + 20 + 5) weight x 4 polls + balance's 20 x 1 poll) a minute.
    assert config.accounts[0].weight_per_minute() == 140
    assert config.planned_weight_per_minute() == 2800
    assert config.polling.interval_seconds == 15


def test_plan_over_budget_names_the_interval_that_fits() -> None:
    error = config_error(raw_config(accounts=many_accounts(40)))

    # 40 x 30 = 1200 weight a round, plus balance's 40 x 20 = 800 a minute: 5600/min at 15 s.
    # The 2200 left after balance fit a round every 1200 x 60 / 2200 = 32.7 s: 33 s.
    assert error.path == "poll_interval_seconds"
    assert "5600/min" in str(error)
    assert "poll_interval_seconds: 33 (or more) would fit" in str(error)


def test_suggested_interval_fits_the_budget() -> None:
    config = parse_config(raw_config(accounts=many_accounts(40), poll_interval_seconds=33), {})

    assert round(config.planned_weight_per_minute(), 2) == 2981.82


def test_auto_interval_stays_15_when_it_fits() -> None:
    # 18 accounts plan 2520/min at 15 s: within 90% of 3000.
    config = parse_config(raw_config(accounts=many_accounts(18), poll_interval_seconds="auto"), {})

    assert config.polling.interval_auto is True
    assert config.polling.interval_seconds == 15


def test_auto_interval_stretches_to_fit_the_budget() -> None:
    config = parse_config(raw_config(accounts=many_accounts(40), poll_interval_seconds="auto"), {})

    # Auto plans for 90% of 3000 = 2700; balance (60 s) takes 800 of it; 1200 weight a round
    # in the remaining 1900: ceil(1200 x 60 / 1900) = 38 s. Balance keeps its 60 s.
    assert config.polling.interval_seconds == 38
    assert {e.interval_seconds for e in config.accounts[0].collectors} == {38, 60}
    assert round(config.planned_weight_per_minute(), 2) == 2694.74


def test_auto_interval_stale_after_follows_the_stretched_interval() -> None:
    config = parse_config(raw_config(accounts=many_accounts(40), poll_interval_seconds="auto"), {})

    entry = config.accounts[0].collectors[0]
    assert config.polling.stale_after(entry) == 114


def test_auto_interval_min_lets_auto_go_below_15() -> None:
    raw = raw_config(
        accounts=many_accounts(20),
        poll_interval_seconds="auto",
        auto_interval_min_seconds=1,
        max_weight_per_minute=6000,
    )

    config = parse_config(raw, {})

    # 20 x 30 = 600 weight a round; 0.9 x 6000 less balance's 400 leaves 5000:
    # 600 x 60 / 5000 = 7.2, so 8 s.
    assert config.polling.interval_seconds == 8


def test_per_account_collectors_override_changes_its_weight() -> None:
    raw = raw_config(accounts=[account("light", collectors=["um_account"]), account("full")])

    config = parse_config(raw, {})

    light, full = config.accounts
    assert light.weight_per_minute() == 5 * 4
    assert full.weight_per_minute() == 30 * 4 + 20
    assert config.planned_weight_per_minute() == (5 + 30) * 4 + 20


def test_per_account_collectors_override_counts_in_the_budget() -> None:
    # 40 accounts with the defaults would need 24 s; with um_account only they need 200/round.
    raw = raw_config(accounts=many_accounts(40, collectors=["um_account"]))

    config = parse_config(raw, {})

    assert config.planned_weight_per_minute() == 800


# --- secrets stay hidden ----------------------------------------------------------------------


def test_repr_and_str_of_config_hide_inline_secrets() -> None:
    config = parse_config(raw_config(), {})

    for text in (repr(config), str(config), config.summary()):
        assert API_KEY not in text
        assert API_SECRET not in text


def test_repr_of_config_hides_the_private_key(tmp_path: Path, ed25519_pem: str) -> None:
    pem = write_key_file(tmp_path / "ed25519.pem", ed25519_pem)
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "private_key_file": str(pem)}])

    config = parse_config(raw, {})

    body = ed25519_pem.splitlines()[1]
    assert body not in repr(config)
    assert body not in str(config)
    assert body not in config.summary()


MISTAKES_NEXT_TO_SECRETS = {
    "duplicate name": raw_config(accounts=[account("a"), account("a")]),
    "unknown account key": raw_config(accounts=[account(secret=API_SECRET)]),
    "api_secret and api_secret_file": raw_config(accounts=[account(api_secret_file="/x")]),
    "unknown collector": raw_config(accounts=[account(collectors=["nope"])]),
    "over budget": raw_config(accounts=many_accounts(40)),
    "stale too short": raw_config(stale_after_seconds=5),
    "missing api_key": raw_config(accounts=[{"name": "a", "api_secret": API_SECRET}]),
    "missing api_secret": raw_config(accounts=[{"name": "a", "api_key": API_KEY}]),
    "bad type": raw_config(recv_window_ms="5000"),
}


@pytest.mark.parametrize("raw", MISTAKES_NEXT_TO_SECRETS.values(), ids=MISTAKES_NEXT_TO_SECRETS)
def test_config_error_messages_hide_secrets(raw: dict[str, Any]) -> None:
    error = config_error(raw)

    assert API_KEY not in str(error)
    assert API_SECRET not in str(error)


def test_config_error_for_a_bad_private_key_hides_the_key_text(tmp_path: Path) -> None:
    # An EC key is a real PEM, just not one Binance accepts.
    ec_pem = private_pem(signing_key("ec")).decode()
    pem = write_key_file(tmp_path / "ec.pem", ec_pem)
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "private_key_file": str(pem)}])

    error = config_error(raw)

    assert error.path == "accounts[0].private_key_file"
    assert ec_pem.splitlines()[1] not in str(error)
    assert "BEGIN" not in str(error)


def test_secret_file_contents_stay_out_of_warnings(tmp_path: Path) -> None:
    loose = write_key_file(tmp_path / "secret", API_SECRET, mode=0o604)
    raw = raw_config(accounts=[{"name": "main", "api_key": API_KEY, "api_secret_file": str(loose)}])

    config = parse_config(raw, {})

    assert API_SECRET not in " ".join(config.warnings)
    assert os.fspath(loose) in config.warnings[0]


def test_a_secret_pasted_into_a_file_key_is_not_echoed(ed25519_pem: str) -> None:
    err = config_error(raw_config(accounts=[account(api_key="k", private_key_file=ed25519_pem)]))
    assert err.path == "accounts[0].private_key_file"
    assert "not the secret" in str(err)
    assert ed25519_pem.strip().splitlines()[1] not in str(err)
