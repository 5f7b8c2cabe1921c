"""REST request validation (``x-amazon-apigateway-request-validators``): required parameters and body models.

A route's validator is the operation's ``x-amazon-apigateway-request-validator``, else the API's (the loader
resolves that into ``Route.request_validator``). It is compiled once at load into a :class:`RouteValidator`:

- ``validateRequestParameters``: every required ``method.request.{path|querystring|header}.X`` must be present
  and not blank (AWS: "included and not blank"; only existence is checked, not type or format). Header names
  are matched case-insensitively, as HTTP says. The missing ones are named in AWS's order (LocalStack's, checked
  against AWS): sorted by their ``method.request.*`` key, so headers, then path, then query string parameters.
- ``validateRequestBody``: the body is checked against the model for the request's ``Content-Type`` (media type
  only, case-insensitive; ``application/json`` when the header is absent), else the ``$default`` model; when no
  model matches, the body is not validated (AWS: "If no matching content type is found, request validation is
  not performed"). Models are JSON Schema draft 4, compiled in Rust (:class:`fastgw._core.BodyValidator`) with
  their local ``$ref``s; a body that is not JSON is invalid; an empty body is checked as ``{}``.

Parameters are checked before the body, as AWS does. The engine does both choices while admitting the
request (``gateway_core::validation::RequestCheck``): a request with missing parameters is refused there, with
AWS's message; otherwise ``Forward.body_model`` is the model the data plane checks the body against. A body that
is read is kept in ``Request.body`` so that the integration does not read it again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fastgw._core import BodyValidator
from fastgw.config.model import ApiDefinition, Route
from fastgw.errors import DefinitionError, InvalidRequestBodyError, Problem

#: What a request without a ``Content-Type`` is taken to be (the engine's choice of model says the same).
ASSUMED_CONTENT_TYPE = "application/json"
INVALID_BODY = "Invalid request body"

_LOCATIONS = ("path", "querystring", "header")
#: AWS's own model URLs, which exports turn into local refs but hand-written definitions may keep.
_AWS_MODEL_URL = re.compile(r"^https://apigateway\.amazonaws\.com/restapis/[^/]+/models/([^/#]+)$")


class RouteValidator:
    """One route's request validator, compiled at load. The engine runs it while admitting a request
    (``Engine(validators=...)``): the required parameters, then the body model for the request's Content-Type,
    which the data plane checks the body against (:func:`check_body`)."""

    __slots__ = ("body_models", "required")

    def __init__(
        self, required: tuple[tuple[str, str], ...] = (), body_models: Mapping[str, BodyValidator] | None = None
    ) -> None:
        self.required = required
        """``(location, name)`` of each required parameter, in AWS's order; empty when not validated."""
        self.body_models = body_models
        """Lowercase media type (or ``$default``) -> compiled model; ``None`` when bodies are not validated."""

    def engine_args(self) -> tuple[list[tuple[str, str]], list[tuple[str, BodyValidator]]]:
        """The validator as ``Engine(validators=...)`` takes it."""
        return list(self.required), list((self.body_models or {}).items())


def check_body(model: BodyValidator, body: bytes) -> None:
    """Raises AWS's ``Invalid request body`` when ``model`` refuses ``body`` (the reason goes to the log)."""
    if not model.is_valid(body):
        raise InvalidRequestBodyError(model.explain(body), message=INVALID_BODY)


def build_validator(definition: ApiDefinition, route: Route) -> RouteValidator | None:
    """The validator of one route, compiled once at load, or ``None`` when the route validates nothing.
    Raises :class:`DefinitionError` for a request model that does not compile (AWS refuses it at import)."""
    if definition.api_type != "REST":
        return None
    name = route.request_validator or definition.default_request_validator
    settings = definition.request_validators.get(name) if name else None
    if not settings:
        return None
    required: tuple[tuple[str, str], ...] = ()
    if settings.get("validateRequestParameters"):
        required = tuple(_required_parameters(route.request_parameters))
    body_models = None
    if settings.get("validateRequestBody"):
        body_models = _body_models(definition, route)
    if not required and not body_models:
        return None
    return RouteValidator(required, body_models or None)


def _required_parameters(parameters: Mapping[str, bool]) -> list[tuple[str, str]]:
    result = []
    for key, required in sorted(parameters.items()):
        location, _, name = key.removeprefix("method.request.").partition(".")
        if required and location in _LOCATIONS and name:
            result.append((location, name))
    return result


