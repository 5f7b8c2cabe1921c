"""fastgw's upstream HTTP/1.1 client: pooled keep-alive connections over the event loop's transports.

Why our own client: a generic one (aiohttp, an awaited Rust future) costs more per request than the
rest of the gateway together (benches/load/README.md has the comparison). This one owns its connections,
writes a request head built in Rust and feeds the bytes it reads to a Rust parser; Python only moves
buffers and resolves one future per exchange.

One exchange: :meth:`UpstreamPool.acquire_idle` gives an idle connection (or :meth:`UpstreamPool.connect`
opens one), :meth:`Connection.send` writes the head and a buffered body (or :meth:`Connection.start_streaming`
and :meth:`Connection.write_body` stream it), and the returned future resolves to an :class:`UpstreamResponse`
once the head is in and either the whole body (when it is small) or the first part of a streamed one. Bodies
above ``buffer_limit`` are streamed with backpressure: reading from the backend pauses while the client is
slower. The integration timeout is one timer handle per exchange.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Final, Literal

from fastgw._core import ResponseParser, UpstreamProtocolError
from fastgw.errors import IntegrationFailureError, IntegrationTimeoutError, IntegrationUnreachableError

#: Responses up to this size are read whole and answered in one write; larger ones are streamed.
DEFAULT_BUFFER_LIMIT: Final = 1024 * 1024
#: A streamed body pauses reading from the backend above this many queued bytes.
STREAM_HIGH_WATER: Final = 1024 * 1024
STREAM_LOW_WATER: Final = 256 * 1024
#: Which AWS header rules the Rust side applies to an exchange (see gateway_core::http1::HeaderRules).
HeaderRules = Literal["REST_PROXY", "REST", "HTTP_API_PROXY"]
#: An idle connection older than this is not reused: backends close idle keep-alive connections
#: (often after 5 s), and a request sent on one the backend is closing fails.
DEFAULT_IDLE_REUSE_SECONDS: Final = 4.0
#: Idle keep-alive connections kept per backend.
DEFAULT_MAX_IDLE: Final = 256

log = logging.getLogger("fastgw.upstream")


class UpstreamResponse:
    """The backend's answer: status, headers (AWS rules applied), and the body, whole or streamed."""

    __slots__ = ("body", "headers", "status", "stream")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, stream: BodyStream | None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        """The whole body, or, when ``stream`` is set, the first part of it."""
        self.stream = stream


class BodyStream:
    """The rest of a streamed response body, read with backpressure on the backend connection."""

    __slots__ = ("_chunks", "_connection", "_done", "_error", "_paused", "_queued", "_waiter")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._chunks: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def _push(self, data: bytes, done: bool) -> None:
        if data:
            self._chunks.append(data)
            self._queued += len(data)
            if self._queued > STREAM_HIGH_WATER and not self._paused:
                self._paused = True
                self._connection.pause_reading()
        if done:
            self._done = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def abort(self) -> None:
        """The client went away: drop the backend connection, it cannot be reused mid-body."""
        if not self._done:
            self._connection.close()

    async def chunks(self, idle_timeout: float) -> AsyncIterator[bytes]:
        """Yields body chunks until the end; raises :class:`IntegrationFailureError` if the backend
        breaks off, and on ``idle_timeout`` seconds without data."""
        while True:
            if self._chunks:
                data = self._chunks.popleft()
                self._queued -= len(data)
                if self._paused and self._queued < STREAM_LOW_WATER:
                    self._paused = False
                    self._connection.resume_reading()
                yield data
                continue
            if self._error is not None:
                raise IntegrationFailureError(str(self._error))
            if self._done:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, idle_timeout)
            except TimeoutError:
                self._connection.close()
                raise IntegrationFailureError("upstream body read timed out") from None
            finally:
                self._waiter = None


