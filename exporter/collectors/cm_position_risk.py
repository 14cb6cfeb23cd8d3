"""GET /papi/v1/cm/positionRisk (Query CM Position Information, weight 1): mark and liquidation."""

from exporter.collectors import Collector
from exporter.collectors._futures import (
    BREAK_EVEN_PRICE,
    CM_AMOUNT_HELP,
    CM_NOTIONAL_VALUE,
    risk_shared,
)
from exporter.collectors._position_risk import PositionRisk

_parser = PositionRisk(
    "binance_pm_cm",
    CM_NOTIONAL_VALUE,
    extras=(BREAK_EVEN_PRICE,),
    shared=risk_shared(CM_AMOUNT_HELP),
)

COLLECTOR = Collector(
    name="cm_position_risk",
    path="/papi/v1/cm/positionRisk",
    weight=1,
    families=_parser.families,
    parse=_parser.parse,
    follows="cm_account",
    keeps_unled=True,
)
