"""Trace context for backend calls (W3C ``traceparent`` and AWS ``X-Amzn-Trace-Id``), and optional OTLP spans.

Per request the gateway reads the caller's trace headers and sends the backend both, agreeing with each other,
so a trace crosses the gateway whichever convention the caller and the backend speak:

- a valid ``traceparent`` wins: its trace id is kept (an ``X-Amzn-Trace-Id`` that disagrees is rewritten);
- else a valid ``X-Amzn-Trace-Id`` root is kept, as the W3C trace id;
- else (absent or malformed: ids not hex, all zero, wrong length) a new trace starts.

The gateway adds its own span: a new 16-hex span id becomes the backend's parent (``traceparent`` parent id,
X-Ray ``Parent``). When spans are exported that id is the gateway's "integration" span, the child of a
"gateway" span whose parent is the caller's span. The sampled flag is the caller's (``-01`` /
``Sampled=1``); a new trace, or an X-Ray ``Sampled=?``, uses ``sample_new``.

Mapping between the two trace ids (both 128 bits)::

    W3C trace id   5759e988bd862e3fe1be46a994272793        32 hex
    X-Ray root     1-5759e988-bd862e3fe1be46a994272793      "1-" + first 8 hex + "-" + last 24 hex

X-Ray reads the first 8 hex as the trace's start in epoch seconds and refuses traces that are too old, so new
trace ids begin with the current time; a W3C id from elsewhere maps the same way (X-Ray may then drop the
segment, which is AWS's behaviour for any W3C-started trace too). Other X-Ray fields (``Self``, ``Lineage``)
and ``tracestate`` are not produced here: the gateway forwards the caller's other headers as they are.

This runs on every request, so it is string slicing and one precompiled regex per header, no allocation beyond
the result. Spans (:func:`build_tracer`) are opt-in: ``opentelemetry-sdk`` and
``opentelemetry-exporter-otlp-proto-http`` are imported only when an endpoint is configured, and spans are
handed to a ``BatchSpanProcessor``, whose own thread exports them.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, NamedTuple
from urllib.parse import urlsplit

# OpenTelemetry is optional: mypy must pass with and without it installed, hence the ignores on its imports.
if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor  # type: ignore[import-not-found, import-untyped, unused-ignore]

__all__ = [
    "GatewayTracer",
    "TraceContext",
    "TraceParent",
    "XRayTraceHeader",
    "build_tracer",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "parse_xray",
    "propagation_headers",
    "trace_context",
    "trace_id_from_xray_root",
    "xray_root",
]

log = logging.getLogger("fastgw.observability")

TRACEPARENT: Final = "traceparent"
XRAY: Final = "X-Amzn-Trace-Id"
_XRAY_LOWER: Final = XRAY.lower()

_TRACEPARENT: Final = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_TRACEPARENT_00: Final = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_XRAY_ROOT: Final = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
# What AWS services and SDKs send, fields in this order; anything else takes the general path.
_XRAY_CANONICAL: Final = re.compile(
    r"Root=(1-[0-9a-f]{8}-[0-9a-f]{24})(?:;Parent=([0-9a-f]{16}))?(?:;Sampled=([01?]))?"
)
_SAMPLED: Final = {"1": True, "0": False}
_SPAN_ID: Final = re.compile(r"[0-9a-f]{16}")
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16


class TraceParent(NamedTuple):
    """A valid W3C ``traceparent``."""

    trace_id: str
    parent_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)


class XRayTraceHeader(NamedTuple):
    """A valid ``X-Amzn-Trace-Id`` (the fields the gateway uses)."""

    root: str
    parent: str | None
    sampled: bool | None
    """``None`` for ``Sampled=?`` or no ``Sampled`` field: the receiver decides."""


class TraceContext(NamedTuple):
    """The trace of one request, as the backend will see it."""

    trace_id: str
    """32 lowercase hex."""
    span_id: str
    """16 hex: the gateway's span, parent of the backend's spans."""
    parent_id: str | None
    """The caller's span, ``None`` when the trace starts here."""
    sampled: bool

    def headers(self) -> list[tuple[str, str]]:
        """The headers to send to the backend, replacing any of the same name."""
        flags = "01" if self.sampled else "00"
        return [
            (TRACEPARENT, f"00-{self.trace_id}-{self.span_id}-{flags}"),
            (XRAY, f"Root={xray_root(self.trace_id)};Parent={self.span_id};Sampled={flags[1]}"),
        ]


