"""GET /papi/v1/margin/forceOrders (Query User's Margin Force Orders, weight 1)."""

from exporter.collectors._force_orders import force_order_collector

COLLECTOR = force_order_collector("margin", "/papi/v1/margin/forceOrders", 1)
