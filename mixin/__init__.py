"""binance-pm-exporter's monitoring mixin: rules, alerts and dashboards from one config.

``python -m mixin`` (``make mixin``) writes prometheus/rules.yml, prometheus/alerts.yml and
grafana/dashboards/*.json; ``python -m mixin --check`` fails when they are out of date.
"""
