"""GET /papi/v1/cm/account (Get CM Account Detail, weight 5): COIN-M assets and positions."""

from exporter.collectors import Collector
from exporter.collectors._futures import (
    BREAK_EVEN_PRICE,
    CM_AMOUNT_HELP,
    CM_NOTIONAL_VALUE,
    FuturesAccount,
)

# A COIN-M amount is in contracts, but its limit, maxQty, is a quantity of the base asset
# ("maximum quantity of base asset" in Get CM Account Detail), not of contracts.
_parser = FuturesAccount(
    "binance_pm_cm",
    CM_AMOUNT_HELP,
    ("max_qty", "maxQty", "Maximum quantity of the base asset the position may hold."),
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
