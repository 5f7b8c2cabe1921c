"""The metrics and health listener on a free port: /metrics, liveness, readiness flipping to 503, and 404."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from fastgw.observability.metrics import GatewayCollector, MetricsLayout
from fastgw.observability.server import MetricsServer


class Readiness:
    def __init__(self) -> None:
        self.ready = True

    def __call__(self) -> bool:
        return self.ready


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
def server(readiness: Readiness) -> Iterator[MetricsServer]:
    registry = CollectorRegistry()
    layout = MetricsLayout.build([("petstore", "prod", ["GET /pets"])])
    registry.register(GatewayCollector(layout, lambda: [0] * layout.words))
    Counter("extra_things", "Something else in the same registry.", registry=registry).inc(3)
    with MetricsServer(port=0, registry=registry, readiness=readiness) as running:
        yield running


def get(server: MetricsServer, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def test_port_zero_binds_a_free_port(server: MetricsServer) -> None:
    assert server.port != 0


def test_metrics(server: MetricsServer) -> None:
    status, content_type, body = get(server, "/metrics")
    assert status == 200
    assert content_type == CONTENT_TYPE_LATEST
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"fastgw_requests", "fastgw_requests_in_flight", "extra_things"} <= names


def test_liveness(server: MetricsServer) -> None:
    status, content_type, body = get(server, "/health/live")
    assert (status, content_type, json.loads(body)) == (200, "application/json", {"status": "ok"})


def test_readiness_follows_the_callback(server: MetricsServer, readiness: Readiness) -> None:
    status, _, body = get(server, "/health/ready")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    readiness.ready = False
    status, _, body = get(server, "/health/ready")
    assert (status, json.loads(body)) == (503, {"status": "draining"})
    readiness.ready = True
    assert get(server, "/health/ready")[0] == 200


def test_a_failing_readiness_check_is_not_ready(readiness: Readiness, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    with MetricsServer(port=0, registry=CollectorRegistry(), readiness=broken) as server:
        assert get(server, "/health/ready")[0] == 503
    assert "readiness check failed" in caplog.text


@pytest.mark.parametrize("path", ["/", "/metricsx", "/health", "/health/live/x"])
def test_other_paths_are_404(server: MetricsServer, path: str) -> None:
    assert get(server, path)[0] == 404


def test_query_strings_are_ignored(server: MetricsServer) -> None:
    assert get(server, "/health/live?verbose=1")[0] == 200


def test_stop_closes_the_port() -> None:
    server = MetricsServer(port=0, registry=CollectorRegistry(), readiness=lambda: True)
    server.start()
    port = server.port
    with pytest.raises(RuntimeError, match="already started"):
        server.start()
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/health/live")
