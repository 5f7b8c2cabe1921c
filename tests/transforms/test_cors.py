"""HTTP API CORS (reference §9): preflight answers, headers on responses, wildcard origins, backend headers."""

from __future__ import annotations

from typing import Any

import pytest

from fastgw.config.model import ApiDefinition
from fastgw.integrations.base import Request, Response
from fastgw.transforms.cors import HttpApiCors, add_vary, build_cors, cors_warnings


def request(method: str = "GET", **headers: str) -> Request:
    header_list = [(name.replace("_", "-").lower(), value) for name, value in headers.items()]
    stage: Any = None
    return Request(None, None, method, "/pets", "", header_list, stage, "id", "ext", 0.0, "")


def preflight(origin: str = "https://www.example.com", method: str = "GET", **headers: str) -> Request:
    return request("OPTIONS", origin=origin, access_control_request_method=method, **headers)


def definition(cors: Any, api_type: Any = "HTTP") -> ApiDefinition:
    return ApiDefinition(source="api.yaml", title="t", version="1", api_type=api_type, routes=(), cors=cors)


FULL = {
    "allowOrigins": ["https://www.example.com", "https://app.example.org"],
    "allowCredentials": True,
    "exposeHeaders": ["Date", "x-api-id"],
    "maxAge": 300,
    "allowMethods": ["GET", "POST", "DELETE"],
    "allowHeaders": ["Authorization", "Content-Type"],
}


def full() -> Any:
    cors = build_cors(definition(FULL))
    assert cors is not None
    return cors


def test_none_without_configuration_or_for_rest() -> None:
    assert build_cors(definition(None)) is None
    assert build_cors(definition(FULL, "REST")) is None


def test_preflight_with_all_six_properties() -> None:
    answer = full().preflight(preflight(access_control_request_headers="authorization, content-type"))
    assert answer is not None
    assert (answer.status, answer.body, answer.stream) == (204, b"", None)
    assert answer.headers == [
        ("access-control-allow-origin", "https://www.example.com"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET,POST,DELETE"),
        ("access-control-allow-headers", "authorization,content-type"),
        ("access-control-max-age", "300"),
        ("vary", "Origin"),
    ]


def test_preflight_echoes_the_matching_origin_of_several() -> None:
    answer = full().preflight(preflight("https://app.example.org"))
    assert answer is not None
    assert ("access-control-allow-origin", "https://app.example.org") in answer.headers


@pytest.mark.parametrize(
    "req",
    [
        preflight("https://evil.example.net"),
        preflight(method="PATCH"),
        preflight(access_control_request_headers="x-secret"),
    ],
    ids=["origin", "method", "header"],
)
def test_preflight_not_allowed_is_answered_without_cors_headers(req: Request) -> None:
    answer = full().preflight(req)
    assert answer is not None
    assert (answer.status, answer.headers, answer.body) == (204, [], b"")


def test_safelisted_methods_are_always_allowed() -> None:
    cors = HttpApiCors(allow_origins=["*"], allow_methods=["DELETE"])
    answer = cors.preflight(preflight(method="HEAD"))
    assert answer is not None
    assert ("access-control-allow-origin", "*") in answer.headers


@pytest.mark.parametrize(
    "req", [request("OPTIONS", origin="https://www.example.com"), request("OPTIONS"), request("GET", origin="x")]
)
def test_not_a_preflight(req: Request) -> None:
    assert full().preflight(req) is None


def test_any_origin_without_credentials_answers_star() -> None:
    cors = HttpApiCors(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    answer = cors.preflight(preflight("https://anything.test", "PURGE", access_control_request_headers="x-a, x-b"))
    assert answer is not None
    assert answer.headers == [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "*"),
        ("access-control-allow-headers", "*"),
    ]


def test_any_origin_with_credentials_echoes_the_origin() -> None:
    cors = HttpApiCors(allow_origins=["*"], allow_credentials=True)
    response = Response(200, [], b"{}")
    cors.apply(request(origin="https://a.test"), response)
    assert response.headers == [
        ("access-control-allow-origin", "https://a.test"),
        ("access-control-allow-credentials", "true"),
        ("vary", "Origin"),
    ]


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        (["https://*"], "https://www.example.com", True),
        (["https://*"], "http://www.example.com", False),
        (["http://*"], "http://localhost:3000", True),
        (["http://*"], "https://localhost:3000", False),
        (["https://www.example.com"], "HTTPS://WWW.EXAMPLE.COM", True),
        (["https://www.example.com"], "https://www.example.com:8443", False),
        (["https://*.example.com"], "https://a.example.com", False),
        (["https://*.example.com"], "https://*.example.com", True),
        (["*"], "null", True),
        ([], "https://www.example.com", False),
    ],
)
def test_origin_matching(origins: list[str], origin: str, allowed: bool) -> None:
    assert HttpApiCors(allow_origins=origins).allows_origin(origin) is allowed


