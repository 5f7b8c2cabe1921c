"""HTTP API parameter mapping (reference §5.1): an integration's ``requestParameters`` and, per backend status,
``responseParameters``, compiled once at load and applied per request.

Keys: ``append|overwrite|remove:header.<name>``, ``append|overwrite|remove:querystring.<name>`` and
``overwrite:path`` on requests; ``append|overwrite|remove:header.<name>`` and ``overwrite:statuscode`` on
responses. Values: ``$request.header.x`` (case-insensitive, repeated values joined with ``,``),
``$request.querystring.x`` (case-sensitive, joined with ``,``), ``$request.body`` and
``$request.body.<JSONPath>`` (no ``..`` or filters; the body is cut at 100 KB before the path is applied),
``$request.path``, ``$request.path.x``, ``$context.x``, ``$stageVariables.x``, on responses also
``$response.header.x`` and ``$response.body.<JSONPath>``; static text; ``${...}`` to combine several
(``"${request.path.name} ${request.path.id}"``).

Every value is computed from the request (or backend response) as it arrived, then the operations are applied
in the order written: ``append`` adds one more value, ``overwrite`` replaces every value of the name, ``remove``
deletes them. A value that comes out empty (a header the client did not send) sets nothing; a ``remove``
always applies. Mapping a reserved header (§4.3) is refused at load, as AWS refuses the definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote, unquote_plus

from fastgw.config.model import Integration
from fastgw.errors import DefinitionError, Place, Problem
from fastgw.integrations.base import Request
from fastgw.transforms.parameters import (
    CONTEXT_VARIABLES,
    JsonPath,
    UnsupportedExpressionError,
    context_value,
    parse_json_body,
)
from fastgw.transforms.wire_values import header_value, path_value

Action = Literal["append", "overwrite", "remove"]
Headers = list[tuple[str, str]]

#: AWS cuts the body at this size before applying a ``$request.body.<JSONPath>`` (reference §5.1).
BODY_PATH_LIMIT: Final = 100 * 1024
#: Headers no HTTP API mapping may touch (reference §4.3), lowercase; ``*`` ends a prefix.
RESERVED_HEADERS: Final = (
    "access-control-*",
    "apigw-*",
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-location",
    "forwarded",
    "keep-alive",
    "origin",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "x-amz-*",
    "x-amzn-*",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "via",
)
_RESERVED_NAMES: Final = frozenset(name for name in RESERVED_HEADERS if not name.endswith("*"))
_RESERVED_PREFIXES: Final = tuple(name[:-1] for name in RESERVED_HEADERS if name.endswith("*"))
_INCLUSION = re.compile(r"\$\{([^{}]*)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def is_reserved_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _RESERVED_NAMES or lowered.startswith(_RESERVED_PREFIXES)


class _Exchange:
    """What a value reads: the request, and on the response side the backend's headers and body."""

    __slots__ = ("body", "headers", "request", "status")

    def __init__(
        self, request: Request, status: int = 0, headers: Headers | None = None, body: bytes | None = None
    ) -> None:
        self.request = request
        self.status = status
        self.headers = headers
        self.body = body


Part = Callable[[_Exchange], str | None]


def _request_header(name: str) -> Part:
    lowered = name.lower()

    def part(exchange: _Exchange) -> str | None:
        values = [v for n, v in exchange.request.header_list if n.lower() == lowered]
        return ",".join(values) if values else None

    return part


def _response_header(name: str) -> Part:
    lowered = name.lower()

    def part(exchange: _Exchange) -> str | None:
        values = [v for n, v in exchange.headers or () if n.lower() == lowered]
        return ",".join(values) if values else None

    return part


def _body_path(path: JsonPath, *, response: bool) -> Part:
    def part(exchange: _Exchange) -> str | None:
        body = exchange.body if response else getattr(exchange.request, "body", None)
        if not body:
            return None
        try:
            document = parse_json_body(body[:BODY_PATH_LIMIT])
        except ValueError:
            return None  # not JSON (or cut inside a value at 100 KB): nothing to map
        return path.text_value(document)

    return part


def _whole_body(exchange: _Exchange) -> str | None:
    body = getattr(exchange.request, "body", None)
    return body.decode("utf-8", "replace") if body else None


