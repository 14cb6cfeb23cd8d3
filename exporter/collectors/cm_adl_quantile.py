"""GET /papi/v1/cm/adlQuantile (CM Position ADL Quantile Estimation, weight 5)."""

from typing import Any

from exporter.collectors import Collector, ParseOptions, Result
from exporter.collectors._adl import HELP, LABELS, parse_adl
from exporter.metrics import Family

NAME = "binance_pm_cm_position_adl_quantile"


def parse(payload: Any, options: ParseOptions) -> Result:
    return parse_adl(NAME, payload, options)


COLLECTOR = Collector(
    name="cm_adl_quantile",
    path="/papi/v1/cm/adlQuantile",
    weight=5,
    default_interval=30,  # Binance refreshes ADL quantiles every 30 s.
    families=(Family(NAME, HELP, LABELS),),
    parse=parse,
    follows="cm_account",
)
