"""Draws the Grafana dashboard's main panels (examples/grafana-dashboard.json) from a real gateway's metrics.

Starts `fastgw serve` with two workers and metrics on, sends it a changing mix of traffic for a minute (cached
reads, writes with a body validator that refuses some, a throttled route, a route whose backend is down), scrapes
`/metrics` every two seconds, and draws what the dashboard's queries show: requests per second by status class,
latency percentiles from the histogram, the cache hit ratio, and throttled requests and upstream errors.

    .venv/bin/python examples/dashboard_chart.py [--seconds 60] [--out examples/dashboard.png]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families


def mock(status: int, body: str) -> dict[str, Any]:
    return {
        "type": "mock",
        "requestTemplates": {"application/json": json.dumps({"statusCode": status})},
        "responses": {"default": {"statusCode": str(status), "responseTemplates": {"application/json": body}}},
    }


def definition(dead_port: int) -> dict[str, Any]:
    ok = {"200": {"description": "ok"}}
    return {
        "swagger": "2.0",
        "info": {"title": "shop", "version": "1"},
        "x-amazon-apigateway-request-validators": {"body": {"validateRequestBody": True}},
        "paths": {
            "/pets": {"get": {"responses": ok, "x-amazon-apigateway-integration": mock(200, '[{"id": 1}]')}},
            "/orders": {
                "post": {
                    "parameters": [{"name": "body", "in": "body", "schema": {"$ref": "#/definitions/Order"}}],
                    "x-amazon-apigateway-request-validator": "body",
                    "responses": ok,
                    "x-amazon-apigateway-integration": mock(201, '{"accepted": true}'),
                }
            },
            "/search": {"get": {"responses": ok, "x-amazon-apigateway-integration": mock(200, "[]")}},
            "/stock": {
                "get": {
                    "responses": ok,
                    "x-amazon-apigateway-integration": {
                        "type": "http_proxy",
                        "httpMethod": "GET",
                        "uri": f"http://127.0.0.1:{dead_port}/stock",
                    },
                }
            },
        },
        "definitions": {"Order": {"type": "object", "required": ["item"], "properties": {"item": {"type": "string"}}}},
    }


def gateway_file(work: Path, port: int) -> Path:
    (work / "shop.yaml").write_text(yaml.safe_dump(definition(free_port())))
    stage = {
        "cacheClusterEnabled": True,
        "methodSettings": {
            "/pets/GET": {"cachingEnabled": True, "cacheTtlInSeconds": 3},
            "/search/GET": {"throttlingRateLimit": 40, "throttlingBurstLimit": 20},
        },
    }
    config = {
        "apis": {"shop": {"definition": "shop.yaml", "stages": {"prod": stage}}},
        "listeners": [{"host": "127.0.0.1", "port": port}],
        "mappings": [{"api": "shop", "stage": "prod", "basePath": ""}],
    }
    path = work / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def drive(port: int, stop: threading.Event, started: float, seconds: float, seed: int) -> None:
    """One client: a mix that shifts over the run (more writes, bad bodies and searches as it goes on)."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stop.is_set():
        phase = (time.monotonic() - started) / seconds
        choice = rng.random()
        headers = {"content-type": "application/json"}
        if choice < 0.45:
            method, path, body = "GET", "/pets", None
        elif choice < 0.45 + 0.25 * phase + 0.1:
            bad = rng.random() < 0.1 + 0.3 * phase
            method, path, body = "POST", "/orders", b'{"qty": 1}' if bad else b'{"item": "bone"}'
        elif choice < 0.9:
            method, path, body = "GET", "/search", None
        else:
            method, path, body = "GET", "/stock", None
        try:
            connection.request(method, path, body=body, headers=headers)
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        time.sleep(rng.uniform(0.002, 0.02) * (1.5 - phase))


