"""What every integration sees and returns: the :class:`Request` in flight and a :class:`Response`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from fastgw.errors import ClientDisconnectedError, RequestTooLargeError

if TYPE_CHECKING:
    from fastgw.integrations.upstream import BodyStream
    from fastgw.routing import CompiledRoute, StageRuntime


class Request:
    """One client request as the pipeline knows it. Cheap to build: derived values are computed on use."""

    __slots__ = (
        "_header_list",
        "_query",
        "body",
        "body_length",
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
        self.body_length: int | None = None
        """The request body's framing: ``None`` (no body), ``-1`` (chunked) or its Content-Length."""
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

    async def read_body(self) -> bytes:
        """The whole request body, read once (RSGI allows one read) and kept in ``body``; a chunked body is
        read within the stage's body limit. Whoever reads the body after the first reader takes ``body``
        (``protocol`` has nothing left to give)."""
        body = self.body
        if body is not None:
            return body
        length = self.body_length
        if not length:
            body = b""
        elif length > 0:
            body = await self.protocol()
            if len(body) < length:
                raise ClientDisconnectedError()
            body = body[:length]
        else:
            limit = self.stage.limits.max_body_bytes
            parts = []
            size = 0
            async for chunk in self.protocol:
                size += len(chunk)
                if size > limit:
                    raise RequestTooLargeError()
                parts.append(chunk)
            body = b"".join(parts)
        self.body = body
        return body

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
