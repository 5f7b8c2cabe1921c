"""Issue 18: requests written to get past the gateway, through a real gateway to a backend that records the exact
bytes it receives (tests/raw_backend.py). Each test failed before its fix.

- item 1: mapped path values are percent-encoded into the upstream path (no request smuggling);
- item 2: dot segments are removed before routing (no path traversal out of the integration's prefix);
- item 6: a control character in a mapped header value refuses the request;
- item 7: the client's ``Host`` cannot add elements to ``Forwarded``;
- item 13: a path whose percent-encoded bytes are not UTF-8 is refused (distinct paths never merge);
- RFC 9112 §3.2: no ``Host`` on HTTP/1.1, two of them or an invalid one is ``400``; RFC 9110 §7.6.1: the headers a
  client's ``Connection`` names stop at the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process
from tests.raw_backend import RecordingBackend, recording_backend, send_raw, status_of

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"
SMUGGLING = "a%20HTTP/1.1%0d%0aHost:%20evil%0d%0a%0d%0aGET%20/smuggled"


def integration(uri: str, kind: str = "http_proxy", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "httpMethod": "ANY", "uri": BACKEND + uri, **extra}


REST_API: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "hostile-rest", "version": "1"},
    "paths": {
        # Item 1: a path variable mapped from a query-string parameter and from a header (the Python path).
        "/rewrite": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/items/{p}", requestParameters={"integration.request.path.p": "method.request.querystring.p"}
                )
            }
        },
        "/from-header": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/items/{p}", requestParameters={"integration.request.path.p": "method.request.header.x-p"}
                )
            }
        },
        "/greedy": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/static/{rest+}",
                    requestParameters={"integration.request.path.rest": "method.request.querystring.p"},
                )
            }
        },
        # Item 2: a greedy route copied into a prefix (the engine writes this head).
        "/files/{proxy+}": {
            "x-amazon-apigateway-any-method": {
                "parameters": [{"name": "proxy", "in": "path", "required": True}],
                "x-amazon-apigateway-integration": integration(
                    "/static/{proxy}",
                    requestParameters={"integration.request.path.proxy": "method.request.path.proxy"},
                ),
            }
        },
        # Item 6: a header mapped from the query string, written by the engine (plain proxy) ...
        "/header": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/header", requestParameters={"integration.request.header.x-user": "method.request.querystring.u"}
                )
            }
        },
        # ... and by Python (a non-proxy integration).
        "/header-http": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/header-http",
                    kind="http",
                    requestParameters={"integration.request.header.x-user": "method.request.querystring.u"},
                    responses={"default": {"statusCode": "200"}},
                )
            }
        },
        "/plain": {"get": {"x-amazon-apigateway-integration": integration("/plain")}},
    },
}

HTTP_API: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "hostile-http", "version": "1"},
    "x-amazon-apigateway-importexport-version": "1.0",
    "paths": {
        "/rewrite": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/any",
                    payloadFormatVersion="1.0",
                    requestParameters={"overwrite:path": "/items/${request.querystring.p}"},
                )
            }
        },
        "/bare": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/any", payloadFormatVersion="1.0", requestParameters={"overwrite:path": "$request.header.x-p"}
                )
            }
        },
        "/header": {
            "get": {
                "x-amazon-apigateway-integration": integration(
                    "/header",
                    payloadFormatVersion="1.0",
                    requestParameters={"overwrite:header.x-user": "$request.querystring.u"},
                )
            }
        },
        "/files/{proxy+}": {
            "get": {"x-amazon-apigateway-integration": integration("/static/{proxy}", payloadFormatVersion="1.0")}
        },
        "/plain": {"get": {"x-amazon-apigateway-integration": integration("/plain", payloadFormatVersion="1.0")}},
    },
}


@pytest.fixture(scope="module")
def backend() -> Iterator[RecordingBackend]:
    with recording_backend() as recording:
        yield recording


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, backend: RecordingBackend) -> Iterator[dict[str, Process]]:
    factory = GatewayFactory(tmp_path_factory.mktemp("hostile"))
    variables = {"backendPort": str(backend.port)}
    started = {
        "REST": factory.start(factory.write(REST_API, "rest.yaml"), stage_variables=variables),
        "HTTP": factory.start(factory.write(HTTP_API, "http.yaml"), stage_variables=variables),
    }
    yield started
    factory.stop_all()


def exchange(gateway: Process, backend: RecordingBackend, request: bytes) -> tuple[bytes, list[bytes]]:
    """Sends one raw request; returns the gateway's answer and the request heads the backend received for it."""
    before = len(backend.requests)
    answer = send_raw(gateway.port, request)
    backend.wait_for(before + 1, timeout=0.5)
    return answer, [received.head for received in backend.requests[before:]]


