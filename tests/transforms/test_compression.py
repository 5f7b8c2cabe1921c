"""Response compression (``x-amazon-apigateway-minimum-compression-size``): negotiation and the exceptions."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest

from fastgw.config.model import ApiDefinition
from fastgw.integrations.base import Request, Response
from fastgw.transforms.compression import ResponseCompression, build_compression, compress, negotiate

BODY = b'{"message": "hello"}' * 100


def request(method: str = "GET", accept_encoding: str | None = "gzip, deflate") -> Request:
    headers = [] if accept_encoding is None else [("accept-encoding", accept_encoding)]
    stage: Any = None
    return Request(None, None, method, "/", "", headers, stage, "id", "ext", 0.0, "")


def response(status: int = 200, body: bytes = BODY, *headers: tuple[str, str]) -> Response:
    return Response(status, [("content-type", "application/json"), ("content-length", str(len(body))), *headers], body)


def definition(size: int | None, api_type: Any = "REST") -> ApiDefinition:
    return ApiDefinition(
        source="api.yaml", title="t", version="1", api_type=api_type, routes=(), minimum_compression_size=size
    )


def test_build() -> None:
    assert build_compression(definition(None)) is None
    assert build_compression(definition(10, "HTTP")) is None
    built = build_compression(definition(10))
    assert isinstance(built, ResponseCompression)
    assert built.minimum_size == 10


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("deflate, gzip", "gzip"),
        ("GZIP;Q=0.5, deflate;q=0.4", "gzip"),
        ("gzip;q=0.4, deflate;q=0.5", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("*", "gzip"),
        ("x-gzip", "gzip"),
        ("identity", None),
        ("identity, gzip;q=0.5", None),
        ("br, gzip;q=0.8", None),  # AWS: the highest-priority coding must be a supported one
        ("br, gzip", "gzip"),
        ("gzip;q=0", None),
        ("gzip;q=abc", None),
        ("", None),
        (" , ", None),
    ],
)
def test_negotiate(accept: str, coding: str | None) -> None:
    assert negotiate(accept) == coding


def test_compress_round_trips() -> None:
    assert gzip.decompress(compress(BODY, "gzip")) == BODY
    assert zlib.decompress(compress(BODY, "deflate")) == BODY


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compresses(coding: str) -> None:
    answer = ResponseCompression(100).apply(request(accept_encoding=coding), response())
    assert answer.headers == [
        ("content-type", "application/json"),
        ("vary", "Accept-Encoding"),
        ("content-encoding", coding),
    ]
    decompress = gzip.decompress if coding == "gzip" else zlib.decompress
    assert decompress(answer.body) == BODY
    assert len(answer.body) < len(BODY)


def test_at_exactly_the_minimum_size() -> None:
    answer = ResponseCompression(len(BODY)).apply(request(), response())
    assert ("content-encoding", "gzip") in answer.headers


def test_below_the_minimum_size() -> None:
    original = response()
    answer = ResponseCompression(len(BODY) + 1).apply(request(), original)
    assert answer.body == BODY
    assert answer.headers == original.headers
    assert not any(name == "vary" for name, _ in answer.headers)


def test_zero_compresses_any_non_empty_body() -> None:
    answer = ResponseCompression(0).apply(request(), response(body=b"x"))
    assert gzip.decompress(answer.body) == b"x"
    empty = ResponseCompression(0).apply(request(), response(body=b""))
    assert empty.body == b""
    assert ("content-length", "0") in empty.headers


@pytest.mark.parametrize("accept", [None, "identity", "br"])
def test_not_accepted_is_sent_as_is_with_vary(accept: str | None) -> None:
    answer = ResponseCompression(0).apply(request(accept_encoding=accept), response())
    assert answer.body == BODY
    assert answer.headers == [
        ("content-type", "application/json"),
        ("content-length", str(len(BODY))),
        ("vary", "Accept-Encoding"),
    ]


def test_existing_vary_is_extended() -> None:
    answer = ResponseCompression(0).apply(request(), response(200, BODY, ("Vary", "Origin")))
    assert ("Vary", "Origin, Accept-Encoding") in answer.headers


@pytest.mark.parametrize(
    ("method", "original"),
    [
        ("GET", response(200, BODY, ("Content-Encoding", "br"))),
        ("GET", response(204)),
        ("GET", response(304)),
        ("GET", response(101)),
        ("HEAD", response(200)),
    ],
    ids=["encoded", "204", "304", "1xx", "HEAD"],
)
def test_left_alone(method: str, original: Response) -> None:
    headers = list(original.headers)
    answer = ResponseCompression(0).apply(request(method), original)
    assert (answer.body, answer.headers) == (BODY, headers)


def test_streamed_response_is_left_alone() -> None:
    stream: Any = object()
    original = Response(200, [("content-length", "5000000")], BODY, stream)
    answer = ResponseCompression(0).apply(request(), original)
    assert (answer.body, answer.headers, answer.stream) == (BODY, [("content-length", "5000000")], stream)
