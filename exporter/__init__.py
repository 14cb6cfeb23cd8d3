"""Prometheus exporter for Binance Portfolio Margin accounts."""

from exporter.metrics import Family

__version__ = "0.1.0"

BUILD_INFO = Family(
    "binance_pm_exporter_build_info", "Exporter build information; the value is always 1.", ()
)