def get(path: str, *headers: str, host: str = "gw") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *headers, "", ""]
    return "\r\n".join(lines).encode()


# -- item 1: request smuggling through mapped path values ------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "path", "headers", "target"),
    [
        ("REST", f"/rewrite?p={SMUGGLING}", (), "/items/a%20HTTP%2F1.1%0D%0AHost:%20evil%0D%0A%0D%0AGET%20%2Fsmuggled"),
        ("REST", "/from-header", ("X-P: a b/../c?d#e",), "/items/a%20b%2F..%2Fc%3Fd%23e"),
        ("REST", f"/greedy?p={SMUGGLING}", (), "/static/a%20HTTP/1.1%0D%0AHost:%20evil%0D%0A%0D%0AGET%20/smuggled"),
        ("REST", "/greedy?p=../../admin/./x", (), "/static/admin/x"),
        ("REST", "/rewrite?p=..", (), "/items/%2E%2E"),
        ("HTTP", f"/rewrite?p={SMUGGLING}", (), "/items/a%20HTTP/1.1%0D%0AHost:%20evil%0D%0A%0D%0AGET%20/smuggled"),
        ("HTTP", "/rewrite?p=../../admin", (), "/items/admin"),
        ("HTTP", "/bare", ("X-P: x y",), "/x%20y"),
    ],
)
def test_mapped_path_values_are_encoded_into_one_request(
    gateways: dict[str, Process], backend: RecordingBackend, api: str, path: str, headers: tuple[str, ...], target: str
) -> None:
    """Issue 18, item 1 (critical): a decoded value mapped into the path is percent-encoded, so the backend reads
    exactly one request, whose target is the encoded value; a later client on the pooled connection gets its own
    answer, not the attacker's."""
    answer, heads = exchange(gateways[api], backend, get(path, *headers))
    assert status_of(answer) == 200, answer
    assert len(heads) == 1, heads
    method, upstream_target, version = heads[0].split(b"\r\n")[0].decode().split(" ")
    assert (method, upstream_target.partition("?")[0], version) == ("GET", target, "HTTP/1.1")
    assert not any(received.target.startswith("/smuggled") for received in backend.requests)
    follow_up, heads = exchange(gateways[api], backend, get("/plain"))
    assert follow_up.endswith(b"GET /plain HTTP/1.1"), follow_up
    assert [head.split(b"\r\n")[0] for head in heads] == [b"GET /plain HTTP/1.1"]


# -- item 2: path traversal ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize(
    "path",
    ["/files/..%2fadmin", "/files/../admin", "/files/%2e%2e/admin", "/files/a/../../admin", "/files/%2E%2E%2Fadmin"],
)
def test_dot_segments_never_reach_a_backend(
    gateways: dict[str, Process], backend: RecordingBackend, api: str, path: str
) -> None:
    """Issue 18, item 2 (high): dot segments are removed before routing (RFC 3986 §5.2.4, as nginx and Envoy do):
    these paths are ``/admin``, which no route serves, so nothing reaches the backend (before: ``/static/../admin``)."""
    answer, heads = exchange(gateways[api], backend, get(path))
    assert status_of(answer) == (403 if api == "REST" else 404), answer
    assert heads == []


@pytest.mark.parametrize("api", ["REST", "HTTP"])
def test_dot_segments_inside_a_route_are_resolved(
    gateways: dict[str, Process], backend: RecordingBackend, api: str
) -> None:
    answer, heads = exchange(gateways[api], backend, get("/files/a/./b/../c%2e/..x"))
    assert status_of(answer) == 200, answer
    assert heads[0].split(b"\r\n")[0] == b"GET /static/a/c./..x HTTP/1.1"


# -- item 6: control characters in mapped header values ----------------------------------------------------------------


@pytest.mark.parametrize("route", [("REST", "/header"), ("REST", "/header-http"), ("HTTP", "/header")])
@pytest.mark.parametrize("value", ["%00", "a%01b", "%1b[31m", "x%7f", "a%0d%0aX-Injected:%201"])
def test_control_characters_in_mapped_headers_refuse_the_request(
    gateways: dict[str, Process], backend: RecordingBackend, route: tuple[str, str], value: str
) -> None:
    """Issue 18, item 6: a decoded control character (other than HTAB) would be written into a backend header:
    the request is refused with 400 (``BAD_REQUEST_PARAMETERS``) and nothing reaches the backend."""
    api, path = route
    answer, heads = exchange(gateways[api], backend, get(f"{path}?u={value}"))
    assert status_of(answer) == 400, answer
    assert heads == []
    answer, heads = exchange(gateways[api], backend, get(f"{path}?u=a%09b%C3%A9"))
    assert status_of(answer) == 200, answer
    assert b"x-user: a\tb\xc3\xa9\r\n" in heads[0]


