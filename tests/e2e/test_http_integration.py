"""REST ``HTTP`` (non-proxy) and ``MOCK`` integrations through a real gateway (reference §4.4, §5.2).

One Swagger 2.0 definition, as AWS exports a REST API: ``requestParameters`` build the backend request
from path, query string, header, static, stage-variable and context sources; integration responses are
selected by a regex on the backend status and map headers; mocks answer from their templates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.conftest import GatewayFactory, Process, Reply

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"


def http_integration(uri: str, method: str, **fields: Any) -> dict[str, Any]:
    return {"type": "http", "httpMethod": method, "uri": uri, "passthroughBehavior": "when_no_match", **fields}


def mock_integration(status: int, responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "mock",
        "requestTemplates": {"application/json": f'{{"statusCode": {status}}}'},
        "responses": responses,
        "passthroughBehavior": "when_no_match",
    }


OK = {"200": {"description": "200 response"}}

API: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "http-integration", "version": "2024-05-02T09:20:11Z"},
    "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "basePath": "/prod",
    "schemes": ["https"],
    "paths": {
        "/users/{userId}/things": {
            "get": {
                "produces": ["application/json"],
                "parameters": [
                    {"name": "userId", "in": "path", "required": True, "type": "string"},
                    {"name": "q", "in": "query", "required": False, "type": "string"},
                    {"name": "X-Client-Token", "in": "header", "required": False, "type": "string"},
                ],
                "responses": OK,
                "x-amazon-apigateway-integration": http_integration(
                    BACKEND + "/backend/{uid}/items",
                    "POST",
                    requestParameters={
                        "integration.request.path.uid": "method.request.path.userId",
                        "integration.request.querystring.search": "method.request.querystring.q",
                        "integration.request.querystring.verb": "context.httpMethod",
                        "integration.request.header.X-Token": "method.request.header.X-Client-Token",
                        "integration.request.header.X-Static": "'fixed value'",
                        "integration.request.header.X-Flavour": "stageVariables.flavour",
                        "integration.request.header.X-Request-Id": "context.requestId",
                    },
                    responses={"default": {"statusCode": "200"}},
                ),
            }
        },
        "/status/{code}": {
            "get": {
                "parameters": [{"name": "code", "in": "path", "required": True, "type": "string"}],
                "responses": {
                    "200": {"description": "200 response", "headers": {"X-Kind": {"type": "string"}}},
                    "400": {"description": "400 response", "headers": {"X-Kind": {"type": "string"}}},
                    "502": {"description": "502 response", "headers": {"X-Kind": {"type": "string"}}},
                },
                "x-amazon-apigateway-integration": http_integration(
                    BACKEND + "/status/{code}",
                    "GET",
                    requestParameters={"integration.request.path.code": "method.request.path.code"},
                    responses={
                        "4\\d{2}": {
                            "statusCode": "400",
                            "responseParameters": {"method.response.header.X-Kind": "'client-error'"},
                        },
                        "5\\d{2}": {
                            "statusCode": "502",
                            "responseParameters": {"method.response.header.X-Kind": "'server-error'"},
                        },
                        "default": {
                            "statusCode": "200",
                            "responseParameters": {"method.response.header.X-Kind": "'success'"},
                        },
                    },
                ),
            }
        },
        "/strict/{code}": {
            "get": {
                "parameters": [{"name": "code", "in": "path", "required": True, "type": "string"}],
                "responses": OK,
                "x-amazon-apigateway-integration": http_integration(
                    BACKEND + "/status/{code}",
                    "GET",
                    requestParameters={"integration.request.path.code": "method.request.path.code"},
                    responses={"2\\d{2}": {"statusCode": "200"}},
                ),
            }
        },
        "/lookup": {
            "get": {
                "responses": {
                    "200": {
                        "description": "200 response",
                        "headers": {
                            "X-Got": {"type": "string"},
                            "X-Got-Mapped": {"type": "string"},
                            "X-Const": {"type": "string"},
                        },
                    }
                },
                "x-amazon-apigateway-integration": http_integration(
                    BACKEND + "/headers?X-Upstream=from-backend",
                    "GET",
                    requestParameters={"integration.request.querystring.X-Second": "'mapped'"},
                    responses={
                        "default": {
                            "statusCode": "200",
                            "responseParameters": {
                                "method.response.header.X-Got": "integration.response.header.X-Upstream",
                                "method.response.header.X-Got-Mapped": "integration.response.header.X-Second",
                                "method.response.header.X-Const": "'const'",
                                "method.response.header.X-Missing": "integration.response.header.X-Not-Sent",
                            },
                        }
                    },
                ),
            }
        },
        "/submit": {
            "post": {
                "consumes": ["application/json"],
                "responses": OK,
                "x-amazon-apigateway-integration": http_integration(
                    BACKEND + "/submit-target", "PUT", responses={"default": {"statusCode": "200"}}
                ),
            }
        },
        "/templated/{code}": {
            "get": {
                "parameters": [{"name": "code", "in": "path", "required": True, "type": "string"}],
                "responses": {"404": {"description": "404 response"}, "200": {"description": "200 response"}},
                "x-amazon-apigateway-integration": http_integration(
                    BACKEND + "/status/{code}",
                    "GET",
                    requestParameters={"integration.request.path.code": "method.request.path.code"},
                    responses={
                        "404": {
                            "statusCode": "404",
                            "responseTemplates": {"application/json": '{"message": "not here"}'},
                        },
                        "default": {"statusCode": "200"},
                    },
                ),
            }
        },
        "/mock": {
            "get": {
                "produces": ["application/json", "application/xml"],
                "responses": {"200": {"description": "200 response", "headers": {"X-Mock": {"type": "string"}}}},
                "x-amazon-apigateway-integration": mock_integration(
                    200,
                    {
                        "default": {
                            "statusCode": "200",
                            "responseParameters": {
                                "method.response.header.X-Mock": "'yes'",
                                "method.response.header.X-Stage": "stageVariables.flavour",
                            },
                            "responseTemplates": {
                                "application/json": '{"kind": "json"}',
                                "application/xml": "<kind>xml</kind>",
                            },
                        }
                    },
                ),
            }
        },
        "/mock/missing": {
            "get": {
                "responses": {"404": {"description": "404 response"}},
                "x-amazon-apigateway-integration": mock_integration(
                    404,
                    {
                        "404": {
                            "statusCode": "404",
                            "responseTemplates": {"application/json": '{"message": "no such thing"}'},
                        },
                        "default": {"statusCode": "200", "responseTemplates": {"application/json": '{"wrong": 1}'}},
                    },
                ),
            }
        },
        "/mock/created": {
            "post": {
                "responses": {"201": {"description": "201 response", "headers": {"Location": {"type": "string"}}}},
                "x-amazon-apigateway-integration": mock_integration(
                    201,
                    {
                        "2\\d{2}": {
                            "statusCode": "201",
                            "responseParameters": {"method.response.header.Location": "'/things/4'"},
                            "responseTemplates": {"application/json": '{"id": 4}'},
                        }
                    },
                ),
            }
        },
        "/mock/unmatched": {
            "get": {
                "responses": OK,
                "x-amazon-apigateway-integration": mock_integration(
                    500, {"2\\d{2}": {"statusCode": "200", "responseTemplates": {"application/json": "{}"}}}
                ),
            }
        },
    },
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("http-integration"))
    try:
        yield factory.start(API, stage_variables={"backendPort": str(backend.port), "flavour": "vanilla"})
    finally:
        factory.stop_all()


def echoed(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, (reply.status, reply.body[:500])
    document: dict[str, Any] = reply.json()
    return document


def sent_header(echo: dict[str, Any], name: str) -> str | None:
    values = [value for key, value in echo["headers"] if key.lower() == name.lower()]
    assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
    return values[0] if values else None


def assert_internal_error(reply: Reply) -> None:
    assert (reply.status, reply.json()) == (500, {"message": "Internal server error"}), reply.body
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("x-amzn-ErrorType") == "InternalServerErrorException"


# -- requestParameters -----------------------------------------------------------------------------


def test_request_parameters_build_the_backend_request(gateway: Process, backend: Process) -> None:
    headers = {
        "X-Client-Token": "tok-123",
        "X-Unmapped": "must not pass",
        "Authorization": "Bearer unmapped",
        "User-Agent": "client-agent/1.0",
        "Accept": "text/html",
    }
    reply = gateway.call("GET", "/users/u-42/things?q=a%20b&other=1", headers=headers)
    echo = echoed(reply)
    assert echo["method"] == "POST"  # the integration's httpMethod, not the client's
    assert echo["path"] == "/backend/u-42/items"
    query = parse_qs(echo["query"], keep_blank_values=True)
    assert query == {"search": ["a b"], "verb": ["GET"]}  # decoded, re-encoded by the gateway; 'other' unmapped
    assert sent_header(echo, "X-Token") == "tok-123"
    assert sent_header(echo, "X-Static") == "fixed value"
    assert sent_header(echo, "X-Flavour") == "vanilla"
    assert sent_header(echo, "X-Request-Id") == reply.header("x-amzn-RequestId")
    # Client headers are not forwarded unless mapped; the gateway adds its own.
    assert sent_header(echo, "X-Unmapped") is None
    assert sent_header(echo, "X-Client-Token") is None
    assert sent_header(echo, "Authorization") is None
    assert sent_header(echo, "Host") == f"127.0.0.1:{backend.port}"
    api_id = sent_header(echo, "X-Amzn-Apigateway-Api-Id")
    assert sent_header(echo, "User-Agent") == f"AmazonAPIGateway_{api_id}"
    assert sent_header(echo, "Accept") == "application/json"
    # The backend's body comes back (no response template: passthrough), with a Content-Type.
    assert reply.header("Content-Type") is not None
    assert reply.header("x-amzn-RequestId") is not None and reply.header("x-amz-apigw-id") is not None


def test_repeated_query_parameter_maps_its_last_value(gateway: Process) -> None:
    echo = echoed(gateway.call("GET", "/users/u-1/things?q=first&q=last"))
    assert parse_qs(echo["query"])["search"] == ["last"]


def test_request_body_passes_through_with_its_content_type(gateway: Process) -> None:
    body = b'{"name": "thing", "size": 3}'
    headers = {"Content-Type": "application/json", "X-Unmapped": "no"}
    reply = gateway.call("POST", "/submit", body=body, headers=headers)
    echo = echoed(reply)
    assert (echo["method"], echo["path"]) == ("PUT", "/submit-target")
    assert (echo["body_length"], echo["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert sent_header(echo, "Content-Type") == "application/json"
    assert sent_header(echo, "X-Unmapped") is None
    # Backend headers do not reach the client: the method response's Content-Type is AWS's default.
    assert reply.header("Content-Type") == "application/json"


def test_missing_sources_are_not_set(gateway: Process) -> None:
    echo = echoed(gateway.call("GET", "/users/u-1/things"))
    assert parse_qs(echo["query"]) == {"verb": ["GET"]}
    assert sent_header(echo, "X-Token") is None
    assert sent_header(echo, "X-Static") == "fixed value"


def test_query_value_with_reserved_characters_is_re_encoded(gateway: Process) -> None:
    echo = echoed(gateway.call("GET", "/users/u-1/things?q=x%26y%3Dz%2B1"))
    assert parse_qs(echo["query"])["search"] == ["x&y=z+1"]


def test_backend_response_headers_are_not_passed_unless_mapped(gateway: Process) -> None:
    reply = gateway.call("GET", "/lookup")
    assert reply.status == 200
    assert reply.header("X-Got") == "from-backend"
    assert reply.header("X-Got-Mapped") == "mapped"  # the mapped query string reached the backend
    assert reply.header("X-Const") == "const"
    assert reply.header("X-Missing") is None  # an empty value is not set
    assert reply.header("X-Upstream") is None
    assert reply.header("X-Second") is None
    assert not any(name.startswith("x-amzn-remapped-") for name in reply.header_names())
    echo = reply.json()
    assert parse_qs(echo["query"]) == {"X-Upstream": ["from-backend"], "X-Second": ["mapped"]}


# -- integration responses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend_status", "status", "kind"),
    [
        (200, 200, "success"),
        (201, 200, "success"),
        (302, 200, "success"),
        (400, 400, "client-error"),
        (404, 400, "client-error"),
        (418, 400, "client-error"),
        (500, 502, "server-error"),
        (503, 502, "server-error"),
    ],
)
def test_integration_response_selected_by_backend_status(
    gateway: Process, backend_status: int, status: int, kind: str
) -> None:
    reply = gateway.call("GET", f"/status/{backend_status}")
    assert (reply.status, reply.header("X-Kind")) == (status, kind)
    assert reply.json()["path"] == f"/status/{backend_status}"  # body passed through


def test_integration_response_template_gives_the_body(gateway: Process) -> None:
    reply = gateway.call("GET", "/templated/404")
    assert (reply.status, reply.json()) == (404, {"message": "not here"})
    assert reply.header("Content-Type") == "application/json"


def test_integration_response_without_template_passes_the_body(gateway: Process) -> None:
    reply = gateway.call("GET", "/templated/200")
    assert (reply.status, reply.json()["path"]) == (200, "/status/200")


def test_no_matching_integration_response_and_no_default(gateway: Process) -> None:
    assert gateway.call("GET", "/strict/204").status == 200
    assert_internal_error(gateway.call("GET", "/strict/500"))
    assert_internal_error(gateway.call("GET", "/strict/404"))


# -- MOCK --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "content_type", "body"),
    [
        (None, "application/json", b'{"kind": "json"}'),
        ("application/json", "application/json", b'{"kind": "json"}'),
        ("application/xml", "application/xml", b"<kind>xml</kind>"),
        ("application/xml, application/json", "application/xml", b"<kind>xml</kind>"),
        ("application/json;q=0.1, application/xml", "application/json", b'{"kind": "json"}'),
        ("*/*", "application/json", b'{"kind": "json"}'),
    ],
)
def test_mock_response_template_chosen_by_first_accept_type(
    gateway: Process, accept: str | None, content_type: str, body: bytes
) -> None:
    reply = gateway.call("GET", "/mock", headers={"Accept": accept} if accept else None)
    assert (reply.status, reply.body) == (200, body)
    assert reply.header("Content-Type") == content_type
    assert reply.header("X-Mock") == "yes"
    assert reply.header("X-Stage") == "vanilla"
    assert reply.header("x-amzn-RequestId") is not None


def test_mock_status_selects_the_integration_response(gateway: Process) -> None:
    reply = gateway.call("GET", "/mock/missing")
    assert (reply.status, reply.json()) == (404, {"message": "no such thing"})
    assert reply.header("x-amzn-ErrorType") is None


def test_mock_status_matched_by_pattern(gateway: Process) -> None:
    reply = gateway.call("POST", "/mock/created", body=b'{"name": "x"}', headers={"Content-Type": "application/json"})
    assert (reply.status, reply.json()) == (201, {"id": 4})
    assert reply.header("Location") == "/things/4"


def test_mock_without_matching_response(gateway: Process) -> None:
    assert_internal_error(gateway.call("GET", "/mock/unmatched"))


def test_unknown_route_on_the_same_api(gateway: Process) -> None:
    reply = gateway.call("GET", "/nowhere")
    assert (reply.status, reply.json()) == (403, {"message": "Missing Authentication Token"})
    assert reply.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
