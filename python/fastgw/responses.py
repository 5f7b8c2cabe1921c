"""Gateway responses: every answer the gateway gives on its own (no route, errors, limits), in one place.

A rejection or failure names an AWS gateway response type (``MISSING_AUTHENTICATION_TOKEN``,
``INTEGRATION_TIMEOUT``, ...). REST APIs render it as AWS's default gateway response for that type
(reference §2.2: status, ``{"message": ...}``, ``x-amzn-ErrorType``); HTTP APIs have fixed,
non-customisable bodies (reference §2.3).

REST APIs can customise them (``x-amazon-apigateway-gateway-responses``, reference §2.2): per type a
``statusCode``, ``responseParameters`` (``gatewayresponse.header.X`` from ``'static'``, ``method.request.*``,
``stageVariables.*``, ``context.*``) and ``responseTemplates`` by content type, which AWS processes with simple
variable substitution, not VTL. A type without its own customisation takes the API's ``DEFAULT_4XX`` /
``DEFAULT_5XX`` one (by the type's default status class), copied onto it; without either, the built-in default.
Everything that does not depend on the request is worked out once in :meth:`GatewayResponses.for_definition`; per
request only the request's values are substituted.

Where AWS documents no message for a type, fastgw's choice is marked UNVERIFIED below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from fastgw.config.model import ApiDefinition, ApiType
from fastgw.errors import Place, Problem

if TYPE_CHECKING:
    from fastgw.integrations.base import Request


@dataclass(frozen=True, slots=True)
class DefaultResponse:
    status: int
    message: str | None
    error_type: str | None = None


#: REST API default gateway responses (reference §2.2).
REST_DEFAULTS: Final[dict[str, DefaultResponse]] = {
    "ACCESS_DENIED": DefaultResponse(403, "User is not authorized to access this resource", "AccessDeniedException"),
    "API_CONFIGURATION_ERROR": DefaultResponse(500, "Internal server error", "InternalServerErrorException"),
    "AUTHORIZER_CONFIGURATION_ERROR": DefaultResponse(500, None, "InternalServerErrorException"),
    "AUTHORIZER_FAILURE": DefaultResponse(500, "Internal server error", "InternalServerErrorException"),
    "BAD_REQUEST_PARAMETERS": DefaultResponse(400, "Bad request parameters", "BadRequestException"),
    "BAD_REQUEST_BODY": DefaultResponse(400, "Invalid request body", "BadRequestException"),
    "DEFAULT_4XX": DefaultResponse(400, "Bad request", None),  # UNVERIFIED: only reached through customisation
    "DEFAULT_5XX": DefaultResponse(500, "Internal server error", "InternalServerErrorException"),
    "EXPIRED_TOKEN": DefaultResponse(403, "The security token included in the request is expired", None),
    # UNVERIFIED: AWS documents 504 and no message for a failed integration (broken backend response).
    "INTEGRATION_FAILURE": DefaultResponse(504, "Internal server error", "InternalServerErrorException"),
    "INTEGRATION_TIMEOUT": DefaultResponse(504, "Endpoint request timed out", "InternalServerErrorException"),
    "INVALID_API_KEY": DefaultResponse(403, "Forbidden", "ForbiddenException"),
    "INVALID_SIGNATURE": DefaultResponse(403, "The request signature we calculated does not match", None),
    "MISSING_AUTHENTICATION_TOKEN": DefaultResponse(
        403, "Missing Authentication Token", "MissingAuthenticationTokenException"
    ),
    "QUOTA_EXCEEDED": DefaultResponse(429, "Limit Exceeded", "LimitExceededException"),
    "REQUEST_TOO_LARGE": DefaultResponse(413, "Request Too Long", None),
    # Not an AWS type: AWS limits headers to 10,240 bytes but documents no response. UNVERIFIED.
    "REQUEST_HEADER_FIELDS_TOO_LARGE": DefaultResponse(431, "Request Header Fields Too Large", None),
    "RESOURCE_NOT_FOUND": DefaultResponse(404, "Not Found", None),
    "THROTTLED": DefaultResponse(429, "Too Many Requests", "TooManyRequestsException"),
    "UNAUTHORIZED": DefaultResponse(401, "Unauthorized", "UnauthorizedException"),
    "UNSUPPORTED_MEDIA_TYPE": DefaultResponse(415, "Unsupported Media Type", "BadRequestException"),
    "WAF_FILTERED": DefaultResponse(403, "Forbidden", None),
    # Unknown stage on an execute-api style URL (reference §1.2, widely observed).
    "FORBIDDEN": DefaultResponse(403, "Forbidden", "ForbiddenException"),
    # Not an AWS type: a request that cannot be routed as sent (two Hosts, a path whose decoding lost bytes, a
    # malformed chunked body). AWS's front end answers such requests before any API; fastgw's body. UNVERIFIED.
    "BAD_REQUEST": DefaultResponse(400, "Bad Request", "BadRequestException"),
    # Not an AWS type: a request body with a transfer coding other than chunked (RFC 9112 §6.1 says 501). UNVERIFIED.
    "NOT_IMPLEMENTED": DefaultResponse(501, "Not Implemented", None),
}

#: HTTP API fixed responses (reference §2.3): AWS's reason phrases, never customisable.
_HTTP_NOT_FOUND = DefaultResponse(404, "Not Found")
_HTTP_FORBIDDEN = DefaultResponse(403, "Forbidden")
_HTTP_INTERNAL = DefaultResponse(500, "Internal Server Error")
HTTP_DEFAULTS: Final[dict[str, DefaultResponse]] = {
    "MISSING_AUTHENTICATION_TOKEN": _HTTP_NOT_FOUND,
    "RESOURCE_NOT_FOUND": _HTTP_NOT_FOUND,
    "FORBIDDEN": _HTTP_NOT_FOUND,  # no such stage: HTTP APIs answer 404 (reference §1.1)
    "ACCESS_DENIED": _HTTP_FORBIDDEN,
    "INVALID_API_KEY": _HTTP_FORBIDDEN,
    "WAF_FILTERED": _HTTP_FORBIDDEN,
    "UNAUTHORIZED": DefaultResponse(401, "Unauthorized"),
    "THROTTLED": DefaultResponse(429, "Too Many Requests"),
    "QUOTA_EXCEEDED": DefaultResponse(429, "Too Many Requests"),
    "INTEGRATION_TIMEOUT": DefaultResponse(503, "Service Unavailable"),
    "REQUEST_TOO_LARGE": DefaultResponse(413, "Request Entity Too Large"),  # UNVERIFIED body
    "REQUEST_HEADER_FIELDS_TOO_LARGE": DefaultResponse(431, "Request Header Fields Too Large"),  # UNVERIFIED
    "BAD_REQUEST_PARAMETERS": DefaultResponse(400, "Bad Request"),
    "BAD_REQUEST_BODY": DefaultResponse(400, "Bad Request"),
    "BAD_REQUEST": DefaultResponse(400, "Bad Request"),
    "NOT_IMPLEMENTED": DefaultResponse(501, "Not Implemented"),  # UNVERIFIED
    "UNSUPPORTED_MEDIA_TYPE": DefaultResponse(415, "Unsupported Media Type"),
}


#: Types AWS never customises: REQUEST_TOO_LARGE (AWS documents it as not supported, and neither its own nor a
#: DEFAULT_4XX customisation changes it), and fastgw's own non-AWS types, which AWS answers before any API is
#: chosen (unknown stage, oversized headers).
NOT_CUSTOMISABLE: Final = frozenset(
    {"REQUEST_TOO_LARGE", "FORBIDDEN", "REQUEST_HEADER_FIELDS_TOO_LARGE", "BAD_REQUEST", "NOT_IMPLEMENTED"}
)

#: The template AWS uses when a customisation has none (reference §2.1).
DEFAULT_TEMPLATE: Final = '{"message":$context.error.messageString}'
_JSON: Final = "application/json"


class RenderedResponse:
    """A gateway response ready to send: status, headers (without the per-request id headers), body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


