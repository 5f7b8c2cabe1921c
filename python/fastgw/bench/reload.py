"""Start and reload of a large table under load: `fastgw serve` on a 10,000-route API (one worker, pinned), the time
to its first answer, then reloads (SIGHUP after the file changed) while wrk keeps requesting: how long until the
new table answers, how long until the old worker is gone, and every failed request meanwhile (there must be
none; keep-alive connections the old worker closes are counted apart). The backend is the bench's nginx.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastgw.bench import wrk
from fastgw.bench.gateways import UNLIMITED
from fastgw.bench.procs import HOST, Process, free_port, http_get, pinned, wait_ready
from fastgw.bench.requirements import Environment
from fastgw.bench.runner import start_backend
from fastgw.bench.scenarios import BODY, PROXY
from fastgw.bench.sweep import write_definition

ROUTES = 10_000
RELOADS = 3
CONNECTIONS = 16  # wrk connections during the reloads: steady traffic, not saturation
LOAD_PATH = "/pets/42"  # GET /pets/{id}, a proxied route of sweep.write_definition's table


def _marker_definition(path: Path, generation: int) -> None:
    """The table with one more route, `GET /reload-marker-<generation>` (a mock): answered once reloaded."""
    document = json.loads(path.read_text())
    document["paths"] = {
        key: value for key, value in document["paths"].items() if not key.startswith("/reload-marker-")
    }
    document["paths"][f"/reload-marker-{generation}"] = {
        "get": {
            "responses": {"200": {"description": "OK"}},
            "x-amazon-apigateway-integration": {
                "type": "mock",
                "requestTemplates": {"application/json": '{"statusCode": 200}'},
                "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{}"}}},
            },
        }
    }
    path.write_text(json.dumps(document))


def _seconds_until(predicate: Callable[[], bool], since: float, timeout: float) -> float | None:
    """Seconds from `since` (a monotonic time) until `predicate()` holds, polling every 10 ms; None when it has
    not after `timeout` seconds."""
    while time.monotonic() - since < timeout:
        if predicate():
            return time.monotonic() - since
        time.sleep(0.01)
    return None


def run(
    out: Path,
    env: Environment,
    *,
    routes: int = ROUTES,
    reloads: int = RELOADS,
    load_cpu: str = "0",
    gateway_cpu: str = "1",
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Writes out/reload.json and out/reload.md; returns the document."""
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="fastgw-reload-"))
    root.chmod(0o755)
    fastgw = env.find("fastgw")
    if fastgw is None:
        raise RuntimeError("needs fastgw on the PATH")
    upstream, backend_info = start_backend(root, load_cpu, env, PROXY)
    backend_port = backend_info.port
    gateway: Process | None = None
    try:
        definition = write_definition(root / "api.json", routes)
        port = free_port()
        argv = [
            str(fastgw), "serve", str(definition), "--host", HOST, "--port", str(port), "--workers", "1",
            "--stage-variable", f"backendPort={backend_port}", "--gateway-throttle", UNLIMITED,
        ]  # fmt: skip
        gateway = Process("fastgw", pinned(gateway_cpu, argv), log_path=root / "fastgw.log", env=None, cwd=root)
        started_in = wait_ready(gateway, port, LOAD_PATH, BODY, timeout=120)
        progress(f"reload: {routes:,} routes served {started_in:.2f} s after start")
        results = [
            _reload_under_load(gateway, port, definition, generation, load_cpu, progress)
            for generation in range(1, reloads + 1)
        ]
        document = {
            "kind": "fastgw-reload",
            "routes": routes,
            "start_to_first_answer_s": started_in,
            "connections": CONNECTIONS,
            "gateway_command": argv,
            "reloads": results,
            "log_tail": gateway.log_tail(20),
        }
    finally:
        if gateway is not None:
            gateway.stop()
        upstream.stop()
        shutil.rmtree(root, ignore_errors=True)
    (out / "reload.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "reload.md").write_text(markdown(document))
    return document


def _reload_under_load(
    gateway: Process, port: int, definition: Path, generation: int, load_cpu: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    """One reload 2 s into 12 s of wrk load: the file gains GET /reload-marker-<generation>, then SIGHUP."""
    _marker_definition(definition, generation)
    marker = f"/reload-marker-{generation}"
    stopped_before = gateway.log_path.read_text().count("Stopped old worker")
    measured: list[wrk.WrkResult] = []
    url = f"http://{HOST}:{port}{LOAD_PATH}"
    load = threading.Thread(
        target=lambda: measured.append(wrk.run(url, connections=CONNECTIONS, seconds=12, latency=True, cpu=load_cpu))
    )
    load.start()
    time.sleep(2)
    sent = time.monotonic()
    os.kill(gateway.pid, signal.SIGHUP)
    answered = _seconds_until(lambda: _status(port, marker) == 200, sent, timeout=60)
    finished = _seconds_until(
        lambda: gateway.log_path.read_text().count("Stopped old worker") > stopped_before, sent, timeout=60
    )
    load.join()
    result = measured[0]
    progress(
        f"reload {generation}: new table answers after {_s(answered)}, old worker gone after {_s(finished)}; "
        f"during 12 s of load: {result.requests or 0:,} requests, non-2xx {result.non_2xx_3xx}, socket errors "
        f"{result.socket_error_count}"
    )
    return {
        "reload": generation,
        "new_table_answers_s": answered,
        "old_worker_gone_s": finished,
        "requests": result.requests,
        "requests_per_sec": result.requests_per_sec,
        "non_2xx_3xx": result.non_2xx_3xx,
        "socket_errors": result.socket_errors,
        "p99_us": result.p99.us if result.p99 else None,
        "wrk": result.argv,
    }


def _status(port: int, path: str) -> int | None:
    try:
        return http_get(port, path, timeout=1.0)[0]
    except OSError:
        return None


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def markdown(document: dict[str, Any]) -> str:
    rows = document["reloads"]
    answered = [r["new_table_answers_s"] for r in rows if r["new_table_answers_s"] is not None]
    lines = [
        f"# Start and reload with {document['routes']:,} routes",
        "",
        f"`fastgw serve` (one worker, pinned) on a {document['routes']:,}-route definition answered its first "
        f"request {document['start_to_first_answer_s']:.2f} s after it was started. Then, {len(rows)} times: the "
        f"file gains a route, SIGHUP, while `wrk -c{document['connections']}` keeps requesting a proxied route.",
        "",
        "| reload | new table answers after | old worker gone after | requests during the run | non-2xx | "
        "keep-alive connections closed (wrk read errors) | other socket errors | p99 |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        errors = dict(r["socket_errors"] or {})
        closed = errors.pop("read", 0)
        p99 = "–" if r["p99_us"] is None else f"{r['p99_us'] / 1000:.1f} ms"
        lines.append(
            f"| {r['reload']} | {_s(r['new_table_answers_s'])} | {_s(r['old_worker_gone_s'])} "
            f"| {r['requests'] or 0:,} | {r['non_2xx_3xx']} | {closed} | {sum(errors.values())} | {p99} |"
        )
    if answered:
        lines += ["", f"Median time from SIGHUP to the new table answering: {statistics.median(answered):.2f} s."]
    lines += [
        "",
        "The new worker is forked from the parent once the parent has loaded the new table; the old one stops "
        "1 s later (`RESPAWN_INTERVAL`), finishing its in-flight requests; the listening socket never closes.",
        "",
        "A failed request is a non-2xx answer or a socket error other than a read error. A read error is a "
        "keep-alive connection the old worker closed as it stopped, idle on its side, while wrk wrote its next "
        "request into it: wrk counts that request and does not send it again. HTTP/1.1 lets a client retry an "
        "idempotent request on a connection the server closed (RFC 9112 §9.3.1), and browsers and HTTP libraries "
        "do; nginx closes its idle keep-alive connections on a reload the same way.",
        "",
    ]
    return "\n".join(lines)
