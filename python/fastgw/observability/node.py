"""Observability of one gateway node: what the parent builds before the workers fork, and what each worker opens.

- Metrics: one :class:`fastgw._core.Metrics` region for the node (shared memory: every worker counts into it
  with atomics, from Rust), laid out by :class:`~fastgw.observability.metrics.MetricsLayout`; the parent serves
  ``/metrics`` (and ``/health/live``, ``/health/ready``) from it on its own listener, off by default.
- Access logs: each worker has its own writer thread per format (a line never blocks a response); stdout or
  a file (appends of whole lines from several workers).
- Tracing: W3C ``traceparent`` and ``X-Amzn-Trace-Id`` go to every backend (created when absent); spans
  are exported over OTLP when an endpoint is configured.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastgw._core import AccessLogSink, Metrics
from fastgw.config.settings import AccessLogSettings, MetricsSettings
from fastgw.observability.access_log import CLF_FORMAT, JSON_FORMAT, AccessLogFormat, Write, compile_sink
from fastgw.observability.metrics import Field, MetricsLayout, NodeCounter
from fastgw.observability.server import MetricsServer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from fastgw.integrations.base import Request
    from fastgw.observability.tracing import GatewayTracer
    from fastgw.routing import StageRuntime

log = logging.getLogger("fastgw.observability")

#: The admin token's environment variable: admin actions are off without it.
ADMIN_TOKEN_ENV = "FASTGW_ADMIN_TOKEN"

#: Gateway response types counted in a metrics field besides the status class.
RESPONSE_TYPE_FIELDS = {
    "THROTTLED": int(Field.THROTTLED),
    "QUOTA_EXCEEDED": int(Field.QUOTA_REJECTED),
    "INTEGRATION_TIMEOUT": int(Field.UPSTREAM_TIMEOUT),
    "INTEGRATION_FAILURE": int(Field.UPSTREAM_ERROR),
}


FORMAT_PRESETS = {"json": JSON_FORMAT, "clf": CLF_FORMAT}


def access_log_format(text: str) -> AccessLogFormat:
    """``json``, ``clf`` or a template with ``$context`` variables (a bad one is a ``ValueError`` naming them)."""
    return AccessLogFormat.parse(FORMAT_PRESETS.get(text, text))


class StageLog:
    """One worker's access log for a format: values read in Python, the line rendered and written in Rust.
    ``write(request, runtime)`` is the format's generated function."""

    __slots__ = ("sink", "write")

    def __init__(self, sink: AccessLogSink, write: Write) -> None:
        self.sink = sink
        self.write = write

    def close(self) -> None:
        self.sink.close()


@dataclass(frozen=True, slots=True)
class StageSlots:
    """Where one stage counts: its no-route slot (route ``r`` is ``first_slot + 1 + r``) and in-flight gauge."""

    first_slot: int
    in_flight: int