# -- customisation: sources, templates ---------------------------------------------------------------------------


class _Error:
    """What ``$context.error.*`` says about the response being rendered."""

    __slots__ = ("message", "response_type")

    def __init__(self, response_type: str, message: str | None) -> None:
        self.response_type = response_type
        self.message = message

    @property
    def message_string(self) -> str:
        return orjson.dumps(self.message).decode()


#: A value drawn from the request (absent: ``None``, the request may be missing too) or the error.
Source = Callable[["Request | None", _Error], "str | None"]


def _requested(getter: Callable[[Request], str | None]) -> Source:
    return lambda request, _error: None if request is None else getter(request)


def _context(name: str) -> Source:
    """A request-side ``$context`` variable, as every other stage reads it (``transforms.parameters``)."""
    from fastgw.transforms.parameters import context_value

    return _requested(lambda request: context_value(request, name))


def _error_message(_request: Request | None, error: _Error) -> str | None:
    return error.message if error.message is not None else ""


def _error_message_string(_request: Request | None, error: _Error) -> str | None:
    return error.message_string


def _error_response_type(_request: Request | None, error: _Error) -> str | None:
    return error.response_type


#: ``$context.x`` / ``context.x`` variables a gateway response can use (the request-side ones of reference §5.2,
#: plus ``error.*``). Unknown names render as nothing.
_CONTEXT: Final[dict[str, Source]] = {
    "requestId": _context("requestId"),
    "extendedRequestId": _context("extendedRequestId"),
    "httpMethod": _context("httpMethod"),
    "resourcePath": _context("resourcePath"),
    "stage": _context("stage"),
    "apiId": _context("apiId"),
    "identity.sourceIp": _context("identity.sourceIp"),
    "identity.userAgent": _context("identity.userAgent"),
    "path": _context("path"),
    "protocol": _context("protocol"),
    "domainName": _context("domainName"),
    "error.message": _error_message,
    "error.messageString": _error_message_string,
    "error.responseType": _error_response_type,
}


