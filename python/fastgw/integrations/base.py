"""What every integration sees and returns: the :class:`Request` in flight and a :class:`Response`.

Reading the request body (Granian 2.8's RSGI body, hyper underneath) is done here and nowhere else:
:meth:`Request.body_chunks` as it arrives, :meth:`Request.read_body` whole. A body that ends badly (the client
went away, or its chunked framing is broken) raises :class:`ClientDisconnectedError`, answered 400 if anyone is
left to read it; it is never taken for a whole body. Granian reports neither as an error when the body is
iterated: it turns hyper's error into an empty chunk, so the end of a body is an empty chunk followed by nothing,
and an empty chunk followed by another one is a body that ended badly. A chunked body with trailers looks the
same (Granian cannot turn the trailers into data either), so a request body with trailers is refused too. On
HTTP/2 empty DATA frames are legal anywhere, so there only the length is checked (an HTTP/2 body reaches a
backend only with a Content-Length).

A body nobody read by the time the answer goes out (a mock, a rejection, a cache hit) is read and dropped first,
if it is small (:data:`DISCARD_BODY_LIMIT`) and arrives soon (:data:`DISCARD_BODY_SECONDS`), as nginx discards a
body it does not need: hyper closes an HTTP/1 connection whose request body was not read, saying so
(``Connection: close``) only when it sees that before it writes the answer's head, a race it sometimes loses, and
then the client's next request on the connection fails. Otherwise the answer says ``Connection: close`` itself
(:meth:`Request.discard_unread_body`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from granian._granian import RSGIProtocolClosed  # granian.rsgi re-exports it, but not for mypy

from fastgw.errors import ClientDisconnectedError, RequestTooLargeError, UnsupportedTransferCodingError

if TYPE_CHECKING:
    from fastgw.integrations.upstream import BodyStream
    from fastgw.routing import CompiledRoute, StageRuntime

#: An answer given before the request body was read reads and drops up to this much of it first...
DISCARD_BODY_LIMIT: Final = 64 * 1024
#: ... if it all arrives within this many seconds; else the answer says ``Connection: close``.
DISCARD_BODY_SECONDS: Final = 1.0

#: ``Request.body_state``: nothing of the body read yet; reading begun (or given up half way); read to its end.
BODY_UNREAD: Final = 0
BODY_STARTED: Final = 1
BODY_READ: Final = 2
_UNKNOWN: Final = -2  # the framing of a body the engine's decision did not give (a rejection, a cache hit)

BODY_ENDED_BADLY: Final = "the request body ended badly: the client went away, or its chunked framing is broken"


def declared_body_length(headers: Iterable[tuple[str, str]]) -> int | None:
    """The request body's framing as its headers declare it, read as the engine reads it (``Forward.body_length``):
    ``None`` (no body), ``-1`` (chunked) or its Content-Length (which wins over Transfer-Encoding there too)."""
    content_length = None
    chunked = False
    for name, value in headers:
        if name == "content-length":
            value = value.strip()
            content_length = int(value) if value.isdigit() else None
        elif name == "transfer-encoding":
            chunked = True
    if content_length is not None:
        return content_length
    return -1 if chunked else None


#: The transfer codings a forwarded body may declare: hyper decodes ``chunked``, and ``identity`` changes nothing.
FORWARDABLE_CODINGS: Final = frozenset(("chunked", "identity"))


def check_transfer_codings(headers: Iterable[tuple[str, str]]) -> None:
    """Refuses a chunked body that declares another transfer coding (``Transfer-Encoding: gzip, chunked``): hyper
    decodes only ``chunked``, so the body would reach the backend still gzip-coded, framed as if it were not. RFC
    9112 §6.1: a server answers a transfer coding it does not understand with 501. Called for chunked bodies only
    (a Content-Length body has no transfer coding: hyper refuses one whose last coding is not ``chunked``)."""
    for name, value in headers:
        if name == "transfer-encoding":
            for coding in value.split(","):
                if coding.strip().lower() not in FORWARDABLE_CODINGS:
                    raise UnsupportedTransferCodingError(f"transfer coding {coding.strip()!r} cannot be forwarded")


class Request:
    """One client request as the pipeline knows it. Cheap to build: derived values are computed on use."""

    __slots__ = (
        "_body_length",
        "_header_list",
        "_query",
        "body",
        "body_state",
        "client",
        "extended_request_id",
        "method",
        "params",
        "path",
        "protocol",
        "query_string",
        "metric_field",
        "integration_seconds",
        "key_slot",
        "request_id",
        "response",
        "response_type",
        "route",
        "route_id",
        "scope",
        "stage",
        "start_time",
        "trace",
        "upstream_head",
    )

    def __init__(
        self,
        scope: Any,
        protocol: Any,
        method: str,
        path: str,
        query_string: str,
        headers: list[tuple[str, str]],
        stage: StageRuntime,
        request_id: str,
        extended_request_id: str,
        start_time: float,
        client: str,
    ) -> None:
        self.scope = scope
        self.client = client
        """The peer as ``ip:port``, read once (Granian formats ``scope.client`` on every read)."""
        self.protocol = protocol
        self.method = method
        self.path = path
        """The raw (percent-encoded) path below the stage/base path, as routed."""
        self.query_string = query_string
        self._header_list = headers
        self.stage = stage
        self.request_id = request_id
        self.extended_request_id = extended_request_id
        self.start_time = start_time
        self.params: Mapping[str, str] = {}
        self.route: CompiledRoute | None = None
        self.upstream_head: bytes | None = None
        """The upstream request head, when the engine wrote it (plain HTTP proxy routes)."""
        self._body_length: int | None = _UNKNOWN
        self.body_state = BODY_UNREAD
        """How much of the body has been taken from ``protocol``: ``BODY_UNREAD``, ``BODY_STARTED``, ``BODY_READ``."""
        self.body: bytes | None = None
        """The whole request body once a stage has read it (:meth:`read_body`): later stages use this, since
        ``protocol`` can be read only once. ``None`` while unread."""
        self._query: dict[str, list[str]] | None = None
        self.route_id: int | None = None
        self.key_slot: int | None = None
        """The API key's slot in the node, when the route required a key."""
        self.trace: tuple[str, str] | None = None
        """``(traceparent, X-Amzn-Trace-Id)`` for the backend."""
        self.response_type: str | None = None
        """The gateway response type the request was answered with, if any (for metrics and logs)."""
        self.integration_seconds: float | None = None
        self.response: Response | None = None
        """The answer, once sent (for metrics and access logs)."""
        self.metric_field: int | None = None
        """A metrics field besides the status class: cache hit or miss, upstream unreachable."""

    @property
    def body_length(self) -> int | None:
        """The request body's framing: ``None`` (no body), ``-1`` (chunked) or its Content-Length (set from the
        engine's decision; read from the headers when nobody set it)."""
        length = self._body_length
        if length == _UNKNOWN:
            length = self._body_length = declared_body_length(self._header_list)
        return length

    @body_length.setter
    def body_length(self, length: int | None) -> None:
        self._body_length = length

    async def read_body(self) -> bytes:
        """The whole request body, read once (RSGI allows one read) and kept in ``body``; a chunked body is
        read within the stage's body limit. Whoever reads the body after the first reader takes ``body``
        (``protocol`` has nothing left to give). Raises :class:`ClientDisconnectedError` for a body that
        ended badly."""
        body = self.body
        if body is not None:
            return body
        length = self.body_length
        if not length:
            body = b""
        elif length > 0:
            self.body_state = BODY_STARTED
            try:
                body = await self.protocol()
            except RSGIProtocolClosed:  # Granian's whole-body read raises this for a body that ended badly
                raise ClientDisconnectedError(BODY_ENDED_BADLY) from None
            if len(body) < length:
                raise ClientDisconnectedError(BODY_ENDED_BADLY)
            body = body[:length]
        else:
            limit = self.stage.limits.max_body_bytes
            parts = []
            size = 0
            async for chunk in self.body_chunks():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLargeError()
                parts.append(chunk)
            body = b"".join(parts)
        self.body = body
        self.body_state = BODY_READ
        return body

    async def body_chunks(self) -> AsyncIterator[bytes]:
        """The request body's data as it arrives (never an empty chunk), read once; the iterator can be left and
        resumed. Raises :class:`ClientDisconnectedError` when the body ends badly (see the module's docstring)."""
        self.body_state = BODY_STARTED
        received = 0
        ended = False
        try:
            async for chunk in self.protocol:
                if chunk:
                    received += len(chunk)
                    yield chunk
                elif not ended:
                    ended = True  # the end of the body, if nothing follows
                elif self.scope.http_version != "2":
                    raise ClientDisconnectedError(BODY_ENDED_BADLY)  # hyper's error (or trailers), as Granian says it
        except RSGIProtocolClosed:
            raise ClientDisconnectedError(BODY_ENDED_BADLY) from None
        length = self.body_length
        if length is not None and received < length:
            raise ClientDisconnectedError(BODY_ENDED_BADLY)  # a Content-Length body cut short
        self.body_state = BODY_READ

    async def discard_unread_body(self) -> bool:
        """Reads and drops a body nobody read (issue 18, item 4), so that an HTTP/1 connection can carry the
        client's next request: up to :data:`DISCARD_BODY_LIMIT` bytes, for at most :data:`DISCARD_BODY_SECONDS`.
        False when the body is not read to its end (too large, too slow, broken, taken half way, or a client that
        waits for ``100 Continue``: it is not asked for a body that would be dropped): the answer must then say
        ``Connection: close``, which hyper honours. HTTP/2 streams end on their own: nothing to do there."""
        state = self.body_state
        length = self.body_length
        if state == BODY_READ or not length or self.scope.http_version == "2":
            return True
        if state == BODY_STARTED or length > DISCARD_BODY_LIMIT or self.header("expect") is not None:
            return False
        received = 0
        try:
            async with asyncio.timeout(DISCARD_BODY_SECONDS):
                async for chunk in self.body_chunks():
                    received += len(chunk)
                    if received > DISCARD_BODY_LIMIT:
                        return False
        except (TimeoutError, ClientDisconnectedError):
            return False
        return True

    @property
    def client_ip(self) -> str:
        client = self.client
        return client.rpartition(":")[0].strip("[]") or client

    @property
    def header_list(self) -> list[tuple[str, str]]:
        """All request headers as ``(lowercase name, value)`` pairs, repeated names kept."""
        return self._header_list

    def header(self, name: str) -> str | None:
        """One header's value (``name`` lowercase); repeated headers are joined with ``,`` as AWS does."""
        values = [v for n, v in self.header_list if n == name]
        if not values:
            return None
        return values[0] if len(values) == 1 else ",".join(values)

    @property
    def query(self) -> dict[str, list[str]]:
        """Decoded query parameters, every value of each name in order."""
        query = self._query
        if query is None:
            from urllib.parse import parse_qsl

            query = {}
            for name, value in parse_qsl(self.query_string, keep_blank_values=True):
                query.setdefault(name, []).append(value)
            self._query = query
        return query

    @property
    def host(self) -> str:
        return self.scope.headers.get("host") or self.scope.authority or ""


class Response:
    """An answer to send: a whole body, or a first part plus a stream for the rest."""

    __slots__ = ("body", "headers", "status", "stream")

    def __init__(
        self, status: int, headers: list[tuple[str, str]], body: bytes, stream: BodyStream | None = None
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream


class IntegrationHandler(Protocol):
    """A route's backend, compiled for one stage."""

    async def invoke(self, request: Request) -> Response:
        """Runs the integration; raises a :class:`fastgw.errors.GatewayError` for gateway responses."""
        ...

    def describe(self) -> str:
        """One line for route tables and logs: ``HTTP_PROXY GET http://backend/pets/{id}``."""
        ...
