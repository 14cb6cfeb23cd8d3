"""The benchmark's report: ratios, the targets, the tables on stdout and ``results.png``.

Everything here reads the ``results.json`` structure that ``benchmarks.run`` writes, so
``python -m benchmarks.run --replot`` redraws the chart from a saved run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

IMPLS = ("ours", "baseline")
COLORS = {"ours": "#2a7ab9", "baseline": "#d9822b"}


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else math.inf


def ratios(ours: dict, base: dict) -> dict[str, float]:
    out = {}
    for scraper in ours["scrape"]:
        mine, theirs = ours["scrape"][scraper], base["scrape"][scraper]
        out[f"{scraper}_p50"] = ratio(theirs["p50_ms"], mine["p50_ms"])
        out[f"{scraper}_p99"] = ratio(theirs["p99_ms"], mine["p99_ms"])
    out["cpu_per_poll"] = ratio(base["cpu_ms_per_poll"], ours["cpu_ms_per_poll"])
    out["peak_rss"] = ratio(base["peak_rss_mb"], ours["peak_rss_mb"])
    return out


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and whether it was met."""
    scenarios = out["scenarios"]
    floor = out["decode_floor"]
    pairs = out["prometheus"]
    check = out["check_1000"]
    found: list[dict[str, Any]] = []

    def add(name: str, measured: str, ok: bool) -> None:
        found.append({"target": name, "measured": measured, "met": ok})

    if scenarios:
        parts = [
            f"{s['label']}: {s['ours']['cpu_ms_per_poll']:.2f} vs "
            f"{s['baseline']['cpu_ms_per_poll']:.2f} ms ({s['ratios']['cpu_per_poll']:.2f}x)"
            for s in scenarios
        ]
        ok = all(
            s["ours"]["cpu_ms_per_poll"] * 2 <= s["baseline"]["cpu_ms_per_poll"] for s in scenarios
        )
        floor_ms = floor["cpu_ms_median"]
        add(
            "CPU per poll (nothing scraping) <= half the baseline's",
            "; ".join(parts) + f". Decode floor (orjson.loads of one reply) {floor_ms} ms",
            ok,
        )
    pair = pairs.get("100", {})
    if "ours" in pair and "baseline" in pair:
        mine = pair["ours"]["cpu_seconds_per_minute"]
        theirs = pair["baseline"]["cpu_seconds_per_minute"]
        add(
            "CPU per minute at 100 accounts, two Prometheus every 5 s: >= 3x less than baseline",
            f"{mine:.1f} vs {theirs:.1f} CPU s/min ({pair['cpu_ratio']:.2f}x)",
            pair["cpu_ratio"] >= 3,
        )
    by_key = {s["key"]: s for s in scenarios}
    if "100" in by_key:
        runs = by_key["100"]["ours"]["scrape"]
        worst = max(r["p99_ms"] for r in runs.values())
        add(
            "scrape p99 with Prometheus' headers <= 2 ms at 100 accounts",
            ", ".join(f"{name} {r['p99_ms']:.2f} ms" for name, r in runs.items()),
            worst <= 2,
        )
    if check is not None:
        sp = check["scrape"]
        add(
            "scrape p99 with Prometheus' headers <= 20 ms at 1,000 accounts",
            f"prometheus-2 {sp['p99_ms']:.2f} ms over {sp['scrapes']} scrapes in {sp['seconds']} s",
            sp["p99_ms"] <= 20,
        )
        low, high = check["poll_gap_min_seconds"], check["poll_gap_max_seconds"]
        interval = check["interval_seconds"]
        on_slot = (
            check["accounts_polled"] == check["accounts"]
            and check["accounts_missing_poll_while_scraping"] == 0
            and check["polls_while_scraping"] >= check["accounts_due_while_scraping"]
            and low is not None
            and interval - 1 <= low
            and high <= interval + 1
            and check["max_weight_any_60s"] <= check["weight_budget"]
        )
        add(
            "1,000 accounts polled on their slot (gap within 1 s of 60 s) under 4 scraping clients",
            f"{check['polls_while_scraping']} polls while {sp['scrapes']} scrapes were served, "
            f"{check['accounts_missing_poll_while_scraping']} of "
            f"{check['accounts_due_while_scraping']} accounts missed; gaps {low}-{high} s; "
            f"worst 60 s weight {check['max_weight_any_60s']}/{check['weight_budget']}",
            on_slot,
        )
    return found


def _type(content_type: str) -> str:
    kind = "om" if "openmetrics" in content_type else "text"
    version = next(
        (p.split("=", 1)[1] for p in content_type.replace(" ", "").split(";") if "version=" in p),
        "?",
    )
    return f"{kind} {version}"


