"""REST request validators (fastgw.validation): which routes get one, required parameters in AWS's order,
body models chosen by Content-Type, ``$ref``s between models, and the body read once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from fastgw._core import BodyValidator, Engine, Forward, Reject
from fastgw.config.model import ApiDefinition
from fastgw.config.openapi import parse_definition
from fastgw.errors import (
    DefinitionError,
    GatewayError,
    InvalidRequestBodyError,
    MissingRequestParametersError,
    RequestTooLargeError,
)
from fastgw.integrations.base import Request
from fastgw.validation import RouteValidator, build_validator, check_body

VALIDATORS = {
    "all": {"validateRequestBody": True, "validateRequestParameters": True},
    "params-only": {"validateRequestBody": False, "validateRequestParameters": True},
    "body-only": {"validateRequestBody": True, "validateRequestParameters": False},
    "none": {"validateRequestBody": False, "validateRequestParameters": False},
}
MODELS = {
    "Order": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["id", "item"],
        "properties": {"id": {"type": "integer"}, "item": {"$ref": "#/definitions/Item"}},
    },
    "Item": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}},
    "Text": {"type": "string"},
}
PARAMETERS = [
    {"name": "issuer", "in": "query", "required": True, "type": "string"},
    {"name": "opt", "in": "query", "required": False, "type": "string"},
    {"name": "x-header-param", "in": "header", "required": True, "type": "string"},
    {"name": "id", "in": "path", "required": True, "type": "string"},
    {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Order"}},
]
MOCK = {"type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'}}


def swagger(
    operation: dict[str, Any] | None = None, *, default: str | None = "all", consumes: list[str] | None = None
) -> ApiDefinition:
    document: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": "validation", "version": "1"},
        "x-amazon-apigateway-request-validators": VALIDATORS,
        "paths": {
            "/orders/{id}": {
                "post": {
                    "parameters": PARAMETERS,
                    "responses": {"200": {"description": "ok"}},
                    "x-amazon-apigateway-integration": MOCK,
                    **({"consumes": consumes} if consumes is not None else {}),
                    **(operation or {}),
                }
            }
        },
        "definitions": MODELS,
    }
    if default is not None:
        document["x-amazon-apigateway-request-validator"] = default
    return parse_definition(json.dumps(document), "api.json")


def validator_of(definition: ApiDefinition) -> RouteValidator | None:
    validator = build_validator(definition, definition.routes[0])
    assert validator is None or isinstance(validator, RouteValidator)
    return validator


class FakeProtocol:
    """Granian's RSGI protocol as the validator uses it: ``await protocol()`` or ``async for``."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = list(chunks)
        self.reads = 0

    async def __call__(self) -> bytes:
        self.reads += 1
        return b"".join(self.chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.reads += 1
        for chunk in self.chunks:
            yield chunk


def request(
    *,
    query: str = "issuer=me",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    chunked: bool = False,
    max_body_bytes: int = 10_485_760,
) -> Request:
    # Granian gives lowercase header names.
    header_list = [(k.lower(), v) for k, v in (headers if headers is not None else {"x-header-param": "v"}).items()]
    stage = SimpleNamespace(limits=SimpleNamespace(max_body_bytes=max_body_bytes))
    protocol = FakeProtocol([body[:3], body[3:]] if body else [])
    result = Request(None, protocol, "POST", "/orders/1", query, header_list, cast(Any, stage), "rid", "eid", 0.0, "")
    result.params = params if params is not None else {"id": "1"}
    result.body_length = None if body is None else (-1 if chunked else len(body))
    return result


VALID_BODY = b'{"id": 1, "item": {"sku": "a"}}'


def check(validator: RouteValidator | None, req: Request) -> GatewayError | None:
    """Runs ``validator`` as the data plane does: the engine checks the parameters while admitting the
    request and picks the body model, which the body is then checked against."""
    assert validator is not None
    # The route's path parameter is there when the request has one (a test leaves it out with params={}).
    has_id = "id" in req.params
    engine = Engine("REST", [("POST", "/orders/{id}" if has_id else "/orders")], validators=[validator.engine_args()])
    path = f"/orders/{req.params['id']}" if has_id else "/orders"
    decision = engine.admit("POST", path, req.header_list, req.query_string, "1.2.3.4:5")
    if isinstance(decision, Reject):
        assert decision.response_type == "BAD_REQUEST_PARAMETERS" and decision.route_id == 0
        return MissingRequestParametersError(message=decision.message)
    assert isinstance(decision, Forward)
    if decision.body_model is None:
        return None
    try:
        check_body(decision.body_model, asyncio.run(req.read_body()))
    except GatewayError as error:
        return error
    return None


@pytest.mark.parametrize(
    ("query", "headers", "missing"),
    [
        ("issuer=me", {"x-header-param": "v"}, None),
        ("issuer=me&opt=", {"X-Header-Param": "v"}, None),
        ("", {}, "[x-header-param, issuer]"),  # AWS's order: sorted by method.request.* key
        ("issuer=", {"x-header-param": "v"}, "[issuer]"),  # present but blank is missing (AWS: "not blank")
        ("issuer=me", {"x-header-param": " "}, "[x-header-param]"),
        ("opt=1", {"x-header-param": "v"}, "[issuer]"),
        ("issuer=&issuer=x", {"x-header-param": "v"}, None),
    ],
)
def test_required_parameters(query: str, headers: dict[str, str], missing: str | None) -> None:
    error = check(validator_of(swagger(default="params-only")), request(query=query, headers=headers))
    if missing is None:
        assert error is None
    else:
        assert isinstance(error, MissingRequestParametersError)
        assert error.response_type == "BAD_REQUEST_PARAMETERS"
        assert error.message == f"Missing required request parameters: {missing}"


def test_declared_header_names_match_case_insensitively() -> None:
    parameters = [{"name": "X-Api-Version", "in": "header", "required": True, "type": "string"}]
    validator = validator_of(swagger({"parameters": parameters}, default="params-only"))
    assert check(validator, request(headers={"x-api-version": "2"}, params={})) is None
    error = check(validator, request(headers={}, params={}))
    assert isinstance(error, MissingRequestParametersError)
    assert error.message == "Missing required request parameters: [X-Api-Version]"


def test_missing_path_parameter_is_named_between_headers_and_query() -> None:
    error = check(validator_of(swagger(default="params-only")), request(query="", headers={}, params={}))
    assert isinstance(error, MissingRequestParametersError)
    assert error.message == "Missing required request parameters: [x-header-param, id, issuer]"


@pytest.mark.parametrize(
    ("body", "content_type", "valid"),
    [
        (VALID_BODY, "application/json", True),
        (VALID_BODY, "Application/JSON; charset=utf-8", True),
        (VALID_BODY, None, True),  # no Content-Type: taken as application/json
        (b'{"id": 1, "item": {}}', "application/json", False),  # Item's required sku, through a $ref
        (b'{"id": "1", "item": {"sku": "a"}}', "application/json", False),
        (b"{not json", "application/json", False),
        (b"", "application/json", False),  # checked as {}: required properties missing
        (b"{not json", "text/plain", True),  # no model for that type: not validated (AWS)
    ],
)
def test_body_against_the_model_for_its_content_type(body: bytes, content_type: str | None, valid: bool) -> None:
    headers = {"content-type": content_type} if content_type else {}
    error = check(validator_of(swagger(default="body-only")), request(headers=headers, body=body))
    if valid:
        assert error is None
    else:
        assert isinstance(error, InvalidRequestBodyError)
        assert error.response_type == "BAD_REQUEST_BODY"
        assert error.message == "Invalid request body"


def test_default_model_for_any_content_type() -> None:
    definition = swagger(default="body-only", consumes=["$default"])
    validator = validator_of(definition)
    assert check(validator, request(headers={"content-type": "text/plain"}, body=VALID_BODY)) is None
    error = check(validator, request(headers={"content-type": "text/plain"}, body=b"x"))
    assert isinstance(error, InvalidRequestBodyError)


def test_parameters_are_checked_before_the_body() -> None:
    error = check(validator_of(swagger(default="all")), request(query="", body=b"nope"))
    assert isinstance(error, MissingRequestParametersError)
    assert error.message == "Missing required request parameters: [issuer]"


def test_params_only_ignores_the_body_and_body_only_ignores_parameters() -> None:
    assert check(validator_of(swagger(default="params-only")), request(body=b"nope")) is None
    assert check(validator_of(swagger(default="body-only")), request(query="", headers={}, body=VALID_BODY)) is None


def test_operation_validator_overrides_the_api_default() -> None:
    definition = swagger({"x-amazon-apigateway-request-validator": "params-only"}, default="body-only")
    validator = validator_of(definition)
    assert validator is not None
    assert validator.body_models is None
    assert validator.required == (("header", "x-header-param"), ("path", "id"), ("querystring", "issuer"))


@pytest.mark.parametrize(
    ("operation", "default"),
    [
        (None, None),  # no validator at all
        (None, "none"),  # a validator that validates nothing
        ({"x-amazon-apigateway-request-validator": "none"}, "all"),
    ],
)
def test_routes_without_validation_get_no_validator(operation: dict[str, Any] | None, default: str | None) -> None:
    assert validator_of(swagger(operation, default=default)) is None


def test_http_apis_have_no_request_validators() -> None:
    definition = swagger()
    http = ApiDefinition(
        definition.source,
        definition.title,
        definition.version,
        "HTTP",
        definition.routes,
        request_validators=definition.request_validators,
        default_request_validator="all",
        models=definition.models,
    )
    assert build_validator(http, http.routes[0]) is None


def test_the_body_is_read_once_and_kept() -> None:
    req = request(body=VALID_BODY, headers={"x-header-param": "v", "content-type": "application/json"})
    assert check(validator_of(swagger(default="all")), req) is None
    assert req.body == VALID_BODY
    protocol = cast(FakeProtocol, req.protocol)
    assert protocol.reads == 1
    assert asyncio.run(req.read_body()) == VALID_BODY
    assert protocol.reads == 1


def test_chunked_bodies_are_read_within_the_limit() -> None:
    req = request(body=VALID_BODY, chunked=True)
    assert asyncio.run(req.read_body()) == VALID_BODY
    with pytest.raises(RequestTooLargeError):
        asyncio.run(request(body=VALID_BODY, chunked=True, max_body_bytes=10).read_body())


def test_no_body_reads_nothing() -> None:
    req = request()
    assert asyncio.run(req.read_body()) == b""
    assert cast(FakeProtocol, req.protocol).reads == 0


def test_openapi_3_models_and_aws_model_urls() -> None:
    document = {
        "openapi": "3.0.1",
        "info": {"title": "validation", "version": "1"},
        "x-amazon-apigateway-request-validators": VALIDATORS,
        "x-amazon-apigateway-request-validator": "body-only",
        "paths": {
            "/orders/{id}": {
                "post": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}
                    },
                    "responses": {"200": {"description": "ok"}},
                    "x-amazon-apigateway-integration": MOCK,
                }
            }
        },
        "components": {
            "schemas": {
                "Order": {
                    "type": "object",
                    "required": ["item"],
                    "properties": {
                        # The form AWS uses inside its own models; exports usually rewrite it to a local ref.
                        "item": {"$ref": "https://apigateway.amazonaws.com/restapis/a1b2c3/models/Item"}
                    },
                },
                "Item": MODELS["Item"],
            }
        },
    }
    validator = validator_of(parse_definition(json.dumps(document), "api.json"))
    assert check(validator, request(body=b'{"item": {"sku": "a"}}')) is None
    assert isinstance(check(validator, request(body=b'{"item": {}}')), InvalidRequestBodyError)


