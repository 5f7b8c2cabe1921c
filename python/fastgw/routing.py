"""Compiling an API definition for one stage: the engine (route trie in Rust) and the per-route table.

:func:`compile_stage` is the one place where a loaded :class:`~fastgw.config.model.ApiDefinition` meets a stage:
stage variables are substituted into integration URIs, integrations are compiled into handlers, the Rust
:class:`~fastgw._core.Engine` is built (rejecting conflicting routes with AWS's messages, pointed back at the
route's place in the file), and what fastgw does not apply yet is reported as warnings. Per request the data
plane asks the engine for a route id and indexes :attr:`StageRuntime.routes` with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fastgw._core import Engine, RouteConfigError
from fastgw.config.collector import collector_paused
from fastgw.config.model import ApiDefinition, Integration, Route
from fastgw.errors import DefinitionError, Place, Problem
from fastgw.integrations.base import IntegrationHandler
from fastgw.integrations.http import Backend, HttpIntegration, ProxyTargetSpec
from fastgw.integrations.mock import MockIntegration
from fastgw.integrations.python import Handler, PythonIntegration
from fastgw.integrations.upstream import UpstreamPools
from fastgw.observability.node import StageLog, StageSlots
from fastgw.responses import GatewayResponses, gateway_response_warnings
from fastgw.routing_types import Compression, Cors
from fastgw.shared_cache import SharedStage
from fastgw.transforms.compression import build_compression
from fastgw.transforms.cors import build_cors, cors_warnings
from fastgw.transforms.parameters import UnsupportedExpressionError
from fastgw.validation import RouteValidator, build_validator

_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 10_240
DEFAULT_CLIENT_SEND_TIMEOUT = 60.0


class LimitsLike(Protocol):
    @property
    def max_body_bytes(self) -> int: ...

    @property
    def max_header_bytes(self) -> int: ...

    @property
    def client_send_timeout(self) -> float: ...


@dataclass(frozen=True, slots=True)
class DefaultLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    client_send_timeout: float = DEFAULT_CLIENT_SEND_TIMEOUT


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    route_key: str
    resource_path: str
    place: Place
    integration: IntegrationHandler | None
    """``None``: the route answers AWS's 500 (no integration fastgw can run; a load warning says why)."""
    validator: RouteValidator | None = None


class StageRuntime:
    """One API stage, compiled: what a worker needs to serve it."""

    def __init__(
        self,
        definition: ApiDefinition,
        stage_name: str,
        stage_variables: Mapping[str, str],
        engine: Engine,
        routes: list[CompiledRoute],
        limits: LimitsLike,
        api_id: str,
        api_name: str = "api",
    ) -> None:
        self.definition = definition
        self.api_name = api_name
        self.api_type = definition.api_type
        self.stage_name = stage_name
        self.stage_variables = dict(stage_variables)
        self.engine = engine
        self.routes = routes
        self.limits = limits
        self.api_id = api_id
        self.responses = GatewayResponses.for_definition(definition, stage_variables)
        self.cors: Cors | None = build_cors(definition)
        self.compression: Compression | None = build_compression(definition)
        self.listener_proto = "http"
        self.listener_port = "80"
        self.metric_slots = StageSlots(0, 0)
        """Where the stage counts in the node's metrics (set by the gateway when metrics are on)."""
        self.access_log: StageLog | None = None
        """This worker's access-log writer for the stage (``None``: access logs off)."""
        self.cache_enabled = False
        """The stage has a response cache (set by the gateway)."""
        self.shared_cache: SharedStage | None = None
        """The stage's place in the shared cache tier (``cacheSharedTier``; set by the gateway)."""
        self.key_ids: Callable[[int], str | None] | None = None
        """An API key's id from its slot (``$context.identity.apiKeyId``)."""

    def bind(self, pools: UpstreamPools, *, proto: str, port: int) -> None:
        """Per worker: attach the connection pools and the listener facts sent as ``X-Forwarded-*``."""
        self.listener_proto = proto
        self.listener_port = str(port)
        for route in self.routes:
            if isinstance(route.integration, HttpIntegration):
                route.integration.bind(pools)


def api_id_for(definition: ApiDefinition) -> str:
    """A stable 10-character id in AWS's shape (``$context.apiId``), from the definition's source and title."""
    digest = hashlib.sha256(f"{definition.source}\0{definition.title}".encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 36] for b in digest[:10])


