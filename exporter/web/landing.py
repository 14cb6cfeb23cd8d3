"""The landing page (``/``): each account's risk at a glance, without Grafana.

Per account: uniMMR and the account status coloured by the alerts' bands (``exporter.bands``),
equity, maintenance margin, the position nearest its liquidation price, what the exporter sees
going wrong (a failing collector, stale data, the user data stream down) and how old the data is.
Plain HTML and inline CSS (no external assets: the page works where only the exporter's port is
reachable), a table that turns into one card per account on a narrow screen, and a meta refresh.

``served`` and ``stream_up`` are the only readers of an ``AccountState``; the rest works on what
they return, so a change in where the served values come from changes them alone. Every string
that reaches the page goes through ``_e``: collector errors and Binance's values are not ours.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from exporter import __version__, bands
from exporter.metrics import Row
from exporter.snapshot import AccountState, Store
from exporter.stream.state import STREAM_UP

UNI_MMR = "binance_pm_account_uni_mmr"
EQUITY = "binance_pm_account_equity"
MAINT_MARGIN = "binance_pm_account_maint_margin"
STATUS = "binance_pm_account_status"
# The futures markets whose positions have a liquidation price: (label, metric prefix).
MARKETS = (("UM", "binance_pm_um_position_"), ("CM", "binance_pm_cm_position_"))

# The page reloads itself at the poll interval, within these bounds.
MIN_REFRESH_SECONDS = 5
MAX_REFRESH_SECONDS = 60


@dataclass(frozen=True)
class Served:
    """One family's rows for an account, as the exporter holds them."""

    rows: tuple[Row, ...]
    time: float  # when it was polled (the oldest poll, if several collectors give it)
    fresh: bool  # still served on /metrics (not past its collector's staleness)


def served(state: AccountState, now: float) -> dict[str, Served]:
    """The account's data samples by family name, from every collector that has polled."""
    out: dict[str, Served] = {}
    for data in state.data.values():
        fresh = now <= data.valid_until
        for name, rows in data.samples.items():
            if not rows:
                continue
            before = out.get(name)
            if before is None:
                out[name] = Served(tuple(rows), data.time, fresh)
            else:
                out[name] = Served(
                    (*before.rows, *rows), min(before.time, data.time), before.fresh and fresh
                )
    return out


def stream_up(state: AccountState) -> bool | None:
    """Whether the account's user data stream is connected; None without one.

    The stream reaches the store only as its rendered series: ``name{account="..."} 1.0``.
    """
    line = state.stream_fragments.get(STREAM_UP.name)
    if not line:
        return None
    return float(line.split()[-1]) == 1.0


@dataclass(frozen=True)
class Figure:
    """A number on the page and whether the exporter still serves it."""

    value: float
    fresh: bool


@dataclass(frozen=True)
class Nearest:
    """The position closest to its liquidation price."""

    market: str
    symbol: str
    side: str
    distance: float  # |mark - liquidation| / mark
    fresh: bool


@dataclass(frozen=True)
class AccountRisk:
    name: str
    uni_mmr: Figure | None
    equity: Figure | None
    maint_margin: Figure | None
    status: str | None
    status_fresh: bool
    nearest: Nearest | None
    causes: tuple[str, ...]  # what the exporter sees going wrong, worst first
    data_age: float | None  # seconds since the oldest poll shown; None: nothing polled yet
    last_error: str | None
    last_error_time: float


def account_risk(state: AccountState, now: float) -> AccountRisk:
    data = served(state, now)
    used = [data[n] for n in (UNI_MMR, EQUITY, MAINT_MARGIN, STATUS) if n in data]
    status, status_fresh = None, False
    if STATUS in data:
        current = [labels[0] for labels, value in data[STATUS].rows if value == 1.0]
        if current:
            status, status_fresh = current[0], data[STATUS].fresh
    nearest, position_data = _nearest(data)
    used.extend(position_data)
    return AccountRisk(
        name=state.name,
        uni_mmr=_figure(data, UNI_MMR),
        equity=_figure(data, EQUITY),
        maint_margin=_figure(data, MAINT_MARGIN),
        status=status,
        status_fresh=status_fresh,
        nearest=nearest,
        causes=_causes(state, now),
        data_age=now - min(s.time for s in used) if used else None,
        last_error=state.last_error,
        last_error_time=state.last_error_time,
    )


def _figure(data: dict[str, Served], name: str) -> Figure | None:
    s = data.get(name)
    if s is None:
        return None
    return Figure(s.rows[0][1], s.fresh)