def scenario_table(scenarios: list[dict]) -> str:
    scrapers = list(scenarios[0]["ours"]["scrape"]) if scenarios else []
    head = f"{'scenario':<26}{'exporter':<10}{'series':>8}"
    for name in scrapers:
        tag = name.replace("prometheus-", "P")
        head += f"{tag + ' p50':>9}{tag + ' p99':>9}{tag + ' max':>9}"
    head += f"{'KiB':>8}{'gz':>6}  {'type':<10}{'scrapes':>10}{'CPU/poll':>10}{'/1k ent':>9}"
    head += f"{'RSS MB':>8}"
    lines = [head, "-" * len(head)]
    for s in scenarios:
        for impl in IMPLS:
            m = s[impl]
            runs = [m["scrape"][name] for name in scrapers]
            line = f"{s['label']:<26}{impl:<10}{m['series']:>8}"
            for r in runs:
                line += f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}"
            first = runs[0]
            counts = "/".join(str(r["scrapes"]) for r in runs)
            line += (
                f"{first['bytes'] / 1024:>8.0f}{first['gzip_share']:>6.0%}  "
                f"{_type(first['content_type']):<10}{counts:>10}"
                f"{m['cpu_ms_per_poll']:>10.2f}{m['cpu_ms_per_1000_entries']:>9.2f}"
                f"{m['peak_rss_mb']:>8.1f}"
            )
            lines.append(line)
        r = s["ratios"]
        line = f"{'':<26}{'ratio':<10}{'':>8}"
        for name in scrapers:
            line += f"{r[name + '_p50']:>8.1f}x{r[name + '_p99']:>8.1f}x{'':>9}"
        line += f"{'':>34}{r['cpu_per_poll']:>9.2f}x{'':>9}{r['peak_rss']:>7.2f}x"
        lines.append(line)
    return "\n".join(lines)


def pair_table(pairs: dict[str, dict]) -> str:
    head = (
        f"{'accounts':>8}  {'exporter':<10}{'window s':>9}{'dur p50 ms':>11}{'dur max ms':>11}"
        f"{'up min':>7}{'samples':>9}{'scrapes':>9}{'CPU s/min':>10}{'polls':>12}{'RSS MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for accounts, pair in pairs.items():
        for impl in IMPLS:
            if impl not in pair:
                continue
            p = pair[impl]
            scrapes = "/".join(str(r["scrapes"]) for r in p["replicas"])
            polls = f"{p['polls']}/{p['polls_expected']}"
            guard = " (stopped: RSS guard)" if p["stopped_by_rss_guard"] else ""
            lines.append(
                f"{accounts:>8}  {impl:<10}{p['window_seconds']:>9.0f}"
                f"{_num(p['scrape_duration_p50_ms']):>11}{_num(p['scrape_duration_max_ms']):>11}"
                f"{_num(p['up_min']):>7}{p['samples_scraped_max']:>9}{scrapes:>9}"
                f"{p['cpu_seconds_per_minute']:>10.2f}{polls:>12}{p['rss_peak_mb']:>8.1f}{guard}"
            )
        if "cpu_ratio" in pair:
            lines.append(f"{'':>8}  {'ratio':<10}{'':>60}{pair['cpu_ratio']:>9.2f}x")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def text(out: dict[str, Any]) -> str:
    floor = out["decode_floor"]
    parts = [
        f"Decode floor: orjson.loads of one {floor['reply_bytes'] / 1024:.0f} KiB reply "
        f"({floor['position_entries']} position entries): {floor['cpu_ms_median']} ms CPU "
        f"(median of {floor['decodes']})"
    ]
    if out["scenarios"]:
        parts += ["", scenario_table(out["scenarios"])]
    if out["prometheus"]:
        parts += ["", "HA pair of Prometheus (scrape every 5 s, timeout 5 s):"]
        parts.append(pair_table(out["prometheus"]))
    for key, title in (("check_1000", "1,000 accounts (ours)"), ("baseline_1000", "baseline")):
        if out.get(key):
            parts += ["", f"{title} at 60 s:"]
            parts += [f"  {k}: {v}" for k, v in out[key].items() if k != "prometheus"]
    parts += ["", "Targets:"]
    parts += [
        f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['measured']}"
        for t in out["targets"]
    ]
    return "\n".join(parts)


# -- the chart -------------------------------------------------------------------------------


def chart(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(18, 9.5))
    scenarios = out["scenarios"]
    check = out["check_1000"]
    for ax, scraper in zip(axes[0][:2], ("prometheus-2", "prometheus-3"), strict=True):
        _scrape_panel(ax, scenarios, check if scraper == "prometheus-2" else None, scraper)
    _cpu_panel(axes[0][2], scenarios, out["decode_floor"])
    _duration_panel(axes[1][0], out["prometheus"])
    _cpu_minute_panel(axes[1][1], out["prometheus"])
    _rss_panel(axes[1][2], scenarios, check)
    env = out["environment"]
    note = (
        "binance-pm-exporter vs prometheus_client baseline: simulator over loopback, hedge mode, "
        "860 position entries per reply, 20 open positions per account; "
        f"{env['cpus']} shared vCPUs, Prometheus {env['prometheus']}, "
        f"{env['date']} at {env['commit']}"
    )
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _labels(scenarios: list[dict]) -> list[str]:
    return [s["label"].replace(", include_zero", "\ninclude_zero") for s in scenarios]


