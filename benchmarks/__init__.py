"""Benchmarks of the exporter against a plain prometheus_client baseline (``make bench``)."""
