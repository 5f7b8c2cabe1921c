"""What a gateway feature costs on a proxied route: the same route served plain and with the feature on.

``--feature shaping`` (issue "Request and response shaping", 10% budget): a plain REST ``http_proxy`` POST
route, and the same route with a body validator (a 1 KB JSON model with a ``$ref``, plus required-parameter
checks) and a header mapping; wrk POSTs the same 988-byte JSON body through each.

``--feature admission`` (issue "Throttling, API keys and usage plans", 5% budget): the plain route, and the
same route with ``apiKeyRequired`` (the client sends ``x-api-key``), a usage plan with a per-key throttle, a
stage throttle for the route and the gateway-wide limit, all high enough never to refuse (what is measured is
the checking, not the refusing). The plain route still has the gateway-wide bucket, which is always on.

``--feature metrics`` / ``--feature accesslog`` (issue "Observability", 2% and 5% budgets): the plain GET route
served without and with ``--metrics-port`` (every request counted into the shared region) or ``--access-log
FILE`` (a JSON line per request, rendered in Rust and written by the access-log sink's thread).

Each variant runs on CPU 1 with one worker, wrk and an nginx backend on CPU 0; the worker's CPU time per
request is compared over alternating rounds (robust on a shared machine).

Run from the repository root: ``.venv/bin/python benches/load/feature_cost.py --feature admission [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BODY = json.dumps(
    {"id": 7, "name": "rex", "tags": ["a"] * 20, "owner": {"name": "x" * 400, "email": "a@b.c"}, "notes": "n" * 400}
)
MODEL = {
    "type": "object",
    "required": ["id", "name", "owner"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {"$ref": "#/definitions/Owner"},
        "notes": {"type": "string"},
    },
}
OWNER = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
}


API_KEY = "benchbenchbenchbenchbench0123456789"
HIGH = "1000000000"


def admission_definition(backend_port: int, keyed: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "x-amazon-apigateway-integration": {
            "type": "http_proxy",
            "httpMethod": "GET",
            "uri": f"http://127.0.0.1:{backend_port}/items",
        }
    }
    if keyed:
        operation["security"] = [{"api_key": []}]
    return {
        "swagger": "2.0",
        "info": {"title": "admission-cost", "version": "1"},
        "paths": {"/items": {"get": operation}},
        "securityDefinitions": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
    }


def admission_gateway(work: Path, keyed: bool) -> dict[str, Any]:
    """The gateway config: with ``keyed``, a key in a usage plan with a per-key throttle and a stage throttle."""
    stage: dict[str, Any] = {}
    config: dict[str, Any] = {
        "apis": {"api": {"definition": f"{'keyed' if keyed else 'plain'}.yaml", "stages": {"prod": stage}}},
        "mappings": [{"api": "api", "stage": "prod", "basePath": ""}],
        "throttling": {"rateLimit": 1e9, "burstLimit": 1_000_000_000},
    }
    if keyed:
        stage["throttling"] = {"rateLimit": 1e9, "burstLimit": 1_000_000_000}
        config["usagePlans"] = {
            "bench": {
                "throttle": {"rateLimit": 1e9, "burstLimit": 1_000_000_000},
                "apiStages": [{"api": "api", "stage": "prod"}],
            }
        }
        config["apiKeys"] = {"bench": {"value": API_KEY, "usagePlans": ["bench"]}}
    return config


def definition(backend_port: int, shaped: bool) -> dict[str, Any]:
    integration: dict[str, Any] = {
        "type": "http_proxy",
        "httpMethod": "POST",
        "uri": f"http://127.0.0.1:{backend_port}/items",
    }
    operation: dict[str, Any] = {
        "parameters": [
            {"name": "body", "in": "body", "schema": {"$ref": "#/definitions/Pet"}},
            {"name": "x-user", "in": "header", "required": shaped, "type": "string"},
        ],
        "x-amazon-apigateway-integration": integration,
    }
    document: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": "shaping-cost", "version": "1"},
        "paths": {"/items": {"post": operation}},
        "definitions": {"Pet": MODEL, "Owner": OWNER},
    }
    if shaped:
        document["x-amazon-apigateway-request-validators"] = {
            "all": {"validateRequestBody": True, "validateRequestParameters": True}
        }
        operation["x-amazon-apigateway-request-validator"] = "all"
        integration["requestParameters"] = {"integration.request.header.x-user-id": "method.request.header.x-user"}
    return document


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def workers(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out] or [pid]


def wrk_command(port: int, script: Path, seconds: int, connections: int = 64) -> list[str]:
    return [
        "taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
        f"http://127.0.0.1:{port}/items",
    ]  # fmt: skip


def wrk_counts(out: str) -> tuple[int, float]:
    requests = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
    rate = float(next(line for line in out.splitlines() if line.startswith("Requests/sec")).split()[1])
    return requests, rate


def wrk(port: int, script: Path, seconds: int) -> tuple[int, float, str]:
    out = subprocess.run(wrk_command(port, script, seconds), capture_output=True, text=True, check=True).stdout
    return (*wrk_counts(out), out)


def wrk_together(ports: list[int], script: Path, seconds: int) -> list[tuple[int, float, str]]:
    """One wrk per port, all at once (32 connections each)."""
    runs = [
        subprocess.Popen(wrk_command(port, script, seconds, 32), stdout=subprocess.PIPE, text=True) for port in ports
    ]
    outs = [run.communicate()[0] for run in runs]
    return [(*wrk_counts(out), out) for out in outs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature", choices=("shaping", "admission", "metrics", "accesslog"), default="shaping")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument(
        "--together", action="store_true", help="run both variants at once on CPU 1 (robust on a noisy host)"
    )
    args = parser.parse_args(argv)
    hz = os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backend_port = free_port()
        (work / "nginx.conf").write_text(
            f"worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
            "events { worker_connections 4096; }\n"
            "http { access_log off; keepalive_requests 1000000; client_body_buffer_size 64k;\n"
            f"  server {{ listen 127.0.0.1:{backend_port}; location / {{ default_type application/json;"
            " return 200 '{\"id\":1}'; } } }\n"
        )
        script = work / "request.lua"
        kinds = {"shaping": ("plain", "shaped"), "admission": ("plain", "keyed")}.get(
            args.feature, ("plain", args.feature)
        )
        extra_args: dict[str, list[str]] = {
            "metrics": ["--metrics-port", str(free_port())],
            "accesslog": ["--access-log", str(work / "access.log")],
        }
        if args.feature == "shaping":
            script.write_text(
                f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\n'
                'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["x-user"] = "alice"\n'
            )
            for kind in kinds:
                (work / f"{kind}.yaml").write_text(yaml.safe_dump(definition(backend_port, kind == "shaped")))
                (work / f"{kind}-gateway.yaml").write_text(
                    yaml.safe_dump(
                        {
                            "apis": {"api": {"definition": f"{kind}.yaml"}},
                            "mappings": [{"api": "api", "stage": "$default", "basePath": ""}],
                            "throttling": {"rateLimit": 1e9, "burstLimit": 1_000_000_000},
                        }
                    )
                )
        else:
            script.write_text(f'wrk.method = "GET"\nwrk.headers["x-api-key"] = "{API_KEY}"\n')
            for kind in kinds:
                (work / f"{kind}.yaml").write_text(yaml.safe_dump(admission_definition(backend_port, kind == "keyed")))
                config = admission_gateway(work, kind == "keyed")
                config["apis"]["api"]["definition"] = f"{kind}.yaml"
                (work / f"{kind}-gateway.yaml").write_text(yaml.safe_dump(config))
        backend = subprocess.Popen(
            ["taskset", "-c", "0", "nginx", "-c", str(work / "nginx.conf"), "-p", tmp], start_new_session=True
        )
        try:
            wait_for(backend_port)

            def start(kind: str) -> tuple[subprocess.Popen[bytes], int]:
                port = free_port()
                gateway = subprocess.Popen(
                    ["taskset", "-c", "1", sys.executable, "-m", "fastgw", "serve",
                     str(work / f"{kind}-gateway.yaml"), "--port", str(port), "--state", str(work / f"{kind}.db"),
                     *extra_args.get(kind, [])],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )  # fmt: skip
                return gateway, port

            def stop(gateway: subprocess.Popen[bytes]) -> None:
                os.killpg(gateway.pid, signal.SIGTERM)
                gateway.wait(10)

            results: dict[str, list[float]] = {kind: [] for kind in kinds}
            ratios: list[float] = []
            for round_number in range(1, args.rounds + 1):
                # Alone: each variant in turn on CPU 1. Together: both on CPU 1 at once, each under its own wrk,
                # so that whatever slows the machine in a round slows both alike.
                groups = [list(kinds)] if args.together else [[kind] for kind in kinds]
                for group in groups:
                    started = [start(kind) for kind in group]
                    try:
                        ports = [port for _, port in started]
                        for port in ports:
                            wait_for(port)
                        time.sleep(1.5)
                        wrk_together(ports, script, 2)
                        pids = [workers(gateway.pid) for gateway, _ in started]
                        before = [cpu_ticks(p) for p in pids]
                        runs = wrk_together(ports, script, args.duration)
                        for kind, p, ticks, (requests, rate, out) in zip(group, pids, before, runs, strict=True):
                            if "Non-2xx" in out:
                                raise RuntimeError(f"{kind}: non-2xx responses\n{out}")
                            per_request = (cpu_ticks(p) - ticks) / hz / requests * 1e6
                            results[kind].append(per_request)
                            print(f"round {round_number} {kind:9s} {rate:9.0f} req/s {per_request:6.1f} µs CPU/request")
                    finally:
                        for gateway, _ in started:
                            stop(gateway)
                ratios.append(results[kinds[1]][-1] / results["plain"][-1])
            plain = statistics.median(results["plain"])
            other = statistics.median(results[kinds[1]])
            print(
                f"median CPU/request: plain {plain:.1f} µs, {kinds[1]} {other:.1f} µs:"
                f" {(other / plain - 1) * 100:+.1f}%; median of the per-round ratios"
                f" {(statistics.median(ratios) - 1) * 100:+.1f}% (rounds: {', '.join(f'{r:.3f}' for r in ratios)})"
            )
        finally:
            os.killpg(backend.pid, signal.SIGTERM)
            backend.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
