"""GET /papi/v1/um/income (Get UM Income History, weight 30 per page): UM income counters."""

from exporter.collectors._income import income_collector

COLLECTOR = income_collector("um", "UM")