def _nearest(data: dict[str, Served]) -> tuple[Nearest | None, list[Served]]:
    """The position with the smallest distance, as the alerts' recording rule computes it: only
    where Binance gives a liquidation price (0: none)."""
    best: Nearest | None = None
    used: list[Served] = []
    for market, prefix in MARKETS:
        marks = data.get(prefix + "mark_price")
        liquidations = data.get(prefix + "liquidation_price")
        if marks is None or liquidations is None:
            continue
        used.extend((marks, liquidations))
        mark_of = dict(marks.rows)
        for key, liquidation in liquidations.rows:
            mark = mark_of.get(key)
            if mark is None or mark <= 0 or liquidation <= 0:
                continue
            distance = abs(mark - liquidation) / mark
            if best is None or distance < best.distance:
                fresh = marks.fresh and liquidations.fresh
                best = Nearest(market, key[0], key[1], distance, fresh)
    return best, used


def _causes(state: AccountState, now: float) -> tuple[str, ...]:
    """The exporter's own view: failing collectors, stale data, the stream, first polls."""
    failing, stale, waiting = [], [], []
    for name in state.collectors:
        health, data = state.health[name], state.data.get(name)
        if not health.up and any(health.errors.values()):
            failing.append(name)
        elif data is None and not health.up:
            waiting.append(name)
        if data is not None and now > data.valid_until:
            stale.append(f"{name} ({_age(now - data.time)} old)")
    causes = []
    if failing:
        causes.append("failing collector: " + ", ".join(failing))
    if stale:
        causes.append("stale data: " + ", ".join(stale))
    if stream_up(state) is False:
        causes.append("user data stream down")
    if waiting:
        causes.append("waiting for a first poll: " + ", ".join(waiting))
    return tuple(causes)


# --- HTML ------------------------------------------------------------------------------------


def landing_page(store: Store, telemetry_path: str, now: float) -> str:
    """The whole page for the store's accounts at ``now``."""
    risks = [account_risk(state, now) for state in store.accounts.values()]
    rows = "\n".join(_row(r, now) for r in risks) or _NO_ACCOUNTS
    interval = store.status.poll_interval_seconds or MAX_REFRESH_SECONDS
    refresh = max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, round(interval)))
    return _PAGE.format(
        refresh=refresh,
        style=_STYLE,
        version=_e(__version__),
        shard=_shard(store),
        path=_e(telemetry_path),
        now=_when(now),
        bands=_BANDS,
        rows=rows,
    )


def _shard(store: Store) -> str:
    """Which replica this is, when the accounts are sharded (the pod behind a port-forward)."""
    status = store.status
    if status.shard_count <= 1:
        return ""
    return (
        f" Shard {status.shard_index} of 0..{status.shard_count - 1}: "
        f"{status.accounts_owned} of {status.accounts_configured} accounts."
    )


def _row(r: AccountRisk, now: float) -> str:
    worst = _worst(r)
    cells = [
        f'<th scope="row" data-label="Account" class="{worst}">{_e(r.name)}</th>',
        _uni_mmr_cell(r),
        _status_cell(r),
        _cell("Equity", _usd(r.equity)),
        _cell("Maint. margin", _usd(r.maint_margin)),
        _nearest_cell(r.nearest),
        _cell("Data age", "never polled" if r.data_age is None else _age(r.data_age)),
        _exporter_cell(r),
    ]
    return f'<tr id="account-{_e(r.name)}">' + "".join(cells) + "</tr>"


def _worst(r: AccountRisk) -> bands.Band:
    found: list[bands.Band] = ["warning"] if r.causes else []
    if r.uni_mmr is not None and r.uni_mmr.fresh:
        found.append(_uni_mmr_band(r)[0])
    if r.status is not None and r.status_fresh:
        found.append(bands.status_band(r.status))
    if r.nearest is not None and r.nearest.fresh:
        found.append(bands.liquidation_distance_band(r.nearest.distance))
    for band in ("critical", "warning"):
        if band in found:
            return band
    return "ok"


def _uni_mmr_band(r: AccountRisk) -> tuple[bands.Band, str]:
    assert r.uni_mmr is not None
    maint = r.maint_margin.value if r.maint_margin is not None else None
    return bands.uni_mmr_band(r.uni_mmr.value, maint)


def _uni_mmr_cell(r: AccountRisk) -> str:
    if r.uni_mmr is None:
        return _cell("uniMMR", "-")
    band, name = _uni_mmr_band(r)
    text = _number(r.uni_mmr.value, 3)
    if band == "ok" and name:  # no maintenance margin: Binance's 99999999 means nothing
        text = "-"
    return _cell("uniMMR", text, band, name, r.uni_mmr.fresh)


