"""REST mapping templates: AWS-flavoured Velocity (VTL) with ``$input``, ``$util``, ``$context`` and
``$stageVariables`` (reference §5.3), rendered by airspeed-ext.

A template is parsed once, at load (:class:`MappingTemplate`); per request a :class:`TemplateInput` is built
from the request and rendered. A template with no ``$`` or ``#`` in it is fixed text and never goes through
the engine.

What is supported, and the choices made where AWS documents nothing:

- ``$input.body``: the body as text (``{}`` when empty, as LocalStack's AWS-validated engine does); a binary
  body (its Content-Type in the API's binary media types) is base64-encoded first.
- ``$input.json(path)`` / ``$input.path(path)``: JSONPath as :class:`~fastgw.transforms.parameters.JsonPath`
  reads it: ``$``, ``.name``, ``['name']``, ``["name"]``, ``[index]`` (negative counts from the end),
  ``[1:3]``, ``*``, ``..name``, in any combination (``$.a[0]['b c'].d``); a wildcard, slice or ``..`` gives
  the list of matches. Filters (``[?(...)]``) find nothing. An empty body reads as ``{}``; a body that is not
  JSON makes ``path`` find nothing and ``json`` print nothing. ``json`` prints compact JSON (nothing when the
  path finds nothing); ``path`` returns the value, which prints Java-style: maps as ``{a=1, b=x}``, lists as
  compact JSON (``[{"a":1}]``), a list inside a map as JSON (``{foo=[{"nested":"bar"}]}``), ``null`` as
  nothing.
- ``$input.params()`` (``{path={...}, querystring={...}, header={...}}``) and ``$input.params(name)``
  (path, then query string, then header; the last value of a repeated query parameter, repeated headers
  joined with ``,``). Header names are matched case-insensitively (Granian gives them to us in lowercase).
- ``$util.escapeJavaScript`` (Apache Commons Lang 2 ``StringEscapeUtils.escapeJavaScript``: ``'`` becomes
  ``\\'``, ``/`` becomes ``\\/``, non-ASCII becomes ``\\uXXXX``), ``parseJson``, ``urlEncode`` (Java's
  ``URLEncoder``: ``+`` for space, ``*`` kept, ``~`` encoded), ``urlDecode``, ``base64Encode``,
  ``base64Decode``.
- ``$context``: requestId, extendedRequestId, httpMethod, resourcePath, stage, apiId, identity.sourceIp,
  identity.userAgent, path, protocol, domainName, requestTime, requestTimeEpoch; ``requestOverride``
  (``header``, ``querystring``, ``path``) and ``responseOverride`` (``header``, ``status``), which a
  template sets with ``#set($context.responseOverride.status = 444)``.
- ``$stageVariables.name``.
- Java ``String`` methods common in exported templates (``toLowerCase``, ``toUpperCase``, ``trim``,
  ``endsWith``, ``equals``, ``isEmpty``, ``split``, ``replace``, ...) and Java ``Map`` methods (``size``,
  ``containsKey``, ``get``, ``keySet``, ``values``, ``isEmpty``) are added to airspeed's method table.

Not enforced: AWS's 300 KB template size and 1000-iteration ``#foreach`` limits.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote_plus, unquote_plus

import airspeed  # type: ignore[import-untyped]  # no type information shipped
import airspeed.operators  # type: ignore[import-untyped]
import orjson

from fastgw.transforms.parameters import JsonPath, UnsupportedExpressionError, context_value

if TYPE_CHECKING:
    from fastgw.integrations.base import Request

__all__ = [
    "JavaList",
    "JavaMap",
    "MappingTemplate",
    "TemplateInput",
    "TemplateSyntaxError",
    "escape_javascript",
    "has_velocity",
    "java_string",
    "json_path",
]

#: The body ``$input.json`` / ``$input.path`` read when the request has none (AWS: ``$input.json('$')`` is ``{}``).
EMPTY_BODY: Final = "{}"


class TemplateSyntaxError(ValueError):
    """A mapping template that does not parse as Velocity (found at load)."""


def has_velocity(text: str) -> bool:
    """Whether a template can render to anything but itself (no ``$`` reference, no ``#`` directive)."""
    return "$" in text or "#" in text


# -- Java-flavoured values ------------------------------------------------------------------------


def java_string(value: Any) -> str:
    """How a value prints in a template: Java's ``toString`` as AWS shows it (reference §5.3)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_java_member(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return _compact_json(value)
    return str(value)


def _java_member(value: Any) -> str:
    # Inside a map, a null prints as "null" (Java's AbstractMap.toString); lists stay compact JSON.
    return "null" if value is None else java_string(value)


def _compact_json(value: Any) -> str:
    return orjson.dumps(value, default=_plain).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, JavaList):
        return list(value)
    if isinstance(value, JavaMap):
        return dict(value)
    raise TypeError


class JavaMap(dict[str, Any]):
    """A JSON object as a template sees it: prints as ``{a=1, b=x}``, nested values wrapped too."""

    def __str__(self) -> str:
        return java_string(self)

    __repr__ = __str__


class JavaList(list[Any]):
    """A JSON array as a template sees it: prints as compact JSON."""

    def __str__(self) -> str:
        return java_string(self)

    __repr__ = __str__


class CaseInsensitiveMap(JavaMap):
    """Request headers by lowercase name; lookups ignore case (``$input.params().header.get('X-Id')``)."""

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower() if isinstance(key, str) else key, default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


def wrap(value: Any) -> Any:
    """Parsed JSON turned into template values (maps and lists that print as AWS prints them)."""
    if isinstance(value, dict):
        return JavaMap((key, wrap(item)) for key, item in value.items())
    if isinstance(value, list):
        return JavaList(wrap(item) for item in value)
    return value


def _register_java_methods() -> None:
    """Java methods templates call on maps, lists and strings, in airspeed's method table (keyed by exact
    class, so our subclasses need their own entries)."""
    methods = airspeed.operators.__additional_methods__
    map_methods: dict[str, Callable[..., Any]] = {
        **methods[dict],
        "size": len,
        "isEmpty": lambda self: len(self) == 0,
        "containsKey": lambda self, key: key in self,
        "get": lambda self, key: self.get(key),
        "keySet": lambda self: list(self.keys()),
        "values": lambda self: list(self.values()),
        "toString": java_string,
    }
    methods[JavaMap] = map_methods
    methods[CaseInsensitiveMap] = map_methods
    methods[JavaList] = {**methods[list], "toString": java_string}
    string_methods = methods[str]
    for name, method in {
        "toLowerCase": str.lower,
        "toUpperCase": str.upper,
        "trim": str.strip,
        "endsWith": str.endswith,
        "equals": lambda self, other: self == other,
        "equalsIgnoreCase": lambda self, other: isinstance(other, str) and self.lower() == other.lower(),
        "isEmpty": lambda self: len(self) == 0,
        "split": lambda self, pattern: re.split(pattern, self),
        "replace": lambda self, old, new: self.replace(old, new),
        "charAt": lambda self, index: self[index],
        "lastIndexOf": lambda self, sub: self.rfind(sub),
        "toString": lambda self: self,
    }.items():
        string_methods.setdefault(name, method)


_register_java_methods()


# -- JSONPath subset ------------------------------------------------------------------------------

_MISSING: Final = object()


@functools.lru_cache(maxsize=512)
def _compiled_path(path: str) -> JsonPath | None:
    """Paths are strings in the template, known only when it runs: compiled once each, then cached."""
    try:
        return JsonPath(path)
    except UnsupportedExpressionError:
        return None


def json_path(document: Any, path: str) -> Any:
    """The value at ``path`` in a parsed JSON document, or ``_MISSING``. A path with a wildcard, slice or
    ``..`` gives the list of its matches (as Jayway JsonPath, AWS's engine, does)."""
    compiled = _compiled_path(path)
    if compiled is None:
        return _MISSING
    found = compiled.find(document)
    if compiled.definite:
        return found[0] if found else _MISSING
    return found


# -- $util ----------------------------------------------------------------------------------------


def escape_javascript(value: Any) -> str:
    """Apache Commons Lang 2 ``StringEscapeUtils.escapeJavaScript``, which AWS's ``$util`` uses."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else java_string(value)
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:  # Java strings are UTF-16: a surrogate pair, each escaped
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
        elif code > 0x7F:
            out.append(f"\\u{code:04X}")
        elif code < 32:
            out.append(_CONTROL.get(char) or f"\\u{code:04X}")
        elif char in _ESCAPED:
            out.append(_ESCAPED[char])
        else:
            out.append(char)
    return "".join(out)


_CONTROL: Final = {"\b": "\\b", "\n": "\\n", "\t": "\\t", "\f": "\\f", "\r": "\\r"}
_ESCAPED: Final = {"'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/"}


class Util:
    """``$util`` (method names are AWS's)."""

    __slots__ = ()

    @staticmethod
    def escapeJavaScript(value: Any) -> str:
        return escape_javascript(value)

    @staticmethod
    def parseJson(text: Any) -> Any:
        try:
            return wrap(orjson.loads(text if isinstance(text, str | bytes) else java_string(text)))
        except orjson.JSONDecodeError:
            raise ValueError("$util.parseJson: not JSON") from None

    @staticmethod
    def urlEncode(value: Any) -> str:
        # java.net.URLEncoder: unreserved are letters, digits, ".-*_"; space is "+".
        return quote_plus(java_string(value), safe="*").replace("~", "%7E")

    @staticmethod
    def urlDecode(value: Any) -> str:
        return unquote_plus(java_string(value))

    @staticmethod
    def base64Encode(value: Any) -> str:
        return base64.b64encode(java_string(value).encode()).decode()

    @staticmethod
    def base64Decode(value: Any) -> str:
        try:
            return base64.b64decode(java_string(value)).decode(errors="replace")
        except (binascii.Error, ValueError):
            raise ValueError("$util.base64Decode: not base64") from None


UTIL: Final = Util()


# -- $input ---------------------------------------------------------------------------------------


class Input:
    """``$input`` for one rendering."""

    __slots__ = ("_document", "_params", "body")

    def __init__(self, body: str, params: JavaMap) -> None:
        self.body = body or EMPTY_BODY
        self._params = params
        self._document: Any = _MISSING

    def _parsed(self) -> Any:
        document = self._document
        if document is _MISSING:
            try:
                document = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                document = _NOT_JSON  # every path finds nothing
            self._document = document
        return document

    def path(self, path: str) -> Any:
        document = self._parsed()
        if document is _NOT_JSON:
            return None
        value = json_path(document, path)
        return None if value is _MISSING else wrap(value)

    def json(self, path: str) -> str:
        document = self._parsed()
        if document is _NOT_JSON:
            return ""
        value = json_path(document, path)
        return "" if value is _MISSING else _compact_json(value)

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for kind in ("path", "querystring", "header"):
            value = self._params[kind].get(name)
            if value is not None:
                return value
        return ""


_NOT_JSON: Final = object()


class TemplateInput:
    """Everything a template reads for one request: built once, rendered by one or two templates (the
    request template, then the response template with the backend's body)."""

    __slots__ = ("context", "params", "request_override", "response_override", "stage_variables")

    def __init__(
        self,
        *,
        context: dict[str, Any],
        params: JavaMap,
        stage_variables: Mapping[str, str],
    ) -> None:
        self.context = context
        self.params = params
        self.stage_variables = JavaMap(stage_variables)
        self.request_override: JavaMap = context["requestOverride"]
        self.response_override: JavaMap = context["responseOverride"]

    @classmethod
    def from_request(cls, request: Request) -> TemplateInput:
        stage = request.stage
        now = time.time()

        def variable(name: str) -> str | None:
            return context_value(request, name)

        context = JavaMap(
            requestId=variable("requestId"),
            extendedRequestId=variable("extendedRequestId"),
            httpMethod=variable("httpMethod"),
            resourcePath=variable("resourcePath"),
            stage=variable("stage"),
            apiId=variable("apiId"),
            identity=JavaMap(sourceIp=variable("identity.sourceIp"), userAgent=variable("identity.userAgent")),
            path=variable("path"),
            protocol=variable("protocol"),
            domainName=variable("domainName"),
            requestTime=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            requestTimeEpoch=int(now * 1000),
            requestOverride=JavaMap(header=JavaMap(), querystring=JavaMap(), path=JavaMap()),
            responseOverride=JavaMap(header=JavaMap(), status=None),
        )
        headers = CaseInsensitiveMap()
        for name, value in request.header_list:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        params = JavaMap(
            path=JavaMap(request.params),
            querystring=JavaMap((name, values[-1]) for name, values in request.query.items()),
            header=headers,
        )
        return cls(context=context, params=params, stage_variables=stage.stage_variables)

    def override_status(self) -> int | None:
        """``$context.responseOverride.status``, when a template set it to a status AWS accepts (100-599)."""
        status = self.response_override.get("status")
        if isinstance(status, str) and status.strip().isdigit():
            status = int(status)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            return status
        return None

    def override_headers(self) -> list[tuple[str, str]]:
        """``$context.responseOverride.header.*`` (or ``requestOverride.header.*`` for the request side)."""
        return [(name, java_string(value)) for name, value in self.response_override["header"].items()]

    def request_overrides(self, kind: str) -> list[tuple[str, str]]:
        """``$context.requestOverride.{header|querystring|path}.*`` as set by the request template."""
        return [(name, java_string(value)) for name, value in self.request_override[kind].items()]


class MappingTemplate:
    """One template, parsed once."""

    __slots__ = ("_template", "content_type", "text")

    def __init__(self, content_type: str, text: str) -> None:
        self.content_type = content_type
        self.text = text
        self._template: airspeed.Template | None = None
        if has_velocity(text):
            template = airspeed.Template(text)
            try:
                template.ensure_compiled()
            except airspeed.TemplateSyntaxError as error:
                raise TemplateSyntaxError(f"mapping template for {content_type} does not parse: {error}") from None
            self._template = template

    @property
    def is_static(self) -> bool:
        return self._template is None

    def render(self, variables: TemplateInput, body: str) -> str:
        """The template's output for one request; ``body`` is what ``$input`` reads. Raises
        :class:`airspeed.TemplateError` (or ``ValueError`` from ``$util``) when the template fails."""
        template = self._template
        if template is None:
            return self.text
        namespace = {
            "input": Input(body, variables.params),
            "context": variables.context,
            "stageVariables": variables.stage_variables,
            "util": UTIL,
        }
        rendered: str = template.merge(namespace)
        return rendered


def compile_templates(templates: Mapping[str, str]) -> dict[str, MappingTemplate]:
    """Templates by content type, parsed. Raises :class:`TemplateSyntaxError` naming the content type."""
    return {content_type: MappingTemplate(content_type, text) for content_type, text in templates.items()}


def body_text(body: bytes, binary: bool) -> str:
    """What ``$input.body`` reads: a binary body base64-encoded, text decoded as UTF-8."""
    return base64.b64encode(body).decode() if binary else body.decode(errors="replace")