def parse_traceparent(value: str) -> TraceParent | None:
    """The ``traceparent`` header's fields, or ``None`` if it is not valid (W3C Trace Context level 1: version
    ``ff`` is invalid; version ``00`` has exactly four fields; later versions may append fields)."""
    value = value.strip()
    if _TRACEPARENT_00.fullmatch(value):  # the common case, without capture groups
        trace_id, parent_id, flags = value[3:35], value[36:52], value[53:55]
    else:
        match = _TRACEPARENT.fullmatch(value)
        if match is None:
            return None
        version, trace_id, parent_id, flags, rest = match.groups()
        if version in ("00", "ff"):  # 00 with a fifth field; ff is never valid
            return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return TraceParent(trace_id, parent_id, int(flags, 16))


def parse_xray(value: str) -> XRayTraceHeader | None:
    """The ``X-Amzn-Trace-Id`` header's ``Root``, ``Parent`` and ``Sampled``, or ``None`` without a valid root."""
    canonical = _XRAY_CANONICAL.fullmatch(value)
    if canonical is not None:
        root, parent, sampled_field = canonical.groups()
        if trace_id_from_xray_root(root) == _ZERO_TRACE:
            return None
        return XRayTraceHeader(root, None if parent == _ZERO_SPAN else parent, _SAMPLED.get(sampled_field or ""))
    root = parent = None
    sampled: bool | None = None
    for part in value.split(";"):
        key, _, field = part.strip().partition("=")
        if key == "Root":
            valid = _XRAY_ROOT.fullmatch(field) is not None and trace_id_from_xray_root(field) != _ZERO_TRACE
            root = field if valid else None
        elif key == "Parent":
            parent = field if _SPAN_ID.fullmatch(field) and field != _ZERO_SPAN else None
        elif key == "Sampled":
            sampled = _SAMPLED.get(field)
    return None if root is None else XRayTraceHeader(root, parent, sampled)


def xray_root(trace_id: str) -> str:
    """The X-Ray root of a W3C trace id: ``1-`` + first 8 hex + ``-`` + last 24 hex."""
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


def trace_id_from_xray_root(root: str) -> str:
    """The W3C trace id of an X-Ray root (the inverse of :func:`xray_root`)."""
    return root[2:10] + root[11:]


