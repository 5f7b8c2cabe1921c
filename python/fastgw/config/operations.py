"""Routes from the ``paths`` object: one per path item and operation, in document order, with their method
request parameters, request models, security and integration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastgw.config import aws
from fastgw.config.basepath import join
from fastgw.config.document import Document, model_name
from fastgw.config.fields import as_mapping, opt_bool, opt_list, opt_mapping, opt_str, str_tuple
from fastgw.config.findings import Findings
from fastgw.config.model import DEFAULT_ROUTE, ApiType, Integration, Route
from fastgw.config.security import Requirements, Scheme, api_key_required, check_auth, read_requirements
from fastgw.errors import Place

#: Operation keys of a path item -> method (``x-amazon-apigateway-any-method`` is ``ANY``).
OPERATIONS = {
    "get": "GET",
    "put": "PUT",
    "post": "POST",
    "delete": "DELETE",
    "options": "OPTIONS",
    "head": "HEAD",
    "patch": "PATCH",
    aws.ANY_METHOD: "ANY",
}
_PATH_ITEM_FIELDS = frozenset({"$ref", "summary", "description", "servers", "parameters"})
#: OpenAPI ``in`` -> the location in AWS's ``method.request.<location>.<name>``.
_REQUEST_LOCATIONS = {"path": "path", "query": "querystring", "header": "header"}
_OTHER_LOCATIONS = {"cookie", "body", "formData"}
_DEFAULT_CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What every operation needs from the rest of the definition."""

    doc: Document
    api_type: ApiType
    prefix: str
    """Put in front of every path (from the basepath mode)."""
    schemes: Mapping[str, Scheme]
    root_security: Requirements | None
    validators: Mapping[str, Any]
    default_validator: str | None


@dataclass(frozen=True, slots=True)
class _Parameter:
    location: str
    name: str
    required: bool
    fields: Mapping[str, Any]


_Parameters = dict[tuple[str, str], _Parameter]


def read_routes(ctx: RouteContext, paths: Mapping[str, Any]) -> list[Route]:
    routes: list[Route] = []
    place = ctx.doc.place.child("paths")
    for key, item in paths.items():
        routes.extend(_path_routes(ctx, key, item, place.child(key)))
    return routes


def _path_routes(ctx: RouteContext, key: str, raw: Any, place: Place) -> list[Route]:
    findings = ctx.doc.findings
    if key != DEFAULT_ROUTE and not key.startswith("/"):
        findings.error(place, f"path '{key}' does not start with '/'")
        return []
    resolved = ctx.doc.resolve(raw, place)
    item = None if resolved is None else as_mapping(resolved[0], resolved[1], findings, "a path item")
    if resolved is None or item is None:
        return []
    place = resolved[1]
    aws.check_extensions(item, place, aws.PATH_ITEM_EXTENSIONS, findings)
    shared = _parameters(ctx, item, place)
    routes: list[Route] = []
    for name, operation in item.items():
        if name not in OPERATIONS:
            _check_path_item_field(name, place.child(name), findings)
            continue
        route = _route(ctx, key, OPERATIONS[name], operation, place.child(name), shared)
        if route is not None:
            routes.append(route)
    return routes


def _check_path_item_field(name: str, place: Place, findings: Findings) -> None:
    """Warn about path item members that are neither operations nor OpenAPI fields (nor ``x-`` extensions,
    which :func:`aws.check_extensions` looks at)."""
    if name == "trace":
        findings.warn(place, "TRACE is not an API Gateway method: operation ignored")
    elif name not in _PATH_ITEM_FIELDS and not name.startswith("x-"):
        findings.warn(place, f"'{name}' is not an operation or a path item field: ignored")


