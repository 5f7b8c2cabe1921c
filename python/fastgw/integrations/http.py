"""HTTP integrations: ``HTTP_PROXY`` (REST and HTTP API) and ``HTTP`` (REST non-proxy).

Per request: build the backend path from the URI template, build the request head in Rust with AWS's
header rules, send it on a pooled keep-alive connection with the body (buffered when small, streamed when
large), and answer with the backend's response (streamed when large). The integration timeout covers
connecting and reading the response head (and a whole buffered body); a streamed body times out when no
data arrives for that long.

REST ``HTTP`` (non-proxy) shapes both ways (reference §4.4, §5.3): the request template selected by
Content-Type builds the body (``passthroughBehavior`` may answer 415 instead) and its
``$context.requestOverride`` changes the backend headers, query string and path; the integration response
selected by a regex on the backend status maps headers, and its response template (Velocity) builds the body,
with ``$context.responseOverride`` changing the status and headers. Binary media types and ``contentHandling``
convert bodies as AWS's tables say where templates are involved. Proxies never run templates: their path is
untouched by all of this.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlencode, urlsplit

from fastgw._core import UpstreamProtocolError, UpstreamTarget, encode_chunk
from fastgw.config.model import DEFAULT_ROUTE, Integration
from fastgw.errors import (
    GatewayError,
    IntegrationFailureError,
    IntegrationTimeoutError,
    RequestTooLargeError,
)
from fastgw.integrations.base import Request, Response
from fastgw.integrations.selection import (
    CompiledIntegrationResponse,
    RequestTemplates,
    compile_integration_responses,
    first_media_type,
    is_binary,
    select_response,
)
from fastgw.integrations.upstream import Connection, HeaderRules, UpstreamPool, UpstreamPools, UpstreamResponse
from fastgw.transforms.http_api_mapping import HttpApiMapping, compile_http_api_mapping
from fastgw.transforms.parameters import (
    FORBIDDEN_MAPPED_HEADERS,
    ParameterMapping,
    apply_request_parameters,
    compile_request_parameters,
    engine_header_source,
)
from fastgw.transforms.templates import MappingTemplate, TemplateInput, body_text
from fastgw.transforms.wire_values import header_value, path_value

#: ``(host, header rules, api id, path template, fixed method, backend query, append request path, header
#: mappings as (header name, source kind, argument))``.
ProxyTargetSpec = tuple[str, str, str, str, str | None, str, bool, list[tuple[str, str, str]]]
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
#: Request bodies up to this size are read whole and sent with the head; larger ones are streamed.
BODY_BUFFER_LIMIT: Final = 256 * 1024
_VARIABLE = re.compile(r"\{([^{}]+)\}")


class ApiConfigurationError(GatewayError):
    """The route's integration cannot run as configured (AWS: ``Execution failed due to configuration error``)."""

    response_type = "API_CONFIGURATION_ERROR"


