"""GET /papi/v1/um/account (Get UM Account Detail, weight 5): USDⓈ-M assets and positions."""

from exporter.collectors import Collector
from exporter.collectors._futures import FuturesAccount

_parser = FuturesAccount(
    "binance_pm_um",
    "max_notional",
    "maxNotional",
    "Maximum notional allowed at the current leverage.",
)

COLLECTOR = Collector(
    name="um_account",
    path="/papi/v1/um/account",
    weight=5,
    families=_parser.families,
    parse=_parser.parse,
    decode=_parser.decode,
)
