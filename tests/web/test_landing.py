"""The landing page from a store's state: bands, figures, the exporter's causes, escaping."""

from __future__ import annotations

from exporter import bands
from exporter.collectors import COLLECTORS
from exporter.metrics import Samples
from exporter.snapshot import AccountState, ExporterStatus, Store
from exporter.stream.state import STREAM_UP
from exporter.web.landing import landing_page

NOW = 1_700_000_000.0
COLLECTED = ("account", "um_position_risk")


def account_samples(
    uni_mmr: float = 3.2, status: str = "NORMAL", maint: float = 1000.0, equity: float = 12345.678
) -> Samples:
    return {
        "binance_pm_account_uni_mmr": [((), uni_mmr)],
        "binance_pm_account_equity": [((), equity)],
        "binance_pm_account_maint_margin": [((), maint)],
        "binance_pm_account_status": [((s,), 1.0 if s == status else 0.0) for s in ("NORMAL",)]
        + ([((status,), 1.0)] if status != "NORMAL" else []),
    }


def position_samples(*positions: tuple[str, str, float, float]) -> Samples:
    """(symbol, side, mark, liquidation price) per position."""
    return {
        "binance_pm_um_position_mark_price": [((s, side), m) for s, side, m, _ in positions],
        "binance_pm_um_position_liquidation_price": [
            ((s, side), liq) for s, side, _, liq in positions
        ],
    }


def state(
    name: str = "desk1",
    account: Samples | None = None,
    positions: Samples | None = None,
    polled_ago: float = 2.0,
) -> AccountState:
    """An account whose collectors last succeeded ``polled_ago`` seconds before NOW."""
    s = AccountState(name, COLLECTED)
    for collector, samples in (("account", account), ("um_position_risk", positions)):
        if samples is not None:
            families = COLLECTORS[collector].families
            s.set_data(collector, samples, families, NOW - polled_ago, stale_after=60)
            s.health[collector].up = True
            s.health[collector].last_success = NOW - polled_ago
    return s


def page(*states: AccountState, poll_interval: float = 15) -> str:
    store = Store(ExporterStatus(version="1.2.3", poll_interval_seconds=poll_interval))
    for s in states:
        store.accounts[s.name] = s
    return landing_page(store, "/metrics", NOW)


def test_a_healthy_account_shows_its_figures_in_the_ok_band() -> None:
    shown = page(
        state(
            account=account_samples(),
            positions=position_samples(("BTCUSDT", "BOTH", 60000.0, 30000.0)),
        )
    )
    row = (
        '<tr id="account-desk1"><th scope="row" data-label="Account" class="ok">desk1</th>'
        '<td data-label="uniMMR" class="ok">3.200</td>'
        '<td data-label="Status" class="ok">NORMAL</td>'
        '<td data-label="Equity">12,345.68 USD</td>'
        '<td data-label="Maint. margin">1,000.00 USD</td>'
        '<td data-label="Nearest liquidation" class="ok">50.00% <small>UM BTCUSDT BOTH</small></td>'
        '<td data-label="Data age">2 s</td>'
        '<td data-label="Exporter" class="ok">ok</td></tr>'
    )
    assert row in shown


def test_uni_mmr_is_coloured_by_the_alerts_bands() -> None:
    cells = {
        value: page(state(account=account_samples(uni_mmr=value)))
        for value in (1.5, 1.4999, 1.2, 1.1999, 1.1, 1.0999)
    }
    assert '<td data-label="uniMMR" class="ok">1.500</td>' in cells[1.5]
    assert (
        '<td data-label="uniMMR" class="warning">1.500 <small>margin call</small>' in cells[1.4999]
    )
    assert '<td data-label="uniMMR" class="warning">1.200 <small>margin call</small>' in cells[1.2]
    assert (
        '<td data-label="uniMMR" class="critical">1.200 <small>reduce-only</small>' in cells[1.1999]
    )
    assert '<td data-label="uniMMR" class="critical">1.100 <small>reduce-only</small>' in cells[1.1]
    assert (
        '<td data-label="uniMMR" class="critical">1.100 <small>liquidation near</small>'
        in cells[1.0999]
    )
    assert '<th scope="row" data-label="Account" class="critical">desk1</th>' in cells[1.0999]


def test_without_maintenance_margin_binances_placeholder_uni_mmr_is_not_shown() -> None:
    shown = page(state(account=account_samples(uni_mmr=99999999.0, maint=0.0)))
    assert '<td data-label="uniMMR" class="ok">- <small>no maintenance margin</small></td>' in shown


def test_the_status_is_coloured_by_what_the_alerts_make_of_it() -> None:
    expected = {
        "NORMAL": "ok",
        "MARGIN_CALL": "warning",
        "SUPPLY_MARGIN": "warning",
        "REDUCE_ONLY": "critical",
        "ACTIVE_LIQUIDATION": "critical",
        "FORCE_LIQUIDATION": "critical",
        "BANKRUPTED": "critical",
        "SOMETHING_NEW": "critical",
    }
    for status, band in expected.items():
        shown = page(state(account=account_samples(status=status)))
        assert f'<td data-label="Status" class="{band}">{status}</td>' in shown, status
    assert set(expected) - {"SOMETHING_NEW"} == set(bands.KNOWN_STATUSES)


