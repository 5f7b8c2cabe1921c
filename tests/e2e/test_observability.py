"""Metrics, access logs, trace headers and health through a real server with two workers (reference §11)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GatewayFactory, Process, Reply, call, free_port


def api(backend_port: int) -> dict[str, Any]:
    """REST: GET /items (cached), GET /status/{code} (proxied as is), GET /slow (300 ms)."""

    def proxy(path: str, params: list[str] | None = None) -> dict[str, Any]:
        return {
            "parameters": [{"name": p, "in": "path", "required": True, "type": "string"} for p in params or []],
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {
                "type": "http_proxy",
                "httpMethod": "GET",
                "uri": f"http://127.0.0.1:{backend_port}{path}",
                **(
                    {"requestParameters": {f"integration.request.path.{p}": f"method.request.path.{p}" for p in params}}
                    if params
                    else {}
                ),
            },
        }

    return {
        "swagger": "2.0",
        "info": {"title": "observed", "version": "1"},
        "paths": {
            "/items": {"get": proxy("/items")},
            "/status/{code}": {"get": proxy("/status/{code}", ["code"])},
            "/slow": {"get": proxy("/delay/1500")},
        },
    }


def gateway_config(tmp_path: Path, backend_port: int, log: Path) -> Path:
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api(backend_port), sort_keys=False))
    config = {
        "apis": {
            "shop": {
                "definition": "api.yaml",
                "stages": {
                    "prod": {
                        "cacheClusterEnabled": True,
                        "methodSettings": {
                            "*/*": {"cachingEnabled": False},
                            "items/GET": {"cachingEnabled": True, "cacheTtlInSeconds": 300},
                            "status~1{code}/GET": {"throttlingRateLimit": 0.001, "throttlingBurstLimit": 3},
                        },
                    }
                },
            }
        },
        "mappings": [{"api": "shop", "stage": "prod", "basePath": ""}],
        "accessLogs": {"destination": str(log), "format": "json"},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def scrape(port: int) -> str:
    reply = call(port, "GET", "/metrics")
    assert reply.status == 200
    assert (reply.header("content-type") or "").startswith("text/plain")
    return reply.body.decode()


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    found = False
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
                found = True
    assert found, f"no sample {name} {labels}"
    return total


@pytest.fixture
def observed(gateway: GatewayFactory, backend: Process, tmp_path: Path) -> tuple[Process, int, Path]:
    log = tmp_path / "access.log"
    metrics_port = free_port()
    process = gateway.start(
        gateway_config(tmp_path, backend.port, log), "--workers", "2", "--metrics-port", str(metrics_port)
    )
    return process, metrics_port, log


def run_mix(process: Process) -> list[Reply]:
    """2 x 200 (one cache miss, one hit per worker at most), 1 x 404 from the backend, 2 x 500, a 403 (no route),
    and throttled requests: /status/{code} allows 3 requests in all."""
    replies = [process.call("GET", "/items") for _ in range(4)]
    replies += [
        process.call("GET", "/status/404"),
        process.call("GET", "/status/500"),
        process.call("GET", "/status/500"),
    ]
    replies += [process.call("GET", "/status/200") for _ in range(2)]  # throttled: the bucket is empty
    replies.append(process.call("GET", "/nowhere"))
    return replies


def test_metrics_after_a_known_mix(observed: tuple[Process, int, Path]) -> None:
    process, metrics_port, _ = observed
    replies = run_mix(process)
    assert [r.status for r in replies] == [200] * 4 + [404, 500, 500, 429, 429, 403]
    time.sleep(0.2)
    text = scrape(metrics_port)
    shop = {"api": "shop", "stage": "prod"}
    items = {**shop, "route": "GET /items", "method": "GET"}
    status = {**shop, "route": "GET /status/{code}", "method": "GET"}
    assert sample(text, "fastgw_requests_total", **items, status_class="2xx") == 4
    assert sample(text, "fastgw_requests_total", **status, status_class="4xx") == 3  # 404 + two 429
    assert sample(text, "fastgw_requests_total", **status, status_class="5xx") == 2
    assert sample(text, "fastgw_requests_total", **shop, route="<none>", status_class="4xx") == 1
    assert sample(text, "fastgw_throttled_requests_total", **status) == 2
    hits = sample(text, "fastgw_cache_hits_total", **items)
    misses = sample(text, "fastgw_cache_misses_total", **items)
    assert hits + misses == 4 and 1 <= misses <= 2  # one miss per worker at most
    # Histograms: every request is in the +Inf bucket; the integration ran for the misses and the proxied ones.
    assert sample(text, "fastgw_request_duration_seconds_bucket", **items, le="+Inf") == 4
    assert sample(text, "fastgw_request_duration_seconds_count", **items) == 4
    assert sample(text, "fastgw_integration_duration_seconds_count", **status) == 3
    assert sample(text, "fastgw_request_duration_seconds_bucket", **status, le="30.0") == 5
    assert sample(text, "fastgw_requests_in_flight", **shop) == 0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (.ci/run installs prometheus)")
def test_the_exposition_passes_promtool(observed: tuple[Process, int, Path]) -> None:
    process, metrics_port, _ = observed
    run_mix(process)
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=scrape(metrics_port), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_access_log_lines_for_the_mix(observed: tuple[Process, int, Path]) -> None:
    process, _, log = observed
    replies = run_mix(process)
    deadline = time.monotonic() + 5
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        if len(lines) >= len(replies):
            break
        time.sleep(0.1)
    by_id = {line["requestId"]: line for line in lines}
    assert len(by_id) == len(replies)
    for reply in replies:
        line = by_id[reply.header("x-amzn-RequestId")]
        assert line["status"] == str(reply.status)
        assert line["httpMethod"] == "GET"
        assert line["protocol"] == "HTTP/1.1"
        assert line["ip"] == "127.0.0.1"
        assert line["responseLength"] == str(len(reply.body))
    routes = [by_id[r.header("x-amzn-RequestId")]["routeKey"] for r in replies]
    assert routes == ["GET /items"] * 4 + ["GET /status/{code}"] * 5 + ["-"]


def test_trace_headers_reach_the_backend(gateway: GatewayFactory, backend: Process, tmp_path: Path) -> None:
    process = gateway.start(api(backend.port))

    def backend_headers(reply: Reply) -> dict[str, str]:
        return {name.lower(): value for name, value in reply.json()["headers"]}

    created = backend_headers(process.call("GET", "/status/200"))
    version, trace_id, span_id, flags = created["traceparent"].split("-")
    assert (version, len(trace_id), len(span_id), flags) == ("00", 32, 16, "00")
    assert created["x-amzn-trace-id"] == f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled=0"
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    kept = backend_headers(process.call("GET", "/status/200", headers={"traceparent": incoming}))
    assert kept["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert not kept["traceparent"].endswith("00f067aa0ba902b7-01")  # the gateway is the backend's parent
    assert kept["x-amzn-trace-id"].startswith("Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;")
    xray = backend_headers(
        process.call("GET", "/status/200", headers={"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793"})
    )
    assert xray["traceparent"].startswith("00-5759e988bd862e3fe1be46a994272793-")


def test_health_and_readiness_while_draining(gateway: GatewayFactory, backend: Process, tmp_path: Path) -> None:
    metrics_port = free_port()
    process = gateway.start(api(backend.port), "--metrics-port", str(metrics_port))
    assert call(metrics_port, "GET", "/health/live").status == 200
    assert call(metrics_port, "GET", "/health/ready").json() == {"status": "ok"}
    slow: list[Reply] = []
    thread = threading.Thread(target=lambda: slow.append(process.call("GET", "/slow")))
    thread.start()
    time.sleep(0.3)
    process.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    draining = call(metrics_port, "GET", "/health/ready")
    assert (draining.status, draining.json()) == (503, {"status": "draining"})
    thread.join()
    assert slow[0].status == 200  # the in-flight request finished
    assert process.process.wait(15) == 0


def test_the_metrics_listener_bounds_hostile_connections(
    gateway: GatewayFactory, backend: Process, tmp_path: Path
) -> None:
    """Issue 18, item 11, through ``fastgw serve --metrics-port``: a malformed ``Content-Length`` is answered 400
    (it dropped the connection and logged a traceback), and a crowd of silent connections leaves scrapes
    answered."""
    metrics_port = free_port()
    process = gateway.start(
        api(backend.port), "--metrics-port", str(metrics_port), env={"FASTGW_ADMIN_TOKEN": "t" * 32}
    )
    with socket.create_connection(("127.0.0.1", metrics_port), timeout=10) as sock:
        sock.sendall(b"POST /admin/cache/flush HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body) == {"message": "Invalid Content-Length"}
    silent = [socket.create_connection(("127.0.0.1", metrics_port), timeout=10) for _ in range(400)]
    try:
        assert "fastgw_requests" in scrape(metrics_port)
        assert call(metrics_port, "GET", "/health/ready").status == 200
    finally:
        for sock in silent:
            sock.close()
    assert process.call("GET", "/items").status == 200
    assert "Traceback" not in process.output()
