"""pytest-benchmark: the Python-visible calls across the Rust boundary, beside a no-op baseline.

Run: ``taskset -c 1 .venv/bin/python -m pytest benches/test_boundary.py --benchmark-only`` (not part of CI).
The baseline is ``len`` on a one-element list: the cost of any C call from Python, so the difference is what
the call itself does.
"""

from __future__ import annotations

from typing import Any

import pytest

from fastgw._core import Engine, ResponseParser, UpstreamTarget

HEADERS = [
    ("host", "api.example.com"),
    ("user-agent", "wrk/4.2"),
    ("accept", "*/*"),
    ("x-request-source", "bench"),
]
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 21:26:59 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 21\r\nConnection: keep-alive\r\n\r\n"
    b'{"id":1,"name":"rex"}'
)


def thousand_routes() -> list[tuple[str, str]]:
    routes = [("GET", f"/svc{i}/items/{{id}}") for i in range(999)]
    routes.append(("GET", "/pets/{id}"))
    return routes


PROXY = ("127.0.0.1:9000", "REST_PROXY", "abcdefghij", "/pets/{id}", "GET", "", False, [])


@pytest.fixture(scope="module")
def engine() -> Engine:
    routes = thousand_routes()
    return Engine("REST", routes, max_header_bytes=10_240, proxies=[None] * 999 + [PROXY])


def test_baseline_c_call(benchmark: Any) -> None:
    one = [1]
    benchmark(len, one)


def test_admit_route_only(benchmark: Any, engine: Engine) -> None:
    benchmark(engine.admit, "GET", "/svc500/items/42")


def test_admit_with_headers(benchmark: Any, engine: Engine) -> None:
    benchmark(engine.admit, "GET", "/svc500/items/42", HEADERS, "", "127.0.0.1:5000", "http", "8080")


def test_admit_writing_the_proxy_head(benchmark: Any, engine: Engine) -> None:
    decision = benchmark(engine.admit, "GET", "/pets/42", HEADERS, "a=1", "127.0.0.1:5000", "http", "8080")
    assert decision.head is not None


def test_request_head_separately(benchmark: Any) -> None:
    target = UpstreamTarget("127.0.0.1:9000", rules="REST_PROXY", api_id="abcdefghij")
    benchmark(target.request_head, "GET", "/pets/42?a=1", HEADERS, None, "127.0.0.1", "api", "http", "8080", None)


def test_parse_a_small_response(benchmark: Any) -> None:
    parser = ResponseParser("REST_PROXY")

    def parse() -> Any:
        parser.start(False)
        return parser.feed(RESPONSE)

    result = benchmark(parse)
    assert result is not None and result[5] is True
