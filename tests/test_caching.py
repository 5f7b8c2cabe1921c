"""WorkerCache's background refresh of stale entries (stale-while-revalidate): single flight, and a failed
refresh logged without the error's text."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from fastgw._core import Engine, Forward, RequestIds
from fastgw.caching import WorkerCache
from fastgw.errors import IntegrationTimeoutError
from fastgw.integrations.base import Response


def cached_engine() -> tuple[Engine, Forward]:
    """A REST engine caching GET /items, and the Forward of a miss (with its cache key)."""
    engine = Engine(
        "REST", [("GET", "/items")], cache=(1 << 20, 1 << 20, [(60.0, "items", [], False, "allowed")], None, 0)
    )
    decision = engine.admit("GET", "/items")
    assert isinstance(decision, Forward) and decision.cache_key is not None
    return engine, decision


def test_one_refresh_per_key_at_a_time_and_it_stores_the_response() -> None:
    engine, decision = cached_engine()
    calls = 0

    async def answer() -> Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return Response(200, [("content-type", "text/plain")], b"new")

    async def scenario() -> None:
        cache = WorkerCache()
        assert decision.cache_key is not None
        for _ in range(5):
            cache.refresh(engine, decision.route_id, decision.cache_key, answer, "GET /items")
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert calls == 1
    assert engine.cache_entries == 1


@pytest.mark.parametrize(
    ("outcome", "logged"),
    [
        (IntegrationTimeoutError("timed out calling http://secret@backend/?token=x"), "IntegrationTimeoutError"),
        (Response(503, [], b"down"), "the backend answered 503"),
    ],
)
def test_a_failed_refresh_is_logged_without_secrets_and_frees_the_key(
    caplog: pytest.LogCaptureFixture, outcome: Any, logged: str
) -> None:
    engine, decision = cached_engine()
    calls = 0

    async def answer() -> Response:
        nonlocal calls
        calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    async def scenario() -> None:
        cache = WorkerCache()
        assert decision.cache_key is not None
        cache.refresh(engine, decision.route_id, decision.cache_key, answer, "GET /items")
        await asyncio.sleep(0.01)
        cache.refresh(engine, decision.route_id, decision.cache_key, answer, "GET /items")  # tried again
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.WARNING, logger="fastgw.cache"):
        asyncio.run(scenario())
    assert calls == 2
    assert engine.cache_entries == 0
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2 and all(f"GET /items not refreshed: {logged}" in m for m in messages)
    assert not any("secret" in m or "token" in m for m in messages)


class FakeHeaders:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)


class FakeScope:
    """What the fast path reads from Granian's RSGI scope (Granian's objects are outside the project)."""

    def __init__(
        self, method: str, path: str, headers: list[tuple[str, str]], query: str = "", http_version: str = "1.0"
    ) -> None:
        """``http_version``: read only when there is no ``Host`` (HTTP/1.1 needs one; 1.0 does not)."""
        self.method, self.path, self.query_string = method, path, query
        self.headers = FakeHeaders(headers)
        self.http_version = http_version


class FakeHTTPProtocol:
    def __init__(self) -> None:
        self.sent: list[tuple[int, list[tuple[str, str]], bytes]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent.append((status, headers, body))


class FakeWebSocketProtocol:
    """Granian's WebSocket protocol has no ``response_bytes``."""

    def close(self, status: int) -> None:  # pragma: no cover - never called by the fast path
        raise AssertionError("the fast path closed a WebSocket")


def test_the_fast_path_answers_a_hit_with_the_stored_objects_and_new_request_ids() -> None:
    engine, decision = cached_engine()
    assert decision.cache_key is not None
    stored_headers = [("content-type", "application/json"), ("x-amzn-Remapped-Server", "nginx")]
    body = b'{"id": 1}'
    assert engine.cache_store(decision.route_id, decision.cache_key, 200, stored_headers, body)
    stored_headers.append(("added-later", "x"))  # the caller's list is not kept: the entry is unchanged
    ids = RequestIds(b"0123456789abcdef")
    protocol = FakeHTTPProtocol()
    for _ in range(2):
        assert engine.answer_from_cache(FakeScope("GET", "/items", [("host", "h")]), protocol, ids)
    (status, first, sent_body), (_, second, _) = protocol.sent
    assert status == 200 and sent_body is body  # the stored bytes object itself: no copy
    assert first[:2] == [("content-type", "application/json"), ("x-amzn-Remapped-Server", "nginx")]
    assert [name for name, _ in first[2:]] == ["x-amzn-RequestId", "x-amz-apigw-id"]
    assert first[2][1] != second[2][1] and first[3][1] != second[3][1]  # ids are per request


@pytest.mark.parametrize(
    "scope",
    [
        FakeScope("POST", "/items", []),  # GET only
        FakeScope("GET", "/other", []),  # no route
        FakeScope("GET", "/items", [("cache-control", "max-age=0")]),  # a refresh takes the full path
        FakeScope("GET", "/items", [("x-big", "x" * 100)]),  # over the header limit: 431 from the full path
        FakeScope("GET", "/items", [], http_version="1.1"),  # no Host on HTTP/1.1: 400 from the full path
        FakeScope("GET", "/items", [("host", "a"), ("host", "b")]),  # two Hosts: 400 (issue 18)
        FakeScope("GET", "/items", [("content-length", "3")]),  # a body to drain: the full path reads it
    ],
)
def test_the_fast_path_leaves_everything_but_a_plain_hit_to_the_full_path(scope: FakeScope) -> None:
    engine = Engine(
        "REST",
        [("GET", "/items"), ("POST", "/items")],
        max_header_bytes=64,
        cache=(1 << 20, 1 << 20, [(60.0, "items", [], False, "allowed"), None], None, 0),
    )
    decision = engine.admit("GET", "/items")
    assert isinstance(decision, Forward) and decision.cache_key is not None
    engine.cache_store(decision.route_id, decision.cache_key, 200, [], b"cached")
    protocol = FakeHTTPProtocol()
    assert not engine.answer_from_cache(scope, protocol, RequestIds(b"0123456789abcdef"))
    assert protocol.sent == []


def test_a_websocket_scope_takes_the_full_path() -> None:
    engine, decision = cached_engine()
    assert decision.cache_key is not None
    engine.cache_store(decision.route_id, decision.cache_key, 200, [], b"cached")
    scope = FakeScope("GET", "/items", [])
    assert not engine.answer_from_cache(scope, FakeWebSocketProtocol(), RequestIds(b"0123456789abcdef"))