def test_a_model_that_does_not_compile_is_a_load_error() -> None:
    broken = {**MODELS, "Order": {"type": "object", "properties": {"item": {"$ref": "#/definitions/Nowhere"}}}}
    document = json.loads(json.dumps({"m": broken}))["m"]
    definition = swagger(default="body-only")
    definition = ApiDefinition(
        definition.source,
        definition.title,
        definition.version,
        "REST",
        definition.routes,
        request_validators=definition.request_validators,
        default_request_validator="body-only",
        models=document,
        document={"swagger": "2.0"},
    )
    with pytest.raises(DefinitionError, match="request model 'Order'"):
        build_validator(definition, definition.routes[0])


def test_body_validator_binding() -> None:
    validator = BodyValidator('{"type": "object", "required": ["a"]}')
    assert validator.is_valid(b'{"a": 1}')
    assert not validator.is_valid(b"{}")
    assert validator.explain(b'{"a": 1}') is None
    assert "required" in (validator.explain(b"{}") or "")
    assert "not JSON" in (validator.explain(b"{") or "")
    with pytest.raises(ValueError, match="invalid model schema"):
        BodyValidator('{"type": 12}')


def test_inline_body_schemas_are_models_too() -> None:
    # Swagger: an inline body schema (with a $ref inside), for each type the operation consumes.
    inline = {"type": "object", "required": ["item"], "properties": {"item": {"$ref": "#/definitions/Item"}}}
    parameters = [{"name": "body", "in": "body", "required": True, "schema": inline}]
    validator = validator_of(swagger({"parameters": parameters}, default="body-only", consumes=["application/json"]))
    assert check(validator, request(body=b'{"item": {"sku": "a"}}', params={})) is None
    assert isinstance(check(validator, request(body=b'{"item": {}}', params={})), InvalidRequestBodyError)
    # OpenAPI 3: an inline schema beside a $ref'd one; a requestBody that is itself a $ref.
    document = {
        "openapi": "3.0.1",
        "info": {"title": "validation", "version": "1"},
        "x-amazon-apigateway-request-validators": VALIDATORS,
        "x-amazon-apigateway-request-validator": "body-only",
        "paths": {
            "/orders": {
                "post": {
                    "requestBody": {"$ref": "#/components/requestBodies/Order"},
                    "responses": {"200": {"description": "ok"}},
                    "x-amazon-apigateway-integration": MOCK,
                }
            }
        },
        "components": {
            "requestBodies": {
                "Order": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}},
                        "application/x-order": {"schema": {"type": "array", "maxItems": 1}},
                    }
                }
            },
            "schemas": {"Item": MODELS["Item"]},
        },
    }
    validator = validator_of(parse_definition(json.dumps(document), "api.json"))
    assert validator is not None and validator.body_models is not None
    assert set(validator.body_models) == {"application/json", "application/x-order"}
    x_order = {"content-type": "application/x-order"}
    assert check(validator, request(headers=x_order, body=b"[1]", params={})) is None
    assert isinstance(check(validator, request(headers=x_order, body=b"[1, 2]")), InvalidRequestBodyError)
    assert isinstance(check(validator, request(body=b"{}")), InvalidRequestBodyError)  # Item's required sku


@pytest.mark.parametrize(
    ("query", "present"),
    [
        ("issuer=me", True),
        ("a=1&issuer=me&b=2", True),
        ("iss%75er=me", True),  # the name is decoded, as Request.query does
        ("issuer=%20", False),
        ("issuer=+", False),
        ("issuer=%41", True),
        ("issuer", False),
        ("issuers=x&xissuer=y", False),
        ("", False),
    ],
)
def test_query_parameters_are_decoded_as_request_query_does(query: str, present: bool) -> None:
    """The engine's reading of the query string agrees with ``Request.query`` (Python's ``parse_qsl``)."""
    req = request(query=query)
    expected = any(value.strip() for value in req.query.get("issuer", ()))
    assert expected == present
    error = check(validator_of(swagger(default="params-only")), request(query=query))
    assert (error is None) == present
