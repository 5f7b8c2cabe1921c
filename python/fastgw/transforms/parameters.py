"""REST ``requestParameters`` / ``responseParameters``: source expressions compiled once into getters.

A mapping such as ``integration.request.header.x-user: method.request.querystring.user`` is compiled at load
into a :class:`ParameterMapping` (target kind, target name, getter); per request, the getter reads the value
from the :class:`~fastgw.integrations.base.Request` (reference §5.2). An empty or missing value is not set.

Differences from AWS, on purpose: Granian hands us header names in lowercase, so header lookups here are
case-insensitive where AWS's are case-sensitive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from fastgw.integrations.base import Request

Getter = Callable[[Request], str | None]
ResponseGetter = Callable[[Request, int, list[tuple[str, str]]], str | None]
TargetKind = Literal["header", "querystring", "path"]


class UnsupportedExpressionError(ValueError):
    """A source expression fastgw cannot evaluate (yet); the message says which."""


def _context_value(request: Request, name: str) -> str | None:
    route = request.route
    stage = request.stage
    values: dict[str, str | None] = {
        "requestId": request.request_id,
        "extendedRequestId": request.extended_request_id,
        "httpMethod": request.method,
        "resourcePath": route.resource_path if route else None,
        "stage": stage.stage_name,
        "apiId": stage.api_id,
        "identity.sourceIp": request.client_ip,
        "identity.userAgent": request.header("user-agent"),
        "path": request.path,
        "protocol": "HTTP/1.1",
        "domainName": request.host,
    }
    return values.get(name)


def _last(values: list[str] | None) -> str | None:
    """AWS keeps the last of repeated query values (reference §1.2)."""
    return values[-1] if values else None


def compile_source(expression: str, stage_variables: Mapping[str, str]) -> Getter:
    """Compiles one request-side source expression (``method.request.path.id``, ``'static'``, ...)."""
    if len(expression) >= 2 and expression[0] == "'" and expression[-1] == "'":
        constant = expression[1:-1]
        return lambda _request: constant
    if expression.startswith("stageVariables."):
        value = stage_variables.get(expression.removeprefix("stageVariables."))
        return lambda _request: value
    if expression.startswith("context."):
        name = expression.removeprefix("context.")
        return lambda request: _context_value(request, name)
    kind, _, name = expression.removeprefix("method.request.").partition(".")
    if not expression.startswith("method.request.") or not name:
        raise UnsupportedExpressionError(f"unsupported mapping source {expression!r}")
    if kind == "path":
        return lambda request: request.params.get(name)
    if kind == "querystring":
        return lambda request: _last(request.query.get(name))
    if kind == "multivaluequerystring":
        return lambda request: ",".join(request.query.get(name) or ()) or None
    if kind in ("header", "multivalueheader"):
        lowered = name.lower()
        return lambda request: request.header(lowered)
    raise UnsupportedExpressionError(f"mapping source {expression!r} is not supported yet")


def compile_response_source(expression: str, stage_variables: Mapping[str, str]) -> ResponseGetter:
    """Compiles a response-side source (``integration.response.header.X``, ``'static'``, ...)."""
    if expression.startswith("integration.response.header.") or expression.startswith(
        "integration.response.multivalueheader."
    ):
        name = expression.rpartition(".")[2].lower()

        def header(_request: Request, _status: int, headers: list[tuple[str, str]]) -> str | None:
            values = [v for n, v in headers if n.lower() == name]
            return ",".join(values) if values else None

        return header
    if expression.startswith("integration.response.body"):
        raise UnsupportedExpressionError(f"mapping source {expression!r} is not supported yet")
    getter = compile_source(expression, stage_variables)
    return lambda request, _status, _headers: getter(request)


@dataclass(frozen=True, slots=True)
class ParameterMapping:
    kind: TargetKind
    name: str
    source: Getter


def compile_request_parameters(
    request_parameters: Mapping[str, str], stage_variables: Mapping[str, str]
) -> tuple[ParameterMapping, ...]:
    """``integration.request.{header|querystring|path}.N -> source`` entries, compiled."""
    compiled = []
    for target, source in request_parameters.items():
        kind, _, name = target.removeprefix("integration.request.").partition(".")
        if not target.startswith("integration.request.") or kind not in ("header", "querystring", "path") or not name:
            raise UnsupportedExpressionError(f"unsupported mapping target {target!r}")
        compiled.append(ParameterMapping(kind, name, compile_source(source, stage_variables)))  # type: ignore[arg-type]
    return tuple(compiled)


class MappedValues:
    """The values of a request's mappings, by target kind."""

    __slots__ = ("headers", "path", "querystring")

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.querystring: list[tuple[str, str]] = []
        self.path: dict[str, str] = {}


def apply_request_parameters(mappings: tuple[ParameterMapping, ...], request: Request) -> MappedValues:
    values = MappedValues()
    for mapping in mappings:
        value = mapping.source(request)
        if not value:
            continue
        if mapping.kind == "header":
            values.headers.append((mapping.name, value))
        elif mapping.kind == "querystring":
            values.querystring.append((mapping.name, value))
        else:
            values.path[mapping.name] = value
    return values
