"""The metrics and health listener: ``GET /metrics``, ``GET /health/live``, ``GET /health/ready``, and the admin
actions (``POST /admin/cache/flush``) when an admin token is configured.

It runs in the gateway's parent process, in a daemon thread, on its own port (``127.0.0.1`` by default, so the
scrape endpoint is not on the public listener). The parent is the right place: it holds the shared metrics
region, so one scrape sees every worker, and it outlives worker restarts. Traffic here is a scrape every few
seconds and a probe or two, so the stdlib ``ThreadingHTTPServer`` is plenty and adds no dependency.

``/health/live`` answers 200 while the process runs. ``/health/ready`` asks ``readiness()`` on every probe: 200
when the gateway takes traffic, 503 ``{"status":"draining"}`` while it starts or shuts down, so a load balancer
stops sending requests before the workers stop.

Admin actions are off unless the gateway has an admin token (``FASTGW_ADMIN_TOKEN``): then they need
``Authorization: Bearer <token>`` (compared in constant time); without a token they answer 404, like any unknown
path. The token is never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

__all__ = ["MetricsServer"]

log = logging.getLogger("fastgw.observability")

_JSON = "application/json"
_LIVE = b'{"status":"ok"}'
_READY = b'{"status":"ok"}'
_DRAINING = b'{"status":"draining"}'
_NOT_FOUND = b'{"message":"Not Found"}'


class MetricsServer:
    """Serves ``registry`` and the health probes on ``host:port`` from a daemon thread. ``port=0`` picks a free
    port; read it from :attr:`port` after :meth:`start`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int,
        registry: CollectorRegistry,
        readiness: Callable[[], bool],
        admin_token: str | None = None,
        admin_actions: Mapping[str, Callable[[Mapping[str, str]], object]] | None = None,
    ) -> None:
        """``admin_actions``: ``POST /admin/<name>`` -> a function of the query parameters returning a JSON-able
        result; served only with ``admin_token``."""
        self.host = host
        self.admin_token = admin_token
        self.admin_actions = dict(admin_actions or {})
        self._requested_port = port
        self.registry = registry
        self.readiness = readiness
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the requested one until :meth:`start`)."""
        return self._server.server_address[1] if self._server else self._requested_port

    def start(self) -> None:
        """Binds the port (raising ``OSError`` if it is taken) and serves in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("metrics server already started")
        server = ThreadingHTTPServer((self.host, self._requested_port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # The poll interval bounds how long stop() waits; 0.1 s of idle wake-ups costs nothing measurable.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fastgw-metrics", daemon=True
        )
        self._thread.start()
        log.info("metrics and health on http://%s:%d", self.host, self.port)

    def stop(self) -> None:
        """Stops serving and closes the socket. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _handler_for(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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
            from urllib.parse import parse_qsl

            path, _, query = self.path.partition("?")
            action = server.admin_actions.get(path.removeprefix("/admin/")) if path.startswith("/admin/") else None
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 65536))
            if server.admin_token is None or action is None:
                self._send(404, _JSON, _NOT_FOUND)
                return
            given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), server.admin_token.encode()):
                self._send(403, _JSON, b'{"message":"Forbidden"}')
                return
            try:
                result = action(dict(parse_qsl(query)))
            except Exception as error:
                log.exception("admin action %s failed", path)
                self._send(500, _JSON, json.dumps({"message": str(error)}).encode())
                return
            self._send(200, _JSON, json.dumps(result).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Scrapes and probes every few seconds would flood stderr; keep them at debug level.
            log.debug("metrics listener: " + format, *args)

    return Handler


def _ready(readiness: Callable[[], bool]) -> bool:
    try:
        return readiness()
    except Exception:
        log.exception("readiness check failed; answering not ready")
        return False