class NodeObservability:
    """Built in the parent process; workers inherit the metrics region."""

    def __init__(
        self,
        stages: Sequence[tuple[str, str, Sequence[str]]],
        metrics: MetricsSettings | None,
        access_logs: AccessLogSettings | None,
        stage_log_formats: dict[tuple[str, str], str] | None = None,
        otlp_endpoint: str | None = None,
    ) -> None:
        self.settings = metrics
        self.otlp_endpoint = otlp_endpoint
        self.layout = MetricsLayout.build(stages)
        self.metrics = Metrics(self.layout.counters, self.layout.histograms) if metrics is not None else None
        self.access_logs = access_logs
        self.stage_log_formats = dict(stage_log_formats or {})
        self.formats: tuple[str, ...] = ()
        """The access-log format texts in use, checked at load: a bad one fails the load, not a request."""
        if access_logs is not None:
            self.formats = tuple(dict.fromkeys((access_logs.format, *self.stage_log_formats.values())))
            for text in self.formats:
                access_log_format(text)
        self.draining = threading.Event()
        self._server: MetricsServer | None = None

    def stage_slots(self, api: str, stage: str) -> StageSlots:
        return StageSlots(self.layout.route_slot(api, stage), self.layout.in_flight_index(api, stage))

    def count(self, counter: NodeCounter, n: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.add(self.layout.node_counter_index(counter), n)

    # -- the metrics listener (parent process) ----------------------------------------------------------

    def start_server(
        self, admin_actions: dict[str, Callable[[Mapping[str, str]], object]] | None = None
    ) -> MetricsServer | None:
        """The metrics, health and admin listener, when metrics are on (``--metrics-port``). Admin actions need
        ``FASTGW_ADMIN_TOKEN`` in the environment."""
        if self.settings is None or self.metrics is None:
            return None
        server = MetricsServer(
            host=self.settings.host,
            port=self.settings.port,
            registry=self._registry(),
            readiness=self._ready,
            admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
            admin_actions=admin_actions,
        )
        server.start()
        log.info("metrics and health on http://%s:%d/metrics", self.settings.host, server.port)
        self._server = server
        return server

    def hand_over_server(self, successor: NodeObservability) -> None:
        """A reload: the running listener goes on serving, now ``successor``'s counters and readiness (counters
        restart from zero, which Prometheus's ``rate()`` treats as a reset). Metrics turned off by the reload stop
        the listener; turned on, they need a restart."""
        server, self._server = self._server, None
        if server is None:
            return
        if successor.metrics is None:
            server.stop()
            return
        server.registry = successor._registry()
        server.readiness = successor._ready
        successor._server = server

    def _registry(self) -> CollectorRegistry:
        from prometheus_client import CollectorRegistry

        from fastgw.observability.metrics import GatewayCollector

        metrics = self.metrics
        assert metrics is not None
        registry = CollectorRegistry(auto_describe=True)
        registry.register(GatewayCollector(self.layout, lambda: memoryview(metrics.snapshot()).cast("Q")))
        return registry

    def _ready(self) -> bool:
        return not self.draining.is_set()

    def stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- per worker --------------------------------------------------------------------------------------

    def open_writers(self) -> dict[str, StageLog]:
        """The access logs of one worker, by format text (their writer threads do not survive a fork)."""
        if self.access_logs is None:
            return {}
        destination = self.access_logs.destination
        logs = {}
        for text in self.formats:
            sink, write = compile_sink(
                FORMAT_PRESETS.get(text, text), destination, dropped=lambda: self.count(NodeCounter.ACCESS_LOG_DROPPED)
            )
            logs[text] = StageLog(sink, write)
        return logs

    def writer_for(self, writers: dict[str, StageLog], api: str, stage: str) -> StageLog | None:
        if self.access_logs is None:
            return None
        return writers.get(self.stage_log_formats.get((api, stage), self.access_logs.format))


def record_spans(
    tracer: GatewayTracer,
    request: Request,
    runtime: StageRuntime,
    status: int,
    latency: float,
    integration: float | None,
) -> None:
    """The gateway span and, when a backend was called, the integration span, with the propagated ids."""
    from fastgw.observability.tracing import TraceContext, parse_traceparent

    assert request.trace is not None
    _, trace_id, span_id, flags = request.trace[0].split("-")
    incoming = parse_traceparent(request.header("traceparent") or "")
    parent = incoming.parent_id if incoming is not None and incoming.trace_id == trace_id else None
    # A trace that starts here is sampled when spans are exported.
    sampled = flags == "01" or parent is None
    now = time.time_ns()
    start = now - int(latency * 1e9)
    route = request.route
    integration_start = integration_end = None
    if integration is not None:
        integration_end = now
        integration_start = now - int(integration * 1e9)
    tracer.record(
        TraceContext(trace_id, span_id, parent, sampled),
        api=runtime.api_name,
        stage=runtime.stage_name,
        method=request.method,
        route=route.route_key if route is not None else None,
        status=status,
        start_ns=start,
        end_ns=now,
        integration_start_ns=integration_start,
        integration_end_ns=integration_end,
        integration_status=status if integration is not None else None,
    )
