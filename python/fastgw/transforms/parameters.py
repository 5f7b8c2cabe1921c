"""REST ``requestParameters`` / ``responseParameters``: source expressions compiled once into getters.

A mapping such as ``integration.request.header.x-user: method.request.querystring.user`` is compiled at load
into a :class:`ParameterMapping` (target kind, target name, getter); per request, the getter reads the value
from the :class:`~fastgw.integrations.base.Request` (reference §5.2). An empty or missing value is not set.

Every source kind of §5.2 is understood: path, querystring, multivaluequerystring, header, multivalueheader,
body, ``body.<JSONPath>``, ``stageVariables.*``, ``context.*`` and ``'static'``; on the response side
``integration.response.{header|multivalueheader|body|body.<JSONPath>}``. Single-valued sources take the last
of repeated values and multi-valued ones join them with ``,`` (LocalStack's AWS-checked behaviour), except a
``multivaluequerystring`` mapped to a query string, which repeats the name once per value.

Differences from AWS, on purpose: Granian hands us header names in lowercase, so header lookups here are
case-insensitive where AWS's are case-sensitive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from fastgw.config.model import Integration
from fastgw.errors import BadRequestError, GatewayError, Problem
from fastgw.integrations.base import Request
from fastgw.transforms.wire_values import header_value, path_value

Getter = Callable[[Request], str | None]
MultiGetter = Callable[[Request], list[str]]
TargetKind = Literal["header", "querystring", "path"]

#: Headers no REST mapping may set: AWS fails the request with 500 (reference §2.2, LocalStack-validated).
FORBIDDEN_MAPPED_HEADERS: Final = frozenset(
    ("content-length", "transfer-encoding", "x-amzn-trace-id", "x-amzn-apigateway-api-id")
)
#: ... and, for ``AWS`` / ``AWS_PROXY`` integrations, these as well.
FORBIDDEN_MAPPED_HEADERS_AWS: Final = FORBIDDEN_MAPPED_HEADERS | {
    "authorization",
    "connection",
    "expect",
    "proxy-authenticate",
    "te",
}
#: ``$context`` variables fastgw fills in mappings; any other one maps to nothing (and is warned about).
CONTEXT_VARIABLES: Final = frozenset(
    (
        "requestId",
        "extendedRequestId",
        "httpMethod",
        "resourcePath",
        "routeKey",
        "stage",
        "apiId",
        "identity.sourceIp",
        "identity.userAgent",
        "path",
        "protocol",
        "domainName",
        "domainPrefix",
    )
)


class ResponseGetter(Protocol):
    """A compiled response-side source. ``body`` is the backend body; callers that do not pass it get no
    ``integration.response.body*`` getters (:func:`compile_response_source` refuses them unless
    ``with_body=True``)."""

    def __call__(
        self, request: Request, status: int, headers: list[tuple[str, str]], body: bytes | None = None, /
    ) -> str | None: ...


class UnsupportedExpressionError(ValueError):
    """A source expression fastgw cannot evaluate (yet); the message says which."""


class ForbiddenHeaderMappingError(GatewayError):
    """A mapping set a header AWS never lets a mapping set: AWS logs "Execution failed due to configuration
    error: <name> header already present" and answers ``500 {"message":"Internal server error"}``."""

    response_type = "API_CONFIGURATION_ERROR"


class MappingFailureError(GatewayError):
    """``integration.response.body*`` on a backend body that starts like JSON but is not (AWS: 500)."""

    response_type = "DEFAULT_5XX"


def context_value(request: Request, name: str) -> str | None:
    """One ``$context`` variable of ``request`` (the names in :data:`CONTEXT_VARIABLES`), else ``None``."""
    route = request.route
    stage = request.stage
    if name == "requestId":
        # HTTP APIs have one id, the short one of ``apigw-requestid`` (reference §11).
        return request.extended_request_id if stage.api_type == "HTTP" else request.request_id
    if name == "extendedRequestId":
        return request.extended_request_id
    if name == "httpMethod":
        return request.method
    if name == "resourcePath":
        return route.resource_path if route else None
    if name == "routeKey":
        return route.route_key if route else None
    if name == "stage":
        return stage.stage_name
    if name == "apiId":
        return stage.api_id
    if name == "identity.sourceIp":
        return request.client_ip
    if name == "identity.userAgent":
        return request.header("user-agent")
    if name == "path":
        return request.path
    if name == "protocol":
        return "HTTP/1.1"
    if name == "domainName":
        return request.host
    if name == "domainPrefix":
        return request.host.partition(".")[0] or None
    return None