def new_trace_id() -> str:
    """32 hex: the current epoch seconds (as X-Ray expects), then 96 random bits."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{random.getrandbits(96):024x}"


def new_span_id() -> str:
    """16 random hex, never all zero. ``random`` is reseeded in each forked worker; ids need not be secret."""
    return f"{random.getrandbits(64) or 1:016x}"


def trace_context(headers: Iterable[tuple[str, str]], *, sample_new: bool = False) -> TraceContext:
    """The trace to continue (or start) for a request with these headers (names in any case)."""
    traceparent = xray = None
    traceparents = 0
    for name, value in headers:
        # Only names of the right length are lowered: most headers are skipped on one len() call.
        size = len(name)
        if size == 11 and name.lower() == TRACEPARENT:
            traceparent, traceparents = value, traceparents + 1
        elif size == 15 and xray is None and name.lower() == _XRAY_LOWER:
            xray = value
    span_id = new_span_id()
    # Two traceparent headers are ambiguous: start a new trace, as the W3C test suite expects.
    incoming = parse_traceparent(traceparent) if traceparents == 1 and traceparent is not None else None
    if incoming is not None:
        return TraceContext(incoming.trace_id, span_id, incoming.parent_id, incoming.sampled)
    amazon = parse_xray(xray) if xray is not None else None
    if amazon is not None:
        sampled = sample_new if amazon.sampled is None else amazon.sampled
        return TraceContext(trace_id_from_xray_root(amazon.root), span_id, amazon.parent, sampled)
    return TraceContext(new_trace_id(), span_id, None, sample_new)


def propagation_headers(
    incoming_headers: Iterable[tuple[str, str]], *, sample_new: bool = False
) -> list[tuple[str, str]]:
    """``traceparent`` and ``X-Amzn-Trace-Id`` for the backend call: see the module docs."""
    return trace_context(incoming_headers, sample_new=sample_new).headers()


# -- OTLP export (optional) ---------------------------------------------------------------------------------

_warned_missing = False


class GatewayTracer:
    """Records a "gateway" span and a child "integration" span per sampled request, into a span processor.

    The spans carry the ids of the request's :class:`TraceContext`, so they join the caller's and the backend's
    spans in one trace. They are built as finished spans after the response and handed to the processor (a
    ``BatchSpanProcessor`` from :func:`build_tracer`): no context variables, no span left open across awaits.
    """

    def __init__(self, processor: SpanProcessor, service_name: str = "fastgw") -> None:
        from opentelemetry.sdk.resources import Resource  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from opentelemetry.sdk.trace import ReadableSpan  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags  # type: ignore[import-not-found, import-untyped, unused-ignore]

        self.processor = processor
        self._resource = Resource({"service.name": service_name})
        self._scope = InstrumentationScope("fastgw")
        self._span = ReadableSpan
        self._context = SpanContext
        self._kinds = (SpanKind.SERVER, SpanKind.CLIENT)
        self._error = Status(StatusCode.ERROR)
        self._unset = Status(StatusCode.UNSET)
        self._flags = TraceFlags(TraceFlags.SAMPLED)

    def record(
        self,
        context: TraceContext,
        *,
        api: str,
        stage: str,
        method: str,
        route: str | None,
        status: int,
        start_ns: int,
        end_ns: int,
        integration_start_ns: int | None = None,
        integration_end_ns: int | None = None,
        integration_status: int | None = None,
    ) -> None:
        """Hands the request's spans to the processor (nothing if not sampled). Times are epoch nanoseconds
        (``time.time_ns()``); the integration span only when there was a backend call."""
        if not context.sampled:
            return
        trace_id = int(context.trace_id, 16)
        parent = None
        if context.parent_id is not None:
            parent = self._context(trace_id, int(context.parent_id, 16), is_remote=True, trace_flags=self._flags)
        gateway = self._context(trace_id, int(new_span_id(), 16), is_remote=False, trace_flags=self._flags)
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "http.response.status_code": status,
            "fastgw.api": api,
            "fastgw.stage": stage,
        }
        if route is not None:
            attributes["http.route"] = route
        server, client = self._kinds
        spans = [
            self._span(
                name=f"{method} {route}" if route else method,
                context=gateway,
                parent=parent,
                resource=self._resource,
                attributes=attributes,
                kind=server,
                status=self._error if status >= 500 else self._unset,
                start_time=start_ns,
                end_time=end_ns,
                instrumentation_scope=self._scope,
            )
        ]
        if integration_start_ns is not None and integration_end_ns is not None:
            failed = integration_status is None or integration_status >= 500
            spans.append(
                self._span(
                    name="integration",
                    context=self._context(trace_id, int(context.span_id, 16), is_remote=False, trace_flags=self._flags),
                    parent=gateway,
                    resource=self._resource,
                    attributes={} if integration_status is None else {"http.response.status_code": integration_status},
                    kind=client,
                    status=self._error if failed else self._unset,
                    start_time=integration_start_ns,
                    end_time=integration_end_ns,
                    instrumentation_scope=self._scope,
                )
            )
        for span in spans:
            self.processor.on_end(span)

    def shutdown(self) -> None:
        """Exports what is queued and stops the processor."""
        self.processor.shutdown()


def build_tracer(endpoint: str | None, service_name: str = "fastgw") -> GatewayTracer | None:
    """An OTLP/HTTP tracer exporting to ``endpoint`` (``http://collector:4318``; ``/v1/traces`` is added when the
    URL has no path), or ``None`` when no endpoint is set or the OpenTelemetry packages are not installed (one
    warning per process)."""
    global _warned_missing
    if not endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as error:
        if not _warned_missing:
            _warned_missing = True
            log.warning(
                "tracing endpoint %s configured but OpenTelemetry is not installed (%s): no spans are exported; "
                "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http",
                endpoint,
                error,
            )
        return None
    if urlsplit(endpoint).path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return GatewayTracer(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)), service_name)
