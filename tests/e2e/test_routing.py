"""Routing through a real gateway: AWS priority rules, no-route responses, encoding, load-time conflicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, GatewayFactory, Process, run_cli


def mock_route(route_key: str) -> dict[str, Any]:
    """A REST mock operation answering ``{"route": "<route key>"}``."""
    return {
        "responses": {"200": {"description": "ok"}},
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseTemplates": {"application/json": f'{{"route": "{route_key}"}}'},
                }
            },
            "passthroughBehavior": "when_no_match",
        },
    }


REST_API: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "routing", "version": "1"},
    "paths": {
        "/": {"get": mock_route("GET /")},
        "/pets": {"get": mock_route("GET /pets"), "post": mock_route("POST /pets")},
        "/pets/{id}": {
            "get": mock_route("GET /pets/{id}"),
            "x-amazon-apigateway-any-method": mock_route("ANY /pets/{id}"),
        },
        "/pets/dog": {"get": mock_route("GET /pets/dog")},
        "/pets/{id}/toys": {"get": mock_route("GET /pets/{id}/toys")},
        "/files/{proxy+}": {"get": mock_route("GET /files/{proxy+}")},
        "/only-get": {"get": mock_route("GET /only-get")},
    },
}


@pytest.fixture(scope="module")
def rest_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("routing"))
    yield factory.start(REST_API)
    factory.stop_all()


def route_of(gateway: Process, method: str, path: str) -> str:
    reply = gateway.call(method, path)
    assert reply.status == 200, (method, path, reply.status, reply.body)
    return str(reply.json()["route"])


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/", "GET /"),
        ("GET", "/pets", "GET /pets"),
        ("GET", "/pets/", "GET /pets"),  # REST ignores a trailing slash
        ("POST", "/pets", "POST /pets"),
        ("GET", "/pets/dog", "GET /pets/dog"),  # static beats {param}
        ("GET", "/pets/cat", "GET /pets/{id}"),
        ("GET", "/pets/7", "GET /pets/{id}"),  # explicit method beats ANY on one resource
        ("DELETE", "/pets/7", "ANY /pets/{id}"),
        ("PATCH", "/pets/7", "ANY /pets/{id}"),
        ("HEAD", "/pets/7", "ANY /pets/{id}"),
        ("GET", "/pets/7/toys", "GET /pets/{id}/toys"),
        ("GET", "/files/a/b/c.txt", "GET /files/{proxy+}"),
        ("GET", "//pets", "GET /pets"),  # empty segments are skipped for matching (REST)
    ],
)
def test_rest_route_priority(rest_gateway: Process, method: str, path: str, route: str) -> None:
    if method == "HEAD":
        reply = rest_gateway.call(method, path)
        assert reply.status == 200 and reply.body == b""
        return
    assert route_of(rest_gateway, method, path) == route


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing"),
        ("POST", "/only-get"),  # the resource exists, the method does not
        ("HEAD", "/only-get"),  # GET does not answer HEAD
        ("GET", "/files"),  # {proxy+} needs at least one segment
        ("GET", "/files/"),
        ("TRACE", "/pets"),
        ("GET", "/pets/7/toys/extra"),
    ],
)
def test_rest_no_route_is_missing_authentication_token(rest_gateway: Process, method: str, path: str) -> None:
    reply = rest_gateway.call(method, path)
    assert reply.status == 403
    assert reply.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert reply.header("content-type") == "application/json"
    assert reply.header("x-amzn-RequestId")
    if method != "HEAD":
        assert reply.json() == {"message": "Missing Authentication Token"}


@pytest.fixture(scope="module")
def http_api(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[Process]:
    """The AWS docs' route-priority example (reference §1.1), as an HTTP API export, proxied to the backend."""
    factory = GatewayFactory(tmp_path_factory.mktemp("priority"))
    yield factory.start(FIXTURES / "route-priority-http.yaml", stage_variables={"backendPort": str(backend.port)})
    factory.stop_all()


@pytest.mark.parametrize(
    ("method", "path", "backend_path"),
    [
        ("GET", "/pets/dog/1", "/route/pets-dog-1"),
        ("GET", "/pets/dog/2", "/route/pets-dog-id/2"),
        ("GET", "/pets/cat/1", "/route/pets-proxy/cat/1"),
        ("POST", "/test/5", "/route/any-proxy/test/5"),  # greedy beats $default
        ("GET", "/", "/route/default/"),  # only $default matches the root ({proxy+} needs a segment)
    ],
)
def test_aws_docs_route_priority_example(http_api: Process, method: str, path: str, backend_path: str) -> None:
    reply = http_api.call(method, path, body=b"" if method == "POST" else None)
    assert reply.status == 200, reply.body
    assert reply.json()["path"] == backend_path
    assert reply.header("apigw-requestid")
    assert "x-amzn-requestid" not in reply.header_names()


