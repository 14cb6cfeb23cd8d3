"""The landing page in a real browser: headless Chromium loads it from a real exporter polling the
simulator; the DOM holds each account's figures as /metrics has them, banded, and the
screenshot at a phone's size shows the page with its band colours."""

from __future__ import annotations

from pathlib import Path

from exporter.simulator.server import SimulatorThread
from tests.e2e.browser import dump_dom, png_colours, screenshot
from tests.helpers import ExporterThread, make_config, series, value, wait_for

# A status and an error message that would run a script if the page did not escape them: the
# script would retitle the page.
HOSTILE_STATUS = '<script>document.title="pwned"</script>'
HOSTILE_MESSAGE = "<script>document.title='pwned'</script> & more"
POSITION_RISK = "/papi/v1/um/positionRisk"
# exporter/web/landing.py's band backgrounds, as the screenshot has them.
OK_GREEN, CRITICAL_RED = (0xC8, 0xF0, 0xC8), (0xF8, 0xB4, 0xB4)


def test_the_landing_page_in_chromium_shows_each_accounts_risk_escaped(
    sim: SimulatorThread, accounts: list[dict], tmp_path: Path
) -> None:
    sim.freeze_prices()
    sim.falling_uni_mmr("oneway", duration_seconds=0, start=1.15, end=1.15)
    sim.set_status_override("hedge", HOSTILE_STATUS)
    sim.set_fault("hedge", POSITION_RISK, status=500, msg=HOSTILE_MESSAGE)
    config = make_config(
        sim.base_url, accounts, collectors=["account", "um_account", "um_position_risk"]
    )
    with ExporterThread(config) as exp:

        def settled() -> dict | None:
            samples = exp.samples()
            wanted = (
                series(samples, "binance_pm_account_uni_mmr", account="oneway")
                and series(samples, "binance_pm_um_position_liquidation_price", account="oneway")
                and series(samples, "binance_pm_account_status", status=HOSTILE_STATUS)
                and series(
                    samples,
                    "binance_pm_exporter_poll_errors_total",
                    account="hedge",
                    collector="um_position_risk",
                    reason="http_5xx",
                )
            )
            return samples if wanted else None

        samples = wait_for(settled)
        dom = dump_dom(exp.url + "/", tmp_path / "profile-dom")
        shot = screenshot(
            exp.url + "/", tmp_path / "profile-shot", tmp_path / "phone.png", 412, 915
        )

    uni_mmr = value(samples, "binance_pm_account_uni_mmr", account="oneway")
    equity = value(samples, "binance_pm_account_equity", account="oneway")
    maint = value(samples, "binance_pm_account_maint_margin", account="oneway")
    assert f"{uni_mmr:.3f}" == "1.150"
    oneway = row(dom, "oneway")
    assert '<th scope="row" data-label="Account" class="critical">oneway</th>' in oneway
    assert '<td data-label="uniMMR" class="critical">1.150 <small>reduce-only</small></td>' in (
        oneway
    )
    assert '<td data-label="Status" class="critical">REDUCE_ONLY</td>' in oneway
    assert f'<td data-label="Equity">{equity:,.2f} USD</td>' in oneway
    assert f'<td data-label="Maint. margin">{maint:,.2f} USD</td>' in oneway
    assert nearest_cell(samples, "oneway") in oneway
    assert '<td data-label="Exporter" class="ok">ok</td>' in oneway

    hedge = row(dom, "hedge")
    # Escaped, the script is text: the title is ours and the status reads as Binance sent it.
    assert "<title>Binance PM Exporter</title>" in dom and "pwned</title>" not in dom
    escaped_status = '&lt;script&gt;document.title="pwned"&lt;/script&gt;'
    assert f'<td data-label="Status" class="critical">{escaped_status}</td>' in hedge
    assert "<li>failing collector: um_position_risk</li>" in hedge
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt; &amp; more</li>" in hedge
    assert '<td data-label="Nearest liquidation">-</td>' in hedge

    colours = png_colours(shot)
    # Text, anti-aliased, on banded cells: a blank or unstyled page has a handful of colours.
    assert len(colours) > 50, len(colours)
    assert colours.get(CRITICAL_RED, 0) > 1000 and colours.get(OK_GREEN, 0) > 1000


def row(dom: str, account: str) -> str:
    start = dom.index(f'<tr id="account-{account}">')
    return dom[start : dom.index("</tr>", start)]


def nearest_cell(samples: dict, account: str) -> str:
    """The page's cell for the position nearest liquidation, computed from /metrics as the
    alerts' recording rule does."""
    marks = series(samples, "binance_pm_um_position_mark_price", account=account)
    distances = []
    for (_, labels), liquidation in series(
        samples, "binance_pm_um_position_liquidation_price", account=account
    ).items():
        mark = marks[("binance_pm_um_position_mark_price", labels)]
        if liquidation > 0:
            found = dict(labels)
            distances.append(
                (abs(mark - liquidation) / mark, found["symbol"], found["position_side"])
            )
    distance, symbol, side = min(distances)
    band = "critical" if distance < 0.05 else "warning" if distance < 0.10 else "ok"
    return (
        f'<td data-label="Nearest liquidation" class="{band}">{distance * 100:,.2f}% '
        f"<small>UM {symbol} {side}</small></td>"
    )
