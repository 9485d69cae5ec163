"""One observability module for every service: logs, traces and metrics.

Services call :func:`observability.setup.for_service` once per cold start and use what
it returns. Tracing sits behind :mod:`observability.setup` so the X-Ray SDK (end of
support 2027-02-25) can be replaced by an OpenTelemetry exporter in one place.
"""