def _body_json_path(rest: str) -> JsonPath | None:
    """``body.a.b`` / ``body.$.a`` / ``body[0]`` -> its JSONPath (no ``..``); ``body`` -> an empty path."""
    if rest != "body" and not rest.startswith(("body.", "body[")):
        return None
    path = rest.removeprefix("body")
    if path.startswith(".$"):
        path = path[1:]
    return JsonPath(path, allow_recursive=False)


def _compile_expression(expression: str, stage_variables: Mapping[str, str], *, response: bool) -> Part:
    """One ``request.header.x``-style expression (without its ``$`` or braces)."""
    head, _, rest = expression.partition(".")
    if head == "stageVariables" and rest:
        value = stage_variables.get(rest)
        return lambda _exchange: value
    if head == "context" and rest:
        if not re.fullmatch(r"[A-Za-z0-9._]+", rest):
            raise UnsupportedExpressionError(f"context variable {rest!r}: only letters, digits, '.' and '_'")
        return lambda exchange: context_value(exchange.request, rest)
    body_path = _body_json_path(rest)
    if head == "request" and body_path is not None:
        return _body_path(body_path, response=False) if body_path.steps else _whole_body
    if head == "response" and response and body_path is not None and body_path.steps:
        return _body_path(body_path, response=True)
    if head == "request":
        kind, _, name = rest.partition(".")
        if kind == "header" and name:
            return _request_header(name)
        if kind == "querystring" and name:
            return lambda exchange: ",".join(exchange.request.query.get(name) or ()) or None
        if kind == "path":
            if not name:
                return lambda exchange: exchange.request.path
            return lambda exchange: exchange.request.params.get(name)
    if head == "response" and response:
        kind, _, name = rest.partition(".")
        if kind == "header" and name:
            return _response_header(name)
    raise UnsupportedExpressionError(f"${expression} is not a parameter mapping value")


@dataclass(frozen=True, slots=True)
class Value:
    """A mapping value, compiled: literal text and expressions, joined when evaluated."""

    text: str
    parts: tuple[str | Part, ...]
    expressions: tuple[str, ...] = ()
    """The expressions it reads (``request.body.a``), without ``$`` or braces."""

    def reads(self, prefix: str) -> bool:
        return any(e == prefix or e.startswith((prefix + ".", prefix + "[")) for e in self.expressions)

    def evaluate(self, exchange: _Exchange) -> str | None:
        """The text, or ``None`` when the value is one expression that has no value."""
        if len(self.parts) == 1 and not isinstance(self.parts[0], str):
            return self.parts[0](exchange)
        pieces = []
        for part in self.parts:
            pieces.append(part if isinstance(part, str) else part(exchange) or "")
        return "".join(pieces)


def compile_value(text: str, stage_variables: Mapping[str, str], *, response: bool = False) -> Value:
    """``$request.header.x`` (the whole value one expression), ``a ${request.path.id} b`` (inclusions in
    text), or static text. Raises :class:`UnsupportedExpressionError` for an unknown expression."""
    if "${" in text:
        parts: list[str | Part] = []
        expressions: list[str] = []
        position = 0
        for match in _INCLUSION.finditer(text):
            expressions.append(match.group(1))
            if match.start() > position:
                parts.append(text[position : match.start()])
            parts.append(_compile_expression(match.group(1), stage_variables, response=response))
            position = match.end()
        if position < len(text):
            parts.append(text[position:])
        if any(isinstance(part, str) and "${" in part for part in parts):
            raise UnsupportedExpressionError(f"{text!r}: an unclosed '${{'")
        return Value(text, tuple(parts), tuple(expressions))
    if text.startswith("$"):
        return Value(text, (_compile_expression(text[1:], stage_variables, response=response),), (text[1:],))
    return Value(text, (text,))


@dataclass(frozen=True, slots=True)
class Operation:
    action: Action
    target: Literal["header", "querystring", "path", "statuscode"]
    name: str
    """Header name (lowercase) or query-string name; empty for ``path`` and ``statuscode``."""
    value: Value | None
    """``None`` for ``remove``."""


