"""HTTP API CORS through a real gateway (reference §9), on definitions as AWS exports them: the gateway answers
preflight itself (no OPTIONS route), adds the configured headers for a matching ``Origin``, and ignores the
CORS headers the backend sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process, Reply

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"
ANY_METHOD = "x-amazon-apigateway-any-method"


def http_api(cors: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.1",
        "info": {"title": "cors-http", "version": "2024-05-02 10:04:31UTC"},
        "paths": {
            "/pets": {
                "get": {
                    "responses": {"default": {"description": "Default response for GET /pets"}},
                    "x-amazon-apigateway-integration": {
                        "payloadFormatVersion": "1.0",
                        "type": "http_proxy",
                        "httpMethod": "GET",
                        "uri": BACKEND + "/headers?Access-Control-Allow-Origin=https://backend.test"
                        "&Access-Control-Allow-Methods=PUT&Access-Control-Expose-Headers=x-backend&X-Kept=yes",
                        "connectionType": "INTERNET",
                    },
                }
            },
        },
        "x-amazon-apigateway-cors": cors,
        "x-amazon-apigateway-importexport-version": "1.0",
    }


CORS = {
    "allowOrigins": ["https://www.example.com", "https://app.example.org"],
    "allowCredentials": True,
    "exposeHeaders": ["Date", "x-api-id"],
    "maxAge": 300,
    "allowMethods": ["GET", "POST", "DELETE"],
    "allowHeaders": ["Authorization", "Content-Type"],
}
WILDCARD = {"allowOrigins": ["https://*"], "allowMethods": ["*"], "allowHeaders": ["*"]}
ANY_ORIGIN = {"allowOrigins": ["*"], "exposeHeaders": ["x-api-id"], "allowMethods": ["GET"]}


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[dict[str, Process]]:
    factory = GatewayFactory(tmp_path_factory.mktemp("cors"))
    variables = {"backendPort": str(backend.port)}
    try:
        yield {
            name: factory.start(http_api(cors), stage_variables=variables)
            for name, cors in (("full", CORS), ("wildcard", WILDCARD), ("any", ANY_ORIGIN))
        }
    finally:
        factory.stop_all()


def cors_headers(reply: Reply) -> dict[str, str]:
    found = {name.lower(): value for name, value in reply.headers if name.lower().startswith("access-control-")}
    assert len(found) == sum(1 for name, _ in reply.headers if name.lower().startswith("access-control-"))
    return found


def preflight(gateway: Process, origin: str, method: str = "GET", headers: str | None = None) -> Reply:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return gateway.call("OPTIONS", "/pets", headers=sent)


def test_preflight_is_answered_by_the_gateway(gateways: dict[str, Process]) -> None:
    reply = preflight(gateways["full"], "https://www.example.com", "POST", "authorization,content-type")
    assert (reply.status, reply.body) == (204, b"")
    assert cors_headers(reply) == {
        "access-control-allow-origin": "https://www.example.com",
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "GET,POST,DELETE",
        "access-control-allow-headers": "authorization,content-type",
        "access-control-max-age": "300",
    }
    assert reply.header("vary") == "Origin"
    assert reply.header("apigw-requestid")


def test_preflight_on_a_path_without_any_route(gateways: dict[str, Process]) -> None:
    reply = gateways["full"].call(
        "OPTIONS", "/nowhere", headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "GET"}
    )
    assert reply.status == 204
    assert cors_headers(reply)["access-control-allow-origin"] == "https://app.example.org"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://evil.example.net", "GET", None),
        ("https://www.example.com", "PATCH", None),
        ("https://www.example.com", "GET", "x-secret"),
    ],
    ids=["origin", "method", "header"],
)
def test_preflight_not_allowed_gets_no_cors_headers(
    gateways: dict[str, Process], origin: str, method: str, headers: str | None
) -> None:
    reply = preflight(gateways["full"], origin, method, headers)
    assert (reply.status, reply.body) == (204, b"")
    assert cors_headers(reply) == {}


def test_plain_options_is_routed(gateways: dict[str, Process]) -> None:
    reply = gateways["full"].call("OPTIONS", "/pets", headers={"Origin": "https://www.example.com"})
    assert reply.status == 404  # no OPTIONS route: HTTP API's Not Found, with the CORS headers of a normal answer
    assert reply.json() == {"message": "Not Found"}
    assert cors_headers(reply)["access-control-allow-origin"] == "https://www.example.com"


def test_response_headers_replace_the_backends(gateways: dict[str, Process]) -> None:
    reply = gateways["full"].call("GET", "/pets", headers={"Origin": "https://www.example.com"})
    assert reply.status == 200
    assert cors_headers(reply) == {
        "access-control-allow-origin": "https://www.example.com",
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "date,x-api-id",
    }
    assert reply.header("x-kept") == "yes"
    assert reply.header("vary") == "Origin"


@pytest.mark.parametrize("headers", [{}, {"Origin": "https://evil.example.net"}], ids=["no-origin", "other-origin"])
def test_no_cors_headers_without_a_matching_origin(gateways: dict[str, Process], headers: dict[str, str]) -> None:
    reply = gateways["full"].call("GET", "/pets", headers=headers)
    assert reply.status == 200
    assert cors_headers(reply) == {}  # the backend's are dropped too
    assert reply.header("x-kept") == "yes"


def test_gateway_errors_carry_cors_headers(gateways: dict[str, Process]) -> None:
    reply = gateways["full"].call("GET", "/missing", headers={"Origin": "https://app.example.org"})
    assert reply.status == 404
    assert cors_headers(reply)["access-control-allow-origin"] == "https://app.example.org"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("https://anything.example", True), ("https://localhost:3000", True), ("http://www.example.com", False)],
)
def test_scheme_wildcard_origin(gateways: dict[str, Process], origin: str, allowed: bool) -> None:
    reply = preflight(gateways["wildcard"], origin, "PURGE", "x-anything")
    assert reply.status == 204
    expected = (
        {
            "access-control-allow-origin": origin,
            "access-control-allow-methods": "*",
            "access-control-allow-headers": "*",
        }
        if allowed
        else {}
    )
    assert cors_headers(reply) == expected
    reply = gateways["wildcard"].call("GET", "/pets", headers={"Origin": origin})
    assert cors_headers(reply) == ({"access-control-allow-origin": origin} if allowed else {})


def test_any_origin_answers_star(gateways: dict[str, Process]) -> None:
    reply = preflight(gateways["any"], "https://whoever.test")
    assert reply.status == 204
    assert cors_headers(reply) == {"access-control-allow-origin": "*", "access-control-allow-methods": "GET"}
    assert reply.header("vary") is None
    reply = gateways["any"].call("GET", "/pets", headers={"Origin": "null"})
    assert cors_headers(reply) == {"access-control-allow-origin": "*", "access-control-expose-headers": "x-api-id"}