#: Sources that read only the error: fixed for a type and message, so they leave a response cacheable.
_ERROR_SOURCES: Final = frozenset({_error_message, _error_message_string, _error_response_type})


def _reads_request(part: str | Source) -> bool:
    return not isinstance(part, str) and part not in _ERROR_SOURCES


def _last(values: list[str] | None) -> str | None:
    return values[-1] if values else None  # AWS keeps the last of repeated query values (reference §1.2)


def _request_source(kind: str, name: str) -> Source | None:
    """``method.request.<kind>.<name>``, or ``None`` for a kind AWS does not offer here."""
    if kind in ("header", "multivalueheader"):
        lowered = name.lower()
        return _requested(lambda r: r.header(lowered))  # repeated headers joined with "," as AWS does
    if kind == "querystring":
        return _requested(lambda r: _last(r.query.get(name)))
    if kind == "multivaluequerystring":
        return _requested(lambda r: ",".join(r.query.get(name) or ()) or None)
    if kind == "path":
        return _requested(lambda r: r.params.get(name))
    return None


def _any_param(name: str) -> Source:
    """``$input.params('x')``: path, then query string, then header, as AWS searches."""
    lowered = name.lower()

    def lookup(request: Request) -> str | None:
        found = request.params.get(name)
        if found is None:
            found = _last(request.query.get(name))
        return found if found is not None else request.header(lowered)

    return _requested(lookup)


def compile_parameter(expression: str, stage_variables: Mapping[str, str]) -> str | Source | None:
    """A ``responseParameters`` value: its text when known at load (``'static'``, ``stageVariables.x``), a
    :data:`Source` when it depends on the request, ``None`` when unsupported (or a stage variable is not set)."""
    if len(expression) >= 2 and expression[0] == "'" and expression[-1] == "'":
        return expression[1:-1]
    if expression.startswith("stageVariables."):
        return stage_variables.get(expression.removeprefix("stageVariables."))
    if expression.startswith("context."):
        return _CONTEXT.get(expression.removeprefix("context."))
    if expression.startswith("method.request."):
        kind, _, name = expression.removeprefix("method.request.").partition(".")
        return _request_source(kind, name) if name else None
    return None


_NAME = r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*"


