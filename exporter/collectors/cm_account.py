"""GET /papi/v1/cm/account (Get CM Account Detail, weight 5): COIN-M assets and positions."""

from exporter.collectors import Collector
from exporter.collectors._futures import FuturesAccount

# COIN-M positions are limited in contracts (maxQty), not in notional.
_parser = FuturesAccount(
    "binance_pm_cm",
    "max_qty",
    "maxQty",
    "Maximum quantity (contracts) allowed at the current leverage.",
)

COLLECTOR = Collector(
    name="cm_account",
    path="/papi/v1/cm/account",
    weight=5,
    families=_parser.families,
    parse=_parser.parse,
    decode=_parser.decode,
)
