"""The loaded form of an API definition: plain, frozen data, independent of OpenAPI/Swagger syntax.

``fastgw.config.openapi`` produces an :class:`ApiDefinition` from a file; the data plane compiles it
per stage. Fields that later capabilities need (validators, gateway responses, CORS, caching, auth) are
kept here as parsed values or raw extension objects, so that they can be used without re-reading the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastgw.errors import Place, Problem

ApiType = Literal["REST", "HTTP"]
IntegrationType = Literal["HTTP_PROXY", "HTTP", "MOCK"]
PassthroughBehavior = Literal["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"]

#: The seven methods AWS expands ``ANY`` to.
ANY_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
DEFAULT_ROUTE = "$default"


@dataclass(frozen=True, slots=True)
class IntegrationResponse:
    """REST integration response: chosen by ``selection_pattern`` (a regex on the backend status, or
    ``default``) and giving the method response status, header mappings and body templates."""

    selection_pattern: str
    status_code: int
    response_parameters: Mapping[str, str] = field(default_factory=dict)
    response_templates: Mapping[str, str] = field(default_factory=dict)
    content_handling: str | None = None


@dataclass(frozen=True, slots=True)
class Integration:
    """``x-amazon-apigateway-integration`` of a supported type, as written (stage variables in ``uri``
    are resolved per stage when the data plane compiles it)."""

    type: IntegrationType
    place: Place
    uri: str = ""
    http_method: str = "ANY"
    #: REST: ``integration.request.{header|querystring|path}.N`` -> source expression.
    #: HTTP API: parameter-mapping keys (``append:header.x``, ``overwrite:path``, ...) -> value.
    request_parameters: Mapping[str, str] = field(default_factory=dict)
    request_templates: Mapping[str, str] = field(default_factory=dict)
    #: REST integration responses, in definition order (``default`` last when matching).
    responses: tuple[IntegrationResponse, ...] = ()
    #: HTTP API response parameter mapping, keyed by backend status code.
    response_parameters: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    passthrough_behavior: PassthroughBehavior = "WHEN_NO_MATCH"
    timeout_ms: int = 29_000
    payload_format_version: str | None = None
    content_handling: str | None = None
    cache_namespace: str | None = None
    cache_key_parameters: tuple[str, ...] = ()
    tls_insecure_skip_verification: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """One route: an operation of the definition (a REST method on a resource, or an HTTP API route)."""

    method: str
    """``GET``, ``POST``, ... or ``ANY``. The ``$default`` route has ``ANY``."""
    path: str
    """Resource path after basePath handling (``/pets/{id}``), or ``$default``."""
    place: Place
    """The operation object in the file (``/paths/~1pets~1{id}/get``)."""
    integration: Integration | None
    """``None`` when the operation has no integration fastgw can run (a warning says why); the route
    still takes part in matching and answers AWS's 500."""
    request_parameters: Mapping[str, bool] = field(default_factory=dict)
    """``method.request.{path|querystring|header}.<name>`` -> required, from the operation's parameters."""
    api_key_required: bool = False
    operation_id: str | None = None
    request_validator: str | None = None
    request_models: Mapping[str, str] = field(default_factory=dict)
    """Content type -> model (schema) name of the request body, for validation."""
    security: tuple[Mapping[str, tuple[str, ...]], ...] | None = None
    """The effective OpenAPI security requirements (root-level applied when the operation has none)."""
    operation: Mapping[str, Any] = field(default_factory=dict)
    """The raw operation object, for extensions handled by later stages."""
    no_integration_reason: str | None = None
    """Why ``integration`` is ``None`` (``AWS_PROXY integrations are not supported yet``), for route listings."""

    @property
    def route_key(self) -> str:
        """AWS route key: ``GET /pets/{id}``, ``ANY /{proxy+}`` or ``$default``."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class ApiDefinition:
    """An OpenAPI 3 / Swagger 2 definition, loaded and checked, ready to compile for a stage."""

    source: str
    title: str
    version: str
    api_type: ApiType
    routes: tuple[Route, ...]
    warnings: tuple[Problem, ...] = ()
    base_path: str = ""
    """The definition's basePath (Swagger ``basePath`` / OAS3 server), whatever the basepath mode did."""
    binary_media_types: tuple[str, ...] = ()
    minimum_compression_size: int | None = None
    api_key_source: Literal["HEADER", "AUTHORIZER"] = "HEADER"
    gateway_responses: Mapping[str, Any] = field(default_factory=dict)
    request_validators: Mapping[str, Any] = field(default_factory=dict)
    default_request_validator: str | None = None
    cors: Mapping[str, Any] | None = None
    models: Mapping[str, Any] = field(default_factory=dict)
    """Schemas by name (Swagger ``definitions`` / OAS3 ``components/schemas``), ``$ref``s unresolved."""
    security_schemes: Mapping[str, Any] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)
    """The whole parsed document, for extensions not modelled yet."""
