"""Metric families and their exposition text, in both formats this exporter serves.

A collector's output is a ``Samples`` mapping (family name -> rows of label values and a value, the
``account`` label left out). ``render_rows`` turns rows into sample lines once per poll. Sample
lines are the same in the Prometheus text format (0.0.4) and OpenMetrics 1.0; only the family
headers differ (a counter's OpenMetrics family name has no ``_total``) and OpenMetrics ends with
``# EOF``. So the publisher joins the same lines under either set of headers (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Row = tuple[tuple[str, ...], float]
Samples = dict[str, list[Row]]


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    labels: tuple[str, ...]  # without the leading ``account`` label, which every family has
    type: str = "gauge"  # gauge, counter or histogram

    def header(self) -> bytes:
        """``# HELP`` and ``# TYPE`` in the Prometheus text format."""
        head = f"# HELP {self.name} {escape_help(self.help)}\n# TYPE {self.name} {self.type}\n"
        return head.encode()

    def openmetrics_header(self) -> bytes:
        """The OpenMetrics headers: a counter's family drops ``_total``, HELP escapes quotes."""
        name = self.name
        if self.type == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]
        help_text = escape_help(self.help).replace('"', '\\"')
        return f"# HELP {name} {help_text}\n# TYPE {name} {self.type}\n".encode()


def escape_label_value(value: str) -> str:
    """Text-format escaping: backslash, double quote and line feed."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def label_text(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{n}="{escape_label_value(v)}"' for n, v in zip(names, values, strict=True))


def format_value(v: float) -> str:
    """Shortest round-trip text of a float; Inf and NaN spelled the way Prometheus reads them.

    ``repr`` already gives what Prometheus parses ("23.72469206", "1e-05", "1e+16"); this is the
    hot path of rendering, so it avoids prometheus_client's slower general-purpose formatter.
    """
    if v - v == 0.0:  # finite
        return repr(v)
    if v != v:
        return "NaN"
    return "+Inf" if v > 0 else "-Inf"


def render_rows(
    name: str,
    prefix: str,
    label_names: tuple[str, ...],
    rows: list[Row],
    cache: dict[tuple[str, ...], str] | None = None,
) -> str:
    """Lines ``name{prefix,labels} value``; ``prefix`` is the pre-rendered account label.

    ``cache`` maps label values to their rendered text; share it across the families of one
    poll so a position's labels are escaped once, not once per metric.
    """
    if not label_names:
        return "".join(f"{name}{{{prefix}}} {format_value(v)}\n" for _, v in rows)
    if cache is None:
        cache = {}
    out = []
    for values, v in rows:
        labels = cache.get(values)
        if labels is None:
            labels = cache[values] = label_text(label_names, values)
        out.append(f"{name}{{{prefix},{labels}}} {format_value(v)}\n")
    return "".join(out)


OPENMETRICS_EOF = b"# EOF\n"


def render_histogram(
    name: str, prefix: str, buckets: list[tuple[str, float]], total: float, count: int
) -> str:
    """``_bucket`` (``le`` spelled as a float, ``+Inf`` last), ``_sum`` and ``_count`` lines."""
    lines = [f'{name}_bucket{{{prefix},le="{le}"}} {int(n)}\n' for le, n in buckets]
    lines.append(f"{name}_sum{{{prefix}}} {format_value(total)}\n")
    lines.append(f"{name}_count{{{prefix}}} {count}\n")
    return "".join(lines)


def render_plain(name: str, value: float, labels: str = "") -> str:
    """One line of a family without the ``account`` label (the exporter's own globals)."""
    return (
        f"{name}{{{labels}}} {format_value(value)}\n"
        if labels
        else f"{name} {format_value(value)}\n"
    )


class DuplicateFamily(ValueError):
    """Two families with one name but different help, type or labels: one exposition cannot
    hold both, as prometheus_client's registry refuses them."""


def collect_families(*owners: Iterable[Family]) -> tuple[Family, ...]:
    """Every owner's families in order, each name once; raises DuplicateFamily.

    A name declared twice with the same definition is one family (an account detail and its
    position-risk twin share some); declared twice differently, it is refused.
    """
    found: dict[str, Family] = {}
    for families in owners:
        for fam in families:
            known = found.setdefault(fam.name, fam)
            if known != fam:
                raise DuplicateFamily(f"{fam.name} is declared twice: {known} and {fam}")
    return tuple(found.values())
