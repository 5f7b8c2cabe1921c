"""SIGHUP reloads the files ``fastgw serve`` was started with: workers are replaced one by one while the socket
stays open, a configuration that fails to load leaves the running one in place, and token buckets carry over."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastgw.gateway import RESPAWN_INTERVAL
from tests.conftest import GatewayFactory, Process, call, free_port, wait_for_port


def api(version: int, *, extra_route: bool = False) -> dict[str, Any]:
    """REST API with mock integrations: GET /version answers {"version": N}."""

    def mock(body: str) -> dict[str, Any]:
        return {
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {
                "type": "mock",
                "requestTemplates": {"application/json": '{"statusCode": 200}'},
                "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": body}}},
            },
        }

    paths = {"/version": {"get": mock(f'{{"version": {version}}}')}, "/limited": {"get": mock("{}")}}
    if extra_route:
        paths["/added"] = {"get": mock('{"added": true}')}
    return {"swagger": "2.0", "info": {"title": "reloaded", "version": str(version)}, "paths": paths}


class Load:
    """Clients calling GET /version until stopped: one on a fresh connection per request, one on a keep-alive
    connection. A connection the server closes before sending a byte of response is retried once on a new
    connection, as HTTP clients do for idempotent requests (RFC 9110 §9.2.2): an old worker closes its idle
    keep-alive connections when it stops, and a connection it accepted in the instant it stopped, before reading
    the request (Granian's graceful shutdown). Anything else is a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self.closed_before_response = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._fresh), threading.Thread(target=self._keepalive)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _record(self, status: int, body: bytes) -> None:
        if status == 200:
            self.answers[body.decode()] += 1
        else:
            self.failures.append(f"{status} {body[:100]!r}")

    def _fresh(self) -> None:
        while not self._stop.is_set():
            for attempt in (1, 2):
                try:
                    reply = call(self.port, "GET", "/version", timeout=5)
                    self._record(reply.status, reply.body)
                    break
                except http.client.RemoteDisconnected as error:
                    self.closed_before_response += 1
                    if attempt == 2:
                        self.failures.append(f"fresh connection, retried: {error!r}")
                except OSError as error:
                    self.failures.append(f"fresh connection: {error!r}")
                    break

    def _keepalive(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self._stop.is_set():
            try:
                connection.request("GET", "/version")
                response = connection.getresponse()
                self._record(response.status, response.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.closed_before_response += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            except OSError as error:
                self.failures.append(f"keep-alive connection: {error!r}")
        connection.close()


def reload(process: Process) -> None:
    process.process.send_signal(signal.SIGHUP)


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sighup_serves_the_new_definition_without_a_failed_request(gateway: GatewayFactory) -> None:
    path = gateway.write(api(1))
    process = gateway.start(path, "--workers", "2")
    assert process.call("GET", "/added").status == 403  # not a route yet: Missing Authentication Token
    with Load(process.port) as load:
        wait_until(lambda: load.answers['{"version": 1}'] > 20)
        gateway.write(api(2, extra_route=True))
        reload(process)
        wait_until(lambda: "reload 1: 3 routes loaded" in process.output())
        wait_until(lambda: process.output().count("Stopped old worker") == 2)
        before = load.answers['{"version": 2}']
        wait_until(lambda: load.answers['{"version": 2}'] > before + 20)
        served_v1_at_end = load.answers['{"version": 1}']
        time.sleep(0.3)
        assert load.answers['{"version": 1}'] == served_v1_at_end, "an old worker still answers"
    assert load.failures == []
    assert process.call("GET", "/added").json() == {"added": True}
    assert process.process.poll() is None


def test_a_definition_that_fails_to_load_leaves_the_running_one(gateway: GatewayFactory) -> None:
    path = gateway.write(api(1))
    process = gateway.start(path)
    path.write_text("swagger: '2.0'\npaths: [not, a, mapping\n")
    reload(process)
    wait_until(lambda: "reload failed; still serving the previous configuration" in process.output())
    assert str(path) in process.output()  # the error names the file
    assert process.call("GET", "/version").json() == {"version": 1}

    # A definition that parses but cannot be served (an integration with no type) is refused the same way.
    broken = api(2)
    del broken["paths"]["/version"]["get"]["x-amazon-apigateway-integration"]["type"]
    gateway.write(broken)
    reload(process)
    wait_until(lambda: process.output().count("reload failed") == 2)
    assert "api.yaml#/paths/~1version/get/x-amazon-apigateway-integration/type" in process.output()
    assert process.call("GET", "/version").json() == {"version": 1}


def test_token_buckets_carry_over_a_reload(gateway: GatewayFactory) -> None:
    """A reload must not grant a fresh burst: rate 0.1/s, burst 3, the bucket stays empty across it."""
    path = gateway.write(api(1))
    process = gateway.start(path, "--throttle-rate", "0.1", "--throttle-burst", "3")
    statuses = [process.call("GET", "/limited").status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    gateway.write(api(2))
    reload(process)
    wait_until(lambda: "Stopped old worker" in process.output())
    assert process.call("GET", "/version").json() == {"version": 2}
    assert process.call("GET", "/limited").status == 429


def worker_pids(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:  # field 4, ppid
                pids.append(int(entry.name))
    return pids


def test_workers_exit_when_the_serving_process_is_killed(gateway: GatewayFactory) -> None:
    """No orphan goes on serving: SIGKILL the parent (it cannot stop anything) and every worker stops too."""
    process = gateway.start(gateway.write(api(1)), "--workers", "2")
    wait_until(lambda: "Started worker-2 runtime-1" in process.output())
    workers = worker_pids(process.process.pid)
    assert len(workers) == 2
    process.process.kill()
    process.process.wait()
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), timeout=15)


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (children, grandchildren...)."""
    found: set[int] = set()
    frontier = [root]
    while frontier:
        children = worker_pids(frontier.pop())
        found.update(children)
        frontier += children
    return found


def test_a_failed_reload_keeps_the_workers_and_their_cache(
    gateway: GatewayFactory, backend: Process, tmp_path: Path
) -> None:
    """Issue 18, item 17a: a reload whose files fail to load replaced the workers all the same (with the old
    app), which emptied every worker's stage cache. Now the running workers stay as they are."""
    from tests.e2e.test_cache import cached_api, served_by_backend
    from tests.e2e.test_cache import start as start_cached

    process = start_cached(gateway, tmp_path, cached_api(backend.port), {"cacheClusterEnabled": True})
    fetched = served_by_backend(backend, process.call("GET", "/items?type=a"))
    assert served_by_backend(backend, process.call("GET", "/items?type=a")) == fetched  # a hit
    wait_until(lambda: "Started worker-1" in process.output())
    workers = worker_pids(process.process.pid)
    assert len(workers) == 1
    (tmp_path / "api.yaml").write_text("swagger: '2.0'\npaths: [not, a, mapping\n")
    reload(process)
    wait_until(lambda: "reload failed; still serving the previous configuration" in process.output())
    time.sleep(2 * RESPAWN_INTERVAL)  # a respawn, if one were coming, starts at once and ends in RESPAWN_INTERVAL
    assert "Respawning worker" not in process.output()
    assert worker_pids(process.process.pid) == workers
    assert served_by_backend(backend, process.call("GET", "/items?type=a")) == fetched  # still a hit


def self_signed(tmp_path: Path) -> dict[str, str]:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True,
        capture_output=True,
    )
    return {"certificate": "cert.pem", "key": "key.pem"}


def https_version(port: int, cafile: Path) -> Any:
    context = ssl.create_default_context(cafile=str(cafile))
    context.check_hostname = False
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", "/version")
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()


def two_listeners(gateway: GatewayFactory, tmp_path: Path) -> tuple[Process, int, int, int]:
    """``fastgw serve gateway.yaml`` with an HTTP and an HTTPS listener, and metrics: (process, the HTTP port, the
    HTTPS port, the metrics port)."""
    gateway.write(api(1))
    plain, tls, metrics = free_port(), free_port(), free_port()
    config = {
        "apis": {"versions": {"definition": "api.yaml", "stages": {"prod": {}}}},
        "listeners": [
            {"host": "127.0.0.1", "port": plain},
            {"host": "127.0.0.1", "port": tls, "tls": self_signed(tmp_path)},
        ],
        "mappings": [{"api": "versions", "stage": "prod", "basePath": ""}],
        "metrics": {"port": metrics},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    process = Process([sys.executable, "-m", "fastgw", "serve", str(path)], plain, tmp_path / "gateway.log")
    gateway.started.append(process)
    wait_for_port(tls, process.process)
    return process, plain, tls, metrics


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@needs_openssl
def test_sighup_with_two_listeners_reloads_both(gateway: GatewayFactory, tmp_path: Path) -> None:
    """Issue 18, item 16: with an HTTP and an HTTPS listener, SIGHUP killed the ``fastgw serve`` parent (nothing
    handled the signal there): the listeners' servers were orphaned with the old configuration, and the metrics
    port went silent. Now the parent reloads, every listener serves the new configuration without a failed
    request, and SIGTERM stops every process."""
    process, plain, tls, metrics = two_listeners(gateway, tmp_path)
    assert call(plain, "GET", "/version").json() == {"version": 1}
    assert https_version(tls, tmp_path / "cert.pem") == {"version": 1}
    with Load(plain) as load:
        wait_until(lambda: load.answers['{"version": 1}'] > 20)
        gateway.write(api(2, extra_route=True))
        reload(process)
        wait_until(lambda: "2 of 2 listeners serve the new configuration" in process.output())
        before = load.answers['{"version": 2}']
        wait_until(lambda: load.answers['{"version": 2}'] > before + 20)
    assert load.failures == []
    assert call(plain, "GET", "/version").json() == {"version": 2}
    assert https_version(tls, tmp_path / "cert.pem") == {"version": 2}
    assert call(plain, "GET", "/added").json() == {"added": True}
    assert process.process.poll() is None, process.output()
    scrape = call(metrics, "GET", "/metrics")
    assert scrape.status == 200
    assert 'route="GET /added"' in scrape.body.decode()  # the new gateway's counters
    everything = descendants(process.process.pid)
    assert everything
    assert process.stop() == 0
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in everything), timeout=15)


@needs_openssl
def test_no_listener_outlives_a_killed_parent(gateway: GatewayFactory, tmp_path: Path) -> None:
    """Issue 18, item 16: the listeners' servers (and their workers) die with the ``fastgw serve`` process, even
    killed outright."""
    process, _, _, _ = two_listeners(gateway, tmp_path)
    wait_until(lambda: process.output().count("Started worker-1 runtime-1") == 2)
    everything = descendants(process.process.pid)
    assert len(everything) == 4  # two servers, a worker each
    process.process.kill()
    process.process.wait()
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in everything), timeout=15)