def scrape(metrics_port: int) -> dict[str, Any]:
    """Totals of one scrape: requests by status class, duration buckets, cache hits/misses, throttled,
    upstream errors."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    totals: dict[str, Any] = {
        "status": {},
        "buckets": {},
        "hits": 0.0,
        "misses": 0.0,
        "throttled": 0.0,
        "upstream": 0.0,
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "fastgw_requests_total":
                totals["status"][labels["status_class"]] = totals["status"].get(labels["status_class"], 0) + value
            elif name == "fastgw_request_duration_seconds_bucket":
                bound = float(labels["le"])
                totals["buckets"][bound] = totals["buckets"].get(bound, 0) + value
            elif name == "fastgw_cache_hits_total":
                totals["hits"] += value
            elif name == "fastgw_cache_misses_total":
                totals["misses"] += value
            elif name == "fastgw_throttled_requests_total":
                totals["throttled"] += value
            elif name == "fastgw_upstream_errors_total":
                totals["upstream"] += value
    return totals


def quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus's histogram_quantile over cumulative bucket counts (linear within a bucket)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return float("nan")
    rank, previous_bound, previous_count = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            share = (rank - previous_count) / (count - previous_count) if count > previous_count else 0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", default=str(Path(__file__).with_name("dashboard.png")))
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with tempfile.TemporaryDirectory() as tmp:
        port, metrics_port = free_port(), free_port()
        command = [sys.executable, "-m", "fastgw", "serve", str(gateway_file(Path(tmp), port)),
                   "--workers", "2", "--metrics-port", str(metrics_port), "--state", f"{tmp}/state.db"]  # fmt: skip
        gateway = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(port)
            wait_for(metrics_port)
            stop, started = threading.Event(), time.monotonic()
            clients = [
                threading.Thread(target=drive, args=(port, stop, started, args.seconds, seed), daemon=True)
                for seed in range(4)
            ]
            for client in clients:
                client.start()
            samples = [(0.0, scrape(metrics_port))]
            while time.monotonic() - started < args.seconds:
                time.sleep(2)
                samples.append((time.monotonic() - started, scrape(metrics_port)))
            stop.set()
        finally:
            gateway.terminate()
            gateway.wait(15)

    times, rates, p50, p90, p99, hit_ratio, throttled, upstream = [], {}, [], [], [], [], [], []
    for (t0, before), (t1, after) in zip(samples, samples[1:], strict=False):
        span = t1 - t0
        times.append(t1)
        for status_class in ("2xx", "4xx", "5xx"):
            delta = after["status"].get(status_class, 0) - before["status"].get(status_class, 0)
            rates.setdefault(status_class, []).append(delta / span)
        delta_buckets = {b: after["buckets"][b] - before["buckets"].get(b, 0) for b in after["buckets"]}
        for series, q in ((p50, 0.5), (p90, 0.9), (p99, 0.99)):
            series.append(quantile(q, delta_buckets) * 1000)
        hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
        hit_ratio.append(hits / (hits + misses) if hits + misses else float("nan"))
        throttled.append((after["throttled"] - before["throttled"]) / span)
        upstream.append((after["upstream"] - before["upstream"]) / span)

    figure, axes = plt.subplots(2, 2, figsize=(12, 6.5), constrained_layout=True)
    figure.suptitle("fastgw: the Grafana dashboard's panels, from a live gateway's /metrics (2 workers)")
    ax = axes[0][0]
    for status_class, color in (("2xx", "tab:green"), ("4xx", "tab:orange"), ("5xx", "tab:red")):
        ax.plot(times, rates[status_class], label=status_class, color=color)
    ax.set(title="Request rate by status class", ylabel="requests/s")
    ax.legend()
    ax = axes[0][1]
    for series, label in ((p50, "p50"), (p90, "p90"), (p99, "p99")):
        ax.plot(times, series, label=label)
    ax.set(title="Latency (fastgw_request_duration_seconds)", ylabel="ms")
    ax.legend()
    ax = axes[1][0]
    ax.plot(times, hit_ratio, color="tab:purple")
    ax.set(title="Cache hit ratio (GET /pets, TTL 3 s)", ylabel="hits / (hits + misses)", ylim=(0, 1.05))
    ax = axes[1][1]
    ax.plot(times, throttled, label="throttled (429)", color="tab:orange")
    ax.plot(times, upstream, label="upstream errors", color="tab:red")
    ax.set(title="Throttled requests and upstream errors", ylabel="per second")
    ax.legend()
    for ax in axes[1]:
        ax.set_xlabel("seconds")
    figure.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
