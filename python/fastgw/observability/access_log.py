"""AWS-style access logs: a ``$context`` template, compiled once, rendered and written off the request path.

A stage's access-log format is a template with ``$context.<name>`` variables, as in API Gateway (reference §11).
:meth:`AccessLogFormat.parse` splits it into literal text and variables at load; a name fastgw does not know is a
``ValueError`` naming it (a typo should fail the deploy, not log ``-`` forever). Names AWS defines that fastgw
has no value for (``waf.latency``, ``identity.cognito...``, authorizer values) are accepted and render ``-``, as
absent values do on AWS, so AWS templates load unchanged.

:func:`compile_sink` turns a format into the Rust :class:`fastgw._core.AccessLogSink` (which renders each line and
writes it from a thread of its own, from a bounded buffer: a full one drops and counts lines) and one generated
``write`` function that reads exactly the values the template uses from the request and hands them to
``sink.submit``: logging costs the request one Python call, a tuple and one call into Rust, never formatting or
I/O in Python. Values that are the same for every request (``protocol``, names without a value) are folded into
the template's literal text at compile time.

Escaping (in the sink): when the template is JSON (it starts with ``{``), every value is JSON-escaped, so a user
agent with a quote cannot break the line. In other templates control characters (newlines included) are escaped
as ``\\n``, ``\\u0001``..., so a value cannot forge a second log line.

Secrets: no variable reads the API key value. ``$context.identity.apiKey`` is accepted (AWS templates use it) but
always renders ``-``; log ``$context.identity.apiKeyId`` instead.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastgw._core import AccessLogSink

if TYPE_CHECKING:
    from fastgw.integrations.base import Request
    from fastgw.routing import StageRuntime

__all__ = ["CLF_FORMAT", "JSON_FORMAT", "AccessLogFormat", "compile_sink"]

JSON_FORMAT: Final = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","routeKey":"$context.routeKey",'
    '"status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength"}'
)
"""The reference's typical JSON access log (one object per line)."""

CLF_FORMAT: Final = (
    "$context.identity.sourceIp - - [$context.requestTime] "
    '"$context.httpMethod $context.routeKey $context.protocol" '
    "$context.status $context.responseLength $context.requestId"
)
"""Common Log Format, as the API Gateway console offers it."""

Write = Callable[["Request", "StageRuntime"], None]
"""``write(request, runtime)``: queues the line of a request that has been answered."""

