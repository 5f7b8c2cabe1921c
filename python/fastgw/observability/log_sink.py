"""Access logs on the request path: the data plane's half of :class:`fastgw._core.AccessLogSink`.

A format (:class:`~fastgw.observability.access_log.AccessLogFormat` checks its ``$context`` names) is compiled
once into the sink's literals and value kinds, and into one generated function that reads exactly the values
the template uses from the request (``values(request, runtime, status, latency, integration, received)``). Per
request the data plane calls that function and ``sink.submit``: the line is rendered in Rust and written by the
sink's own thread, so logging costs the request a tuple and one call, and never the interpreter's time for
formatting or I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastgw._core import AccessLogSink
from fastgw.observability.access_log import AccessLogFormat

if TYPE_CHECKING:
    from fastgw.integrations.base import Request
    from fastgw.routing import StageRuntime

Values = Callable[["Request", "StageRuntime", int, float, "float | None", float], tuple[Any, ...]]

#: ``$context`` name -> (Python expression over r, rt, st, lat, il, t; value kind for the sink).
#: r: the request, rt: its stage runtime, st: status, lat: latency (s), il: integration latency (s) or None,
#: t: epoch seconds when the request came in.
_EXPRESSIONS: dict[str, tuple[str, str]] = {
    "requestId": ("r.request_id", "plain"),
    "extendedRequestId": ("r.extended_request_id", "plain"),
    "awsEndpointRequestId": ("r.request_id", "plain"),
    "apiId": ("rt.api_id", "plain"),
    "stage": ("rt.stage_name", "plain"),
    "domainName": ("r.host", "plain"),
    "domainPrefix": ("(r.host or '').partition('.')[0] or None", "plain"),
    "httpMethod": ("r.method", "plain"),
    "routeKey": ("r.route.route_key if r.route is not None else None", "plain"),
    "resourcePath": ("r.route.resource_path if r.route is not None else None", "plain"),
    "path": ("r.path if rt.api_type == 'HTTP' else '/' + rt.stage_name + r.path", "plain"),
    "protocol": ("'HTTP/1.1'", "plain"),
    "requestTime": ("t", "clf_time"),
    "requestTimeEpoch": ("int(t * 1000)", "plain"),
    "status": ("st", "plain"),
    "responseLength": ("_length(r)", "plain"),
    "responseLatency": ("int(lat * 1000)", "plain"),
    "identity.sourceIp": ("r.scope.client.rpartition(':')[0].strip('[]')", "plain"),
    "identity.userAgent": ("r.header('user-agent')", "plain"),
    "identity.apiKeyId": ("_key_id(r, rt)", "plain"),
    "integrationLatency": ("None if il is None else int(il * 1000)", "plain"),
    "integration.latency": ("None if il is None else int(il * 1000)", "plain"),
    "integrationStatus": ("st if il is not None and r.response_type is None else None", "plain"),
    "integration.status": ("st if il is not None and r.response_type is None else None", "plain"),
    "integration.integrationStatus": ("st if il is not None and r.response_type is None else None", "plain"),
    "error.message": ("_message(r, rt)", "plain"),
    "error.messageString": ("_quoted(_message(r, rt))", "raw"),
    "error.responseType": ("r.response_type", "plain"),
    "xrayTraceId": ("r.trace[1].split(';', 1)[0].removeprefix('Root=') if r.trace is not None else None", "plain"),
}


def _length(request: Request) -> int | None:
    response = request.response
    return len(response.body) if response is not None and response.stream is None else None


def _key_id(request: Request, runtime: StageRuntime) -> str | None:
    if request.key_slot is None or runtime.key_ids is None:
        return None
    return runtime.key_ids(request.key_slot)


def _message(request: Request, runtime: StageRuntime) -> str | None:
    if request.response_type is None:
        return None
    return runtime.responses.default_for(request.response_type).message


def _quoted(text: str | None) -> str | None:
    return None if text is None else json.dumps(text)


def compile_sink(template: str, destination: str, *, capacity: int = 10_000) -> tuple[AccessLogSink, Values]:
    """The sink for ``template`` writing to ``destination`` (``stdout`` or a path), and its values function.
    ``ValueError`` names unknown variables."""
    parsed = AccessLogFormat.parse(template)
    expressions = []
    kinds = []
    for name in parsed.variables:
        expression, kind = _EXPRESSIONS.get(name, ("None", "plain"))  # AWS-only names (and secrets) render "-"
        expressions.append(expression)
        kinds.append(kind)
    source = "def values(r, rt, st, lat, il, t):\n    return (" + "".join(f"{e}, " for e in expressions) + ")\n"
    namespace: dict[str, Any] = {"_length": _length, "_key_id": _key_id, "_message": _message, "_quoted": _quoted}
    exec(compile(source, f"<access log format {template[:40]!r}>", "exec"), namespace)
    sink = AccessLogSink(destination, list(parsed.literals), kinds, parsed.is_json, capacity)
    values: Values = namespace["values"]
    return sink, values
