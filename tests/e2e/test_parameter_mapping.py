"""Parameter mapping through a real gateway: HTTP API ``append|overwrite|remove`` (reference §5.1) and REST
body sources (§5.2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"

HTTP_API: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "mapping-http", "version": "1"},
    "x-amazon-apigateway-importexport-version": "1.0",
    "paths": {
        "/pets/{id}": {
            "post": {
                "responses": {"default": {"description": "Default response"}},
                "x-amazon-apigateway-integration": {
                    "type": "http_proxy",
                    "httpMethod": "ANY",
                    "uri": BACKEND + "/pets/{id}",
                    "payloadFormatVersion": "1.0",
                    "requestParameters": {
                        "append:header.header1": "$context.requestId",
                        "overwrite:header.x-who": "${request.path.id} ${request.header.x-name}",
                        "remove:header.x-secret": "''",
                        "append:querystring.from-body": "$request.body.pet.name",
                        "overwrite:path": "/v2/pets/${request.path.id}",
                    },
                    "responseParameters": {
                        "500": {"append:header.header1": "$context.requestId", "overwrite:statuscode": "403"},
                        "200": {"overwrite:header.x-backend-path": "$response.body.path"},
                    },
                },
            }
        }
    },
}

REST_API: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "mapping-rest", "version": "1"},
    "basePath": "/prod",
    "paths": {
        "/orders": {
            "post": {
                "responses": {"200": {"description": "ok", "headers": {"X-Echo-Method": {"type": "string"}}}},
                "x-amazon-apigateway-integration": {
                    "type": "http",
                    "httpMethod": "POST",
                    "uri": BACKEND + "/orders",
                    "passthroughBehavior": "when_no_match",
                    "requestParameters": {
                        "integration.request.header.X-Customer": "method.request.body.customer.id",
                        "integration.request.querystring.first": "method.request.body.items[0].sku",
                    },
                    "responses": {
                        "default": {
                            "statusCode": "200",
                            "responseParameters": {
                                "method.response.header.X-Echo-Method": "integration.response.body.method"
                            },
                        }
                    },
                },
            }
        }
    },
}


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[dict[str, Process]]:
    factory = GatewayFactory(tmp_path_factory.mktemp("mapping"))
    variables = {"backendPort": str(backend.port)}
    try:
        yield {
            "HTTP": factory.start(factory.write(HTTP_API, "http.yaml"), stage_variables=variables),
            "REST": factory.start(factory.write(REST_API, "rest.yaml"), stage_variables=variables),
        }
    finally:
        factory.stop_all()


def test_http_api_request_and_response_mapping(gateways: dict[str, Process]) -> None:
    reply = gateways["HTTP"].call(
        "POST",
        "/pets/7?keep=1",
        headers={"x-name": "rex", "x-secret": "s", "header1": "client", "content-type": "application/json"},
        body=json.dumps({"pet": {"name": "Rex Jr"}}).encode(),
    )
    assert reply.status == 200, reply.body
    echo = reply.json()
    sent = [(k.lower(), v) for k, v in echo["headers"]]
    request_id = reply.header("apigw-requestid")
    assert echo["path"] == "/v2/pets/7"
    assert echo["query"] == "keep=1&from-body=Rex%20Jr"
    assert ("x-who", "7 rex") in sent
    assert [v for k, v in sent if k == "header1"] == ["client", request_id]
    assert "x-secret" not in {k for k, _ in sent}
    assert json.loads(echo["body"]) == {"pet": {"name": "Rex Jr"}} if "body" in echo else True
    assert reply.header("x-backend-path") == "/v2/pets/7"


def test_http_api_response_status_mapping(gateways: dict[str, Process]) -> None:
    reply = gateways["HTTP"].call("POST", "/pets/status-500", body=b"")
    # The backend echoes; its 200 is not remapped. (A 500 would become 403 with header1.)
    assert reply.status == 200


def test_rest_body_sources(gateways: dict[str, Process]) -> None:
    body = {"customer": {"id": "c-9"}, "items": [{"sku": "A1"}, {"sku": "B2"}]}
    reply = gateways["REST"].call(
        "POST", "/orders", headers={"content-type": "application/json"}, body=json.dumps(body).encode()
    )
    assert reply.status == 200, reply.body
    echo = reply.json()
    sent = {k.lower(): v for k, v in echo["headers"]}
    assert sent["x-customer"] == "c-9"
    assert echo["query"] == "first=A1"
    assert reply.header("X-Echo-Method") == "POST"


def test_rest_malformed_json_body_is_400(gateways: dict[str, Process]) -> None:
    reply = gateways["REST"].call("POST", "/orders", headers={"content-type": "application/json"}, body=b"{bad")
    assert (reply.status, reply.json()) == (400, {"message": "Invalid JSON in request body"})
