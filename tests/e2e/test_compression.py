"""Response compression through a real gateway (``x-amazon-apigateway-minimum-compression-size`` on a REST API,
exported as OpenAPI 3 and as Swagger 2): gzip and deflate as the client accepts, above the minimum size only."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"
ANY_METHOD = "x-amazon-apigateway-any-method"
MINIMUM = 1000
PATTERN = bytes(range(256)) * 256  # what the backend's /sized/{n} sends


def proxy_operation() -> dict[str, Any]:
    return {
        "parameters": [{"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "200 response", "content": {}}},
        "x-amazon-apigateway-integration": {
            "type": "http_proxy",
            "httpMethod": "ANY",
            "uri": BACKEND + "/{proxy}",
            "passthroughBehavior": "when_no_match",
            "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"},
        },
    }


OAS3: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "compression-rest", "version": "2024-05-02T09:20:11Z"},
    "servers": [
        {
            "url": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/{basePath}",
            "variables": {"basePath": {"default": "/prod"}},
        }
    ],
    "paths": {"/{proxy+}": {ANY_METHOD: proxy_operation()}},
    "x-amazon-apigateway-minimum-compression-size": MINIMUM,
}

SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "compression-swagger", "version": "2024-05-02T09:20:11Z"},
    "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "basePath": "/prod",
    "schemes": ["https"],
    "paths": {
        "/{proxy+}": {
            ANY_METHOD: {
                "parameters": [{"name": "proxy", "in": "path", "required": True, "type": "string"}],
                "responses": {},
                "x-amazon-apigateway-integration": proxy_operation()["x-amazon-apigateway-integration"],
            }
        }
    },
    "x-amazon-apigateway-minimum-compression-size": 0,
}


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[dict[str, Process]]:
    factory = GatewayFactory(tmp_path_factory.mktemp("compression"))
    variables = {"backendPort": str(backend.port)}
    try:
        yield {
            "oas3": factory.start(OAS3, stage_variables=variables),
            "swagger": factory.start(SWAGGER, stage_variables=variables),
        }
    finally:
        factory.stop_all()


@pytest.mark.parametrize(("accept", "coding"), [("gzip, deflate", "gzip"), ("deflate", "deflate")])
def test_compressed_as_accepted(gateways: dict[str, Process], accept: str, coding: str) -> None:
    reply = gateways["oas3"].call("GET", "/sized/50000", headers={"Accept-Encoding": accept})
    assert reply.status == 200
    assert reply.header("content-encoding") == coding
    assert reply.header("vary") == "Accept-Encoding"
    assert reply.header("content-length") == str(len(reply.body))
    decompress = gzip.decompress if coding == "gzip" else zlib.decompress
    assert decompress(reply.body) == PATTERN[:50000]
    assert len(reply.body) < 50000


def test_q_values(gateways: dict[str, Process]) -> None:
    reply = gateways["oas3"].call("GET", "/sized/5000", headers={"Accept-Encoding": "gzip;q=0.2, deflate;q=0.9"})
    assert reply.header("content-encoding") == "deflate"
    assert zlib.decompress(reply.body) == PATTERN[:5000]


@pytest.mark.parametrize("accept", [None, "identity", "br, gzip;q=0.5", "gzip;q=0"])
def test_not_compressed_unless_accepted_first(gateways: dict[str, Process], accept: str | None) -> None:
    reply = gateways["oas3"].call("GET", "/sized/5000", headers={"Accept-Encoding": accept} if accept else {})
    assert reply.status == 200
    assert reply.header("content-encoding") is None
    assert reply.body == PATTERN[:5000]
    assert reply.header("vary") == "Accept-Encoding"


def test_below_the_minimum_size(gateways: dict[str, Process]) -> None:
    reply = gateways["oas3"].call("GET", f"/sized/{MINIMUM - 1}", headers={"Accept-Encoding": "gzip"})
    assert reply.header("content-encoding") is None
    assert reply.header("vary") is None
    assert reply.body == PATTERN[: MINIMUM - 1]
    reply = gateways["oas3"].call("GET", f"/sized/{MINIMUM}", headers={"Accept-Encoding": "gzip"})
    assert reply.header("content-encoding") == "gzip"
    assert gzip.decompress(reply.body) == PATTERN[:MINIMUM]


def test_gateway_responses_are_compressed_too(gateways: dict[str, Process]) -> None:
    reply = gateways["swagger"].call("GET", "/", headers={"Accept-Encoding": "gzip"})
    assert reply.status == 403
    assert reply.header("content-encoding") == "gzip"
    assert gzip.decompress(reply.body) == b'{"message":"Missing Authentication Token"}'


def test_json_echo_with_minimum_zero(gateways: dict[str, Process]) -> None:
    reply = gateways["swagger"].call("POST", "/echo", headers={"Accept-Encoding": "deflate"}, body=b"x" * 10)
    assert reply.status == 200
    assert reply.header("content-encoding") == "deflate"
    echoed = zlib.decompress(reply.body)
    assert b'"body_length": 10' in echoed


def test_head_and_streamed_are_not_compressed(gateways: dict[str, Process]) -> None:
    reply = gateways["swagger"].call("HEAD", "/sized/5000", headers={"Accept-Encoding": "gzip"})
    assert reply.header("content-encoding") is None
    streamed = gateways["swagger"].call("GET", "/bytes/3000000", headers={"Accept-Encoding": "gzip"})
    assert streamed.status == 200
    assert streamed.header("content-encoding") is None  # streamed (above the 1 MiB buffer): sent as is
    assert len(streamed.body) == 3_000_000