def _route(ctx: RouteContext, key: str, method: str, raw: Any, place: Place, shared: _Parameters) -> Route | None:
    findings = ctx.doc.findings
    operation = as_mapping(raw, place, findings, "an operation")
    if operation is None:
        return None
    path = _route_path(ctx, key, method, operation, place)
    aws.check_extensions(operation, place, aws.OPERATION_EXTENSIONS, findings)
    check_auth(operation, place, findings)
    parameters = shared | _parameters(ctx, operation, place)
    security, security_place = _security(ctx, operation, place)
    integration = _integration(ctx, operation, place)
    if path is None:
        return None
    return Route(
        method=method,
        path=path,
        place=place,
        integration=integration if isinstance(integration, Integration) else None,
        no_integration_reason=None if isinstance(integration, Integration) else integration.reason,
        request_parameters=_request_parameters(parameters),
        api_key_required=api_key_required(security or (), security_place, ctx.schemes, ctx.api_type, findings),
        operation_id=opt_str(operation, "operationId", place, findings),
        request_validator=_request_validator(ctx, operation, place),
        request_models=_request_models(ctx, operation, place, parameters),
        security=security,
        operation=operation,
    )


def _route_path(ctx: RouteContext, key: str, method: str, operation: Mapping[str, Any], place: Place) -> str | None:
    """The route's path: the path behind the basepath prefix, or ``$default`` for the HTTP API default route
    (``/$default`` with ``isDefaultRoute: true``, or a path written ``$default``)."""
    findings = ctx.doc.findings
    is_default = opt_bool(operation, "isDefaultRoute", place, findings)
    if key == DEFAULT_ROUTE or (is_default and key == "/" + DEFAULT_ROUTE):
        if method != "ANY":
            findings.error(place, f"the $default route takes only {aws.ANY_METHOD}")
            return None
        if ctx.api_type == "REST":
            findings.error(place, "REST APIs have no $default route (it is an HTTP API feature)")
            return None
        return DEFAULT_ROUTE
    if is_default:
        findings.error(place.child("isDefaultRoute"), "isDefaultRoute: true belongs under the path /$default")
        return None
    return join(ctx.prefix, key)


def _parameters(ctx: RouteContext, obj: Mapping[str, Any], place: Place) -> _Parameters:
    """The ``parameters`` of a path item or operation by (``in``, name), ``$ref``s followed."""
    result: _Parameters = {}
    for index, raw in enumerate(opt_list(obj, "parameters", place, ctx.doc.findings) or []):
        resolved = ctx.doc.resolve(raw, place.child("parameters", index))
        parameter = None if resolved is None else _parameter(ctx, *resolved)
        if parameter is not None:
            result[parameter.location, parameter.name] = parameter
    return result


def _parameter(ctx: RouteContext, raw: Any, place: Place) -> _Parameter | None:
    findings = ctx.doc.findings
    fields = as_mapping(raw, place, findings, "a parameter")
    if fields is None:
        return None
    name = opt_str(fields, "name", place, findings)
    location = opt_str(fields, "in", place, findings)
    for key, value in (("name", name), ("in", location)):
        if value is None and fields.get(key) is None:
            findings.error(place.child(key), f"parameter has no '{key}'")
    if name is None or location is None:
        return None
    if location not in _REQUEST_LOCATIONS and location not in _OTHER_LOCATIONS:
        known = ", ".join([*_REQUEST_LOCATIONS, *sorted(_OTHER_LOCATIONS)])
        findings.error(place.child("in"), f"parameter '{name}' is in '{location}', not one of {known}")
        return None
    required = opt_bool(fields, "required", place, findings)
    return _Parameter(location, name, location == "path" or bool(required), fields)


def _request_parameters(parameters: _Parameters) -> dict[str, bool]:
    """AWS method request parameters: ``method.request.{path|querystring|header}.<name>`` -> required (path
    parameters are always required, as OpenAPI says)."""
    return {
        f"method.request.{_REQUEST_LOCATIONS[p.location]}.{p.name}": p.required
        for p in parameters.values()
        if p.location in _REQUEST_LOCATIONS
    }


