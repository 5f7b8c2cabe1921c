"""Observability: Prometheus metrics over the shared metrics region, the metrics and health listener, AWS-style
access logs, and trace context propagation (W3C and X-Ray) with optional OTLP export.

- :mod:`.metrics`: the metric families, their layout in the region, and the scrape-time collector;
- :mod:`.server`: ``/metrics``, ``/health/live``, ``/health/ready`` in the parent process;
- :mod:`.access_log`: ``$context`` templates, compiled for the Rust sink that renders and writes them;
- :mod:`.tracing`: ``traceparent`` / ``X-Amzn-Trace-Id`` for backend calls, and spans when configured.
"""

from fastgw.observability.access_log import CLF_FORMAT, JSON_FORMAT, AccessLogFormat, compile_sink
from fastgw.observability.metrics import (
    METRICS_TABLE_MARKDOWN,
    Field,
    GatewayCollector,
    HistogramKind,
    MetricsLayout,
    NodeCounter,
)
from fastgw.observability.server import MetricsServer
from fastgw.observability.tracing import GatewayTracer, TraceContext, build_tracer, propagation_headers, trace_context

__all__ = [
    "CLF_FORMAT",
    "JSON_FORMAT",
    "METRICS_TABLE_MARKDOWN",
    "AccessLogFormat",
    "Field",
    "GatewayCollector",
    "GatewayTracer",
    "HistogramKind",
    "MetricsLayout",
    "MetricsServer",
    "NodeCounter",
    "TraceContext",
    "build_tracer",
    "compile_sink",
    "propagation_headers",
    "trace_context",
]
