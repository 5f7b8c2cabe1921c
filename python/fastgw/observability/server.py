"""The metrics and health listener: ``GET /metrics``, ``GET /health/live``, ``GET /health/ready``, and the admin
actions (``POST /admin/cache/flush``) when an admin token is configured.

It runs in the gateway's parent process, on its own port (``127.0.0.1`` by default, so the scrape endpoint is not
on the public listener). The parent is the right place: it holds the shared metrics region, so one scrape sees
every worker, and it outlives worker restarts. Traffic here is a scrape every few seconds and a probe or two, so
the stdlib's HTTP/1.1 parsing (``BaseHTTPRequestHandler``) is plenty and adds no dependency.

``/health/live`` answers 200 while the process runs. ``/health/ready`` asks ``readiness()`` on every probe: 200
when the gateway takes traffic, 503 ``{"status":"draining"}`` while it starts or shuts down, so a load balancer
stops sending requests before the workers stop.

Admin actions are off unless the gateway has an admin token (``FASTGW_ADMIN_TOKEN``): then they need
``Authorization: Bearer <token>`` (compared in constant time); without a token they answer 404, like any unknown
path. The token is never logged.

Every wait and buffer is bounded, whatever a client sends (issue 18):

- One thread (the listener's loop) accepts connections and keeps those that have not sent a byte yet in a
  selector: a silent connection costs a file descriptor, never a thread. At most :data:`WAITING_CONNECTIONS` wait
  there; beyond that the oldest is closed.
- A connection that has sent something is handed to one of at most :data:`HANDLER_THREADS` handler threads; when
  all are busy it is answered 503 at once (never queued).
- Each connection has :data:`REQUEST_TIMEOUT` seconds from its accept to the end of its answer (head, body and
  response together; a request that trickles in byte by byte is cut at that deadline too), and carries one
  request (``Connection: close``), so no idle keep-alive connection holds a thread between scrapes.
- An admin request's body is at most :data:`MAX_ADMIN_BODY` bytes (413 above, unread); a ``Content-Length`` that is
  not a plain decimal number is answered 400. Every answer is JSON, and a client that goes away mid-answer is
  logged at debug level, never with a traceback.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

__all__ = ["HANDLER_THREADS", "MAX_ADMIN_BODY", "REQUEST_TIMEOUT", "WAITING_CONNECTIONS", "MetricsServer"]

log = logging.getLogger("fastgw.observability")

#: Seconds from a connection's accept to the end of its answer.
REQUEST_TIMEOUT = 10.0
#: Requests read and answered at once; one more is answered 503.
HANDLER_THREADS = 8
#: Accepted connections that have sent nothing yet; beyond this the oldest is closed.
WAITING_CONNECTIONS = 256
#: The largest admin request body (the actions take their arguments from the query string).
MAX_ADMIN_BODY = 65_536

_JSON = "application/json"
_LIVE = b'{"status":"ok"}'
_READY = b'{"status":"ok"}'
_DRAINING = b'{"status":"draining"}'
_NOT_FOUND = b'{"message":"Not Found"}'
_BUSY_BODY = b'{"message":"Too many connections"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    b"Cache-Control: no-store\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)
_POLL_SECONDS = 0.5  # the loop's longest sleep: bounds how late a deadline is enforced and how long stop() waits


class MetricsServer:
    """Serves ``registry`` and the health probes on ``host:port`` from a daemon thread. ``port=0`` picks a free
    port; read it from :attr:`port` after :meth:`start`."""

    HANDLER_THREADS = HANDLER_THREADS

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int,
        registry: CollectorRegistry,
        readiness: Callable[[], bool],
        admin_token: str | None = None,
        admin_actions: Mapping[str, Callable[[Mapping[str, str]], object]] | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        """``admin_actions``: ``POST /admin/<name>`` -> a function of the query parameters returning a JSON-able
        result; served only with ``admin_token``. ``request_timeout``: seconds from a connection's accept to the
        end of its answer."""
        self.host = host
        self.admin_token = admin_token
        self.admin_actions = dict(admin_actions or {})
        self.registry = registry
        self.readiness = readiness
        self.request_timeout = request_timeout
        self._requested_port = port
        self._handler = _handler_for(self)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake: tuple[socket.socket, socket.socket] | None = None
        """A socket pair that wakes the loop for :meth:`stop`."""
        self._slots = threading.BoundedSemaphore(self.HANDLER_THREADS)
        self._active: dict[socket.socket, float] = {}
        """Connections being handled -> their deadline (the loop shuts down the late ones)."""
        self._active_lock = threading.Lock()

    @property
    def port(self) -> int:
        """The bound port (the requested one until :meth:`start`)."""
        return int(self._listener.getsockname()[1]) if self._listener else self._requested_port

    def start(self) -> None:
        """Binds the port (raising ``OSError`` if it is taken) and serves in a daemon thread."""
        if self._listener is not None:
            raise RuntimeError("metrics server already started")
        listener = socket.create_server((self.host, self._requested_port), backlog=128)
        listener.setblocking(False)
        self._listener = listener
        self._wake = socket.socketpair()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(listener, self._wake[0]), name="fastgw-metrics", daemon=True
        )
        self._thread.start()
        log.info("metrics and health on http://%s:%d", self.host, self.port)

    def stop(self) -> None:
        """Stops serving and closes the socket; requests being answered are cut. Safe to call twice."""
        listener, thread = self._listener, self._thread
        if listener is None:
            return
        self._stopping.set()
        assert self._wake is not None
        self._wake[1].send(b"x")
        if thread is not None:
            thread.join()
        listener.close()
        for end in self._wake:
            end.close()
        self._wake = None
        with self._active_lock:
            for connection in self._active:
                _shut(connection)
        self._listener = self._thread = None

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the listener's loop (one thread) -----------------------------------------------------------------

    def _loop(self, listener: socket.socket, wake: socket.socket) -> None:
        waiting: dict[socket.socket, float] = {}
        """Connections that have sent nothing yet -> their deadline, oldest first."""
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            try:
                while not self._stopping.is_set():
                    for key, _ in selector.select(self._next_wake(waiting)):
                        if key.fileobj is listener:
                            self._accept(listener, selector, waiting)
                        elif key.fileobj is wake:
                            wake.recv(64)
                        else:
                            connection = key.fileobj
                            assert isinstance(connection, socket.socket)
                            selector.unregister(connection)
                            self._dispatch(connection, waiting.pop(connection))
                    self._expire(selector, waiting)
            finally:
                for connection in waiting:
                    connection.close()

    def _next_wake(self, waiting: Mapping[socket.socket, float]) -> float:
        soonest = next(iter(waiting.values()), None)  # the oldest waiting connection's deadline comes first
        with self._active_lock:
            if self._active:
                active = min(self._active.values())
                soonest = active if soonest is None else min(soonest, active)
        if soonest is None:
            return _POLL_SECONDS
        return max(0.0, min(_POLL_SECONDS, soonest - time.monotonic()))

    def _accept(
        self, listener: socket.socket, selector: selectors.BaseSelector, waiting: dict[socket.socket, float]
    ) -> None:
        for _ in range(64):  # what is queued, a batch at a time
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of file descriptors, a connection reset in the queue: try later
                log.debug("metrics listener: accept failed: %s", error)
                return
            if len(waiting) >= WAITING_CONNECTIONS:
                oldest = next(iter(waiting))
                del waiting[oldest]
                selector.unregister(oldest)
                oldest.close()
            connection.setblocking(False)
            waiting[connection] = time.monotonic() + self.request_timeout
            selector.register(connection, selectors.EVENT_READ)

    def _expire(self, selector: selectors.BaseSelector, waiting: dict[socket.socket, float]) -> None:
        now = time.monotonic()
        while waiting:
            connection, deadline = next(iter(waiting.items()))
            if deadline > now:
                break
            del waiting[connection]
            selector.unregister(connection)
            connection.close()
        with self._active_lock:
            late = [connection for connection, deadline in self._active.items() if deadline <= now]
            for connection in late:
                self._active[connection] = math.inf  # cut once; the handler removes it when it returns
        for connection in late:
            _shut(connection)  # the handler's read or write ends at once, and it returns

    def _dispatch(self, connection: socket.socket, deadline: float) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                connection.send(_BUSY)  # fits any send buffer: never blocks the loop
                connection.recv(65536)  # what the client sent so far: unread, closing would reset the answer
            connection.close()
            return
        with self._active_lock:
            self._active[connection] = deadline
        thread = threading.Thread(target=self._handle, args=(connection, deadline), name="fastgw-metrics-request")
        thread.daemon = True
        thread.start()

    def _handle(self, connection: socket.socket, deadline: float) -> None:
        try:
            connection.settimeout(max(0.001, deadline - time.monotonic()))
            address = connection.getpeername()
            # The handler class reads this server through its closure, not the socketserver it is typed for.
            self._handler(connection, address, cast(Any, self))
            _drain(connection, deadline)
        except OSError as error:  # the client went away, or its deadline passed
            log.debug("metrics listener: connection ended: %s", error)
        except Exception:  # a bug here must not take the listener down
            log.exception("metrics listener: request failed")
        finally:
            with self._active_lock:
                self._active.pop(connection, None)
            _shut(connection)
            connection.close()
            self._slots.release()


def _drain(connection: socket.socket, deadline: float) -> None:
    """After the answer: reads what the client still sends (a body that was not read, say) until it closes, for at
    most a second and a megabyte. Closing with unread bytes would reset the connection, and the client could lose
    the answer before reading it (the lingering close of RFC 9112 §9.6)."""
    connection.shutdown(socket.SHUT_WR)
    until = min(deadline, time.monotonic() + 1.0)
    left = 1 << 20
    while left > 0 and (remaining := until - time.monotonic()) > 0:
        connection.settimeout(remaining)
        chunk = connection.recv(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def _body_refusal(lengths: list[str]) -> tuple[int, bytes] | None:
    """Why an admin request's body is refused (status, JSON body), from its ``Content-Length`` values, or ``None``:
    one plain decimal number (RFC 9110's ``1*DIGIT``; ``int()`` would take ``-1``, `` 7`` or ``1_0``) of at most
    :data:`MAX_ADMIN_BODY`, or no header at all."""
    if not lengths:
        return None
    if len(lengths) > 1 or not lengths[0].isascii() or not lengths[0].isdigit():
        return 400, b'{"message":"Invalid Content-Length"}'
    if int(lengths[0]) > MAX_ADMIN_BODY:
        return 413, b'{"message":"Request body too large"}'
    return None


def _handler_for(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            self.handle_one_request()  # one request per connection (see the module's docstring)

        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(server.registry))
            elif path == "/health/live":
                self._send(200, _JSON, _LIVE)
            elif path == "/health/ready":
                ready = _ready(server.readiness)
                self._send(200 if ready else 503, _JSON, _READY if ready else _DRAINING)
            else:
                self._send(404, _JSON, _NOT_FOUND)

        def do_POST(self) -> None:
            refused = _body_refusal(self.headers.get_all("Content-Length") or [])
            if refused is not None:
                self._send(refused[0], _JSON, refused[1])
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)  # bounded by MAX_ADMIN_BODY, and by the connection's deadline
            status, body = _admin(server, self.path, self.headers.get("Authorization", ""))
            self._send(status, _JSON, body)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The stdlib's answers to a malformed request line or head (400, 414, 431, 501), in JSON."""
            self.close_connection = True
            text = message or self.responses.get(code, ("Error",))[0]
            self._send(code, _JSON, json.dumps({"message": text}).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Scrapes and probes every few seconds would flood stderr; keep them at debug level.
            log.debug("metrics listener: " + format, *args)

    return Handler


def _admin(server: MetricsServer, target: str, authorization: str) -> tuple[int, bytes]:
    """``POST /admin/<action>?query``: the action's JSON result, or 404 (admin off, no such action), 403 (a wrong
    token), 500 (the action failed)."""
    from urllib.parse import parse_qsl

    path, _, query = target.partition("?")
    action = server.admin_actions.get(path.removeprefix("/admin/")) if path.startswith("/admin/") else None
    if server.admin_token is None or action is None:
        return 404, _NOT_FOUND
    given = authorization.removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), server.admin_token.encode()):
        return 403, b'{"message":"Forbidden"}'
    try:
        result = action(dict(parse_qsl(query)))
    except Exception as error:
        log.exception("admin action %s failed", path)
        return 500, json.dumps({"message": str(error)}).encode()
    return 200, json.dumps(result).encode()


def _ready(readiness: Callable[[], bool]) -> bool:
    try:
        return readiness()
    except Exception:
        log.exception("readiness check failed; answering not ready")
        return False
