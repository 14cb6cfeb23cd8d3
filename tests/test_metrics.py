"""The exposition text: escaping, number spelling, histogram lines and both formats' headers."""

from __future__ import annotations

import dataclasses
import math

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.metrics import (
    OPENMETRICS_EOF,
    DuplicateFamily,
    Family,
    collect_families,
    escape_help,
    escape_label_value,
    format_value,
    render_histogram,
    render_plain,
    render_rows,
)
from exporter.render import all_families


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("USDT", "USDT"),
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a\\nb"),
        ('\\"\n', '\\\\\\"\\n'),
        ("币安人生", "币安人生"),  # UTF-8 passes as it is
        ("tab\there", "tab\there"),  # only the three characters the format names are escaped
    ],
)
def test_label_values_escape_backslash_quote_and_line_feed(value: str, text: str) -> None:
    assert escape_label_value(value) == text


def test_help_escapes_backslash_and_line_feed_only() -> None:
    assert escape_help('a\\b\nc"d') == 'a\\\\b\\nc"d'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (23.72469206, "23.72469206"),
        (1e-05, "1e-05"),
        (1e16, "1e+16"),
        (99999999.0, "99999999.0"),
        (0.1 + 0.2, "0.30000000000000004"),  # shortest text that reads back the same float
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_values_are_spelled_the_way_prometheus_reads_them(value: float, text: str) -> None:
    assert format_value(value) == text
    if math.isfinite(value):
        assert float(text) == value


def test_rows_carry_the_account_label_first_and_share_rendered_labels() -> None:
    cache: dict[tuple[str, ...], str] = {}
    rows = [(("BTCUSDT", "LONG"), 0.5), (('A"B', "SHORT"), -1.25)]
    text = render_rows("m", 'account="main"', ("symbol", "position_side"), rows, cache)
    assert text == (
        'm{account="main",symbol="BTCUSDT",position_side="LONG"} 0.5\n'
        'm{account="main",symbol="A\\"B",position_side="SHORT"} -1.25\n'
    )
    assert cache[("BTCUSDT", "LONG")] == 'symbol="BTCUSDT",position_side="LONG"'


def test_histogram_lines_spell_le_as_floats_and_end_with_inf_sum_and_count() -> None:
    buckets = [("0.025", 1.0), ("1.0", 3.0), ("+Inf", 4.0)]
    text = render_histogram("d", 'account="a",collector="c"', buckets, 42.34, 4)
    assert text == (
        'd_bucket{account="a",collector="c",le="0.025"} 1\n'
        'd_bucket{account="a",collector="c",le="1.0"} 3\n'
        'd_bucket{account="a",collector="c",le="+Inf"} 4\n'
        'd_sum{account="a",collector="c"} 42.34\n'
        'd_count{account="a",collector="c"} 4\n'
    )


def test_plain_lines_without_and_with_labels() -> None:
    assert render_plain("g", 2.5) == "g 2.5\n"
    assert render_plain("g", 1.0, 'version="1.2.3"') == 'g{version="1.2.3"} 1.0\n'


COUNTER = Family("x_errors_total", 'Errors "quoted"\nand more.', ("collector",), "counter")


def test_a_counter_is_named_with_total_in_text_and_without_in_openmetrics() -> None:
    assert COUNTER.header() == (
        b'# HELP x_errors_total Errors "quoted"\\nand more.\n# TYPE x_errors_total counter\n'
    )
    assert COUNTER.openmetrics_header() == (
        b'# HELP x_errors Errors \\"quoted\\"\\nand more.\n# TYPE x_errors counter\n'
    )


def test_the_same_lines_parse_under_either_header() -> None:
    lines = render_rows("x_errors_total", 'account="a"', ("collector",), [(("um",), 3.0)])
    text = (COUNTER.header() + lines.encode()).decode()
    om = (COUNTER.openmetrics_header() + lines.encode() + OPENMETRICS_EOF).decode()
    (text_family,) = parse_text(text)
    (om_family,) = parse_openmetrics(om)
    assert text_family.documentation == om_family.documentation == 'Errors "quoted"\nand more.'
    assert (
        [(s.name, s.labels, s.value) for s in text_family.samples]
        == [(s.name, s.labels, s.value) for s in om_family.samples]
        == [("x_errors_total", {"account": "a", "collector": "um"}, 3.0)]
    )


RISK = Family("binance_pm_risk", "Risk.", ("level",), "counter")


def test_a_family_declared_twice_alike_is_collected_once_where_it_first_came():
    other = Family("binance_pm_other", "Other.", ())
    assert collect_families((RISK, other), (Family(*dataclasses.astuple(RISK)),)) == (RISK, other)


@pytest.mark.parametrize(
    "twin",
    [
        Family("binance_pm_risk", "Risk, said otherwise.", ("level",), "counter"),
        Family("binance_pm_risk", "Risk.", ("level",), "gauge"),
        Family("binance_pm_risk", "Risk.", ("level", "asset"), "counter"),
    ],
)
def test_a_family_declared_twice_differently_is_refused(twin: Family):
    with pytest.raises(DuplicateFamily, match="binance_pm_risk is declared twice"):
        collect_families((RISK,), (twin,))


def test_the_exposition_declares_each_family_once():
    """um_account and its position-risk twin both declare the notional: one family."""
    names = [fam.name for fam in all_families()]
    assert len(names) == len(set(names))
    assert names.count("binance_pm_um_position_notional") == 1
