"""Trace headers: parsing and validating traceparent and X-Amzn-Trace-Id, propagating, creating, and keeping
the two in agreement; the optional OTLP tracer."""

from __future__ import annotations

import logging
import re
import sys
import time

import pytest

from fastgw.observability import tracing
from fastgw.observability.tracing import (
    TraceContext,
    TraceParent,
    XRayTraceHeader,
    build_tracer,
    new_span_id,
    new_trace_id,
    parse_traceparent,
    parse_xray,
    propagation_headers,
    trace_context,
    trace_id_from_xray_root,
    xray_root,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
XRAY = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
TRACEPARENT_FORMAT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]")
XRAY_FORMAT = re.compile(r"Root=(1-[0-9a-f]{8}-[0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=([01])")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TRACEPARENT, TraceParent(TRACE, PARENT, 1)),
        (f"00-{TRACE}-{PARENT}-00", TraceParent(TRACE, PARENT, 0)),
        (f"01-{TRACE}-{PARENT}-03-future-field", TraceParent(TRACE, PARENT, 3)),  # later versions may extend
        (f" {TRACEPARENT} ", TraceParent(TRACE, PARENT, 1)),
        (f"00-{TRACE}-{PARENT}-01-extra", None),  # version 00 has exactly four fields
        (f"ff-{TRACE}-{PARENT}-01", None),  # version ff is invalid
        (f"00-{'0' * 32}-{PARENT}-01", None),  # all-zero trace id
        (f"00-{TRACE}-{'0' * 16}-01", None),  # all-zero parent id
        (f"00-{TRACE.upper()}-{PARENT}-01", None),  # hex is lower case
        (f"00-{TRACE[:-1]}-{PARENT}-01", None),
        (f"00-{TRACE}-{PARENT}0-01", None),
        (f"00-{TRACE}-{PARENT}-1", None),
        (f"00-{TRACE}-{PARENT}", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_traceparent(value: str, expected: TraceParent | None) -> None:
    assert parse_traceparent(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (XRAY, XRayTraceHeader(ROOT, "53995c3f42cd8ad8", True)),
        (f"Root={ROOT}", XRayTraceHeader(ROOT, None, None)),
        (f"Root={ROOT};Sampled=0", XRayTraceHeader(ROOT, None, False)),
        (f"Root={ROOT};Sampled=?", XRayTraceHeader(ROOT, None, None)),
        (  # other fields (an ALB's Self) are ignored; spaces after ";" are allowed
            f"Self=1-67891233-abcdef012345678912345678; Root={ROOT}; Parent=53995c3f42cd8ad8",
            XRayTraceHeader(ROOT, "53995c3f42cd8ad8", None),
        ),
        (f"Root={ROOT};Parent=xyz", XRayTraceHeader(ROOT, None, None)),  # a bad parent is dropped, not the root
        ("Root=1-5759e988-bd862e3fe1be46a99427279", None),  # 23 hex
        ("Root=2-5759e988-bd862e3fe1be46a994272793", None),  # version 1 only
        (f"Root=1-00000000-{'0' * 24}", None),
        ("Parent=53995c3f42cd8ad8;Sampled=1", None),
        ("", None),
    ],
)
def test_parse_xray(value: str, expected: XRayTraceHeader | None) -> None:
    assert parse_xray(value) == expected


def test_the_two_trace_id_forms_map_both_ways() -> None:
    assert xray_root("5759e988bd862e3fe1be46a994272793") == ROOT
    assert trace_id_from_xray_root(ROOT) == "5759e988bd862e3fe1be46a994272793"
    trace_id = new_trace_id()
    assert trace_id_from_xray_root(xray_root(trace_id)) == trace_id


def test_new_ids() -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and re.fullmatch(r"[0-9a-f]{16}", span_id)
    # The first 8 hex are the current epoch seconds, so X-Ray accepts the trace.
    assert abs(int(trace_id[:8], 16) - time.time()) < 5
    assert len({new_span_id() for _ in range(1_000)}) == 1_000


def check_agree(headers: list[tuple[str, str]]) -> tuple[str, str, str, bool]:
    """The (trace id, parent span, X-Ray root, sampled) the headers carry, after checking they agree."""
    assert [name for name, _ in headers] == ["traceparent", "X-Amzn-Trace-Id"]
    w3c = TRACEPARENT_FORMAT.fullmatch(headers[0][1])
    amazon = XRAY_FORMAT.fullmatch(headers[1][1])
    assert w3c and amazon, headers
    trace_id, span_id = w3c.groups()
    root, parent, sampled = amazon.groups()
    assert xray_root(trace_id) == root
    assert parent == span_id
    assert (headers[0][1][-1] == "1") == (sampled == "1")
    return trace_id, span_id, root, sampled == "1"


def test_a_valid_traceparent_is_continued_with_the_gateway_as_parent() -> None:
    trace_id, span_id, _, sampled = check_agree(propagation_headers([("TraceParent", TRACEPARENT)]))
    assert (trace_id, sampled) == (TRACE, True)
    assert span_id != PARENT


def test_traceparent_wins_over_a_disagreeing_xray_header() -> None:
    headers = propagation_headers([("x-amzn-trace-id", XRAY), ("traceparent", f"00-{TRACE}-{PARENT}-00")])
    trace_id, _, root, sampled = check_agree(headers)
    assert (trace_id, root, sampled) == (TRACE, xray_root(TRACE), False)


