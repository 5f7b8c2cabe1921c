"""HTTP API CORS (``x-amazon-apigateway-cors``, reference §9), compiled once per stage.

What AWS documents: with a CORS configuration the gateway answers preflight requests itself (``OPTIONS`` with
``Origin`` and ``Access-Control-Request-Method``), even when the API has no ``OPTIONS`` route; it adds the
configured headers to every response for a request with an ``Origin``; it ignores CORS headers from the backend.

Where AWS is silent, fastgw decides (each decision is pinned by a test in ``tests/transforms/test_cors.py``):

- A preflight answers ``204`` with an empty body (community reports; AWS does not document the status).
- A preflight whose origin is not allowed, whose method is not allowed, or that asks for a header that is not
  allowed is still answered by the gateway (it never reaches a route), with ``204`` and **no** CORS headers: the
  browser then fails the CORS check, as it does on AWS (community reports of AWS's answer in those cases).
  ``GET``, ``HEAD`` and ``POST`` are always allowed, as the Fetch standard's CORS-safelisted methods.
- Origins match exactly (ignoring case), or by the wildcards AWS documents: ``*`` (any origin), ``https://*`` and
  ``http://*`` (any origin of that scheme). Other patterns (``https://*.example.com``) match only literally, and
  :func:`cors_warnings` names them at load.
- ``Access-Control-Allow-Origin`` is ``*`` when ``allowOrigins`` has ``*`` and credentials are not allowed;
  otherwise it echoes the request's origin, and then ``Vary: Origin`` is added, because the answer depends on the
  ``Origin`` header and a shared cache must not hand one origin's answer to another.
- Lists are sent comma-separated without spaces; header names lowercase, methods uppercase.
- Backend CORS headers (every ``Access-Control-*`` response header) are removed from every response of a CORS
  API, whether or not the request had an ``Origin``: AWS "ignores" them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastgw.config.model import ApiDefinition
from fastgw.errors import Place, Problem
from fastgw.integrations.base import Request, Response
from fastgw.routing_types import Cors

PROPERTIES: Final = ("allowOrigins", "allowCredentials", "exposeHeaders", "maxAge", "allowMethods", "allowHeaders")
_SAFELISTED_METHODS: Final = frozenset({"GET", "HEAD", "POST"})
_SCHEME_WILDCARDS: Final = {"https://*": "https://", "http://*": "http://"}
_MAX_AGE_RANGE: Final = range(-1, 86401)


class PreflightResponse(Response):
    """The gateway's own answer to a preflight request: :meth:`HttpApiCors.apply` leaves it alone."""

    __slots__ = ()


class HttpApiCors:
    """One API's CORS configuration, compiled: sets for matching, header values ready to send."""

    __slots__ = (
        "_actual_headers",
        "_allow_headers",
        "_allow_methods",
        "_any_header",
        "_any_method",
        "_any_origin",
        "_credentials",
        "_origins",
        "_preflight_headers",
        "_schemes",
        "_star_origin",
    )

    def __init__(
        self,
        *,
        allow_origins: list[str],
        allow_credentials: bool = False,
        expose_headers: list[str] | None = None,
        max_age: int | None = None,
        allow_methods: list[str] | None = None,
        allow_headers: list[str] | None = None,
    ) -> None:
        self._any_origin = "*" in allow_origins
        self._schemes = tuple(_SCHEME_WILDCARDS[o.lower()] for o in allow_origins if o.lower() in _SCHEME_WILDCARDS)
        self._origins = frozenset(o.lower() for o in allow_origins if o != "*" and o.lower() not in _SCHEME_WILDCARDS)
        self._credentials = allow_credentials
        self._star_origin = self._any_origin and not allow_credentials
        """``Access-Control-Allow-Origin: *`` (the same answer for every origin) rather than the request's origin."""
        methods = [m.upper() for m in allow_methods or []]
        headers = [h.lower() for h in allow_headers or []]
        self._any_method = "*" in methods
        self._allow_methods = frozenset(methods) | _SAFELISTED_METHODS
        self._any_header = "*" in headers
        self._allow_headers = frozenset(headers)
        credentials = [("access-control-allow-credentials", "true")] if allow_credentials else []
        self._actual_headers: list[tuple[str, str]] = credentials.copy()
        if expose_headers:
            self._actual_headers.append(("access-control-expose-headers", ",".join(h.lower() for h in expose_headers)))
        self._preflight_headers: list[tuple[str, str]] = credentials.copy()
        if methods:
            self._preflight_headers.append(("access-control-allow-methods", ",".join(methods)))
        if headers:
            self._preflight_headers.append(("access-control-allow-headers", ",".join(headers)))
        if max_age is not None:
            self._preflight_headers.append(("access-control-max-age", str(max_age)))

    def allows_origin(self, origin: str) -> bool:
        if self._any_origin:
            return True
        lowered = origin.lower()
        return lowered in self._origins or any(lowered.startswith(scheme) for scheme in self._schemes)

    def _origin_headers(self, origin: str) -> list[tuple[str, str]]:
        if self._star_origin:
            return [("access-control-allow-origin", "*")]
        return [("access-control-allow-origin", origin)]

    def preflight(self, request: Request) -> Response | None:
        if request.method != "OPTIONS":
            return None
        origin = request.header("origin")
        method = request.header("access-control-request-method")
        if origin is None or method is None:
            return None  # a plain OPTIONS request: routed like any other
        headers: list[tuple[str, str]] = []
        if self._allows_preflight(origin, method.strip(), request.header("access-control-request-headers")):
            headers = self._origin_headers(origin) + self._preflight_headers
            if not self._star_origin:
                headers.append(("vary", "Origin"))
        return PreflightResponse(204, headers, b"")

    def _allows_preflight(self, origin: str, method: str, requested_headers: str | None) -> bool:
        if not self.allows_origin(origin):
            return False
        if not self._any_method and method.upper() not in self._allow_methods:
            return False
        if requested_headers and not self._any_header:
            for name in requested_headers.split(","):
                name = name.strip().lower()
                if name and name not in self._allow_headers:
                    return False
        return True

    def apply(self, request: Request, response: Response) -> None:
        if type(response) is PreflightResponse:
            return
        headers = [(name, value) for name, value in response.headers if not _is_cors_header(name)]
        origin = request.header("origin")
        if origin is not None and self.allows_origin(origin):
            headers += self._origin_headers(origin)
            headers += self._actual_headers
            if not self._star_origin:
                add_vary(headers, "Origin")
        response.headers = headers


