"""GET /papi/v1/um/positionRisk (Query UM Position Information, weight 5): mark and liquidation."""

from exporter.collectors import Collector
from exporter.collectors._futures import (
    BREAK_EVEN_PRICE,
    UM_AMOUNT_HELP,
    UM_NOTIONAL,
    risk_shared,
)
from exporter.collectors._position_risk import PositionRisk

_parser = PositionRisk(
    "binance_pm_um",
    UM_NOTIONAL,
    extras=(BREAK_EVEN_PRICE,),
    shared=risk_shared(UM_AMOUNT_HELP),
)

COLLECTOR = Collector(
    name="um_position_risk",
    path="/papi/v1/um/positionRisk",
    weight=5,
    families=_parser.families,
    parse=_parser.parse,
    follows="um_account",
    keeps_unled=True,
)