def _quoted(group: str) -> str:
    return rf"""(?:'(?P<{group}1>[^']*)'|"(?P<{group}2>[^"]*)")"""


#: The variables a gateway response template substitutes: ``$context.x`` and ``$stageVariables.x`` (also as
#: ``${...}`` and quiet ``$!``), ``$input.params().{header|querystring|path}.get('x')`` (or ``.x``) and
#: ``$input.params('x')``. Anything else is literal text: AWS does not run these templates through VTL.
_VARIABLE = re.compile(
    rf"\$!?(?:\{{(?P<braced_root>context|stageVariables)\.(?P<braced>{_NAME})\}}"
    rf"|(?P<root>context|stageVariables)\.(?P<name>{_NAME})"
    rf"|input\.params\(\)\.(?P<kind>header|querystring|path)(?:\.get\({_quoted('get')}\)|\.(?P<plain>[A-Za-z0-9_-]+))"
    rf"|input\.params\({_quoted('any')}\))"
)


def _variable_source(match: re.Match[str], stage_variables: Mapping[str, str]) -> str | Source:
    root = match["braced_root"] or match["root"]
    if root is not None:
        name = match["braced"] or match["name"]
        if root == "stageVariables":
            return stage_variables.get(name, "")
        return _CONTEXT.get(name, "")
    kind = match["kind"]
    if kind is not None:
        name = match["get1"] if match["get1"] is not None else match["get2"]
        source = _request_source(kind, name if name is not None else match["plain"])
        assert source is not None  # the pattern only admits header, querystring and path
        return source
    return _any_param(match["any1"] if match["any1"] is not None else match["any2"])


class Template:
    """A gateway response template, split once into literal text and the variables to substitute."""

    __slots__ = ("_pieces", "_sources", "parts", "static")

    def __init__(self, text: str, stage_variables: Mapping[str, str]) -> None:
        parts: list[str | Source] = []
        position = 0
        for match in _VARIABLE.finditer(text):
            parts += [text[position : match.start()], _variable_source(match, stage_variables)]
            position = match.end()
        parts.append(text[position:])
        merged: list[str | Source] = []
        for part in parts:  # adjacent literal text (incl. stage variables) joined: fewer pieces per request
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part != "":
                merged.append(part)
        self.parts = tuple(merged)
        self.static = not any(_reads_request(part) for part in merged)
        """Nothing drawn from the request: the same text for a given type and message."""
        # Per request: copy the literal pieces, fill in the variables' slots.
        self._pieces = [part if isinstance(part, str) else "" for part in merged]
        self._sources = tuple((i, part) for i, part in enumerate(merged) if not isinstance(part, str))

    def render(self, request: Request | None, error: _Error) -> bytes:
        pieces = self._pieces.copy()
        for index, source in self._sources:
            pieces[index] = source(request, error) or ""
        return "".join(pieces).encode()


class CustomResponse:
    """One response type's customisation, resolved and compiled for a stage."""

    __slots__ = ("_maps_content_type", "dynamic_headers", "static", "static_headers", "status", "templates")

    def __init__(
        self,
        status: int,
        static_headers: list[tuple[str, str]],
        dynamic_headers: tuple[tuple[str, Source], ...],
        templates: dict[str, Template],
    ) -> None:
        self.status = status
        self.static_headers = static_headers
        """Every header known at load except the content type: ``x-amzn-ErrorType`` and constant mappings."""
        self.dynamic_headers = dynamic_headers
        self.templates = templates
        """By lowercase content type, in the definition's order; never empty."""
        self.static = (
            not any(_reads_request(source) for _, source in dynamic_headers)
            and len(templates) == 1
            and next(iter(templates.values())).static
        )
        """Nothing drawn from the request: rendered once per message."""
        names = [name for name, _ in static_headers] + [name for name, _ in dynamic_headers]
        self._maps_content_type = any(name.lower() == "content-type" for name in names)

    def select(self, request: Request | None) -> tuple[str, Template]:
        """The template for the request's first ``Accept`` media type, else ``application/json``, else the first."""
        templates = self.templates
        if len(templates) > 1 and request is not None:
            accept = request.header("accept")
            if accept:
                wanted = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
                found = templates.get(wanted)
                if found is not None:
                    return wanted, found
        found = templates.get(_JSON)
        if found is not None:
            return _JSON, found
        return next(iter(templates.items()))

    def render(self, response_type: str, message: str | None, request: Request | None) -> RenderedResponse:
        error = _Error(response_type, message)
        content_type, template = self.select(request)
        headers = [*self.static_headers]
        for name, source in self.dynamic_headers:
            value = source(request, error)
            if value is not None:
                headers.append((name, value))
        if not self._maps_content_type or not any(name.lower() == "content-type" for name, _ in headers):
            headers.insert(0, ("content-type", content_type))  # unless a Content-Type mapping gave one
        return RenderedResponse(self.status, headers, template.render(request, error))