class _Compiler:
    def __init__(self, integration: Integration, stage_variables: Mapping[str, str]) -> None:
        self.integration = integration
        self.stage_variables = stage_variables
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def operations(self, mapping: Mapping[str, str], place: Place, *, response: bool) -> tuple[Operation, ...]:
        operations = []
        for key, raw in mapping.items():
            where = place.child(key)
            try:
                operation = self._operation(key, raw, response=response)
            except UnsupportedExpressionError as error:
                self.problems.append(Problem(where, str(error)))
                continue
            if operation.target == "header" and is_reserved_header(operation.name):
                self.problems.append(
                    Problem(where, f"the {operation.name} header is reserved: AWS does not let a mapping change it")
                )
                continue
            self._warn_context(raw, where)
            operations.append(operation)
        return tuple(operations)

    def _operation(self, key: str, raw: str, *, response: bool) -> Operation:
        action, _, target = key.partition(":")
        if action not in ("append", "overwrite", "remove"):
            raise UnsupportedExpressionError(
                f"'{key}' is not a mapping key: it starts with append:, overwrite: or remove:"
            )
        kind, _, name = target.partition(".")
        if kind == "header" and name and _HEADER_NAME.match(name):
            name = name.lower()
        elif kind == "querystring" and name and not response:
            pass
        elif target == "path" and not response and action == "overwrite":
            kind = "path"
        elif target == "statuscode" and response and action == "overwrite":
            kind = "statuscode"
        else:
            allowed = (
                "header.<name> or overwrite:statuscode" if response else "header.<name>, querystring.<name> or path"
            )
            raise UnsupportedExpressionError(f"'{key}' is not a mapping key ({allowed})")
        value = None if action == "remove" else compile_value(raw, self.stage_variables, response=response)
        if kind == "path" and value is not None:
            value = _encoded_for_path(value)
        static = value is not None and all(isinstance(part, str) for part in value.parts)
        if kind == "statuscode" and static and _status(raw) is None:
            raise UnsupportedExpressionError(f"statuscode '{raw}' is not an HTTP status code (100-599)")
        return Operation(action, kind, name if kind in ("header", "querystring") else "", value)  # type: ignore[arg-type]

    def _warn_context(self, raw: str, where: Place) -> None:
        for name in re.findall(r"\$\{?context\.([A-Za-z0-9._]+)", raw):
            if name not in CONTEXT_VARIABLES:
                self.warnings.append(Problem(where, f"$context.{name} is not filled by fastgw yet: it maps as empty"))


def _encoded_for_path(value: Value) -> Value:
    """An ``overwrite:path`` value whose expressions write encoded text (issue 18, item 1): a decoded value (a
    query-string parameter, a header, a body field, a ``$context`` variable) is encoded as a greedy path value
    (its ``/`` kept, its dot segments removed within it); ``$request.path`` and ``$request.path.x`` are the
    request's own encoded path and pass as they are. Literal text is the definition's and stays."""
    expressions = iter(value.expressions)
    parts: list[str | Part] = []
    for part in value.parts:
        if isinstance(part, str):
            parts.append(part)
            continue
        expression = next(expressions)
        if expression == "request.path" or expression.startswith("request.path."):
            parts.append(part)
        else:
            parts.append(_encoding(part))
    return Value(value.text, tuple(parts), value.expressions)


def _encoding(part: Part) -> Part:
    def encoded(exchange: _Exchange) -> str | None:
        text = part(exchange)
        return None if text is None else path_value(text, greedy=True)

    return encoded