def test_an_xray_header_alone_is_continued() -> None:
    context = trace_context([("Host", "x"), ("X-Amzn-Trace-Id", XRAY)])
    assert context.trace_id == "5759e988bd862e3fe1be46a994272793"
    assert context.parent_id == "53995c3f42cd8ad8"
    trace_id, _, root, sampled = check_agree(context.headers())
    assert (root, sampled) == (ROOT, True)


@pytest.mark.parametrize("sample_new", [True, False])
def test_an_undecided_xray_header_takes_the_gateways_decision(sample_new: bool) -> None:
    assert trace_context([("X-Amzn-Trace-Id", f"Root={ROOT};Sampled=?")], sample_new=sample_new).sampled is sample_new


@pytest.mark.parametrize(
    "incoming",
    [
        [],
        [("traceparent", "00-zz-00f067aa0ba902b7-01")],
        [("X-Amzn-Trace-Id", "Root=bogus")],
        [("traceparent", TRACEPARENT), ("traceparent", f"00-{TRACE[::-1]}-{PARENT}-01")],  # two: ambiguous
    ],
)
def test_absent_or_invalid_headers_start_a_new_trace(incoming: list[tuple[str, str]]) -> None:
    context = trace_context(incoming, sample_new=True)
    assert context.parent_id is None and context.sampled
    assert context.trace_id != TRACE
    check_agree(context.headers())
    assert trace_context(incoming).sampled is False


def test_each_request_gets_its_own_span() -> None:
    first, second = trace_context([("traceparent", TRACEPARENT)]), trace_context([("traceparent", TRACEPARENT)])
    assert first.trace_id == second.trace_id and first.span_id != second.span_id


# -- OTLP --------------------------------------------------------------------------------------------------


def test_no_endpoint_no_tracer() -> None:
    assert build_tracer(None) is None
    assert build_tracer("") is None


def test_missing_opentelemetry_warns_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    monkeypatch.setattr(tracing, "_warned_missing", False)
    with caplog.at_level(logging.WARNING, logger="fastgw.observability"):
        assert build_tracer("http://collector:4318") is None
        assert build_tracer("http://collector:4318") is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "OpenTelemetry is not installed" in caplog.text


def test_spans_share_the_propagated_ids() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from opentelemetry.trace import SpanKind, StatusCode  # type: ignore[import-not-found, import-untyped, unused-ignore]

    exporter = InMemorySpanExporter()
    tracer = tracing.GatewayTracer(SimpleSpanProcessor(exporter), "gw-test")
    context = trace_context([("traceparent", TRACEPARENT)])
    start = time.time_ns()
    tracer.record(
        context,
        api="petstore",
        stage="prod",
        method="GET",
        route="GET /pets",
        status=502,
        start_ns=start,
        end_ns=start + 5_000_000,
        integration_start_ns=start + 1_000_000,
        integration_end_ns=start + 4_000_000,
        integration_status=None,
    )
    gateway, integration = exporter.get_finished_spans()
    assert gateway.context is not None and integration.context is not None
    assert gateway.parent is not None and integration.parent is not None
    assert {gateway.context.trace_id, integration.context.trace_id} == {int(TRACE, 16)}
    assert gateway.parent.span_id == int(PARENT, 16) and gateway.parent.is_remote
    assert integration.parent.span_id == gateway.context.span_id
    assert integration.context.span_id == int(context.span_id, 16), "the backend's parent is the integration span"
    assert (gateway.name, gateway.kind, integration.kind) == ("GET GET /pets", SpanKind.SERVER, SpanKind.CLIENT)
    assert gateway.status.status_code == StatusCode.ERROR
    assert gateway.attributes == {
        "http.request.method": "GET",
        "http.response.status_code": 502,
        "fastgw.api": "petstore",
        "fastgw.stage": "prod",
        "http.route": "GET /pets",
    }
    assert gateway.resource.attributes["service.name"] == "gw-test"
    tracer.shutdown()


def test_unsampled_requests_and_cached_answers() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # type: ignore[import-not-found, import-untyped, unused-ignore]

    exporter = InMemorySpanExporter()
    tracer = tracing.GatewayTracer(SimpleSpanProcessor(exporter))
    common = {"api": "a", "stage": "s", "method": "GET", "route": None, "status": 200, "start_ns": 1, "end_ns": 2}
    tracer.record(TraceContext(TRACE, PARENT, None, False), **common)  # type: ignore[arg-type]
    assert exporter.get_finished_spans() == ()
    tracer.record(TraceContext(TRACE, PARENT, None, True), **common)  # type: ignore[arg-type]
    (only,) = exporter.get_finished_spans()
    assert only.parent is None and only.name == "GET"


def test_build_tracer_exports_in_batches() -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # type: ignore[import-not-found, import-untyped, unused-ignore]

    tracer = build_tracer("http://127.0.0.1:9/")
    assert tracer is not None
    assert isinstance(tracer.processor, BatchSpanProcessor)
    exporter = tracer.processor.span_exporter
    assert getattr(exporter, "_endpoint", None) == "http://127.0.0.1:9/v1/traces"
    tracer.shutdown()