def test_apply_adds_headers_and_removes_the_backends() -> None:
    response = Response(
        200,
        [
            ("content-type", "application/json"),
            ("Access-Control-Allow-Origin", "*"),
            ("access-control-allow-methods", "PUT"),
            ("Vary", "Accept-Encoding"),
        ],
        b"{}",
    )
    full().apply(request(origin="https://www.example.com"), response)
    assert response.headers == [
        ("content-type", "application/json"),
        ("Vary", "Accept-Encoding, Origin"),
        ("access-control-allow-origin", "https://www.example.com"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", "date,x-api-id"),
    ]


@pytest.mark.parametrize("req", [request(), request(origin="https://evil.example.net")], ids=["none", "other"])
def test_apply_without_matching_origin_only_removes_backend_headers(req: Request) -> None:
    response = Response(200, [("access-control-allow-origin", "*"), ("x-kept", "1")], b"")
    full().apply(req, response)
    assert response.headers == [("x-kept", "1")]


def test_apply_leaves_the_preflight_answer_alone() -> None:
    cors = full()
    req = preflight()
    answer = cors.preflight(req)
    assert answer is not None
    before = list(answer.headers)
    cors.apply(req, answer)
    assert answer.headers == before


def test_add_vary() -> None:
    headers: list[tuple[str, str]] = [("vary", "origin")]
    add_vary(headers, "Origin")
    assert headers == [("vary", "origin")]
    headers = [("Vary", "*")]
    add_vary(headers, "Origin")
    assert headers == [("Vary", "*")]


def test_build_accepts_loose_values() -> None:
    cors = build_cors(definition({"allowOrigins": "https://a.test, https://b.test", "maxAge": "x"}))
    assert isinstance(cors, HttpApiCors)
    assert cors.allows_origin("https://b.test")
    answer = cors.preflight(preflight("https://b.test"))
    assert answer is not None
    assert answer.headers == [("access-control-allow-origin", "https://b.test"), ("vary", "Origin")]


def test_warnings_name_the_place() -> None:
    problems = cors_warnings(
        definition(
            {
                "allowOrigins": ["https://*.example.com"],
                "maxAge": 100000,
                "allowCredentials": "yes",
                "allowMethod": ["GET"],
                "allowHeaders": "a,b",
            }
        )
    )
    assert sorted(str(p) for p in problems) == [
        "api.yaml#/x-amazon-apigateway-cors/allowCredentials: 'allowCredentials' should be a boolean: ignored",
        "api.yaml#/x-amazon-apigateway-cors/allowHeaders: 'allowHeaders' should be a list of strings",
        "api.yaml#/x-amazon-apigateway-cors/allowMethod: 'allowMethod' is not a CORS property: ignored",
        "api.yaml#/x-amazon-apigateway-cors/allowOrigins/0: origin pattern 'https://*.example.com' is not one AWS "
        "supports ('*', 'https://*', 'http://*'): it matches only literally",
        "api.yaml#/x-amazon-apigateway-cors/maxAge: 'maxAge' 100000 is outside -1..86400 (AWS refuses it)",
    ]
    assert cors_warnings(definition(FULL)) == []