def _last(values: list[str] | None) -> str | None:
    """AWS keeps the last of repeated query values (reference §1.2)."""
    return values[-1] if values else None


def _header_values(headers: list[tuple[str, str]], lowered: str) -> list[str]:
    return [v for n, v in headers if n.lower() == lowered]


# -- JSONPath ---------------------------------------------------------------------------------------------

_SEGMENT = re.compile(
    r"""\.\.(?P<deep>[^.\[\]]+)"""
    r"""|\.(?P<name>[^.\[\]]+)"""
    r"""|\[\s*(?P<index>-?\d+)\s*\]"""
    r"""|\[\s*(?P<slice>-?\d*\s*:\s*-?\d*)\s*\]"""
    r"""|\[\s*(?P<star>\*)\s*\]"""
    r"""|\[\s*'(?P<squoted>[^']*)'\s*\]"""
    r"""|\[\s*"(?P<dquoted>[^"]*)"\s*\]"""
)
_MISSING: Final = object()
Step = tuple[str, str | int | slice]


class JsonPath:
    """A JSONPath expression (Goessner's: ``.a``, ``['a']``, ``[0]``, ``[-1]``, ``[1:3]``, ``*``, ``..a``),
    compiled once. Filters (``[?(...)]``) and script expressions are refused at compile time."""

    __slots__ = ("definite", "steps", "text")

    def __init__(self, text: str, *, allow_recursive: bool = True) -> None:
        self.text = text
        body = text.strip()
        if body.startswith("$"):
            body = body[1:]
        elif body and not body.startswith((".", "[")):
            body = "." + body
        steps: list[Step] = []
        position = 0
        while position < len(body):
            match = _SEGMENT.match(body, position)
            if match is None:
                raise UnsupportedExpressionError(f"JSONPath {text!r} is not supported (at {body[position:]!r})")
            position = match.end()
            if (deep := match.group("deep")) is not None:
                if not allow_recursive:
                    raise UnsupportedExpressionError(f"JSONPath {text!r}: '..' is not allowed here")
                steps.append(("deep", deep))
            elif (name := match.group("name")) is not None:
                steps.append(("star", "*") if name == "*" else ("key", name))
            elif (index := match.group("index")) is not None:
                steps.append(("index", int(index)))
            elif (bounds := match.group("slice")) is not None:
                start, _, stop = (part.strip() for part in bounds.partition(":"))
                steps.append(("slice", slice(int(start) if start else None, int(stop) if stop else None)))
            elif match.group("star") is not None:
                steps.append(("star", "*"))
            else:
                key = match.group("squoted")
                steps.append(("key", key if key is not None else match.group("dquoted")))
        self.steps = tuple(steps)
        self.definite = all(kind in ("key", "index") for kind, _ in steps)
        """One result at most (no wildcard, slice or recursive descent)."""

    def find(self, document: object) -> list[object]:
        nodes = [document]
        for kind, arg in self.steps:
            found: list[object] = []
            for node in nodes:
                found.extend(_step(node, kind, arg))
            nodes = found
            if not nodes:
                break
        return nodes

    def text_value(self, document: object) -> str | None:
        """The match as mapping text: a string as is, anything else as compact JSON; several matches (a
        wildcard) as a JSON array; no match or ``null`` as ``None``."""
        found = self.find(document)
        if not found:
            return None
        if self.definite:
            return json_text(found[0])
        return json_text(found)