def _body_models(definition: ApiDefinition, route: Route) -> dict[str, BodyValidator]:
    models = _Models.of(definition)
    where = route.place.child("parameters" if models.swagger else "requestBody")
    result = {}
    for content_type, model in route.request_models.items():
        try:
            result[content_type.strip().lower()] = models.compile(model)
        except ValueError as error:
            raise DefinitionError(Problem(where, f"request model '{model}': {error}")) from None
    for content_type, schema in _inline_schemas(definition, route, models.swagger).items():
        key = content_type.strip().lower()
        if key not in result:
            try:
                result[key] = models.compile_inline(schema)
            except ValueError as error:
                raise DefinitionError(Problem(where, f"request body schema for {content_type}: {error}")) from None
    return result


def _inline_schemas(definition: ApiDefinition, route: Route, swagger: bool) -> dict[str, dict[str, Any]]:
    """Content type -> request body schema written inline in the operation (AWS's import makes a model of it;
    ``Route.request_models`` has only the bodies that ``$ref`` a model)."""
    operation = route.operation
    document = definition.document
    if swagger:
        parameters = operation.get("parameters")
        for parameter in parameters if isinstance(parameters, list) else ():
            parameter = _resolve(document, parameter)
            if isinstance(parameter, dict) and parameter.get("in") == "body":
                schema = parameter.get("schema")
                if not isinstance(schema, dict) or set(schema) == {"$ref"}:
                    return {}
                consumes = operation.get("consumes", document.get("consumes")) or [ASSUMED_CONTENT_TYPE]
                return {str(content_type): schema for content_type in consumes}
        return {}
    body = _resolve(document, operation.get("requestBody"))
    content = body.get("content") if isinstance(body, dict) else None
    result = {}
    for content_type, media in content.items() if isinstance(content, dict) else ():
        schema = media.get("schema") if isinstance(media, dict) else None
        if isinstance(schema, dict) and set(schema) != {"$ref"}:
            result[str(content_type)] = schema
    return result


def _resolve(document: Mapping[str, Any], value: Any) -> Any:
    """``value``, or what its local ``$ref`` points to (one hop; the loader has checked the references)."""
    ref = value.get("$ref") if isinstance(value, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return value
    target: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        target = target.get(part) if isinstance(target, dict) else None
    return target


class _Models:
    """The definition's models as one JSON document, made once per definition (routes share it)."""

    _last: _Models | None = None

    def __init__(self, definition: ApiDefinition) -> None:
        self.definition = definition
        self.swagger = "swagger" in definition.document
        self.prefix = "#/definitions/" if self.swagger else "#/components/schemas/"
        models = _local_refs(dict(definition.models), self.prefix)
        holder: dict[str, Any] = {"definitions": models} if self.swagger else {"components": {"schemas": models}}
        # The document without its closing brace: each model's root schema appends its "$ref" (JSON keeps the
        # models as they are, whatever their own keys).
        self.document = json.dumps(holder, separators=(",", ":"))[:-1]
        self.compiled: dict[str, BodyValidator] = {}

    @classmethod
    def of(cls, definition: ApiDefinition) -> _Models:
        last = cls._last
        if last is None or last.definition is not definition:
            last = cls._last = cls(definition)
        return last

    def compile(self, model: str) -> BodyValidator:
        validator = self.compiled.get(model)
        if validator is None:
            if model not in self.definition.models:
                raise ValueError("no such model")
            pointer = self.prefix + model.replace("~", "~0").replace("/", "~1")
            validator = BodyValidator(f"{self.document},{json.dumps('$ref')}:{json.dumps(pointer)}}}")
            self.compiled[model] = validator
        return validator

    def compile_inline(self, schema: Mapping[str, Any]) -> BodyValidator:
        inline = json.dumps({"allOf": [_local_refs(schema, self.prefix)]}, separators=(",", ":"))
        return BodyValidator(f"{self.document},{inline[1:]}")


def _local_refs(value: Any, prefix: str) -> Any:
    """``value`` with AWS model URLs in ``$ref``s turned into local pointers."""
    if isinstance(value, dict):
        result = {key: _local_refs(item, prefix) for key, item in value.items()}
        ref = result.get("$ref")
        match = _AWS_MODEL_URL.match(ref) if isinstance(ref, str) else None
        if match:
            result["$ref"] = prefix + match.group(1)
        return result
    if isinstance(value, list):
        return [_local_refs(item, prefix) for item in value]
    return value
