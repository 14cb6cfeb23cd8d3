"""GET /papi/v1/cm/forceOrders (Query User's CM Force Orders, weight 50 without symbol)."""

from exporter.collectors._force_orders import force_order_collector

COLLECTOR = force_order_collector("cm", "/papi/v1/cm/forceOrders", 50)