class Connection(asyncio.Protocol):
    """One keep-alive connection to a backend, carrying one exchange at a time."""

    __slots__ = (
        "_body",
        "_buffer_limit",
        "_drain",
        "_head",
        "_parser",
        "_pool",
        "_stream",
        "_timer",
        "_waiter",
        "closed",
        "got_data",
        "idle_since",
        "sending_body",
        "transport",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool
        self._parser = ResponseParser(pool.rules)
        self._buffer_limit = pool.buffer_limit
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._head: tuple[int, list[tuple[str, str]], bool, int | None] | None = None
        self._body: list[bytes] = []
        self._stream: BodyStream | None = None
        self._drain: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.idle_since = 0.0
        self.got_data = False
        """Some of the current response has arrived (a failure after that is not retried)."""
        self.sending_body = False
        """A streamed request body is not all written: the backend may still wait for the rest of it (a backend
        may answer early), so a response that ends before :meth:`body_sent` closes the connection instead of
        returning it to the pool (where the next request would be read as the rest of this body)."""

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self._waiter is None and self._stream is None:  # idle: no exchange in progress
            self._unsolicited(data)
            return
        self.got_data = True
        try:
            progress = self._parser.feed(data)  # a 101 the gateway never asked for is an error there too
        except UpstreamProtocolError as error:
            self._fail(error)
            return
        if progress is None:
            return
        status, headers, content_length, keep_alive, body, done = progress
        if done and status is not None:
            # The whole response in one read: the common case, answered without the general bookkeeping.
            assert headers is not None
            self._cancel_timer()
            waiter, self._waiter = self._waiter, None
            if keep_alive and not self.closed and not self.sending_body:
                self._pool._release(self)
            else:
                self.close()
            if waiter is not None and not waiter.done():
                waiter.set_result(UpstreamResponse(status, headers, body, None))
            return
        stream = self._stream
        if stream is not None:
            stream._push(body, done)
            if done:
                self._release()
            return
        if status is not None:
            assert headers is not None and keep_alive is not None
            self._head = (status, headers, keep_alive, content_length)
            if content_length is not None and content_length > self._buffer_limit and not done:
                self._start_stream(body)
                return
        if body:
            self._body.append(body)
        if done:
            self._complete()
        elif sum(map(len, self._body)) > self._buffer_limit:
            self._start_stream(b"".join(self._body))

    def _unsolicited(self, data: bytes) -> None:
        """Bytes on an idle connection answer no request, and must never be read as the answer to the next one:
        the connection is closed, and so leaves the pool (issue 18, item 12)."""
        pool = self._pool
        log.debug("upstream %s:%s sent %d bytes on an idle connection: closed", pool.host, pool.port, len(data))
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool._forget(self)
        if self._waiter is None and self._stream is None:
            return
        try:
            self._parser.finish()
        except UpstreamProtocolError as error:
            self._fail(error)
            return
        # A body delimited by the connection close is complete now.
        if self._stream is not None:
            self._stream._push(b"", True)
            self._stream = None
        elif self._head is not None:
            self._complete()
        else:
            self._fail(ConnectionError("upstream closed the connection"))

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- exchange ---------------------------------------------------------------------------------

    def send(
        self, head: bytes, body: bytes | None, head_request: bool, timeout: float
    ) -> asyncio.Future[UpstreamResponse]:
        """Writes a whole request; the future resolves to the response, or fails with
        :class:`IntegrationTimeoutError` if the head (and a buffered body) take longer than ``timeout``."""
        waiter = self._start(head_request, timeout)
        transport = self.transport
        assert transport is not None
        transport.write(head + body if body else head)
        return waiter

    def start_streaming(self, head: bytes) -> asyncio.Future[UpstreamResponse]:
        """Writes the head of a request whose body follows through :meth:`write_body`. The integration
        timeout starts with :meth:`start_timeout`, once the whole body is sent (AWS times the integration
        from the moment it has received the request)."""
        waiter = self._start(False, None)
        assert self.transport is not None
        self.sending_body = True
        self.transport.write(head)
        return waiter

    def body_sent(self) -> None:
        """The streamed request body is whole (see :attr:`sending_body`)."""
        self.sending_body = False

    def start_timeout(self, timeout: float) -> None:
        if self._waiter is not None and self._timer is None:
            self._timer = self._pool.loop.call_later(timeout, self._on_timeout)

    async def write_body(self, data: bytes, timeout: float) -> None:
        """Writes part of a streamed request body, waiting (at most ``timeout`` seconds) while the backend
        reads slowly."""
        if self.closed or self.transport is None:
            raise ConnectionError("upstream connection closed while sending the body")
        self.transport.write(data)
        if self._drain is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._drain), timeout)
            except TimeoutError:
                self.close()
                raise IntegrationTimeoutError() from None

    def _start(self, head_request: bool, timeout: float | None) -> asyncio.Future[UpstreamResponse]:
        self._parser.start(head_request)
        self._head = None
        self._body = []
        self._stream = None
        self.got_data = False
        self.sending_body = False
        loop = self._pool.loop
        waiter: asyncio.Future[UpstreamResponse] = loop.create_future()
        self._waiter = waiter
        # A timer handle per exchange is far cheaper than asyncio.timeout() (no task bookkeeping).
        self._timer = None if timeout is None else loop.call_later(timeout, self._on_timeout)
        return waiter

    def _on_timeout(self) -> None:
        self._timer = None
        self._fail(IntegrationTimeoutError())

    def _start_stream(self, first: bytes) -> None:
        assert self._head is not None
        stream = BodyStream(self)
        self._stream = stream
        self._body = []
        status, headers, _, content_length = self._head
        if content_length is not None:
            # Granian frames the streamed body by this length, so a backend that stops short makes the client
            # connection fail instead of ending the response cleanly.
            headers = [*headers, ("content-length", str(content_length))]
        self._resolve(UpstreamResponse(status, headers, first, stream))

    def _complete(self) -> None:
        assert self._head is not None
        status, headers, _, _ = self._head
        body = self._body
        self._resolve(UpstreamResponse(status, headers, body[0] if len(body) == 1 else b"".join(body), None))
        self._body = []
        self._release()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _resolve(self, response: UpstreamResponse) -> None:
        self._cancel_timer()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, error: BaseException) -> None:
        self._cancel_timer()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if self._stream is not None:
            self._stream._fail(error)
            self._stream = None
        self.close()

    def _release(self) -> None:
        keep_alive = self._head is not None and self._head[2]
        self._stream = None
        self._head = None
        if keep_alive and self._parser.is_reusable() and not self.closed and not self.sending_body:
            self._pool._release(self)
        else:
            self.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abandon(self) -> None:
        """The exchange was given up (client gone, body too large): the connection cannot be reused."""
        self._cancel_timer()
        self._waiter = None
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._pool._forget(self)
            if self.transport is not None:
                self.transport.close()


