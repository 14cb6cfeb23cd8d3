"""GET /papi/v1/cm/income (Get CM Income History, weight 30 per page): COIN-M income counters."""

from exporter.collectors._income import income_collector

COLLECTOR = income_collector("cm", "COIN-M")
