"""GET /papi/v1/um/leverageBracket (UM Notional and Leverage Brackets, weight 1).

Binance's maintenance margin of a UM position is tiered by notional: each bracket of a symbol has
a notional floor and cap, the highest initial leverage allowed in it, its maintenance margin rate
and ``cum``, the amount that makes the tiers continuous (maintenance margin = notional x rate -
cum). A position that grows into the next bracket needs more margin and may no longer hold its
leverage, so a risk desk wants the table of the symbols it holds.

Without ``symbol`` the reply lists every symbol of the exchange (hundreds, about ten brackets
each): only the symbols the account holds a position in, as its account detail (``um_account``)
last exported them, are kept. Bracket figures are JSON numbers, not strings; ``notionalCoef`` is a
string and only present where the account's brackets differ from the symbol's default.
"""

from __future__ import annotations

from typing import Any

from exporter.collectors import BadPayload, Collector, ParseOptions, Result
from exporter.collectors._fields import Fields, symbol_of
from exporter.metrics import Family, Samples

PREFIX = "binance_pm_um_leverage_bracket_"
LABELS = ("symbol", "bracket")
COEF = PREFIX + "notional_coefficient"

# (metric suffix, Binance field, help), as Binance's "UM Notional and Leverage Brackets" page
# describes them.
FIELDS = (
    ("initial_leverage", "initialLeverage", "Highest initial leverage allowed in the bracket."),
    ("notional_floor", "notionalFloor", "Notional value (USDⓈ) where the bracket starts."),
    ("notional_cap", "notionalCap", "Notional value (USDⓈ) where the bracket ends."),
    (
        "maint_margin_ratio",
        "maintMarginRatio",
        "Maintenance margin rate of a position whose notional is in the bracket.",
    ),
    (
        "maint_amount",
        "cum",
        "Binance's cum of the bracket: maintenance margin = notional x maint_margin_ratio - this.",
    ),
)
FAMILIES = (
    *(Family(PREFIX + suffix, help_, LABELS) for suffix, _, help_ in FIELDS),
    Family(
        COEF,
        "The account's brackets as a multiple of the symbol's default ones (notionalCoef), where "
        "Binance gives one.",
        ("symbol",),
    ),
)
_READ = tuple((PREFIX + suffix, field) for suffix, field, _ in FIELDS)


def parse(payload: Any, options: ParseOptions) -> Result:
    """The brackets of the symbols with a position; none while the account detail has none."""
    if not isinstance(payload, list):
        raise BadPayload("expected a JSON array")
    held = {symbol for symbol, _ in options.provided} if options.provided else set()
    samples: Samples = {f.name: [] for f in FAMILIES}
    fields = Fields()
    skipped = bad_brackets = 0
    seen: set[str] = set()
    for entry in payload:
        symbol = symbol_of(entry)
        brackets = entry.get("brackets") if symbol is not None else None
        if symbol is None or type(brackets) is not list or symbol in seen:
            skipped += 1
            continue
        seen.add(symbol)
        if symbol not in held:
            continue
        coef = fields.number(entry, "notionalCoef", optional=True)
        if coef is not None:
            samples[COEF].append(((symbol,), coef))
        bad_brackets += _brackets(symbol, brackets, fields, samples)
    if payload and skipped == len(payload):
        raise BadPayload("no entry had a symbol and its brackets")
    return Result(samples, skipped + bad_brackets, fields.unreadable)


def _brackets(symbol: str, brackets: list, fields: Fields, samples: Samples) -> int:
    """Each bracket's figures into ``samples``; how many brackets had no number of their own."""
    skipped, seen = 0, set()
    for bracket in brackets:
        number = _bracket_number(bracket)
        if number is None or number in seen:
            skipped += 1
            continue
        seen.add(number)
        labels = (symbol, number)
        for name, field in _READ:
            value = fields.number(bracket, field)
            if value is not None:
                samples[name].append((labels, value))
    return skipped


def _bracket_number(bracket: Any) -> str | None:
    """The bracket's number as a label ("1", "2", ...): a whole number from 1 up."""
    if type(bracket) is not dict:
        return None
    number = bracket.get("bracket")
    if type(number) is not int or number < 1:
        return None
    return str(number)


COLLECTOR = Collector(
    name="um_leverage_bracket",
    path="/papi/v1/um/leverageBracket",
    weight=1,
    families=FAMILIES,
    parse=parse,
    follows="um_account",
    follow_key="symbol",
    # Binance changes brackets rarely (announced days ahead): every 10 minutes is plenty.
    default_interval=600,
)
