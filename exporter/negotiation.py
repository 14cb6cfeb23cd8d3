"""HTTP content negotiation for /metrics: which exposition format and whether to gzip it.

Prometheus states its preferences in ``Accept`` with q-values (2.x: OpenMetrics 1.0.0, then
0.0.1 at q=0.75, text 0.0.4 at q=0.5; 3.x adds text 1.0.0 and ``escaping`` parameters). The
rules are RFC 9110's: the most specific matching range gives an offer its q, q=0 refuses it,
and ties go to the server's order. When nothing offered is acceptable the exposition-format
negotiation document says to fall back to text 0.0.4, unless the client refused that too.
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT = "text"
OPENMETRICS = "openmetrics"


@dataclass(frozen=True)
class Offer:
    media_type: str  # type/subtype
    version: str
    format: str  # TEXT or OPENMETRICS: which published body answers it
    content_type: str


# Server preference for equal q: text first, so browsers, curl's */* and no Accept at all
# get the text format, as from client_golang.
TEXT_0_0_4 = Offer("text/plain", "0.0.4", TEXT, "text/plain; version=0.0.4; charset=utf-8")
OFFERS = (
    TEXT_0_0_4,
    Offer(
        "application/openmetrics-text",
        "1.0.0",
        OPENMETRICS,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
    ),
    Offer(
        "application/openmetrics-text",
        "0.0.1",
        OPENMETRICS,
        "application/openmetrics-text; version=0.0.1; charset=utf-8",
    ),
)

# A header longer than this is not worth parsing (Prometheus' is about 250 bytes).
MAX_HEADER = 4096


@dataclass(frozen=True)
class _Range:
    type: str
    subtype: str
    params: dict[str, str]
    q: float

    def specificity(self, offer: Offer) -> int:
        """-1 if the range does not match ``offer``, else how specifically it does."""
        otype, osub = offer.media_type.split("/")
        if self.type == "*":
            return 0 if self.subtype == "*" else -1
        if self.type != otype:
            return -1
        if self.subtype == "*":
            return 1
        if self.subtype != osub:
            return -1
        version = self.params.get("version")
        if version is None:
            return 2
        return 3 if version == offer.version else -1


def _parse_q(text: str) -> float | None:
    try:
        q = float(text)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


def _ranges(header: str) -> list[_Range]:
    out = []
    for item in header[:MAX_HEADER].split(","):
        media, *raw_params = item.split(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub:
            continue
        params: dict[str, str] = {}
        q: float | None = 1.0
        for raw in raw_params:
            name, _, value = raw.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "q":
                q = _parse_q(value)
            else:
                params[name] = value
        if q is not None:  # a malformed q makes the range meaningless: ignore it
            out.append(_Range(kind, sub.strip(), params, q))
    return out


def negotiate(accept: str | None) -> Offer | None:
    """The offer to answer with, or None when the client refused every format (406)."""
    if not accept or not accept.strip():
        return TEXT_0_0_4
    ranges = _ranges(accept)
    if not ranges:
        return TEXT_0_0_4
    best: Offer | None = None
    best_q = 0.0
    refused: set[Offer] = set()
    for offer in OFFERS:
        matched = [(r.specificity(offer), r.q) for r in ranges]
        matched = [m for m in matched if m[0] >= 0]
        if not matched:
            continue
        q = max(matched)[1]  # the most specific range decides (ties: the higher q)
        if q <= 0.0:
            refused.add(offer)
        elif q > best_q:
            best, best_q = offer, q
    if best is not None:
        return best
    return None if TEXT_0_0_4 in refused else TEXT_0_0_4


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``gzip`` (or ``*``) is acceptable with q > 0; ``gzip;q=0`` refuses it."""
    if not accept_encoding:
        return False
    gzip_q: float | None = None
    star_q: float | None = None
    for item in accept_encoding[:MAX_HEADER].split(","):
        coding, *params = item.split(";")
        coding = coding.strip().lower()
        q: float | None = 1.0
        for raw in params:
            name, _, value = raw.partition("=")
            if name.strip().lower() == "q":
                q = _parse_q(value.strip())
        if q is None:
            continue
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0.0
    return star_q is not None and star_q > 0.0