#: The variables fastgw fills: ``$context`` name -> (Python expression over r, rt, st, lat, il, t; value kind for
#: the sink). r: the request, rt: its stage runtime; computed from them only for templates that use them: st: the
#: status (500 when nothing was answered), lat: latency (s), il: integration latency (s) or None, t: epoch seconds
#: when the request came in. Kinds: ``plain``,
#: ``clf_time`` (epoch seconds written as ``dd/MMM/yyyy:HH:mm:ss +0000``), ``raw`` (already JSON), ``source_ip``
#: (the client's ``host:port`` or ``[host]:port``, written as its host). A constant expression is folded into the
#: template's text.
VARIABLES: Final[dict[str, tuple[str, str]]] = {
    "requestId": ("r.request_id", "plain"),
    "extendedRequestId": ("r.extended_request_id or r.request_id", "plain"),
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
    "responseLength": (
        "len(r.response.body) if r.response is not None and r.response.stream is None else None",
        "plain",
    ),
    "responseLatency": ("int(lat * 1000)", "plain"),
    "identity.sourceIp": ("r.client", "source_ip"),
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

# Names AWS defines (reference §11) that fastgw has no value for: accepted, rendered "-".
_AWS_ONLY: Final = frozenset(
    """
    awsEndpointRequestId2 customDomain.basePathMatched authorizer.error error.validationErrorString
    identity.accountId identity.caller identity.cognitoAuthenticationProvider identity.cognitoAuthenticationType
    identity.cognitoIdentityId identity.cognitoIdentityPoolId identity.principalOrgId identity.user
    identity.userArn identity.clientCert.clientCertPem identity.clientCert.subjectDN identity.clientCert.issuerDN
    identity.clientCert.serialNumber identity.clientCert.validity.notBefore identity.clientCert.validity.notAfter
    integration.requestId resourceId wafResponseCode webaclArn
    authorize.error authorize.latency authorize.status authenticate.error authenticate.latency authenticate.status
    authorizer.integrationLatency authorizer.integrationStatus authorizer.latency authorizer.requestId
    authorizer.status waf.error waf.latency waf.status
    accountId dataProcessed integration.error integrationErrorMessage authorizer.principalId identity.apiKey
    """.split()
)

_VARIABLE: Final = re.compile(r"\$context\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)")


def _known(name: str) -> bool:
    return name in VARIABLES or name in _AWS_ONLY or name.startswith("authorizer.")


@dataclass(frozen=True, slots=True)
class AccessLogFormat:
    """A parsed access-log template. Build with :meth:`parse`."""

    template: str
    is_json: bool
    literals: tuple[str, ...]
    """The text around the variables: one more than :attr:`variables`."""
    variables: tuple[str, ...]
    """The ``$context`` names, in template order."""

    @classmethod
    def parse(cls, template: str) -> AccessLogFormat:
        """Splits ``template``; ``ValueError`` names every unknown ``$context`` variable."""
        if "\n" in template or "\r" in template:
            raise ValueError("an access-log format must be a single line")
        names = [m.group(1) for m in _VARIABLE.finditer(template)]
        unknown = list(dict.fromkeys(name for name in names if not _known(name)))
        if unknown:
            listed = ", ".join(f"$context.{name}" for name in unknown)
            raise ValueError(f"unknown access-log variable{'s' if len(unknown) > 1 else ''}: {listed}")
        return cls(
            template=template,
            is_json=template.lstrip().startswith("{"),
            literals=tuple(_VARIABLE.split(template)[::2]),
            variables=tuple(names),
        )


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


def _ignore() -> None:
    pass


def _folded(expression: str, is_json: bool) -> str | None:
    """The text a constant ``expression`` renders as (``None`` renders ``-``), when it needs no escaping; ``None``
    when the expression is not constant (or its text would need escaping: the sink does that)."""
    try:
        value = ast.literal_eval(expression)
    except ValueError:
        return None
    if value is None:
        return "-"
    if isinstance(value, str) and value.isprintable() and not (is_json and ('"' in value or "\\" in value)):
        return value
    return None


#: How the generated function computes the values an expression may use (in this order: ``t`` needs ``lat``).
_DERIVED: Final = {
    "st": "st = 500 if r.response is None else r.response.status",
    "lat": "lat = _perf_counter() - r.start_time",
    "il": "il = r.integration_seconds",
    "t": "t = _now() - lat",
}


def compile_sink(
    template: str,
    destination: str,
    *,
    capacity: int = 10_000,
    dropped: Callable[[], None] = _ignore,
    now: Callable[[], float] = time.time,
    perf_counter: Callable[[], float] = time.perf_counter,
) -> tuple[AccessLogSink, Write]:
    """The sink for ``template`` writing to ``destination`` (``stdout`` or a path), and its ``write(request,
    runtime)`` function, which calls ``dropped()`` for a line the sink dropped. The clocks: ``now`` (epoch
    seconds) and ``perf_counter`` (the one ``request.start_time`` was read from). ``ValueError`` names unknown
    variables."""
    parsed = AccessLogFormat.parse(template)
    literals = [parsed.literals[0]]
    expressions = []
    kinds = []
    for name, literal in zip(parsed.variables, parsed.literals[1:], strict=True):
        expression, kind = VARIABLES.get(name, ("None", "plain"))  # AWS-only names (and secrets) render "-"
        folded = _folded(expression, parsed.is_json) if kind == "plain" else None
        if folded is not None:
            literals[-1] += folded + literal
            continue
        expressions.append(expression)
        kinds.append(kind)
        literals.append(literal)
    used = {
        node.id
        for expression in expressions
        for node in ast.walk(ast.parse(expression, mode="eval"))
        if isinstance(node, ast.Name)
    }
    if "t" in used:
        used.add("lat")
    source = (
        "def write(r, rt):\n"
        + "".join(f"    {line}\n" for name, line in _DERIVED.items() if name in used)
        + "    if not _submit(("
        + "".join(f"{e}, " for e in expressions)
        + ")):\n        _dropped()\n"
    )
    sink = AccessLogSink(destination, literals, kinds, parsed.is_json, capacity)
    namespace: dict[str, Any] = {
        "_submit": sink.submit,
        "_dropped": dropped,
        "_now": now,
        "_perf_counter": perf_counter,
        "_key_id": _key_id,
        "_message": _message,
        "_quoted": _quoted,
    }
    exec(compile(source, f"<access log format {template[:40]!r}>", "exec"), namespace)
    write: Write = namespace["write"]
    return sink, write
