"""A real backend for end-to-end tests, run as its own process: ``python tests/backend_app.py PORT``.

Endpoints (any method):
- ``/status/{code}``: answers that status with a JSON echo;
- ``/delay/{ms}``: waits, then echoes;
- ``/bytes/{n}``: streams ``n`` bytes of a repeating pattern (chunked, no Content-Length);
- ``/sized/{n}``: ``n`` bytes with a Content-Length;
- ``/headers``: answers with the response headers given as query parameters (``?Server=x&Date=y``);
- ``/close``: answers with ``Connection: close``;
- ``/drop``: closes the connection without answering (counted, see ``/_stats``);
- ``/nobody``: answers 200 with an empty body and no ``Content-Type``;
- ``/truncate/{n}``: promises ``n`` bytes with a Content-Length, sends half of them, then closes the connection;
- ``/cookies``: echoes with two ``Set-Cookie`` headers (``a=1; Path=/`` and ``b=2; HttpOnly``);
- ``/close-after/{ms}``: echoes on a keep-alive connection, then closes it ``ms`` later without a word
  (an idle keep-alive connection the backend drops, as servers do on their idle timeout);
- ``/_stats``: ``{"hits": echoes answered, "drops": /drop requests, "reading": echoes still reading a body}``;
- anything else: echoes the request as JSON: method, raw path, query, headers (as sent, in order),
  body length and SHA-256 (read streamed, so large uploads are never held whole), and a connection id,
  so that tests can see keep-alive reuse.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

_connection_ids = itertools.count(1)
PATTERN = bytes(range(256)) * 256  # 64 KiB


def connection_id(request: web.Request) -> int:
    transport = request.transport
    if transport is None:
        return 0
    key = id(transport)
    known = request.app["connections"]
    # The transport is kept alongside its number so that its id() is never reused by a later connection.
    if key not in known or known[key][0] is not transport:
        known[key] = (transport, next(_connection_ids))
    return int(known[key][1])


async def echo(request: web.Request, status: int = 200) -> web.Response:
    digest = hashlib.sha256()
    length = 0
    request.app["reading"] += 1
    try:
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            length += len(chunk)
    finally:
        request.app["reading"] -= 1
    request.app["hits"] += 1
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path.split("?")[0],
            "query": request.raw_path.partition("?")[2],
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
            "body_length": length,
            "body_sha256": digest.hexdigest(),
            "connection": connection_id(request),
            "hits": request.app["hits"],
        },
        status=status,
    )


async def nobody(request: web.Request, args: list[str]) -> web.StreamResponse:
    return web.Response(status=200)


async def truncate(request: web.Request, args: list[str]) -> web.StreamResponse:
    total = int(args[0]) if args else 1000
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = total
    await response.prepare(request)
    sent = 0
    while sent < total // 2:
        piece = PATTERN[: min(len(PATTERN), total // 2 - sent)]
        await response.write(piece)
        sent += len(piece)
    assert request.transport is not None
    request.transport.close()
    return response


async def cookies(request: web.Request, args: list[str]) -> web.StreamResponse:
    response = await echo(request)
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; HttpOnly")
    return response


async def close_after(request: web.Request, args: list[str]) -> web.StreamResponse:
    response = await echo(request)
    transport = request.transport
    assert transport is not None
    asyncio.get_running_loop().call_later(int(args[0]) / 1000 if args else 0.05, transport.close)
    return response


async def stats(request: web.Request, args: list[str]) -> web.StreamResponse:
    return web.json_response({name: request.app[name] for name in ("hits", "drops", "reading")})


EXTRA_ENDPOINTS: dict[str, Callable[[web.Request, list[str]], Awaitable[web.StreamResponse]]] = {
    "nobody": nobody,
    "truncate": truncate,
    "cookies": cookies,
    "close-after": close_after,
    "_stats": stats,
}


async def handle(request: web.Request) -> web.StreamResponse:
    parts = request.path.strip("/").split("/")
    head = parts[0]
    if head == "status" and len(parts) > 1:
        return await echo(request, int(parts[1]))
    if head == "delay" and len(parts) > 1:
        await asyncio.sleep(int(parts[1]) / 1000)
        return await echo(request)
    if head == "bytes" and len(parts) > 1:
        total = int(parts[1])
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        while sent < total:
            piece = PATTERN[: min(len(PATTERN), total - sent)]
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
        return response
    if head == "sized" and len(parts) > 1:
        request.app["hits"] += 1
        total = int(parts[1])
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = total
        await response.prepare(request)
        sent = 0
        while sent < total:
            piece = PATTERN[: min(len(PATTERN), total - sent)]
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
        return response
    if head == "headers":
        response = await echo(request)
        for name, value in request.query.items():
            response.headers[name] = value
        return response
    if head == "close":
        response = await echo(request)
        response.force_close()
        return response
    if head == "drop":
        request.app["drops"] += 1
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError
    extra = EXTRA_ENDPOINTS.get(head)
    if extra is not None:
        return await extra(request, parts[1:])
    return await echo(request)


def make_app() -> web.Application:
    app = web.Application(client_max_size=0)
    app["connections"] = {}
    app["hits"] = 0
    app["drops"] = 0
    app["reading"] = 0
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
