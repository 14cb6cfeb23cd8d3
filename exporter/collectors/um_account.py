"""GET /papi/v1/um/account (Get UM Account Detail, weight 5): USDⓈ-M assets and positions.

Binance also serves ``GET /papi/v2/um/account`` (weight 5), whose positions drop leverage,
entryPrice, maxNotional and both initial-margin splits. Nothing says v1 is retired; if Binance
retires it the way it retired ``GET /fapi/v1/account``, the scheduler moves the account to v2
(``Collector.successor``) and keeps every series v2 can give.
"""

from exporter.collectors import Collector
from exporter.collectors._futures import (
    BREAK_EVEN_PRICE,
    POSITION_FIELDS,
    UM_AMOUNT_HELP,
    UM_NOTIONAL,
    FuturesAccount,
)

_parser = FuturesAccount(
    "binance_pm_um",
    UM_AMOUNT_HELP,
    ("max_notional", "maxNotional", "Maximum notional available at the current leverage."),
    extras=(UM_NOTIONAL, BREAK_EVEN_PRICE),
)

# "Get UM Account Detail V2": its positions' fields (notional is documented there).
_V2_FIELDS = tuple(
    f for f in POSITION_FIELDS if f[1] in ("unrealizedProfit", "initialMargin", "maintMargin")
)
_v2 = FuturesAccount(
    "binance_pm_um",
    UM_AMOUNT_HELP,
    None,
    extras=(UM_NOTIONAL,),
    fields=_V2_FIELDS,
    order_margin_field="initialMargin",
)

V2 = Collector(
    name="um_account",
    path="/papi/v2/um/account",
    weight=5,
    families=_v2.families,
    parse=_v2.parse,
    decode=_v2.decode,
)

COLLECTOR = Collector(
    name="um_account",
    path="/papi/v1/um/account",
    weight=5,
    families=_parser.families,
    parse=_parser.parse,
    decode=_parser.decode,
    successor=V2,
)