def test_the_nearest_position_is_the_closest_to_its_liquidation_price() -> None:
    shown = page(
        state(
            account=account_samples(),
            positions=position_samples(
                ("BTCUSDT", "LONG", 60000.0, 55000.0),  # 8.33%
                ("ETHUSDT", "SHORT", 3000.0, 3100.0),  # 3.33%
                ("XRPUSDT", "LONG", 0.5, 0.0),  # no liquidation price: not a candidate
            ),
        )
    )
    assert (
        '<td data-label="Nearest liquidation" class="critical">3.33% '
        "<small>UM ETHUSDT SHORT</small></td>"
    ) in shown
    warning = page(state(positions=position_samples(("BTCUSDT", "LONG", 60000.0, 55000.0))))
    assert (
        '<td data-label="Nearest liquidation" class="warning">8.33% '
        "<small>UM BTCUSDT LONG</small></td>"
    ) in warning


def test_stale_data_is_greyed_and_named_as_a_cause() -> None:
    shown = page(state(account=account_samples(uni_mmr=1.15), polled_ago=300))
    assert '<td data-label="uniMMR" class="stale">1.150 <small>reduce-only, stale</small></td>' in (
        shown
    )
    assert '<td data-label="Equity">12,345.68 USD <small>stale</small></td>' in shown
    assert '<td data-label="Data age">5 min</td>' in shown
    assert (
        '<td data-label="Exporter" class="warning"><ul><li>stale data: account (5 min old)</li>'
        "<li>waiting for a first poll: um_position_risk</li></ul></td>"
    ) in shown
    # Stale figures no longer colour the account: only the exporter's causes do.
    assert '<th scope="row" data-label="Account" class="warning">desk1</th>' in shown


def test_a_failing_collector_and_a_stream_down_are_causes_with_the_last_error() -> None:
    s = state(account=account_samples())
    s.health["um_position_risk"].errors["auth"] = 3
    s.last_error = 'um_position_risk: auth: Invalid API-key <b>"x"</b> & more'
    s.last_error_time = NOW - 10
    s.stream_fragments[STREAM_UP.name] = b'binance_pm_exporter_stream_up{account="desk1"} 0.0\n'
    shown = page(s)
    assert (
        '<td data-label="Exporter" class="warning"><ul>'
        "<li>failing collector: um_position_risk</li>"
        "<li>user data stream down</li>"
        "<li>last error (2023-11-14 22:13:10 UTC): um_position_risk: auth: Invalid API-key "
        "&lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; more</li></ul></td>"
    ) in shown


def test_a_connected_stream_is_no_cause() -> None:
    s = state(account=account_samples(), positions=position_samples())
    s.stream_fragments[STREAM_UP.name] = b'binance_pm_exporter_stream_up{account="desk1"} 1.0\n'
    assert '<td data-label="Exporter" class="ok">ok</td>' in page(s)


def test_an_account_never_polled_says_so() -> None:
    shown = page(state())
    assert '<td data-label="uniMMR">-</td>' in shown
    assert '<td data-label="Data age">never polled</td>' in shown
    assert "<li>waiting for a first poll: account, um_position_risk</li>" in shown


def test_hostile_names_and_values_are_escaped() -> None:
    hostile = '<script>alert("x")</script>&\''
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;"
    s = state(
        name=hostile,
        account=account_samples(status=hostile),
        positions=position_samples((hostile, hostile, 100.0, 99.0)),
    )
    s.last_error, s.last_error_time = hostile, NOW - 10
    shown = page(s)
    assert "<script" not in shown
    row = f'<tr id="account-{escaped}"><th scope="row" data-label="Account" class="critical">'
    assert row + escaped + "</th>" in shown
    assert f'<td data-label="Status" class="critical">{escaped}</td>' in shown
    assert f"<small>UM {escaped} {escaped}</small>" in shown
    assert f"<li>last error (2023-11-14 22:13:10 UTC): {escaped}</li>" in shown


def test_the_page_refreshes_itself_and_fits_a_phone_without_external_assets() -> None:
    shown = page(state(account=account_samples()), poll_interval=30)
    assert '<meta http-equiv="refresh" content="30">' in shown
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in shown
    assert "@media (max-width:760px)" in shown
    assert "<link" not in shown and "src=" not in shown and "url(" not in shown
    assert "As of 2023-11-14 22:13:20 UTC; this page reloads every 30 s." in shown
    # The refresh stays between 5 s and a minute whatever the poll interval.
    assert '<meta http-equiv="refresh" content="5">' in page(poll_interval=1)
    assert '<meta http-equiv="refresh" content="60">' in page(poll_interval=600)


def test_no_accounts() -> None:
    assert '<tr><td colspan="8">no accounts</td></tr>' in page()


def test_a_sharded_replica_names_its_shard() -> None:
    status = ExporterStatus(
        version="1.2.3", shard_index=3, shard_count=20, accounts_configured=300, accounts_owned=14
    )
    shown = landing_page(Store(status), "/metrics", NOW)
    assert 'Shard 3 of 0..19: 14 of 300 accounts. <a href="/metrics">' in shown
    unsharded = landing_page(Store(ExporterStatus(version="1.2.3")), "/metrics", NOW)
    assert "Shard" not in unsharded