def test_http_api_no_route_is_404(tmp_path: Path, gateway: GatewayFactory, backend: Process) -> None:
    api = {
        "openapi": "3.0.1",
        "info": {"title": "h", "version": "1"},
        "x-amazon-apigateway-importexport-version": "1.0",
        "paths": {
            "/pets": {
                "get": {
                    "x-amazon-apigateway-integration": {
                        "type": "http_proxy",
                        "httpMethod": "GET",
                        "uri": f"http://127.0.0.1:{backend.port}/pets",
                        "payloadFormatVersion": "1.0",
                    }
                }
            }
        },
    }
    server = gateway.start(api)
    for method, path in [("GET", "/nope"), ("POST", "/pets"), ("GET", "/pets/")]:  # HTTP APIs: no 405, strict slash
        reply = server.call(method, path)
        assert reply.status == 404, (method, path)
        assert reply.json() == {"message": "Not Found"}
        assert "x-amzn-errortype" not in reply.header_names()
        assert reply.header("apigw-requestid")
    assert server.call("GET", "/pets").status == 200


def test_path_values_stay_encoded_and_query_passes_raw(gateway: GatewayFactory, backend: Process) -> None:
    """AWS passes path values still encoded. Granian hands the gateway a decoded path, so fastgw re-encodes it:
    characters that need encoding stay encoded; a needlessly encoded ``%2B`` arrives as ``+`` (same meaning)."""
    api = {
        "swagger": "2.0",
        "info": {"title": "enc", "version": "1"},
        "paths": {
            "/users/{id}": {
                "get": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
                    "x-amazon-apigateway-integration": {
                        "type": "http_proxy",
                        "httpMethod": "GET",
                        "uri": f"http://127.0.0.1:{backend.port}/u/{{id}}",
                        "requestParameters": {"integration.request.path.id": "method.request.path.id"},
                    },
                }
            }
        },
    }
    server = gateway.start(api)
    echo = server.call("GET", "/users/caf%C3%A9%20%3F%25@x?plus=test+alias&p=%2B").json()
    assert echo["path"] == "/u/caf%C3%A9%20%3F%25@x"
    assert echo["query"] == "plus=test+alias&p=%2B"
    assert server.call("GET", "/users/test%2Balias@gmail.com").json()["path"] == "/u/test+alias@gmail.com"


def test_query_values_are_decoded_for_mappings(gateway: GatewayFactory, backend: Process) -> None:
    """A non-proxy mapping of a query value sees it decoded (AWS), the last of repeated keys."""
    api = {
        "swagger": "2.0",
        "info": {"title": "q", "version": "1"},
        "paths": {
            "/search": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "type": "string"}],
                    "x-amazon-apigateway-integration": {
                        "type": "http",
                        "httpMethod": "GET",
                        "uri": f"http://127.0.0.1:{backend.port}/search",
                        "requestParameters": {"integration.request.header.x-q": "method.request.querystring.q"},
                        "responses": {"default": {"statusCode": "200"}},
                    },
                }
            }
        },
    }
    server = gateway.start(api)
    echo = server.call("GET", "/search?q=first&q=test+alias%40gmail.com%2B1").json()
    assert ["x-q", "test alias@gmail.com+1"] in [[k.lower(), v] for k, v in echo["headers"]]


@pytest.mark.parametrize(
    ("paths", "pointer", "message"),
    [
        (
            {"/pets/{id}": {"get": mock_route("a")}, "/pets/{name}": {"get": mock_route("b")}},
            "/paths/~1pets~1{name}/get",
            "A sibling ({id}) of this resource already has a variable path part -- only one is allowed",
        ),
        (
            {"/files/{proxy+}": {"get": mock_route("a")}, "/files/{proxy+}/meta": {"get": mock_route("b")}},
            "/paths/~1files~1{proxy+}~1meta/get",
            "Cannot create a child of a resource with a greedy path variable: {proxy+}",
        ),
    ],
)
def test_conflicting_routes_are_rejected_at_load(
    tmp_path: Path, gateway: GatewayFactory, paths: dict[str, Any], pointer: str, message: str
) -> None:
    path = gateway.write({"swagger": "2.0", "info": {"title": "c", "version": "1"}, "paths": paths})
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert f"error: {path}#{pointer}: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("serve", str(path), "--port", "1")
    assert result.returncode == 2
    assert message in result.stderr