# -- item 7 and RFC 9112 §3.2: Host ----------------------------------------------------------------------------------


def test_host_cannot_add_elements_to_forwarded(gateways: dict[str, Process], backend: RecordingBackend) -> None:
    """Issue 18, item 7: ``Host: a,for=6.6.6.6`` is a valid host name (RFC 3986 allows sub-delimiters) and is quoted
    in ``Forwarded``; ``Host: a, for=6.6.6.6`` is not a host at all and is refused."""
    answer, heads = exchange(gateways["HTTP"], backend, get("/plain", host="a,for=6.6.6.6"))
    assert status_of(answer) == 200, answer
    forwarded = [line for line in heads[0].split(b"\r\n") if line.lower().startswith(b"forwarded:")]
    assert forwarded == [b'forwarded: for=127.0.0.1;host="a,for=6.6.6.6";proto=http']
    answer, heads = exchange(gateways["HTTP"], backend, get("/plain", host="a, for=6.6.6.6"))
    assert status_of(answer) == 400 and heads == []


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /plain HTTP/1.1\r\n\r\n",
        b"GET /plain HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /plain HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET /plain HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET /plain HTTP/1.1\r\nHost: a:http\r\n\r\n",
    ],
)
def test_missing_repeated_or_invalid_host_is_a_bad_request(
    gateways: dict[str, Process], backend: RecordingBackend, api: str, request_bytes: bytes
) -> None:
    """RFC 9112 §3.2: 400 for an HTTP/1.1 request without ``Host``, with two, or with one that is not
    ``host[:port]``; the body is fastgw's (``BAD_REQUEST``, with the request ids)."""
    answer, heads = exchange(gateways[api], backend, request_bytes)
    assert status_of(answer) == 400, answer
    assert heads == []
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body) == {"message": "Bad Request"}
    assert (b"x-amzn-requestid:" if api == "REST" else b"apigw-requestid:") in answer.lower()


def test_http_1_0_needs_no_host(gateways: dict[str, Process], backend: RecordingBackend) -> None:
    answer, heads = exchange(gateways["REST"], backend, b"GET /plain HTTP/1.0\r\n\r\n")
    assert status_of(answer) == 200, answer
    assert len(heads) == 1


# -- item 13: non-UTF-8 paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize("path", ["/files/%FF%FE", "/files/%FE%FF", "/files/caf%E9", "/files/%EF%BF%BD"])
def test_paths_that_are_not_utf8_are_refused(
    gateways: dict[str, Process], backend: RecordingBackend, api: str, path: str
) -> None:
    """Issue 18, item 13: Granian decodes ``%FF%FE`` and ``%FE%FF`` alike to U+FFFD, so they would reach the same
    backend path and cache key: such a path is refused with 400 (and so is U+FFFD itself, which cannot be told
    apart from them)."""
    answer, heads = exchange(gateways[api], backend, get(path))
    assert status_of(answer) == 400, answer
    assert heads == []


def test_utf8_paths_still_pass_encoded(gateways: dict[str, Process], backend: RecordingBackend) -> None:
    answer, heads = exchange(gateways["REST"], backend, get("/files/caf%C3%A9"))
    assert status_of(answer) == 200, answer
    assert heads[0].split(b"\r\n")[0] == b"GET /static/caf%C3%A9 HTTP/1.1"


# -- RFC 9110 §7.6.1: Connection options ----------------------------------------------------------------------------


@pytest.mark.parametrize(("api", "path"), [("REST", "/plain"), ("HTTP", "/plain"), ("HTTP", "/header?u=x")])
def test_headers_named_in_connection_stop_at_the_gateway(
    gateways: dict[str, Process], backend: RecordingBackend, api: str, path: str
) -> None:
    answer, heads = exchange(
        gateways[api], backend, get(path, "X-Secret: 1", "Connection: keep-alive, X-Secret", "X-Kept: 2")
    )
    assert status_of(answer) == 200, answer
    lowered = heads[0].lower()
    assert b"x-secret" not in lowered and b"x-kept: 2\r\n" in lowered