def json_text(value: object) -> str | None:
    """A JSON value as mapping text (UNVERIFIED for non-strings: AWS docs show only string fields)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _step(node: object, kind: str, arg: str | int | slice) -> list[object]:
    if kind == "key":
        if isinstance(node, dict):
            value = node.get(arg, _MISSING)
            return [] if value is _MISSING else [value]
        return []
    if kind == "index":
        if isinstance(node, list) and isinstance(arg, int) and -len(node) <= arg < len(node):
            return [node[arg]]
        return []
    if kind == "slice":
        return list(node[arg]) if isinstance(node, list) and isinstance(arg, slice) else []
    if kind == "star":
        if isinstance(node, dict):
            return list(node.values())
        return list(node) if isinstance(node, list) else []
    # "deep": every member named ``arg`` at any depth, in document order.
    found: list[object] = []
    stack = [node]
    while stack:
        current = stack.pop(0)
        if isinstance(current, dict):
            if arg in current:
                found.append(current[arg])
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


# -- bodies -----------------------------------------------------------------------------------------------

_JSON_START: Final = (b"{", b"[", b"'", b'"')
_parsed: tuple[bytes | None, object] = (None, None)


def parse_json_body(body: bytes) -> object:
    """A body as AWS reads it for ``body.<JSONPath>``: JSON when it starts like JSON (``{ [ ' "``), else an
    empty object. Raises ``ValueError`` when it starts like JSON and is not. The last parse is kept, so that
    several mappings of one body parse it once."""
    global _parsed
    cached_body, cached_value = _parsed
    if cached_body is body:
        return cached_value
    stripped = body.strip()
    try:
        value: object = json.loads(stripped) if stripped.startswith(_JSON_START) else {}
    except RecursionError:  # nested past Python's limit: not JSON the gateway reads (found by fuzzing, issue 18)
        raise ValueError("the body is nested too deeply") from None
    _parsed = (body, value)
    return value


def _body_text(body: bytes | None) -> bytes:
    """AWS maps an empty body as ``{}`` (LocalStack, checked against AWS)."""
    return body.strip() if body and body.strip() else b"{}"


def _request_body_getter(path: JsonPath | None) -> Getter:
    def getter(request: Request) -> str | None:
        body = _body_text(getattr(request, "body", None))
        try:
            document = parse_json_body(body)
        except ValueError:
            raise BadRequestError(
                "invalid JSON body for a body mapping", message="Invalid JSON in request body"
            ) from None
        if path is None:
            return body.decode("utf-8", "replace")
        return path.text_value(document)

    return getter


def _response_body_getter(path: JsonPath | None) -> ResponseGetter:
    def getter(
        _request: Request, _status: int, _headers: list[tuple[str, str]], body: bytes | None = None, /
    ) -> str | None:
        text = _body_text(body)
        try:
            document = parse_json_body(text)
        except ValueError:
            raise MappingFailureError("integration response body is not valid JSON") from None
        if path is None:
            return text.decode("utf-8", "replace")
        return path.text_value(document)

    return getter


# -- request sources --------------------------------------------------------------------------------------


def _static(expression: str) -> str | None:
    if len(expression) >= 2 and expression[0] == "'" and expression[-1] == "'":
        return expression[1:-1]
    return None


def is_body_source(expression: str) -> bool:
    """``method.request.body`` or ``method.request.body.<JSONPath>``: the getter reads ``Request.body``."""
    return expression == "method.request.body" or expression.startswith(
        ("method.request.body.", "method.request.body[")
    )


def compile_source(expression: str, stage_variables: Mapping[str, str], *, with_body: bool = False) -> Getter:
    """Compiles one request-side source expression (``method.request.path.id``, ``'static'``, ...).

    Body sources read ``Request.body`` (the whole request body, read before the mappings run): they compile
    only with ``with_body=True``, from a caller that reads the body first."""
    constant = _static(expression)
    if constant is not None:
        return lambda _request: constant
    if expression.startswith("stageVariables."):
        value = stage_variables.get(expression.removeprefix("stageVariables."))
        return lambda _request: value
    if expression.startswith("context."):
        name = expression.removeprefix("context.")
        return lambda request: context_value(request, name)
    if is_body_source(expression):
        if not with_body:
            raise UnsupportedExpressionError(f"mapping source {expression!r} is not supported yet")
        if expression == "method.request.body":
            return _request_body_getter(None)
        # The rest is the JSONPath without its ``$`` (``.a.b``, ``..a``, ``['a']``).
        return _request_body_getter(JsonPath(expression.removeprefix("method.request.body")))
    kind, _, name = expression.removeprefix("method.request.").partition(".")
    if not expression.startswith("method.request.") or not name:
        raise UnsupportedExpressionError(f"unsupported mapping source {expression!r}")
    if kind == "path":
        return lambda request: request.params.get(name)
    if kind == "querystring":
        return lambda request: _last(request.query.get(name))
    if kind == "multivaluequerystring":
        return lambda request: ",".join(request.query.get(name) or ()) or None
    lowered = name.lower()
    if kind == "header":
        return lambda request: _last(_header_values(request.header_list, lowered))
    if kind == "multivalueheader":
        return lambda request: ",".join(_header_values(request.header_list, lowered)) or None
    raise UnsupportedExpressionError(f"mapping source {expression!r} is not supported")


#: The engine's header mapping sources (``Engine(proxies=...)``): ``(kind, argument)``.
EngineSource = tuple[str, str]
#: Request sources the engine reads itself, by ``method.request.`` kind.
_ENGINE_REQUEST_KINDS: Final = ("path", "querystring", "multivaluequerystring", "header", "multivalueheader")
#: ``$context`` values the engine reads per request.
_ENGINE_CONTEXT: Final = frozenset(("requestId", "httpMethod", "identity.sourceIp"))


def engine_header_source(
    expression: str, stage_variables: Mapping[str, str], fixed_context: Mapping[str, str]
) -> EngineSource | None:
    """A header mapping's source as the Rust engine evaluates it while writing a proxy's upstream head (the
    same values as :func:`compile_source`), or ``None`` when only Python can (a body, or a ``$context``
    value the engine does not have). ``fixed_context``: the ``$context`` values fixed for the route (stage,
    apiId...). A source that never has a value is ``("static", "")``, which sets nothing."""
    constant = _static(expression)
    if constant is not None:
        return ("static", constant)
    if expression.startswith("stageVariables."):
        return ("static", stage_variables.get(expression.removeprefix("stageVariables."), ""))
    if expression.startswith("context."):
        name = expression.removeprefix("context.")
        if name in _ENGINE_CONTEXT:
            return ("context", name)
        if name == "identity.userAgent":
            return ("multivalueheader", "user-agent")  # Request.header joins repeated values
        if name in fixed_context:
            return ("static", fixed_context[name])
        return None if name in CONTEXT_VARIABLES else ("static", "")
    kind, _, name = expression.removeprefix("method.request.").partition(".")
    if expression.startswith("method.request.") and name and kind in _ENGINE_REQUEST_KINDS:
        return (kind, name)
    return None


def _compile_multi_source(expression: str) -> MultiGetter | None:
    """For a query-string target: the sources that give several values (one ``name=value`` each)."""
    if expression.startswith("method.request.multivaluequerystring."):
        name = expression.removeprefix("method.request.multivaluequerystring.")
        return lambda request: list(request.query.get(name) or ())
    return None


# -- response sources -------------------------------------------------------------------------------------


def is_response_body_source(expression: str) -> bool:
    """``integration.response.body`` or ``.body.<JSONPath>``: the getter needs the backend body."""
    return expression == "integration.response.body" or expression.startswith(
        ("integration.response.body.", "integration.response.body[")
    )


def compile_response_source(
    expression: str, stage_variables: Mapping[str, str], *, with_body: bool = False
) -> ResponseGetter:
    """Compiles a response-side source (``integration.response.header.X``, ``'static'``, ...).

    ``integration.response.body`` and ``.body.<JSONPath>`` need the backend body as the getter's fourth
    argument: they compile only with ``with_body=True`` (a caller that passes the body)."""
    for kind in ("header", "multivalueheader"):
        prefix = f"integration.response.{kind}."
        if expression.startswith(prefix):
            return _response_header_getter(expression.removeprefix(prefix).lower(), multi=kind != "header")
    if is_response_body_source(expression):
        if not with_body:
            raise UnsupportedExpressionError(f"mapping source {expression!r} is not supported yet")
        path = expression.removeprefix("integration.response.body")
        return _response_body_getter(JsonPath(path) if path else None)
    if expression.startswith("integration.response."):
        raise UnsupportedExpressionError(f"unsupported mapping source {expression!r}")
    getter = compile_source(expression, stage_variables, with_body=with_body)

    def other(
        request: Request, _status: int, _headers: list[tuple[str, str]], _body: bytes | None = None, /
    ) -> str | None:
        return getter(request)

    return other


def _response_header_getter(lowered: str, *, multi: bool) -> ResponseGetter:
    def header(
        _request: Request, _status: int, headers: list[tuple[str, str]], _body: bytes | None = None, /
    ) -> str | None:
        values = _header_values(headers, lowered)
        if not values:
            return None
        return ",".join(values) if multi else values[-1]

    return header


# -- request parameters -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParameterMapping:
    kind: TargetKind
    name: str
    source: Getter
    values: MultiGetter | None = None
    """For a query-string target fed by a multi-valued source: every value (the name is repeated)."""
    forbidden: bool = False
    """A header AWS refuses to map: a request that gives it a value fails with 500."""
    reads_body: bool = False
    """The source is the request body: ``Request.body`` must be read before the mappings run."""
    path_encoded: bool = False
    """For a path target: the source is the request's own (encoded, normalised) path, written as it is; any
    other source is a decoded value, encoded by :func:`~fastgw.transforms.wire_values.path_value`."""
    greedy: bool = False
    """For a path target: the backend URI's variable is greedy (``{name+}``), so its value keeps its ``/``."""


def compile_request_parameters(
    request_parameters: Mapping[str, str],
    stage_variables: Mapping[str, str],
    *,
    integration_type: str = "HTTP",
    with_body: bool = False,
    greedy_path_names: frozenset[str] = frozenset(),
) -> tuple[ParameterMapping, ...]:
    """``integration.request.{header|querystring|path}.N -> source`` entries, compiled. Body sources need
    ``with_body=True`` (see :func:`compile_source`); ``greedy_path_names``: the backend URI's ``{name+}``
    variables."""
    forbidden_headers = FORBIDDEN_MAPPED_HEADERS_AWS if integration_type.startswith("AWS") else FORBIDDEN_MAPPED_HEADERS
    compiled = []
    for target, source in request_parameters.items():
        kind, _, name = target.removeprefix("integration.request.").partition(".")
        if not target.startswith("integration.request.") or kind not in ("header", "querystring", "path") or not name:
            raise UnsupportedExpressionError(f"unsupported mapping target {target!r}")
        compiled.append(
            ParameterMapping(
                kind,  # type: ignore[arg-type]
                name,
                compile_source(source, stage_variables, with_body=with_body),
                _compile_multi_source(source) if kind == "querystring" else None,
                kind == "header" and name.lower() in forbidden_headers,
                is_body_source(source),
                path_encoded=source.startswith("method.request.path.") or source == "context.path",
                greedy=name in greedy_path_names,
            )
        )
    return tuple(compiled)


def check_request_parameters(integration: Integration) -> list[Problem]:
    """Load-time warnings for a REST integration's ``requestParameters``: headers AWS refuses to map (the
    route still loads, and a request that gives such a header a value fails with 500, as on AWS) and
    ``context`` variables fastgw does not fill."""
    forbidden_headers = FORBIDDEN_MAPPED_HEADERS_AWS if integration.type.startswith("AWS") else FORBIDDEN_MAPPED_HEADERS
    place = integration.place
    problems = []
    for target, source in integration.request_parameters.items():
        name = target.removeprefix("integration.request.header.")
        if target.startswith("integration.request.header.") and name.lower() in forbidden_headers:
            problems.append(
                Problem(
                    place.child("requestParameters", target),
                    f"AWS does not let a mapping set the {name} header: requests that give it a value fail "
                    "with 500 Internal server error, as on AWS",
                )
            )
        if source.startswith("context.") and source.removeprefix("context.") not in CONTEXT_VARIABLES:
            problems.append(
                Problem(place.child("requestParameters", target), f"{source} is not filled by fastgw yet: never set")
            )
    return problems


class MappedValues:
    """The values of a request's mappings, by target kind."""

    __slots__ = ("headers", "path", "querystring")

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.querystring: list[tuple[str, str]] = []
        self.path: dict[str, str] = {}


def apply_request_parameters(mappings: tuple[ParameterMapping, ...], request: Request) -> MappedValues:
    """Evaluates every mapping. Raises :class:`ForbiddenHeaderMappingError` when a forbidden header gets a
    value, :class:`~fastgw.errors.BadRequestError` for a body mapping on a malformed JSON body (as AWS), and
    :class:`~fastgw.errors.InvalidParameterValueError` for a header value that cannot be sent. Path values are
    encoded (see :mod:`fastgw.transforms.wire_values`)."""
    values = MappedValues()
    for mapping in mappings:
        if mapping.values is not None:
            values.querystring.extend((mapping.name, value) for value in mapping.values(request) if value)
            continue
        value = mapping.source(request)
        if not value:
            continue
        if mapping.kind == "header":
            if mapping.forbidden:
                raise ForbiddenHeaderMappingError(
                    f"Execution failed due to configuration error: {mapping.name} header already present"
                )
            values.headers.append((mapping.name, header_value(mapping.name, value)))
        elif mapping.kind == "querystring":
            values.querystring.append((mapping.name, value))
        else:
            values.path[mapping.name] = value if mapping.path_encoded else path_value(value, greedy=mapping.greedy)
    return values
