"""GET /papi/v1/um/forceOrders (Query User's UM Force Orders, weight 50 without symbol)."""

from exporter.collectors._force_orders import force_order_collector

COLLECTOR = force_order_collector("um", "/papi/v1/um/forceOrders", 50)
