"""REST request validators through a real gateway (issue 3, item 1): a Swagger 2.0 export with
``x-amazon-apigateway-request-validators``, an API default overridden per operation, a model with a ``$ref``,
and required query/header parameters. Refusals are AWS's exact 400s; valid requests reach the backend
with their body intact."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process, Reply, call, free_port

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"
PARAMETERS = [
    {"name": "issuer", "in": "query", "required": True, "type": "string"},
    {"name": "page", "in": "query", "required": False, "type": "string"},
    {"name": "x-header-param", "in": "header", "required": True, "type": "string"},
    {"name": "X-Optional", "in": "header", "required": False, "type": "string"},
    {"name": "Order", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Order"}},
]


def operation(path: str, validator: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "parameters": PARAMETERS,
        "responses": {"200": {"description": "200 response"}},
        "x-amazon-apigateway-integration": {
            "type": "http_proxy",
            "httpMethod": "POST",
            "uri": BACKEND + path,
            "passthroughBehavior": "when_no_match",
        },
    }
    if validator is not None:
        result["x-amazon-apigateway-request-validator"] = validator
    return result


API: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "validation", "version": "2024-05-02T09:20:11Z"},
    "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "basePath": "/prod",
    "schemes": ["https"],
    "paths": {
        "/all": {"post": operation("/echo/all")},  # the API's default validator: "all"
        "/params": {"post": operation("/echo/params", "params-only")},
        "/body": {"post": operation("/echo/body", "body-only")},
    },
    "definitions": {
        "Order": {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "Order",
            "type": "object",
            "required": ["id", "item"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "item": {"$ref": "#/definitions/Item"},
            },
        },
        "Item": {
            "type": "object",
            "required": ["sku"],
            "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}},
        },
    },
    "x-amazon-apigateway-request-validators": {
        "all": {"validateRequestBody": True, "validateRequestParameters": True},
        "params-only": {"validateRequestBody": False, "validateRequestParameters": True},
        "body-only": {"validateRequestBody": True, "validateRequestParameters": False},
    },
    "x-amazon-apigateway-request-validator": "all",
}

VALID = json.dumps({"id": 7, "item": {"sku": "ABC-123"}}).encode()
BAD_SKU = json.dumps({"id": 7, "item": {"sku": "abc"}}).encode()
PARAMS = {"x-header-param": "h"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("validation"))
    try:
        yield factory.start(API, stage_variables={"backendPort": str(backend.port)})
    finally:
        factory.stop_all()


def post(gateway: Process, path: str, body: bytes, headers: dict[str, str]) -> Reply:
    return gateway.call("POST", path, headers={**JSON, **headers}, body=body)


def assert_bad_request(reply: Reply, message: str) -> None:
    assert (reply.status, reply.json()) == (400, {"message": message}), reply.body
    assert reply.header("x-amzn-ErrorType") == "BadRequestException"
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("x-amzn-RequestId")


def assert_forwarded(reply: Reply, path: str, body: bytes) -> None:
    assert reply.status == 200, (reply.status, reply.body[:500])
    echo = reply.json()
    assert echo["path"] == path
    assert (echo["body_length"], echo["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())


def test_missing_parameters_named_as_aws_does(gateway: Process) -> None:
    reply = post(gateway, "/all", VALID, {})
    assert_bad_request(reply, "Missing required request parameters: [x-header-param, issuer]")


def test_one_missing_parameter(gateway: Process) -> None:
    assert_bad_request(post(gateway, "/all?page=2", VALID, PARAMS), "Missing required request parameters: [issuer]")
    reply = post(gateway, "/all?issuer=me", VALID, {})
    assert_bad_request(reply, "Missing required request parameters: [x-header-param]")


def test_parameters_are_checked_before_the_body(gateway: Process) -> None:
    reply = post(gateway, "/all", b"not json", PARAMS)
    assert_bad_request(reply, "Missing required request parameters: [issuer]")


def test_invalid_body_through_a_ref(gateway: Process) -> None:
    assert_bad_request(post(gateway, "/all?issuer=me", BAD_SKU, PARAMS), "Invalid request body")


@pytest.mark.parametrize("body", [b"{", b"", b"[]", b'{"id": 0, "item": {"sku": "ABC-1"}}', b'{"id": 1}'])
def test_invalid_bodies(gateway: Process, body: bytes) -> None:
    assert_bad_request(post(gateway, "/body", body, {}), "Invalid request body")


def test_valid_request_reaches_the_backend_with_its_body(gateway: Process) -> None:
    reply = post(gateway, "/all?issuer=me", VALID, {**PARAMS, "X-Optional": "x"})
    assert_forwarded(reply, "/echo/all", VALID)


def test_large_valid_body_is_forwarded_intact(gateway: Process) -> None:
    body = json.dumps({"id": 1, "item": {"sku": "ABC-1"}, "padding": "x" * 300_000}).encode()
    assert_forwarded(post(gateway, "/all?issuer=me", body, PARAMS), "/echo/all", body)


def test_params_only_does_not_read_the_body(gateway: Process) -> None:
    assert_forwarded(post(gateway, "/params?issuer=me", b"not json", PARAMS), "/echo/params", b"not json")
    reply = post(gateway, "/params", VALID, {})
    assert_bad_request(reply, "Missing required request parameters: [x-header-param, issuer]")


def test_body_only_does_not_require_parameters(gateway: Process) -> None:
    assert_forwarded(post(gateway, "/body", VALID, {}), "/echo/body", VALID)


def test_content_type_without_a_model_is_not_validated(gateway: Process) -> None:
    # AWS: "If no matching content type is found, request validation is not performed."
    reply = gateway.call("POST", "/body", headers={"Content-Type": "text/plain"}, body=b"free text")
    assert_forwarded(reply, "/echo/body", b"free text")


def post_chunked(gateway: Process, path: str, chunks: list[bytes], headers: dict[str, str]) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request("POST", path, body=iter(chunks), headers={**JSON, **headers}, encode_chunked=True)
        response = connection.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def test_chunked_body_is_validated_and_forwarded_whole(gateway: Process) -> None:
    chunks = [VALID[:5], VALID[5:20], VALID[20:]]
    assert_forwarded(post_chunked(gateway, "/all?issuer=me", chunks, PARAMS), "/echo/all", VALID)
    assert_bad_request(post_chunked(gateway, "/body", [BAD_SKU[:9], BAD_SKU[9:]], {}), "Invalid request body")


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[tuple[Process, int]]:
    factory = GatewayFactory(tmp_path_factory.mktemp("validation-metrics"))
    metrics_port = free_port()
    try:
        gateway = factory.start(
            API, "--metrics-port", str(metrics_port), stage_variables={"backendPort": str(backend.port)}
        )
        yield gateway, metrics_port
    finally:
        factory.stop_all()


def requests_by_class(metrics_port: int) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in call(metrics_port, "GET", "/metrics").body.decode().splitlines():
        found = re.match(r'fastgw_requests_total\{.*status_class="(\dxx)".*\} (\S+)$', line)
        if found:
            counts[found[1]] = counts.get(found[1], 0.0) + float(found[2])
    return counts


@pytest.mark.parametrize(
    "framing, sent",
    [
        (b"Content-Length: %d" % len(VALID), VALID[:10]),
        (b"Transfer-Encoding: chunked", b"%x\r\n%s\r\n" % (len(VALID), VALID) + b"10\r\nabc"),
    ],
    ids=["content-length", "chunked"],
)
def test_truncated_body_on_a_validated_route_is_the_clients_doing(
    metered: tuple[Process, int], framing: bytes, sent: bytes
) -> None:
    """Issue 18, item 8: a body cut short (the client stops sending) on a route whose body is validated is not a
    server error: 400 for a client still there to read it, one INFO line, no traceback, no 5xx in the metrics
    (it was a 500 with ``RSGIProtocolClosed`` from ``read_body``)."""
    gateway, metrics_port = metered
    since = len(gateway.output())
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"POST /body HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n%s\r\n\r\n" % framing)
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)  # the body ends here: the client sends nothing more, but reads the answer
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(body) == {"message": "Invalid request body"}
    time.sleep(0.3)
    log = gateway.output()[since:]
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("[INFO] "), log
    counts = requests_by_class(metrics_port)
    assert counts.get("4xx", 0) >= 1 and counts.get("5xx", 0) == 0, counts