def _status(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    status = int(text)
    return status if 100 <= status <= 599 else None


class HttpApiMapping:
    """An HTTP API integration's parameter mapping, compiled for one stage."""

    __slots__ = ("reads_request_body", "reads_response_body", "request_operations", "response_operations")

    def __init__(
        self, request_operations: tuple[Operation, ...], response_operations: Mapping[int, tuple[Operation, ...]]
    ) -> None:
        self.request_operations = request_operations
        self.response_operations = dict(response_operations)
        values = [op.value for op in request_operations if op.value]
        values += [op.value for ops in self.response_operations.values() for op in ops if op.value]
        self.reads_request_body = any(value.reads("request.body") for value in values)
        """A value reads ``Request.body``: read the body before :meth:`apply_request` (or the response)."""
        self.reads_response_body = any(value.reads("response.body") for value in values)
        """A response value reads the backend body: buffer it before :meth:`apply_response`."""

    @property
    def maps_request(self) -> bool:
        return bool(self.request_operations)

    @property
    def maps_response(self) -> bool:
        return bool(self.response_operations)

    def apply_request(self, request: Request, headers: Headers, query: str, path: str) -> tuple[Headers, str, str]:
        """The upstream request's headers, raw query string and path after the mapping. Values come from the
        request as the client sent it; ``headers``, ``query`` and ``path`` are what the gateway would send."""
        if not self.request_operations:
            return headers, query, path
        exchange = _Exchange(request)
        evaluated = [(op, op.value.evaluate(exchange) if op.value else None) for op in self.request_operations]
        headers = list(headers)
        query_parts = [part for part in query.split("&") if part] if query else []
        for op, value in evaluated:
            if op.target == "path":
                if value:
                    path = value if value.startswith("/") else "/" + value
            elif op.target == "header":
                if value:
                    header_value(op.name, value)  # refuses a control character (issue 18, item 6)
                headers = _apply_header(headers, op, value)
            elif op.action == "remove" or value:
                # A query-string operation on the raw query: other parameters keep their encoding.
                if op.action != "append":
                    query_parts = [part for part in query_parts if _query_name(part) != op.name]
                if op.action != "remove" and value:
                    query_parts.append(f"{quote(op.name, safe='')}={quote(value, safe='')}")
        return headers, "&".join(query_parts), path

    def apply_response(
        self, request: Request, status: int, headers: Headers, body: bytes | None
    ) -> tuple[int, Headers]:
        """The response's status and headers after the mapping for the backend's ``status`` (none: unchanged).
        ``body`` is the backend body (only ``$response.body.*`` values read it; the first 100 KB)."""
        operations = self.response_operations.get(status)
        if not operations:
            return status, headers
        exchange = _Exchange(request, status, headers, body)
        evaluated = [(op, op.value.evaluate(exchange) if op.value else None) for op in operations]
        headers = list(headers)
        for op, value in evaluated:
            if op.target == "statuscode":
                # A value that is not a status code leaves the status as it was (AWS: UNVERIFIED).
                status = _status(value) or status
            else:
                headers = _apply_header(headers, op, value)
        return status, headers


def _apply_header(headers: Headers, op: Operation, value: str | None) -> Headers:
    if op.action == "remove":
        return [(n, v) for n, v in headers if n.lower() != op.name]
    if not value:
        return headers
    if op.action == "overwrite":
        headers = [(n, v) for n, v in headers if n.lower() != op.name]
    headers.append((op.name, value))
    return headers


def _query_name(part: str) -> str:
    return unquote_plus(part.partition("=")[0])


def _compile(integration: Integration, stage_variables: Mapping[str, str]) -> tuple[HttpApiMapping, _Compiler]:
    compiler = _Compiler(integration, stage_variables)
    place = integration.place
    request_operations = compiler.operations(
        integration.request_parameters, place.child("requestParameters"), response=False
    )
    response_operations: dict[int, tuple[Operation, ...]] = {}
    for code, mapping in integration.response_parameters.items():
        where = place.child("responseParameters", code)
        status = _status(code) if len(code) == 3 else None
        if status is None:
            compiler.problems.append(Problem(where, f"'{code}' is not an HTTP status code (100-599)"))
            continue
        response_operations[status] = compiler.operations(mapping, where, response=True)
    return HttpApiMapping(request_operations, response_operations), compiler


def check_http_api_mapping(integration: Integration) -> list[Problem]:
    """The load-time errors of an HTTP API integration's parameter mapping (reserved headers, bad keys,
    unknown values), each naming its place. Empty when it compiles."""
    return _compile(integration, {})[1].problems


def http_api_mapping_warnings(integration: Integration) -> list[Problem]:
    """What fastgw maps differently from AWS (``$context`` variables it does not fill)."""
    return _compile(integration, {})[1].warnings


def compile_http_api_mapping(integration: Integration, stage_variables: Mapping[str, str]) -> HttpApiMapping | None:
    """The integration's mapping for one stage, or ``None`` when it has none. Raises
    :class:`~fastgw.errors.DefinitionError` with every problem :func:`check_http_api_mapping` finds."""
    if not integration.request_parameters and not integration.response_parameters:
        return None
    mapping, compiler = _compile(integration, stage_variables)
    if compiler.problems:
        raise DefinitionError(compiler.problems)
    return mapping
