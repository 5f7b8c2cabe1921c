"""The metrics and health listener: ``GET /metrics``, ``GET /health/live``, ``GET /health/ready``.

It runs in the gateway's parent process, in a daemon thread, on its own port (``127.0.0.1`` by default, so the
scrape endpoint is not on the public listener). The parent is the right place: it holds the shared metrics
region, so one scrape sees every worker, and it outlives worker restarts. Traffic here is a scrape every few
seconds and a probe or two, so the stdlib ``ThreadingHTTPServer`` is plenty and adds no dependency.

``/health/live`` answers 200 while the process runs. ``/health/ready`` asks ``readiness()`` on every probe: 200
when the gateway takes traffic, 503 ``{"status":"draining"}`` while it starts or shuts down, so a load balancer
stops sending requests before the workers stop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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
    ) -> None:
        self.host = host
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