def _status_cell(r: AccountRisk) -> str:
    if r.status is None:
        return _cell("Status", "-")
    return _cell("Status", _e(r.status), bands.status_band(r.status), "", r.status_fresh)


def _nearest_cell(n: Nearest | None) -> str:
    if n is None:
        return _cell("Nearest liquidation", "-")
    where = f"{_e(n.market)} {_e(n.symbol)} {_e(n.side)}"
    text = f"{_number(n.distance * 100, 2)}%"
    band = bands.liquidation_distance_band(n.distance)
    return _cell("Nearest liquidation", text, band, where, n.fresh)


def _exporter_cell(r: AccountRisk) -> str:
    items = [f"<li>{_e(c)}</li>" for c in r.causes]
    if r.last_error:
        items.append(f"<li>last error ({_when(r.last_error_time)}): {_e(r.last_error)}</li>")
    if not items:
        return '<td data-label="Exporter" class="ok">ok</td>'
    band = "warning" if r.causes else "ok"
    return f'<td data-label="Exporter" class="{band}"><ul>{"".join(items)}</ul></td>'


def _cell(
    label: str,
    text: str,
    band: bands.Band | None = None,
    note: str = "",
    fresh: bool = True,
) -> str:
    """One value; ``text`` and ``note`` are HTML already. A stale value is greyed, not banded:
    /metrics no longer serves it and no alert judges it."""
    cls = "stale" if not fresh else band
    attr = f' class="{cls}"' if cls else ""
    if not fresh:
        note = f"{note}, stale" if note else "stale"
    small = f" <small>{note}</small>" if note else ""
    return f'<td data-label="{label}"{attr}>{text}{small}</td>'


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _number(value: float, decimals: int) -> str:
    if not math.isfinite(value):
        return _e(str(value))
    return f"{value:,.{decimals}f}"


def _usd(figure: Figure | None) -> str:
    if figure is None:
        return "-"
    text = f"{_number(figure.value, 2)} USD"
    return text if figure.fresh else f"{text} <small>stale</small>"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _when(ts: float) -> str:
    if not ts:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_BANDS = (
    f"uniMMR: margin call below {bands.UNI_MMR_WARNING}, reduce-only below "
    f"{bands.UNI_MMR_CRITICAL}, liquidation near below {bands.UNI_MMR_LIQUIDATION} (Binance "
    f"liquidates at {bands.BINANCE_LIQUIDATION_UNI_MMR}). Liquidation distance: warning below "
    f"{bands.LIQUIDATION_DISTANCE_WARNING:.0%}, critical below "
    f"{bands.LIQUIDATION_DISTANCE_CRITICAL:.0%}."
)

_NO_ACCOUNTS = '<tr><td colspan="8">no accounts</td></tr>'

# Colours: the Grafana palette's light green, yellow and red backgrounds, dark text on each.
_STYLE = """\
body{font-family:system-ui,sans-serif;margin:1em;color:#111;background:#fff}
h1{font-size:1.3em}
p{margin:.4em 0}
table{border-collapse:collapse;width:100%;margin-top:1em}
th,td{padding:.4em .6em;text-align:left;vertical-align:top;border-bottom:1px solid #ccc}
thead th{background:#eee}
td small{display:block;color:#333}
ul{margin:0;padding-left:1.1em}
.ok{background:#c8f0c8}
.warning{background:#fde59a}
.critical{background:#f8b4b4}
.stale{background:#e4e4e4;color:#666}
@media (max-width:760px){
thead{display:none}
table,tbody,tr,th,td{display:block;width:auto}
tr{border:1px solid #999;margin-bottom:1em}
td::before{content:attr(data-label) ": ";font-weight:bold}
}"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<title>Binance PM Exporter</title>
<style>
{style}
</style>
</head><body>
<h1>Binance Portfolio Margin Exporter</h1>
<p>Version {version}.{shard} <a href="{path}">Metrics</a> &middot; <a href="/healthz">Health</a>
&middot; <a href="/readyz">Readiness</a></p>
<p>As of {now}; this page reloads every {refresh} s.</p>
<p><small>{bands}</small></p>
<table><thead><tr><th>Account</th><th>uniMMR</th><th>Status</th><th>Equity</th>
<th>Maint. margin</th><th>Nearest liquidation</th><th>Data age</th><th>Exporter</th></tr>
</thead><tbody>
{rows}
</tbody></table>
</body></html>
"""
