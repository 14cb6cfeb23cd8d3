"""GET /papi/v1/um/income (Get UM Income History, weight 30 per page): UM income counters."""

from exporter.collectors import Collector
from exporter.collectors._income import IncomeHistory, decode, memory

_history = IncomeHistory("binance_pm_um", "/papi/v1/um/income", "UM")

COLLECTOR = Collector(
    name="um_income",
    path=_history.path,
    weight=30,
    # Income is history: every five minutes is plenty, and each poll pages until caught up.
    default_interval=300,
    families=_history.families,
    parse=_history.parse,
    decode=decode,
    memory=memory,
    fetch=_history.fetch,
)
