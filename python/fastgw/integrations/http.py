"""HTTP integrations: ``HTTP_PROXY`` (REST and HTTP API) and ``HTTP`` (REST non-proxy).

Per request: build the backend path from the URI template, build the request head in Rust with AWS's
header rules, send it on a pooled keep-alive connection with the body (buffered when small, streamed when
large), and answer with the backend's response (streamed when large). The integration timeout covers
connecting and reading the response head (and a whole buffered body); a streamed body times out when no
data arrives for that long.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlencode, urlsplit

from fastgw._core import UpstreamProtocolError, UpstreamTarget, encode_chunk
from fastgw.config.model import DEFAULT_ROUTE, Integration
from fastgw.errors import (
    ClientDisconnectedError,
    GatewayError,
    IntegrationFailureError,
    IntegrationTimeoutError,
    RequestTooLargeError,
)
from fastgw.integrations.base import Request, Response
from fastgw.integrations.selection import compile_integration_responses, select_response
from fastgw.integrations.upstream import Connection, HeaderRules, UpstreamPool, UpstreamPools, UpstreamResponse
from fastgw.transforms.parameters import ParameterMapping, apply_request_parameters, compile_request_parameters

#: ``(host, header rules, api id, path template, fixed method, backend query, append request path)``.
ProxyTargetSpec = tuple[str, str, str, str, str | None, str, bool]
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
#: Request bodies up to this size are read whole and sent with the head; larger ones are streamed.
BODY_BUFFER_LIMIT: Final = 256 * 1024
_VARIABLE = re.compile(r"\{([^{}]+)\}")


class ApiConfigurationError(GatewayError):
    """The route's integration cannot run as configured (AWS: ``Execution failed due to configuration error``)."""

    response_type = "API_CONFIGURATION_ERROR"


class UriTemplate:
    """An integration URI path such as ``/pets/{id}``, split once into literal text and variable names."""

    __slots__ = ("names", "parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        pieces = _VARIABLE.split(text)
        self.parts = pieces
        """Literal text at even indexes, variable names (``proxy`` for ``{proxy+}``) at odd ones."""
        self.names = tuple(name.removesuffix("+") for name in pieces[1::2])

    def render(self, values: Mapping[str, str]) -> str | None:
        """The path with every variable filled, or ``None`` if one has no value."""
        if not self.names:
            return self.text
        parts = self.parts.copy()
        for index in range(1, len(parts), 2):
            value = values.get(parts[index].removesuffix("+"))
            if value is None:
                return None
            parts[index] = value
        return "".join(parts)


class Backend:
    """The parts of an integration URI after stage variables are resolved."""

    __slots__ = ("host_header", "hostname", "path", "port", "query", "scheme")

    def __init__(self, uri: str) -> None:
        split = urlsplit(uri)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"integration uri {uri!r} is not an absolute http(s) URL")
        self.scheme = split.scheme
        self.hostname = split.hostname
        default_port = 443 if split.scheme == "https" else 80
        self.port = split.port or default_port
        self.host_header = split.netloc.rpartition("@")[2] if split.port not in (None, default_port) else split.hostname
        self.path = UriTemplate(split.path or "/")
        self.query = split.query


def _join_query(*parts: str) -> str:
    return "&".join(part for part in parts if part)