def substitute_stage_variables(text: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """``${stageVariables.x}`` replaced; returns the text and the names that had no value."""
    missing: list[str] = []
    if "${stageVariables." not in text:
        return text, missing

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            missing.append(name)
            return ""
        return variables[name]

    return _STAGE_VARIABLE.sub(replace, text), missing


def _compile_integration(
    definition: ApiDefinition,
    route: Route,
    integration: Integration,
    stage_variables: Mapping[str, str],
    api_id: str,
    warnings: list[Problem],
) -> IntegrationHandler | None:
    try:
        if integration.type == "MOCK":
            return MockIntegration(integration, stage_variables)
        uri, missing = substitute_stage_variables(integration.uri, stage_variables)
        if missing:
            names = ", ".join(missing)
            warnings.append(
                Problem(integration.place.child("uri"), f"stage variable(s) {names} not set: the route answers 500")
            )
            return None
        return HttpIntegration(
            integration,
            Backend(uri),
            api_type=definition.api_type,
            api_id=api_id,
            route_path=route.path,
            stage_variables=stage_variables,
            route_key=route.route_key,
        )
    except (ValueError, UnsupportedExpressionError) as error:
        warnings.append(Problem(integration.place, f"{error}: the route answers 500"))
        return None


def pending_feature_warnings(definition: ApiDefinition) -> list[Problem]:
    """Extensions the definition uses that fastgw parses but does not apply yet: never a silent change."""
    root = Place(definition.source)
    warnings = []
    warnings.extend(cors_warnings(definition))
    if definition.binary_media_types:
        warnings.append(
            Problem(
                root.child("x-amazon-apigateway-binary-media-types"),
                "binary media types apply to non-proxy integrations only: proxies pass bodies unchanged",
            )
        )
    return warnings


def with_handlers(
    definition: ApiDefinition, handlers: Mapping[str, Handler]
) -> tuple[ApiDefinition, dict[int, Handler]]:
    """Python handlers by route key: they answer existing routes, or add routes. Returns the definition with
    the added routes and the handlers by route index."""
    routes = list(definition.routes)
    by_key = {route.route_key: index for index, route in enumerate(routes)}
    by_index: dict[int, Handler] = {}
    for route_key, handler in handlers.items():
        index = by_key.get(route_key)
        if index is None:
            method, _, path = route_key.partition(" ")
            if route_key == "$default":
                method, path = "ANY", "$default"
            routes.append(Route(method, path, Place("<handlers>", "/" + route_key), None))
            index = len(routes) - 1
        by_index[index] = handler
    return dataclasses.replace(definition, routes=tuple(routes)), by_index


def _proxy_target(integration: IntegrationHandler | None) -> ProxyTargetSpec | None:
    return integration.proxy_target() if isinstance(integration, HttpIntegration) else None


@collector_paused()
def compile_stage(
    definition: ApiDefinition,
    stage_name: str = "$default",
    stage_variables: Mapping[str, str] | None = None,
    *,
    limits: LimitsLike | None = None,
    ignore_trailing_slash: bool | None = None,
    handlers: Mapping[str, Handler] | None = None,
    api_name: str = "api",
    engine_options: Mapping[str, Any] | None = None,
) -> tuple[StageRuntime, list[Problem]]:
    """Compiles ``definition`` for one stage. Raises :class:`DefinitionError` for conflicting routes;
    returns the runtime and the stage's warnings (the definition's own warnings are not repeated).
    ``engine_options``: the admission arguments of the engine (:meth:`NodeAdmission.engine_options`)."""
    handler_by_index: dict[int, Handler] = {}
    if handlers:
        definition, handler_by_index = with_handlers(definition, handlers)
    variables = dict(stage_variables or {})
    api_id = api_id_for(definition)
    warnings: list[Problem] = pending_feature_warnings(definition)
    warnings.extend(gateway_response_warnings(definition, variables))
    limits = limits or DefaultLimits()
    routes = []
    for index, route in enumerate(definition.routes):
        handler: IntegrationHandler | None = None
        if index in handler_by_index:
            handler = PythonIntegration(handler_by_index[index])
        elif route.integration is not None:
            handler = _compile_integration(definition, route, route.integration, variables, api_id, warnings)
        validator = build_validator(definition, route)
        routes.append(CompiledRoute(route.route_key, route.path, route.place, handler, validator))
    try:
        engine = Engine(
            definition.api_type,
            [(route.method, route.path) for route in definition.routes],
            ignore_trailing_slash=ignore_trailing_slash,
            max_header_bytes=limits.max_header_bytes,
            max_body_bytes=limits.max_body_bytes,
            # Plain HTTP proxies: the engine writes their upstream request head in the admit call.
            proxies=[
                r.integration.proxy_target() if isinstance(r.integration, HttpIntegration) else None for r in routes
            ],
            # REST request validators: the engine checks parameters and picks the body model in the admit call.
            validators=[r.validator.engine_args() if r.validator is not None else None for r in routes],
            **(engine_options or {}),
        )
    except RouteConfigError as error:
        message, index = error.args
        raise DefinitionError(Problem(definition.routes[index].place, message)) from None
    runtime = StageRuntime(definition, stage_name, variables, engine, routes, limits, api_id, api_name)
    return runtime, warnings