_HEADER_TARGET: Final = "gatewayresponse.header."


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One customisation as written (a type's own, or DEFAULT_4XX/5XX), compiled once for the stage."""

    status: int | None
    static_headers: tuple[tuple[str, str], ...]
    dynamic_headers: tuple[tuple[str, Source], ...]
    templates: dict[str, Template]
    maps_error_type: bool

    def for_type(self, default: DefaultResponse) -> CustomResponse:
        """Applied to one type: its own status unless one is set, and its ``x-amzn-ErrorType`` (AWS keeps it)."""
        headers = list(self.static_headers)
        if default.error_type and not self.maps_error_type:  # a mapping of the same name replaces it
            headers.insert(0, ("x-amzn-ErrorType", default.error_type))
        status = self.status if self.status is not None else default.status
        return CustomResponse(status, headers, self.dynamic_headers, self.templates)


def _compile(customisation: Mapping[str, Any], stage_variables: Mapping[str, str]) -> _Compiled:
    raw_status = customisation.get("statusCode")
    parameters: Mapping[str, str] = customisation.get("responseParameters") or {}
    static_headers: list[tuple[str, str]] = []
    dynamic_headers: list[tuple[str, Source]] = []
    for target, expression in parameters.items():
        name = target.removeprefix(_HEADER_TARGET)
        if not target.startswith(_HEADER_TARGET) or not name:
            continue  # gateway_response_warnings names it
        value = compile_parameter(expression, stage_variables)
        if isinstance(value, str):
            static_headers.append((name, value))
        elif value is not None:
            dynamic_headers.append((name, value))
    raw_templates: Mapping[str, str] = customisation.get("responseTemplates") or {_JSON: DEFAULT_TEMPLATE}
    return _Compiled(
        status=int(raw_status) if raw_status is not None else None,
        static_headers=tuple(static_headers),
        dynamic_headers=tuple(dynamic_headers),
        templates={ctype.lower(): Template(text, stage_variables) for ctype, text in raw_templates.items()},
        maps_error_type=any(name.lower() == "x-amzn-errortype" for name, _ in static_headers + dynamic_headers),
    )


def gateway_response_warnings(
    definition: ApiDefinition, stage_variables: Mapping[str, str] | None = None
) -> list[Problem]:
    """Load-time warnings for the parts of ``x-amazon-apigateway-gateway-responses`` that AWS or fastgw ignores
    (never a silent change): REQUEST_TOO_LARGE (AWS does not support customising it), targets other than
    ``gatewayresponse.header.X``, sources fastgw cannot give, and, for a stage, stage variables that are not set."""
    if definition.api_type != "REST":
        return []  # HTTP APIs: the loader already warns that the extension does not apply
    place = Place(definition.source).child("x-amazon-apigateway-gateway-responses")
    problems = []
    for response_type, customisation in definition.gateway_responses.items():
        where = place.child(response_type)
        if response_type == "REQUEST_TOO_LARGE":
            problems.append(Problem(where, "AWS does not support customising REQUEST_TOO_LARGE: ignored"))
            continue
        parameters: Mapping[str, str] = customisation.get("responseParameters") or {}
        for target, expression in parameters.items():
            at = where.child("responseParameters", target)
            if not target.startswith(_HEADER_TARGET) or target == _HEADER_TARGET:
                problems.append(Problem(at, f"'{target}' is not a gatewayresponse.header.X target: ignored"))
            elif expression.startswith("stageVariables."):
                name = expression.removeprefix("stageVariables.")
                if stage_variables is not None and name not in stage_variables:
                    problems.append(Problem(at, f"stage variable {name} is not set: the header is left out"))
            elif compile_parameter(expression, {}) is None:
                problems.append(Problem(at, f"'{expression}' is not a source fastgw supports: the header is left out"))
    return problems


class GatewayResponses:
    """Renders gateway responses for one API stage; the body and headers of each type are built once."""

    def __init__(self, api_type: ApiType, custom: Mapping[str, CustomResponse] | None = None) -> None:
        self.api_type = api_type
        self._custom: dict[str, CustomResponse] = dict(custom or {})
        self._rendered: dict[tuple[str, str | None], RenderedResponse] = {}

    @classmethod
    def for_definition(cls, definition: ApiDefinition, stage_variables: Mapping[str, str]) -> GatewayResponses:
        """The gateway responses of one API stage, customisations resolved and compiled (REST APIs only: HTTP APIs
        are not customisable, and the loader warns)."""
        if definition.api_type != "REST" or not definition.gateway_responses:
            return cls(definition.api_type)
        return cls("REST", resolve_customisations(definition.gateway_responses, stage_variables))

    def default_for(self, response_type: str) -> DefaultResponse:
        if self.api_type == "HTTP":
            found = HTTP_DEFAULTS.get(response_type)
            if found is not None:
                return found
            return _HTTP_INTERNAL if REST_DEFAULTS.get(response_type, _HTTP_INTERNAL).status >= 500 else _HTTP_FORBIDDEN
        return REST_DEFAULTS.get(response_type) or REST_DEFAULTS["DEFAULT_5XX"]

    def render(
        self, response_type: str, message: str | None = None, *, request: Request | None = None
    ) -> RenderedResponse:
        """The response for ``response_type``; ``message`` overrides the default message where AWS
        builds it per request (``Missing required request parameters: [a, b]``). ``request``, when there is
        one, is what customised responses draw ``method.request.*`` and ``$context`` values from."""
        key = (response_type, message)
        rendered = self._rendered.get(key)
        if rendered is not None:
            return rendered
        custom = self._custom.get(response_type)
        if custom is None:
            rendered = self._build(response_type, message)
            if message is None:
                self._rendered[key] = rendered
            return rendered
        if message is None:
            message = self.default_for(response_type).message
            rendered = custom.render(response_type, message, request)
            if custom.static:
                self._rendered[key] = rendered
            return rendered
        return custom.render(response_type, message, request)

    def _build(self, response_type: str, message: str | None) -> RenderedResponse:
        default = self.default_for(response_type)
        body = orjson.dumps({"message": message if message is not None else default.message})
        headers = [("content-type", "application/json")]
        if self.api_type == "REST" and default.error_type:
            headers.append(("x-amzn-ErrorType", default.error_type))
        return RenderedResponse(default.status, headers, body)


def resolve_customisations(
    gateway_responses: Mapping[str, Mapping[str, Any]], stage_variables: Mapping[str, str]
) -> dict[str, CustomResponse]:
    """AWS's resolution order, worked out for every type at load: the type's own customisation, else the
    DEFAULT_4XX / DEFAULT_5XX one by the type's default status class, else none (the built-in default).
    Each customisation is compiled once, however many types it is copied onto."""
    compiled = {
        response_type: _compile(customisation, stage_variables)
        for response_type, customisation in gateway_responses.items()
        if response_type not in NOT_CUSTOMISABLE
    }
    resolved: dict[str, CustomResponse] = {}
    for response_type, default in REST_DEFAULTS.items():
        if response_type in NOT_CUSTOMISABLE:
            continue
        found = compiled.get(response_type)
        if found is None and response_type not in ("DEFAULT_4XX", "DEFAULT_5XX"):
            found = compiled.get("DEFAULT_5XX" if default.status >= 500 else "DEFAULT_4XX")
        if found is not None:
            resolved[response_type] = found.for_type(default)
    return resolved