class UpstreamPool:
    """Keep-alive connections to one backend (scheme, host, port), reused most-recent-first."""

    __slots__ = (
        "_idle",
        "buffer_limit",
        "host",
        "loop",
        "max_idle",
        "port",
        "rules",
        "server_hostname",
        "ssl",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        *,
        rules: HeaderRules,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = DEFAULT_MAX_IDLE,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
    ) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.rules = rules
        self.ssl = ssl_context
        self.server_hostname = host if ssl_context is not None else None
        self.max_idle = max_idle
        self.buffer_limit = buffer_limit
        self._idle: collections.deque[Connection] = collections.deque()

    def acquire_idle(self) -> Connection | None:
        """An idle connection, most recently used first, or ``None``. Connections idle for longer than
        ``DEFAULT_IDLE_REUSE_SECONDS`` are closed instead (the backend may be closing them)."""
        idle = self._idle
        oldest_usable = self.loop.time() - DEFAULT_IDLE_REUSE_SECONDS
        while idle:
            connection = idle.pop()
            if connection.closed or connection.transport is None or connection.transport.is_closing():
                continue
            if connection.idle_since < oldest_usable:
                connection.close()
                continue
            return connection
        return None

    async def connect(self) -> Connection:
        """Opens a new connection (it joins the idle set when its first exchange ends)."""
        try:
            _, protocol = await self.loop.create_connection(
                lambda: Connection(self),
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.server_hostname,
            )
        except OSError as error:
            raise IntegrationUnreachableError(f"cannot connect to {self.host}:{self.port}: {error}") from error
        return protocol

    def _release(self, connection: Connection) -> None:
        if len(self._idle) >= self.max_idle:
            connection.close()
        else:
            connection.idle_since = self.loop.time()
            self._idle.append(connection)

    def _forget(self, connection: Connection) -> None:
        try:
            self._idle.remove(connection)
        except ValueError:
            pass

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class UpstreamPools:
    """Every backend pool of one worker, keyed by (scheme, host, port, header rules)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_idle: int = DEFAULT_MAX_IDLE) -> None:
        self.loop = loop
        self.max_idle = max_idle
        self._pools: dict[tuple[str, str, int, HeaderRules, bool], UpstreamPool] = {}
        self._verified: ssl.SSLContext | None = None
        self._unverified: ssl.SSLContext | None = None

    def get(self, scheme: str, host: str, port: int, rules: HeaderRules, *, verify_tls: bool = True) -> UpstreamPool:
        key = (scheme, host, port, rules, verify_tls)
        pool = self._pools.get(key)
        if pool is None:
            context = self._tls_context(verify_tls) if scheme == "https" else None
            pool = UpstreamPool(self.loop, host, port, rules=rules, ssl_context=context, max_idle=self.max_idle)
            self._pools[key] = pool
        return pool

    def _tls_context(self, verify: bool) -> ssl.SSLContext:
        if verify:
            if self._verified is None:
                self._verified = ssl.create_default_context()
            return self._verified
        if self._unverified is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self._unverified = context
        return self._unverified

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
