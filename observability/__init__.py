"""One observability module for every service: logs, traces and metrics.

Services call :func:`observability.setup.for_service` once per cold start and use what
it returns. Tracing goes through one port, :mod:`observability.tracing`, with two
implementations: the X-Ray SDK (:mod:`observability.xray`, the only module that imports
it) and OpenTelemetry (:mod:`observability.otel`); ``SDP_TRACING`` chooses.
"""
