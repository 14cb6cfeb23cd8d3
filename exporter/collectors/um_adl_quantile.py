"""GET /papi/v1/um/adlQuantile (UM Position ADL Quantile Estimation, weight 5)."""

from exporter.collectors._adl import adl_collector

COLLECTOR = adl_collector("um")
