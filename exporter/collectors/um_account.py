"""GET /papi/v1/um/account (Get UM Account Detail, weight 5): USDⓈ-M assets and positions."""

from exporter.collectors import Collector
from exporter.collectors._futures import BREAK_EVEN_PRICE, UM_NOTIONAL, FuturesAccount

_parser = FuturesAccount(
    "binance_pm_um",
    "Position amount in the base asset, signed (negative is short).",
    ("max_notional", "maxNotional", "Maximum notional available at the current leverage."),
    extras=(UM_NOTIONAL, BREAK_EVEN_PRICE),
)

COLLECTOR = Collector(
    name="um_account",
    path="/papi/v1/um/account",
    weight=5,
    families=_parser.families,
    parse=_parser.parse,
    decode=_parser.decode,
)