class HttpIntegration:
    """``HTTP_PROXY`` or REST ``HTTP`` to one backend URI, compiled for one stage."""

    def __init__(
        self,
        integration: Integration,
        backend: Backend,
        *,
        api_type: str,
        api_id: str,
        route_path: str,
        stage_variables: Mapping[str, str],
        pools: UpstreamPools | None = None,
    ) -> None:
        self.integration = integration
        self.backend = backend
        self.proxy = integration.type == "HTTP_PROXY"
        self.rules: HeaderRules = "HTTP_API_PROXY" if api_type == "HTTP" else "REST_PROXY" if self.proxy else "REST"
        self.upstream = UpstreamTarget(backend.host_header, rules=self.rules, api_id=api_id)
        self.api_id = api_id
        self.timeout = integration.timeout_ms / 1000
        self.fixed_method = None if integration.http_method.upper() == "ANY" else integration.http_method.upper()
        self.is_http_api = api_type == "HTTP"
        self.append_full_path = self.is_http_api and route_path == DEFAULT_ROUTE
        self.mappings: tuple[ParameterMapping, ...] = ()
        if not self.is_http_api:
            self.mappings = compile_request_parameters(integration.request_parameters, stage_variables)
        copied = {
            name
            for target, source in integration.request_parameters.items()
            for name in [target.rpartition(".")[2]]
            if target == f"integration.request.path.{name}" and source == f"method.request.path.{name}"
        }
        self.params_are_path = self.is_http_api or (
            len(copied) == len(integration.request_parameters) and set(backend.path.names) <= copied
        )
        """Every mapping copies a path parameter to the same name and every URI variable is mapped (the
        export's usual shape), or an HTTP API: the URI renders straight from the route parameters."""
        self.responses = compile_integration_responses(integration.responses, stage_variables)
        self._pools = pools
        self._pool: UpstreamPool | None = None

    def describe(self) -> str:
        return f"{self.integration.type} {self.integration.http_method} {self.integration.uri}"

    def proxy_target(self) -> ProxyTargetSpec | None:
        """For a plain proxy (backend path straight from the route parameters, no other mapping): what the
        Rust engine needs to write the upstream request head itself during ``admit``."""
        if not (self.proxy and self.params_are_path):
            return None
        backend = self.backend
        return (
            backend.host_header,
            self.rules,
            self.api_id,
            backend.path.text,
            self.fixed_method,
            backend.query,
            self.append_full_path,
        )

    def bind(self, pools: UpstreamPools) -> None:
        """Attaches the worker's connection pools (done in each worker process, after fork)."""
        self._pools = pools
        self._pool = None

    @property
    def pool(self) -> UpstreamPool:
        pool = self._pool
        if pool is None:
            assert self._pools is not None, "integration used before bind()"
            verify = not self.integration.tls_insecure_skip_verification
            backend = self.backend
            pool = self._pool = self._pools.get(
                backend.scheme, backend.hostname, backend.port, self.rules, verify_tls=verify
            )
        return pool

    # -- the request ------------------------------------------------------------------------------

    def _target(self, request: Request) -> tuple[str, list[tuple[str, str]] | None]:
        """The backend path and query, and the mapped headers."""
        backend = self.backend
        mapped_headers = None
        mapped_query = ""
        if self.params_are_path:
            # The export's usual shape (integration.request.path.X = method.request.path.X), or an HTTP API.
            path = backend.path.render(request.params)
            if self.append_full_path:
                path = (path or "").rstrip("/") + request.path
        else:
            mapped = apply_request_parameters(self.mappings, request)
            mapped_headers = mapped.headers or None
            if mapped.querystring:
                mapped_query = urlencode(mapped.querystring, quote_via=quote)
            path = backend.path.render(mapped.path)
        if path is None:
            # AWS leaves an unmapped {var} in the URI and fails with "Illegal character in path".
            raise ApiConfigurationError("integration uri has a path variable with no value")
        query = request.query_string if self.proxy else ""
        if backend.query or mapped_query:
            query = _join_query(backend.query, query, mapped_query)
        return (f"{path}?{query}" if query else path), mapped_headers

    def _head(self, request: Request, method: str, body_length: int | None) -> bytes:
        """The upstream request head, for the routes the engine did not write it for."""
        target, mapped_headers = self._target(request)
        if self.proxy:
            headers = request.header_list
            if mapped_headers:
                overridden = {name.lower() for name, _ in mapped_headers}
                headers = [(n, v) for n, v in headers if n not in overridden]
        else:
            content_type = request.header("content-type")
            headers = [("content-type", content_type)] if content_type else []
        stage = request.stage
        return self.upstream.request_head(
            method,
            target,
            headers,
            mapped_headers,
            request.client_ip,
            request.host,
            stage.listener_proto,
            stage.listener_port,
            body_length,
        )

    async def invoke(self, request: Request) -> Response:
        method = self.fixed_method or request.method
        body_length = request.body_length
        head = request.upstream_head or self._head(request, method, body_length)
        # The request body: none, small (read whole, sent with the head), or large/chunked (streamed).
        body: bytes | None = None
        if body_length is not None and 0 <= body_length <= BODY_BUFFER_LIMIT:
            body = await request.protocol() if body_length else b""
            if len(body) > body_length:
                body = body[:body_length]
        if body_length is not None and body is None:
            upstream = await self._send_streaming(request, head, body_length)
        else:
            head_request = method == "HEAD"
            connection = self.pool.acquire_idle()
            if connection is None:
                upstream = await self._send_fresh(head, body, head_request)
            else:
                try:
                    upstream = await connection.send(head, body, head_request, self.timeout)
                except (ConnectionError, UpstreamProtocolError) as error:
                    if connection.got_data or method not in IDEMPOTENT_METHODS:
                        raise IntegrationFailureError(f"upstream connection failed: {error}") from None
                    # A reused keep-alive connection the backend had already closed, before any byte of an
                    # answer: an idempotent request is sent again on a new connection (as nginx does; AWS
                    # documents no retries, and other methods are never retried).
                    upstream = await self._send_fresh(head, body, head_request)
        if self.proxy:
            return Response(upstream.status, upstream.headers, upstream.body, upstream.stream)
        return self._integration_response(request, upstream)

    async def _connect(self) -> Connection:
        try:
            return await asyncio.wait_for(self.pool.connect(), self.timeout)
        except TimeoutError:
            raise IntegrationTimeoutError() from None

    async def _send_fresh(self, head: bytes, body: bytes | None, head_request: bool) -> UpstreamResponse:
        connection = await self._connect()
        try:
            return await connection.send(head, body, head_request, self.timeout)
        except (ConnectionError, UpstreamProtocolError) as error:
            raise IntegrationFailureError(str(error)) from None

    async def _send_streaming(self, request: Request, head: bytes, expected_length: int) -> UpstreamResponse:
        """Streams a large (``expected_length`` bytes) or chunked (``-1``) request body to the backend,
        enforcing the body limit."""
        chunked = expected_length < 0
        limit = request.stage.limits.max_body_bytes
        connection = await self._connect()
        waiter = connection.start_streaming(head)
        sent = 0
        try:
            async for chunk in request.protocol:
                if not chunk:
                    continue  # an empty chunk would end a chunked body early
                sent += len(chunk)
                if sent > limit:
                    connection.abandon()
                    raise RequestTooLargeError()
                if waiter.done():
                    break  # the backend answered early (or the exchange failed): the rest is not needed
                await connection.write_body(encode_chunk(chunk) if chunked else chunk, self.timeout)
            else:
                if not chunked and sent < expected_length:
                    # The client went away mid-body: never let the backend take a partial body as whole.
                    connection.abandon()
                    raise ClientDisconnectedError()
                if chunked:
                    await connection.write_body(encode_chunk(b""), self.timeout)
            connection.start_timeout(self.timeout)
            return await waiter
        except (ConnectionError, UpstreamProtocolError) as error:
            connection.abandon()
            failure = waiter.exception() if waiter.done() and not waiter.cancelled() else None
            if failure is not None:
                raise failure from None  # e.g. the integration timeout
            raise IntegrationFailureError(str(error)) from None
        except BaseException:
            connection.abandon()
            raise

    # -- REST non-proxy response ------------------------------------------------------------------

    def _integration_response(self, request: Request, upstream: UpstreamResponse) -> Response:
        selected = select_response(self.responses, str(upstream.status))
        if selected is None:
            if upstream.stream is not None:
                upstream.stream.abort()
            raise ApiConfigurationError("no integration response matches and there is no default")
        headers = selected.response_headers(request, upstream.status, upstream.headers)
        template = selected.template_for(request.header("accept"))
        content_type = template[0] if template is not None else "application/json"
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("content-type", content_type))
        if template is None:
            return Response(selected.status, headers, upstream.body, upstream.stream)
        # A response template replaces the backend body (static text until mapping templates land).
        if upstream.stream is not None:
            upstream.stream.abort()
        return Response(selected.status, headers, template[1].encode())