def _is_cors_header(name: str) -> bool:
    return name[:15].lower() == "access-control-"


def add_vary(headers: list[tuple[str, str]], token: str) -> None:
    """Adds ``token`` to the response's ``Vary`` header (in place), once."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            tokens = [t.strip().lower() for t in value.split(",")]
            if token.lower() not in tokens and "*" not in tokens:
                headers[index] = (name, f"{value}, {token}" if value.strip() else token)
            return
    headers.append(("vary", token))


def _strings(value: Any) -> list[str]:
    """A list property as AWS accepts it: a list of strings (a comma-separated string is accepted too)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    return []


def build_cors(definition: ApiDefinition) -> Cors | None:
    """The stage's CORS policy, or ``None`` when the API configures none (REST APIs have no built-in CORS:
    the loader drops ``x-amazon-apigateway-cors`` from them with a warning)."""
    config = definition.cors
    if definition.api_type != "HTTP" or not isinstance(config, Mapping):
        return None
    max_age = config.get("maxAge")
    return HttpApiCors(
        allow_origins=_strings(config.get("allowOrigins")),
        allow_credentials=config.get("allowCredentials") is True,
        expose_headers=_strings(config.get("exposeHeaders")),
        max_age=max_age if isinstance(max_age, int) and not isinstance(max_age, bool) else None,
        allow_methods=_strings(config.get("allowMethods")),
        allow_headers=_strings(config.get("allowHeaders")),
    )


def cors_warnings(definition: ApiDefinition) -> list[Problem]:
    """Load-time warnings for the parts of ``x-amazon-apigateway-cors`` that fastgw reads differently from what
    the author may expect (never a silent change): unknown properties, wrong types, out-of-range ``maxAge``,
    origin patterns AWS does not support."""
    config = definition.cors
    if definition.api_type != "HTTP" or not isinstance(config, Mapping):
        return []
    place = Place(definition.source).child("x-amazon-apigateway-cors")
    problems = [
        Problem(place.child(key), f"'{key}' is not a CORS property: ignored") for key in config if key not in PROPERTIES
    ]
    for key in ("allowOrigins", "exposeHeaders", "allowMethods", "allowHeaders"):
        value = config.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            problems.append(Problem(place.child(key), f"'{key}' should be a list of strings"))
    credentials = config.get("allowCredentials")
    if credentials is not None and not isinstance(credentials, bool):
        problems.append(Problem(place.child("allowCredentials"), "'allowCredentials' should be a boolean: ignored"))
    max_age = config.get("maxAge")
    if max_age is not None and (not isinstance(max_age, int) or isinstance(max_age, bool)):
        problems.append(Problem(place.child("maxAge"), "'maxAge' should be an integer: ignored"))
    elif max_age is not None and max_age not in _MAX_AGE_RANGE:
        problems.append(Problem(place.child("maxAge"), f"'maxAge' {max_age} is outside -1..86400 (AWS refuses it)"))
    for index, origin in enumerate(_strings(config.get("allowOrigins"))):
        if "*" in origin and origin != "*" and origin.lower() not in _SCHEME_WILDCARDS:
            problems.append(
                Problem(
                    place.child("allowOrigins", index),
                    f"origin pattern '{origin}' is not one AWS supports ('*', 'https://*', 'http://*'): "
                    "it matches only literally",
                )
            )
    return problems