def _bars(ax, groups: list[str], series: dict[str, list[float | None]], texts=None) -> None:
    """Grouped bars, one colour per key of ``series``; None leaves a gap."""
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs = [x + (k - (len(series) - 1) / 2) * width for x in range(len(groups))]
        shown = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if not shown:
            continue
        color = COLORS.get(name.split()[0])
        hatch = "//" if name.endswith("max") else None
        bars = ax.bar(
            [x for x, _ in shown],
            [v for _, v in shown],
            width,
            label=name,
            color=color,
            hatch=hatch,
            edgecolor="white" if hatch else None,
        )
        labels = texts[name] if texts else None
        if labels is not None:
            labels = [t for t, v in zip(labels, values, strict=True) if v is not None]
            ax.bar_label(bars, labels, fontsize=7, padding=1)
        else:
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
    ax.set_xticks(list(range(len(groups))), groups, fontsize=8)
    ax.margins(y=0.15)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _scrape_panel(ax, scenarios: list[dict], check: dict | None, scraper: str) -> None:
    groups = _labels(scenarios)
    series: dict[str, list[float | None]] = {}
    texts: dict[str, list[str]] = {}
    for impl in IMPLS:
        runs = [s[impl]["scrape"][scraper] for s in scenarios]
        series[impl] = [r["p99_ms"] for r in runs]
        texts[impl] = [f"{r['p99_ms']:.3g}\n{r['gzip_share']:.0%} gz" for r in runs]
    if check is not None:
        groups.append("1,000 accounts\n4 clients, 60 s")
        r = check["scrape"]
        series["ours"].append(r["p99_ms"])
        series["baseline"].append(None)
        texts["ours"].append(f"{r['p99_ms']:.3g}\n{r['gzip_share']:.0%} gz")
        texts["baseline"].append("")
    _bars(ax, groups, series, texts)
    ax.set_yscale("log")
    version = scraper.split("-")[1]
    ax.set_title(f"Scrape p99 with Prometheus {version}.x's headers (ms, log; share gzipped)")
    if scenarios:
        ax.axhline(2, color="grey", linestyle=":", linewidth=1)


def _cpu_panel(ax, scenarios: list[dict], floor: dict) -> None:
    series = {impl: [s[impl]["cpu_ms_per_poll"] for s in scenarios] for impl in IMPLS}
    _bars(ax, _labels(scenarios), series)
    ax.axhline(floor["cpu_ms_median"], color="black", linestyle="--", linewidth=1)
    ax.annotate(
        f"decode floor {floor['cpu_ms_median']} ms",
        (0, floor["cpu_ms_median"]),
        xytext=(2, 3),
        textcoords="offset points",
        fontsize=7,
    )
    ax.set_title("CPU per poll, nothing scraping (ms)")


def _pair_groups(pairs: dict[str, dict]) -> list[str]:
    return [f"{int(k):,} accounts" for k in pairs]


def _duration_panel(ax, pairs: dict[str, dict]) -> None:
    series: dict[str, list[float | None]] = {}
    for impl in IMPLS:
        for stat in ("p50", "max"):
            series[f"{impl} {stat}"] = [
                p[impl][f"scrape_duration_{stat}_ms"] if impl in p else None for p in pairs.values()
            ]
    texts = {}
    for name, values in series.items():
        impl = name.split()[0]
        texts[name] = [
            "" if v is None else f"{v:.3g}" + ("" if p[impl]["up_min"] else "\nup=0")
            for v, p in zip(values, pairs.values(), strict=True)
        ]
    _bars(ax, _pair_groups(pairs), series, texts)
    ax.set_yscale("log")
    ax.set_title("Prometheus' scrape_duration_seconds (ms, log; worse of the pair)")


def _cpu_minute_panel(ax, pairs: dict[str, dict]) -> None:
    series: dict[str, list[float | None]] = {}
    texts: dict[str, list[str]] = {}
    for impl in IMPLS:
        runs = [p.get(impl) for p in pairs.values()]
        series[impl] = [r["cpu_seconds_per_minute"] if r else None for r in runs]
        # An exporter that fell behind its polls did less work than it should have.
        texts[impl] = [
            ""
            if r is None
            else f"{r['cpu_seconds_per_minute']:.3g}"
            + (
                f"\n{r['polls']}/{r['polls_expected']} polls"
                if r["polls"] < 0.95 * r["polls_expected"]
                else ""
            )
            for r in runs
        ]
    _bars(ax, _pair_groups(pairs), series, texts)
    for x, p in enumerate(pairs.values()):
        if "cpu_ratio" in p:
            ax.annotate(
                f"baseline / ours: {p['cpu_ratio']:.2f}x",
                (x, 0),
                xytext=(0, -24),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
    ax.set_title("Exporter CPU per minute under the HA pair (CPU s/min)")


def _rss_panel(ax, scenarios: list[dict], check: dict | None) -> None:
    groups = _labels(scenarios)
    series = {impl: [s[impl]["peak_rss_mb"] for s in scenarios] for impl in IMPLS}
    if check is not None:
        groups.append("1,000 accounts")
        series["ours"].append(check["peak_rss_mb"])
        series["baseline"].append(None)
    _bars(ax, groups, series)
    ax.set_title("Peak RSS (MB)")