def _request_models(
    ctx: RouteContext, operation: Mapping[str, Any], place: Place, parameters: _Parameters
) -> dict[str, str]:
    """Content type -> model name of the request body, for bodies that ``$ref`` a model (inline schemas are
    left in ``Route.operation``)."""
    if ctx.doc.is_swagger:
        return _swagger_models(ctx, operation, place, parameters)
    return _openapi_models(ctx, operation, place)


def _swagger_models(
    ctx: RouteContext, operation: Mapping[str, Any], place: Place, parameters: _Parameters
) -> dict[str, str]:
    """Swagger 2.0: the ``in: body`` parameter's schema, for each type the operation (or API) ``consumes``."""
    body = next((p for p in parameters.values() if p.location == "body"), None)
    model = None if body is None else _schema_model(body.fields, swagger=True)
    if model is None:
        return {}
    if "consumes" in operation:
        consumes = str_tuple(operation["consumes"], place.child("consumes"), ctx.doc.findings, "consumes")
    else:
        consumes = str_tuple(
            ctx.doc.root.get("consumes"), ctx.doc.place.child("consumes"), ctx.doc.findings, "consumes"
        )
    return dict.fromkeys(consumes or (_DEFAULT_CONTENT_TYPE,), model)


def _openapi_models(ctx: RouteContext, operation: Mapping[str, Any], place: Place) -> dict[str, str]:
    """OpenAPI 3: ``requestBody.content[type].schema``."""
    if operation.get("requestBody") is None:
        return {}
    resolved = ctx.doc.resolve(operation["requestBody"], place.child("requestBody"))
    body = None if resolved is None else as_mapping(*resolved, ctx.doc.findings, "requestBody")
    if resolved is None or body is None:
        return {}
    content = opt_mapping(body, "content", resolved[1], ctx.doc.findings) or {}
    models = {media_type: _schema_model(media, swagger=False) for media_type, media in content.items()}
    return {media_type: model for media_type, model in models.items() if model is not None}


def _schema_model(holder: Any, *, swagger: bool) -> str | None:
    """The model named by ``holder.schema.$ref`` (a body parameter or a media type object)."""
    schema = holder.get("schema") if isinstance(holder, dict) else None
    return model_name(schema.get("$ref"), swagger) if isinstance(schema, dict) else None


def _security(ctx: RouteContext, operation: Mapping[str, Any], place: Place) -> tuple[Requirements | None, Place]:
    """The effective security requirements (the operation's, else the root's) and where they are written."""
    if operation.get("security") is not None:
        where = place.child("security")
        return read_requirements(operation["security"], where, ctx.schemes, ctx.doc.findings), where
    return ctx.root_security, ctx.doc.place.child("security")


def _request_validator(ctx: RouteContext, operation: Mapping[str, Any], place: Place) -> str | None:
    if aws.REQUEST_VALIDATOR not in operation:
        return ctx.default_validator
    written = {aws.REQUEST_VALIDATOR: operation[aws.REQUEST_VALIDATOR]}
    present = aws.applicable(written, place, ctx.api_type, ctx.doc.findings)
    name = aws.validator_name(present, place, ctx.validators, ctx.doc.findings)
    return name if name is not None else ctx.default_validator


def _integration(ctx: RouteContext, operation: Mapping[str, Any], place: Place) -> Integration | aws.NoIntegration:
    findings = ctx.doc.findings
    raw = operation.get(aws.INTEGRATION)
    if raw is None:
        findings.warn(place, f"no {aws.INTEGRATION}: the route answers 500 as on AWS")
        return aws.NoIntegration(f"no {aws.INTEGRATION}")
    resolved = ctx.doc.resolve(raw, place.child(aws.INTEGRATION))
    if resolved is None:
        return aws.NoIntegration("the integration $ref does not resolve")
    return aws.parse_integration(*resolved, ctx.api_type, findings)
