"""GET /papi/v1/cm/account (Get CM Account Detail, weight 5): COIN-M assets and positions."""

from exporter.collectors import Collector
from exporter.collectors._futures import BREAK_EVEN_PRICE, CM_NOTIONAL_VALUE, FuturesAccount

# COIN-M positions are limited in contracts (maxQty), not in notional.
_parser = FuturesAccount(
    "binance_pm_cm",
    "max_qty",
    "maxQty",
    "Maximum quantity (contracts) allowed at the current leverage.",
    extras=(CM_NOTIONAL_VALUE, BREAK_EVEN_PRICE),
)

COLLECTOR = Collector(
    name="cm_account",
    path="/papi/v1/cm/account",
    weight=5,
    families=_parser.families,
    parse=_parser.parse,
    decode=_parser.decode,
)
