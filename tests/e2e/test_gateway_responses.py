"""Customised gateway responses through a real gateway (``x-amazon-apigateway-gateway-responses``, reference §2.2).

Definitions are written as AWS exports them (Swagger 2.0 and OpenAPI 3.0, the extension at the root) and each
test asserts the exact status, body and headers: a type's own customisation, DEFAULT_4XX / DEFAULT_5XX copied onto
the types that have none, REQUEST_TOO_LARGE left alone (AWS does not customise it), header values from the request
and from stage variables, and templates chosen by ``Accept``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process, Reply, refusing_port

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"
MAX_BODY = 1000

#: A REST API as API Gateway exports it to Swagger 2.0, with the common "CORS headers on every error" setup.
SWAGGER_API: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"version": "2024-05-02T09:20:11Z", "title": "pets-errors"},
    "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "basePath": "/prod",
    "schemes": ["https"],
    "paths": {
        "/pets/{petId}": {
            "get": {
                "produces": ["application/json"],
                "parameters": [{"name": "petId", "in": "path", "required": True, "type": "string"}],
                "responses": {"200": {"description": "200 response"}},
                "x-amazon-apigateway-integration": {
                    "type": "http_proxy",
                    "httpMethod": "GET",
                    "uri": BACKEND + "/pets/{petId}",
                    "requestParameters": {"integration.request.path.petId": "method.request.path.petId"},
                    "passthroughBehavior": "when_no_match",
                },
            },
            "post": {
                "parameters": [{"name": "petId", "in": "path", "required": True, "type": "string"}],
                "responses": {"200": {"description": "200 response"}},
                "x-amazon-apigateway-integration": {
                    "type": "http_proxy",
                    "httpMethod": "POST",
                    "uri": BACKEND + "/pets/{petId}",
                    "requestParameters": {"integration.request.path.petId": "method.request.path.petId"},
                    "passthroughBehavior": "when_no_match",
                },
            },
        },
        "/dead": {
            "get": {
                "responses": {"200": {"description": "200 response"}},
                "x-amazon-apigateway-integration": {
                    "type": "http_proxy",
                    "httpMethod": "GET",
                    "uri": "http://127.0.0.1:${stageVariables.deadPort}/nothing",
                    "passthroughBehavior": "when_no_match",
                },
            }
        },
    },
    "x-amazon-apigateway-gateway-responses": {
        "DEFAULT_4XX": {
            "responseParameters": {
                "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
                "gatewayresponse.header.Access-Control-Allow-Headers": "'Content-Type,X-Amz-Date,Authorization'",
                "gatewayresponse.header.X-Client-Trace": "method.request.header.X-Trace-Id",
                "gatewayresponse.header.X-Team": "stageVariables.team",
            },
            "responseTemplates": {"application/json": '{"message":$context.error.messageString}'},
        },
        "DEFAULT_5XX": {
            "responseParameters": {
                "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
                "gatewayresponse.header.X-Stage": "context.stage",
            },
            "responseTemplates": {
                "application/json": (
                    '{"error":$context.error.messageString,"type":"$context.error.responseType",'
                    '"requestId":"$context.requestId","team":"$stageVariables.team"}'
                )
            },
        },
        "REQUEST_TOO_LARGE": {
            "statusCode": "400",
            "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
            "responseTemplates": {"application/json": '{"message":"too big"}'},
        },
    },
}

#: A REST API exported as OpenAPI 3.0 that answers unknown routes 404 with its own bodies.
OAS3_API: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "pets-not-found", "version": "2024-05-02T09:20:11Z"},
    "servers": [
        {
            "url": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/{basePath}",
            "variables": {"basePath": {"default": "/prod"}},
        }
    ],
    "paths": {
        "/pets": {
            "get": {
                "responses": {"200": {"description": "200 response", "content": {}}},
                "x-amazon-apigateway-integration": {
                    "type": "http_proxy",
                    "httpMethod": "GET",
                    "uri": BACKEND + "/pets",
                    "passthroughBehavior": "when_no_match",
                },
            }
        }
    },
    "x-amazon-apigateway-gateway-responses": {
        "MISSING_AUTHENTICATION_TOKEN": {
            "statusCode": "404",
            "responseParameters": {"gatewayresponse.header.X-Request-Path": "context.path"},
            "responseTemplates": {
                "application/json": (
                    '{"message":"No such resource","type":"$context.error.responseType",'
                    '"method":"$context.httpMethod","requestId":"$context.requestId"}'
                ),
                "text/html": "<h1>Not here</h1><p>$context.error.message ($context.requestId)</p>",
            },
        },
        "DEFAULT_4XX": {"responseParameters": {"gatewayresponse.header.X-Default": "'4xx'"}},
    },
}


#: An HTTP API carrying the extension anyway: HTTP APIs' error bodies are fixed (reference §2.3), the loader warns.
HTTP_API: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "pets-http", "version": "2024-05-02 10:04:31UTC"},
    "paths": {
        "/pets": {
            "get": {
                "responses": {"default": {"description": "Default response for GET /pets"}},
                "x-amazon-apigateway-integration": {
                    "payloadFormatVersion": "1.0",
                    "type": "http_proxy",
                    "httpMethod": "GET",
                    "uri": BACKEND + "/pets",
                    "connectionType": "INTERNET",
                },
            }
        }
    },
    "x-amazon-apigateway-gateway-responses": {
        "DEFAULT_4XX": {
            "statusCode": "418",
            "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
            "responseTemplates": {"application/json": '{"custom":true}'},
        }
    },
    "x-amazon-apigateway-importexport-version": "1.0",
}


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[dict[str, Process]]:
    factory = GatewayFactory(tmp_path_factory.mktemp("gateway-responses"))
    with refusing_port() as dead_port:
        variables = {"backendPort": str(backend.port), "deadPort": str(dead_port), "team": "pets-team"}
        try:
            yield {
                "swagger": factory.start(
                    factory.write(SWAGGER_API, "swagger.yaml"),
                    "--max-body-bytes",
                    str(MAX_BODY),
                    "--stage",
                    "prod",
                    stage_variables=variables,
                ),
                "oas3": factory.start(factory.write(OAS3_API, "oas3.yaml"), stage_variables=variables),
                "http": factory.start(factory.write(HTTP_API, "http.yaml"), stage_variables=variables),
            }
        finally:
            factory.stop_all()


@pytest.fixture(scope="module")
def swagger(gateways: dict[str, Process]) -> Process:
    return gateways["swagger"]


@pytest.fixture(scope="module")
def oas3(gateways: dict[str, Process]) -> Process:
    return gateways["oas3"]


def header_names(reply: Reply) -> list[str]:
    return sorted(name.lower() for name, _ in reply.headers if name.lower() not in ("date", "server", "content-length"))


def test_the_route_itself_is_untouched(swagger: Process) -> None:
    reply = swagger.call("GET", "/pets/7")
    assert reply.status == 200
    assert reply.header("Access-Control-Allow-Origin") is None


def test_default_4xx_headers_on_a_403(swagger: Process) -> None:
    reply = swagger.call("GET", "/cats", headers={"X-Trace-Id": "trace-123"})
    assert (reply.status, reply.body) == (403, b'{"message":"Missing Authentication Token"}')
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"  # the type's error type stays
    assert reply.header("Access-Control-Allow-Origin") == "*"
    assert reply.header("Access-Control-Allow-Headers") == "Content-Type,X-Amz-Date,Authorization"
    assert reply.header("X-Client-Trace") == "trace-123"  # method.request.header.X-Trace-Id
    assert reply.header("X-Team") == "pets-team"  # stageVariables.team
    assert header_names(reply) == sorted(
        [
            "content-type",
            "x-amzn-errortype",
            "access-control-allow-origin",
            "access-control-allow-headers",
            "x-client-trace",
            "x-team",
            "x-amzn-requestid",
            "x-amz-apigw-id",
        ]
    )


def test_a_missing_request_header_leaves_its_header_out(swagger: Process) -> None:
    reply = swagger.call("DELETE", "/pets/7")  # no DELETE method: MISSING_AUTHENTICATION_TOKEN
    assert (reply.status, reply.body) == (403, b'{"message":"Missing Authentication Token"}')
    assert reply.header("X-Client-Trace") is None
    assert reply.header("X-Team") == "pets-team"


def test_request_too_large_is_not_customised_not_even_by_default_4xx(swagger: Process) -> None:
    reply = swagger.call("POST", "/pets/7", body=os.urandom(MAX_BODY + 1), headers={"X-Trace-Id": "t"})
    assert (reply.status, reply.body) == (413, b'{"message":"Request Too Long"}')
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Access-Control-Allow-Origin") is None
    assert reply.header("X-Client-Trace") is None
    assert reply.header("X-Team") is None


def test_default_5xx_for_an_unreachable_backend(swagger: Process) -> None:
    reply = swagger.call("GET", "/dead")
    request_id = reply.header("x-amzn-RequestId")
    assert request_id
    assert reply.status == 500  # no statusCode in DEFAULT_5XX: the type's own
    assert reply.json() == {
        "error": "Internal server error",
        "type": "API_CONFIGURATION_ERROR",
        "requestId": request_id,
        "team": "pets-team",
    }
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("x-amzn-ErrorType") == "InternalServerErrorException"
    assert reply.header("Access-Control-Allow-Origin") == "*"
    assert reply.header("X-Stage") == "prod"  # context.stage
    assert reply.header("X-Client-Trace") is None  # a DEFAULT_4XX header, not on 5xx


def test_custom_missing_authentication_token(oas3: Process) -> None:
    reply = oas3.call("GET", "/nowhere/at/all")
    request_id = reply.header("x-amzn-RequestId")
    assert request_id
    assert reply.status == 404
    assert reply.json() == {
        "message": "No such resource",
        "type": "MISSING_AUTHENTICATION_TOKEN",
        "method": "GET",
        "requestId": request_id,
    }
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert reply.header("X-Request-Path") == "/nowhere/at/all"
    assert reply.header("X-Default") is None  # its own customisation: DEFAULT_4XX is not merged in


def test_custom_template_chosen_by_accept(oas3: Process) -> None:
    reply = oas3.call("POST", "/pets", headers={"Accept": "text/html,application/xhtml+xml;q=0.9"})
    request_id = reply.header("x-amzn-RequestId")
    assert reply.status == 404
    assert reply.header("Content-Type") == "text/html"
    assert reply.body == f"<h1>Not here</h1><p>Missing Authentication Token ({request_id})</p>".encode()


def test_unknown_accept_falls_back_to_json(oas3: Process) -> None:
    reply = oas3.call("GET", "/nowhere", headers={"Accept": "application/xml"})
    assert reply.status == 404
    assert reply.header("Content-Type") == "application/json"
    assert reply.json()["message"] == "No such resource"


def test_every_request_gets_its_own_request_id(oas3: Process) -> None:
    replies = [oas3.call("GET", f"/missing/{i}") for i in range(3)]
    ids = [reply.json()["requestId"] for reply in replies]
    assert ids == [reply.header("x-amzn-RequestId") for reply in replies]
    assert len(set(ids)) == 3


def test_http_api_error_bodies_are_not_customised(gateways: dict[str, Process]) -> None:
    reply = gateways["http"].call("GET", "/nowhere")
    assert (reply.status, reply.body) == (404, b'{"message":"Not Found"}')
    assert reply.header("Access-Control-Allow-Origin") is None