class UriTemplate:
    """An integration URI path such as ``/pets/{id}``, split once into literal text and variable names."""

    __slots__ = ("greedy", "names", "parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        pieces = _VARIABLE.split(text)
        self.parts = pieces
        """Literal text at even indexes, variable names (``proxy`` for ``{proxy+}``) at odd ones."""
        self.names = tuple(name.removesuffix("+") for name in pieces[1::2])
        self.greedy = frozenset(name.removesuffix("+") for name in pieces[1::2] if name.endswith("+"))
        """The ``{name+}`` variables: their (encoded) values keep their ``/``."""

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
        route_key: str = "",
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
        self.http_api_mapping: HttpApiMapping | None = None
        if self.is_http_api:
            self.http_api_mapping = compile_http_api_mapping(integration, stage_variables)
        else:
            self.mappings = compile_request_parameters(
                integration.request_parameters,
                stage_variables,
                integration_type=integration.type,
                with_body=True,
                greedy_path_names=backend.path.greedy,
            )
        self.reads_body = any(mapping.reads_body for mapping in self.mappings) or bool(
            self.http_api_mapping and self.http_api_mapping.reads_request_body
        )
        """A mapping reads the request body: it is read whole before the upstream head is written."""
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
        self.engine_headers = (
            [] if self.is_http_api else self._engine_headers(copied, stage_variables, route_key, route_path)
        )
        """For a REST proxy: its header mappings as the engine writes them, or ``None`` when Python must."""
        self.responses = compile_integration_responses(integration.responses, stage_variables)
        self.request_templates = RequestTemplates(integration.request_templates, integration.passthrough_behavior)
        self.shaping = not self.proxy and (
            bool(self.request_templates)
            or integration.passthrough_behavior == "NEVER"
            or integration.content_handling is not None
        )
        """REST non-proxy with request templates, a passthrough that may refuse, or a content conversion: the
        request goes through :meth:`_invoke_shaped` (never a proxy)."""
        self._pools = pools
        self._pool: UpstreamPool | None = None

    def describe(self) -> str:
        return f"{self.integration.type} {self.integration.http_method} {self.integration.uri}"

    def _engine_headers(
        self, copied: set[str], stage_variables: Mapping[str, str], route_key: str, route_path: str
    ) -> list[tuple[str, str, str]] | None:
        """The header mappings of a REST proxy whose URI renders from path copies alone, as the engine's
        ``(header name, source kind, argument)``; ``None`` when a mapping needs Python (a query string or other
        path target, a body source or a ``$context`` value the engine lacks, or a header AWS refuses to map)."""
        if not set(self.backend.path.names) <= copied:
            return None
        fixed_context = {
            "apiId": self.api_id,
            "resourcePath": route_path,
            "routeKey": route_key,
            "protocol": "HTTP/1.1",
        }
        result = []
        for target, expression in self.integration.request_parameters.items():
            kind, _, name = target.removeprefix("integration.request.").partition(".")
            if kind == "path" and name in copied:
                continue
            source = engine_header_source(expression, stage_variables, fixed_context)
            if kind != "header" or name.lower() in FORBIDDEN_MAPPED_HEADERS or source is None:
                return None
            result.append((name, *source))
        return result

    def proxy_target(self) -> ProxyTargetSpec | None:
        """For a plain proxy (backend path straight from the route parameters; header mappings the engine can
        evaluate): what the Rust engine needs to write the upstream request head itself during ``admit``."""
        if not self.proxy or self.engine_headers is None or self.http_api_mapping is not None:
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
            self.engine_headers,
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

    def _target(
        self, request: Request, overrides: TemplateInput | None = None
    ) -> tuple[str, list[tuple[str, str]] | None]:
        """The backend path and query, and the mapped headers (``overrides``: a request template's
        ``$context.requestOverride``, which wins over ``requestParameters``)."""
        backend = self.backend
        mapped_headers = None
        mapped_query = ""
        if overrides is not None:
            return self._overridden_target(request, overrides)
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

    def _overridden_target(
        self, request: Request, overrides: TemplateInput
    ) -> tuple[str, list[tuple[str, str]] | None]:
        backend = self.backend
        mapped = apply_request_parameters(self.mappings, request)
        path_values = dict(request.params) if self.params_are_path else mapped.path
        greedy = backend.path.greedy
        path_values.update(
            (name, path_value(value, greedy=name in greedy)) for name, value in overrides.request_overrides("path")
        )
        path = backend.path.render(path_values)
        if path is None:
            raise ApiConfigurationError("integration uri has a path variable with no value")
        query = dict(mapped.querystring)
        query.update(overrides.request_overrides("querystring"))
        headers = dict(mapped.headers)
        for name, value in overrides.request_overrides("header"):
            for existing in [key for key in headers if key.lower() == name.lower()]:
                del headers[existing]
            headers[name] = header_value(name, value)
        encoded = urlencode(list(query.items()), quote_via=quote) if query else ""
        query_string = _join_query(backend.query, encoded)
        return (f"{path}?{query_string}" if query_string else path), (list(headers.items()) or None)

    def _head(
        self, request: Request, method: str, body_length: int | None, overrides: TemplateInput | None = None
    ) -> bytes:
        """The upstream request head, for the routes the engine did not write it for."""
        target, mapped_headers = self._target(request, overrides)
        if self.proxy:
            headers = request.header_list
            if mapped_headers:
                overridden = {name.lower() for name, _ in mapped_headers}
                headers = [(n, v) for n, v in headers if n not in overridden]
            if self.http_api_mapping is not None:
                path, _, query = target.partition("?")
                headers, query, path = self.http_api_mapping.apply_request(request, headers, query, path)
                target = f"{path}?{query}" if query else path
        else:
            content_type = request.header("content-type")
            headers = [("content-type", content_type)] if content_type else []
        if request.trace is not None:  # the trace context replaces the client's (fastgw.observability)
            traceparent, xray = request.trace
            headers = [(n, v) for n, v in headers if n.lower() not in ("traceparent", "x-amzn-trace-id")]
            mapped_headers = [*(mapped_headers or ()), ("traceparent", traceparent), ("X-Amzn-Trace-Id", xray)]
        stage = request.stage
        try:
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
        except ValueError as error:  # a target the writer refuses (AWS: "Illegal character in path", 500)
            raise ApiConfigurationError(str(error)) from None

    async def invoke(self, request: Request) -> Response:
        if self.shaping:
            return await self._invoke_shaped(request)
        method = self.fixed_method or request.method
        if self.reads_body and request.body is None and request.body_length:
            await request.read_body()  # sets request.body, which a body mapping reads
        body_length = request.body_length
        head = request.upstream_head
        if request.body is not None and body_length is not None:
            if body_length != len(request.body):
                head = None  # the engine framed the head for a chunked body: it is whole now
            body_length = len(request.body)
        if head is None:
            head = self._head(request, method, body_length)
        # The request body: none, small (read whole, sent with the head), or large/chunked (streamed).
        body: bytes | None = request.body if body_length is not None else None
        if body is None and body_length is not None and 0 <= body_length <= BODY_BUFFER_LIMIT:
            body = await request.read_body()
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
            mapping = self.http_api_mapping
            if mapping is not None and mapping.maps_response:
                return await self._mapped_response(request, upstream, mapping)
            return Response(upstream.status, upstream.headers, upstream.body, upstream.stream)
        return await self._integration_response(request, upstream)

    async def _mapped_response(self, request: Request, upstream: UpstreamResponse, mapping: HttpApiMapping) -> Response:
        """An HTTP API response through its ``responseParameters`` (the body is read whole only when a
        value reads it)."""
        body, stream = upstream.body, upstream.stream
        if mapping.reads_response_body and stream is not None:
            body, stream = await self._whole_body(request, upstream), None
        status, headers = mapping.apply_response(request, upstream.status, upstream.headers, body)
        return Response(status, headers, body, stream)

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
            # Raises ClientDisconnectedError for a body that ends badly: the connection is abandoned below, and
            # the backend never sees the body end (no last chunk, nor the rest of a Content-Length).
            chunks = request.body_chunks()
            async for chunk in chunks:
                sent += len(chunk)
                if sent > limit:
                    connection.abandon()
                    raise RequestTooLargeError()
                if waiter.done():
                    # The backend answered early (or the exchange failed): the rest of the body is not sent (the
                    # connection is not reused), but it is read from the client and dropped before the answer
                    # goes out, as nginx discards a body it does not need. A server that closes a connection
                    # with unread bytes resets it, and the reset cuts the client's answer short.
                    async for rest in chunks:
                        sent += len(rest)
                        if sent > limit:
                            break
                    break
                await connection.write_body(encode_chunk(chunk) if chunked else chunk, self.timeout)
            else:
                if chunked:
                    await connection.write_body(encode_chunk(b""), self.timeout)
                connection.body_sent()
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

    # -- REST non-proxy request ---------------------------------------------------------------------

    async def _invoke_shaped(self, request: Request) -> Response:
        """REST ``HTTP`` with request templates (or a content conversion): the body is read whole, rendered,
        converted, and sent with a head that carries the template's overrides."""
        content_type = request.header("content-type")
        template = self.request_templates.select(content_type)  # raises 415 as passthroughBehavior says
        if self.reads_body:
            await request.read_body()  # sets request.body, which a body mapping reads
        binary = is_binary(content_type, request.stage.definition.binary_media_types)
        variables: TemplateInput | None = None
        if template is None:
            body = _convert_request(await request.read_body(), binary, self.integration.content_handling)
        elif template.is_static:
            body = self._render_request(template, None, "")  # fixed text: the client's body is not needed
        else:
            variables = TemplateInput.from_request(request)
            body = self._render_request(template, variables, body_text(await request.read_body(), binary))
        method = self.fixed_method or request.method
        head = self._head(request, method, len(body), variables)
        upstream = await self._send_buffered(method, head, body)
        return await self._integration_response(request, upstream, variables)

    def _render_request(self, template: MappingTemplate, variables: TemplateInput | None, text: str) -> bytes:
        try:
            rendered = template.text if variables is None else template.render(variables, text)
        except Exception as error:  # airspeed's TemplateError, or a $util failure: AWS answers 500
            raise GatewayError(f"request template failed: {error}") from None
        if self.integration.content_handling == "CONVERT_TO_BINARY":
            return _base64_decode(rendered.encode())
        return rendered.encode()

    async def _send_buffered(self, method: str, head: bytes, body: bytes) -> UpstreamResponse:
        """Sends a whole request (the same exchange as in :meth:`invoke`, kept apart so that the proxy path
        there stays as it is)."""
        head_request = method == "HEAD"
        connection = self.pool.acquire_idle()
        if connection is None:
            return await self._send_fresh(head, body, head_request)
        try:
            return await connection.send(head, body, head_request, self.timeout)
        except (ConnectionError, UpstreamProtocolError) as error:
            if connection.got_data or method not in IDEMPOTENT_METHODS:
                raise IntegrationFailureError(f"upstream connection failed: {error}") from None
            return await self._send_fresh(head, body, head_request)

    # -- REST non-proxy response ------------------------------------------------------------------

    async def _integration_response(
        self, request: Request, upstream: UpstreamResponse, variables: TemplateInput | None = None
    ) -> Response:
        selected = select_response(self.responses, str(upstream.status))
        if selected is None:
            if upstream.stream is not None:
                upstream.stream.abort()
            raise ApiConfigurationError("no integration response matches and there is no default")
        if selected.reads_body and upstream.stream is not None:
            upstream.body, upstream.stream = await self._whole_body(request, upstream), None
        headers = selected.response_headers(request, upstream.status, upstream.headers, upstream.body)
        template = selected.template_for(request.header("accept"))
        content_type = template.content_type if template is not None else "application/json"
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("content-type", content_type))
        binary_types = request.stage.definition.binary_media_types
        converting = bool(binary_types) or selected.content_handling is not None
        if template is None and not converting:
            return Response(selected.status, headers, upstream.body, upstream.stream)
        if template is not None and template.is_static and not converting:
            # A fixed response template replaces the backend body.
            if upstream.stream is not None:
                upstream.stream.abort()
            return Response(selected.status, headers, template.text.encode())
        body = await self._whole_body(request, upstream)
        payload = _convert_response(
            body,
            binary_payload=is_binary(_header(upstream.headers, "content-type"), binary_types),
            binary_accept=is_binary(first_media_type(request.header("accept")), binary_types),
            content_handling=selected.content_handling,
            templated=template is not None,
        )
        if template is None:
            return Response(selected.status, headers, payload if isinstance(payload, bytes) else payload.encode())
        if isinstance(payload, bytes):
            raise GatewayError("a binary integration response cannot go through a mapping template")
        return self._render_response(request, selected, template, payload, headers, variables)

    @staticmethod
    def _render_response(
        request: Request,
        selected: CompiledIntegrationResponse,
        template: MappingTemplate,
        payload: str,
        headers: list[tuple[str, str]],
        variables: TemplateInput | None,
    ) -> Response:
        if template.is_static:
            return Response(selected.status, headers, template.text.encode())
        variables = variables or TemplateInput.from_request(request)
        try:
            rendered = template.render(variables, payload)
        except Exception as error:  # airspeed's TemplateError, or a $util failure: AWS answers 500
            raise GatewayError(f"response template failed: {error}") from None
        overrides = variables.override_headers()
        if overrides:
            names = {name.lower() for name, _ in overrides}
            headers = [(n, v) for n, v in headers if n.lower() not in names] + overrides
        return Response(variables.override_status() or selected.status, headers, rendered.encode())

    async def _whole_body(self, request: Request, upstream: UpstreamResponse) -> bytes:
        stream = upstream.stream
        if stream is None:
            return upstream.body
        limit = request.stage.limits.max_body_bytes
        parts = [upstream.body]
        size = len(upstream.body)
        try:
            async for chunk in stream.chunks(self.timeout):
                size += len(chunk)
                if size > limit:
                    raise IntegrationFailureError("integration response body over the size limit")
                parts.append(chunk)
        except BaseException:
            stream.abort()
            raise
        return b"".join(parts)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _base64_decode(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise GatewayError("CONVERT_TO_BINARY: the payload is not base64") from None


def _convert_request(body: bytes, binary: bool, content_handling: str | None) -> bytes:
    """A passed-through request body, converted as AWS's request table says (``api-gateway-payload-encodings-
    workflow``): a binary body becomes base64 text with CONVERT_TO_TEXT; a text body is base64-decoded with
    CONVERT_TO_BINARY; otherwise unchanged."""
    if binary and content_handling == "CONVERT_TO_TEXT":
        return base64.b64encode(body)
    if not binary and content_handling == "CONVERT_TO_BINARY":
        return _base64_decode(body)
    return body


def _convert_response(
    body: bytes, *, binary_payload: bool, binary_accept: bool, content_handling: str | None, templated: bool
) -> bytes | str:
    """The integration response body, converted as AWS's response table says: text (``str``, what a template
    reads) or binary (``bytes``). A binary payload becomes base64 text with CONVERT_TO_TEXT, or when no
    conversion is set and the client's first Accept type is not binary; a text payload is base64-decoded into
    binary with CONVERT_TO_BINARY, or when no conversion is set and the client accepts a binary type."""
    to_text = content_handling == "CONVERT_TO_TEXT" or (content_handling is None and not binary_accept)
    if binary_payload:
        return base64.b64encode(body).decode() if to_text else body
    if to_text or templated:
        return body.decode(errors="replace")
    return _base64_decode(body)
