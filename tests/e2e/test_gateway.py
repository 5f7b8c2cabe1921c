"""Gateway behaviour through a real server: request ids, robustness, stages, config files, TLS, shutdown."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import GatewayFactory, Process, Reply, call, free_port

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def proxy_api(
    backend_path: str = "/{proxy}", *, http_api: bool = False, timeout_ms: int | None = None
) -> dict[str, Any]:
    integration: dict[str, Any] = {
        "type": "http_proxy",
        "httpMethod": "ANY",
        "uri": "http://127.0.0.1:${stageVariables.backendPort}" + backend_path,
    }
    if timeout_ms:
        integration["timeoutInMillis"] = timeout_ms
    operation: dict[str, Any] = {
        "parameters": [{"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}],
        "x-amazon-apigateway-integration": integration,
    }
    if not http_api:
        integration["requestParameters"] = {"integration.request.path.proxy": "method.request.path.proxy"}
    api: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": {"title": "proxy", "version": "1"},
        "paths": {"/{proxy+}": {"x-amazon-apigateway-any-method": operation}},
    }
    if http_api:
        api["x-amazon-apigateway-importexport-version"] = "1.0"
        integration["payloadFormatVersion"] = "1.0"
    return api


@pytest.fixture
def proxy(gateway: GatewayFactory, backend: Process) -> Process:
    return gateway.start(proxy_api(), stage_variables={"backendPort": str(backend.port)})


def test_request_ids_are_unique_and_shaped_as_aws(proxy: Process) -> None:
    replies = [proxy.call("GET", "/echo") for _ in range(5)]
    ids = [r.header("x-amzn-RequestId") for r in replies]
    assert all(i and UUID.match(i) for i in ids), ids
    assert len(set(ids)) == 5
    extended = [r.header("x-amz-apigw-id") for r in replies]
    assert all(e and e.endswith("=") for e in extended)
    assert len(set(extended)) == 5


def test_malformed_requests_never_take_the_gateway_down(proxy: Process) -> None:
    for garbage in [
        b"\x00\x01\x02 not http at all\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",  # body cut short, then closed
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
    assert proxy.call("GET", "/echo").status == 200
    assert proxy.process.poll() is None


def test_a_crashing_handler_answers_500_and_the_gateway_goes_on(tmp_path: Path) -> None:
    script = tmp_path / "embedded.py"
    port = free_port()
    script.write_text(
        textwrap.dedent(
            f"""
            import fastgw

            api = {{"openapi": "3.0.1", "info": {{"title": "embedded", "version": "1"}}, "paths": {{}}}}

            async def hello(request):
                return {{"hello": request.params["name"], "q": request.query.get("q")}}

            def boom(request):
                raise RuntimeError("handler bug")

            gateway = fastgw.Gateway.from_document(api, handlers={{"GET /hello/{{name}}": hello, "GET /boom": boom}})
            gateway.serve(port={port})
            """
        )
    )
    log = tmp_path / "embedded.log"
    server = Process([sys.executable, str(script)], port, log)
    try:
        assert server.call("GET", "/hello/world?q=1").json() == {"hello": "world", "q": ["1"]}
        crashed = server.call("GET", "/boom")
        assert crashed.status == 500
        assert crashed.json() == {"message": "Internal server error"}
        assert crashed.header("x-amzn-ErrorType") == "InternalServerErrorException"
        assert server.call("GET", "/hello/again").json()["hello"] == "again"
        request_id = crashed.header("x-amzn-RequestId")
        time.sleep(0.2)
        assert f"request {request_id} failed" in server.output()
        assert "RuntimeError: handler bug" in server.output()
    finally:
        server.stop()


def test_stage_prefix_and_stage_variables(gateway: GatewayFactory, backend: Process) -> None:
    server = gateway.start(
        proxy_api("/{proxy}?stage=${stageVariables.name}"),
        "--stage",
        "prod",
        "--stage-prefix",
        stage_variables={"backendPort": str(backend.port), "name": "production"},
    )
    at_root = server.call("GET", "/items/1").json()
    under_stage = server.call("GET", "/prod/items/1").json()
    assert at_root["path"] == under_stage["path"] == "/items/1"
    assert under_stage["query"] == "stage=production"


def test_unknown_stage_variable_answers_500_with_a_warning(gateway: GatewayFactory) -> None:
    server = gateway.start(proxy_api())
    reply = server.call("GET", "/x")
    assert reply.status == 500
    assert reply.json() == {"message": "Internal server error"}
    assert "stage variable(s) backendPort not set" in server.output()


GATEWAY_FILE = """
apis:
  pets:
    definition: pets.yaml
    stagePrefix: true
    stages:
      prod: {{variables: {{backendPort: "{port}", tier: prod}}}}
      dev: {{variables: {{backendPort: "{port}", tier: dev}}}}
  orders:
    definition: orders.yaml
    stages:
      prod: {{variables: {{backendPort: "{port}"}}}}
listeners:
  - {{host: 127.0.0.1, port: {gateway_port}}}
mappings:
  - {{api: pets, stage: prod, basePath: "v1"}}
  - {{api: orders, stage: prod, basePath: "orders/v2"}}
  - {{api: orders, stage: prod, basePath: "special", domainName: api.example.com}}
"""


def test_gateway_config_file_with_base_path_mappings(tmp_path: Path, gateway: GatewayFactory, backend: Process) -> None:
    (tmp_path / "pets.yaml").write_text(yaml.safe_dump(proxy_api("/pets/{proxy}?tier=${stageVariables.tier}")))
    (tmp_path / "orders.yaml").write_text(yaml.safe_dump(proxy_api("/orders/{proxy}", http_api=True)))
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(GATEWAY_FILE.format(port=backend.port, gateway_port=port))
    server = gateway.start(config, port=port)
    pets = server.call("GET", "/v1/cat").json()
    assert (pets["path"], pets["query"]) == ("/pets/cat", "tier=prod")
    assert server.call("GET", "/dev/v1/cat").json()["query"] == "tier=dev"  # stage prefix in front of the mapping
    orders = server.call("GET", "/orders/v2/7")
    assert orders.json()["path"] == "/orders/7"
    assert orders.header("apigw-requestid")  # an HTTP API answers
    assert server.call("GET", "/special/7").status == 403  # host-specific mapping, other host
    assert server.call("GET", "/special/7", headers={"Host": "api.example.com"}).json()["path"] == "/orders/7"
    nowhere = server.call("GET", "/elsewhere")
    assert nowhere.status == 403 and nowhere.json() == {"message": "Forbidden"}


def test_several_workers_serve_one_port(gateway: GatewayFactory, backend: Process) -> None:
    server = gateway.start(proxy_api(), "--workers", "2", stage_variables={"backendPort": str(backend.port)})
    results: list[int] = []

    def hit() -> None:
        for _ in range(20):
            results.append(server.call("GET", "/delay/5").status)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 80
    workers = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2


def test_sigterm_drains_in_flight_requests(gateway: GatewayFactory, backend: Process) -> None:
    server = gateway.start(proxy_api(), stage_variables={"backendPort": str(backend.port)})
    replies: list[Reply] = []
    slow = threading.Thread(target=lambda: replies.append(server.call("GET", "/delay/1500")))
    slow.start()
    time.sleep(0.4)
    server.process.send_signal(signal.SIGTERM)
    slow.join(10)
    assert replies and replies[0].status == 200
    assert server.process.wait(15) == 0
    with pytest.raises(OSError):
        call(server.port, "GET", "/echo", timeout=2)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_listener(tmp_path: Path, gateway: GatewayFactory, backend: Process) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(proxy_api()))
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apis": {
                    "api": {
                        "definition": "api.yaml",
                        "stages": {"prod": {"variables": {"backendPort": str(backend.port)}}},
                    }
                },
                "listeners": [
                    {"host": "127.0.0.1", "port": port, "tls": {"certificate": "cert.pem", "key": "key.pem"}}
                ],
                "mappings": [{"api": "api", "stage": "prod", "basePath": ""}],
            }
        )
    )
    gateway.start(config, port=port)
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    import http.client

    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", "/echo")
        response = connection.getresponse()
        echo = response.read()
    finally:
        connection.close()
    assert response.status == 200
    headers = dict((k.lower(), v) for k, v in yaml.safe_load(echo)["headers"])
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-port"] == str(port)


def test_nothing_listens_beyond_the_requested_address(gateway: GatewayFactory, backend: Process) -> None:
    server = gateway.start(proxy_api(), stage_variables={"backendPort": str(backend.port)})
    listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
    pids = {str(server.process.pid)} | set(
        subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
    )
    ours = [line for line in listening.splitlines() if any(f"pid={pid}," in line for pid in pids)]
    assert ours, listening
    assert all(f"127.0.0.1:{server.port} " in line for line in ours), ours


def mock_api(title: str, base_path: str) -> dict[str, Any]:
    template = json.dumps({"api": title})
    return {
        "swagger": "2.0",
        "info": {"title": title, "version": "1"},
        "basePath": base_path,
        "paths": {
            "/ping": {
                "get": {
                    "x-amazon-apigateway-integration": {
                        "type": "mock",
                        "requestTemplates": {"application/json": '{"statusCode": 200}'},
                        "responses": {
                            "default": {"statusCode": "200", "responseTemplates": {"application/json": template}}
                        },
                    }
                }
            }
        },
    }


def test_several_files_are_mounted_at_their_base_paths(tmp_path: Path, gateway: GatewayFactory) -> None:
    first = gateway.write(mock_api("a", "/alpha"), "a.yaml")
    second = gateway.write(mock_api("b", "/beta/v1"), "b.yaml")
    port = free_port()
    command = [sys.executable, "-m", "fastgw", "serve", str(first), str(second), "--port", str(port)]
    server = Process(command, port, tmp_path / "several.log")
    try:
        assert server.call("GET", "/alpha/ping").json() == {"api": "a"}
        assert server.call("GET", "/beta/v1/ping").json() == {"api": "b"}
        assert server.call("GET", "/ping").status == 403
    finally:
        server.stop()


# -- keep-alive after an answer given before the body was read (issue 18, item 4) -------------------------------------


def read_response(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """One response (head, body framed by its Content-Length) from a raw socket, or ``None`` if the connection
    was closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            more = sock.recv(65536)
        except ConnectionResetError:
            return None
        if not more:
            return None
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    assert length is not None, head
    while len(body) < int(length[1]):
        more = sock.recv(65536)
        assert more, "the connection closed in the middle of a response"
        body += more
    return head, body


def closes_cleanly(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return False


MOCK_ANY_API: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "mock-any", "version": "1"},
    "paths": {
        "/ping": {
            "x-amazon-apigateway-any-method": {
                "x-amazon-apigateway-integration": {
                    "type": "mock",
                    "requestTemplates": {"application/json": '{"statusCode": 200}'},
                    "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{}"}}},
                }
            }
        }
    },
}


@pytest.fixture(scope="module")
def mock_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("keep-alive"))
    try:
        yield factory.start(MOCK_ANY_API)
    finally:
        factory.stop_all()


def first_then_second(port: int, head: bytes, body: bytes) -> tuple[bytes, tuple[bytes, bytes] | None]:
    """On one connection: ``head``, then ``body`` a moment later (the answer is ready before the body arrives),
    then, unless the first answer said ``Connection: close`` (and the connection was then closed cleanly, a FIN
    and not a reset), a second request. Returns the first answer's head and the second answer (``None``: the
    connection was closed instead)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        time.sleep(0.05)
        sock.sendall(body)
        first = read_response(sock)
        assert first is not None, "no answer to the first request"
        if says_close(first[0]):
            assert closes_cleanly(sock), "Connection: close, then a reset"
            return first[0], None
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: gw\r\n\r\n")
        return first[0], read_response(sock)


def says_close(head: bytes) -> bool:
    return re.search(rb"(?i)\r\nconnection: *close", head) is not None


@pytest.mark.parametrize("path", ["/ping", "/nowhere"], ids=["mock route", "no route"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_small_unread_body_is_drained_and_the_connection_kept(mock_gateway: Process, path: str, chunked: bool) -> None:
    """A mock (or a 403 for no route) answers without reading the request body: the gateway reads and drops a
    small one first, so the client's next request on the connection is answered (hyper closes a connection whose
    request body was not read, and says so only if it notices before writing the answer's head: 6 of 3,000
    requests failed in a soak)."""
    body = b"x" * 1000
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(body)
    if chunked:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = b"POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n%s\r\n\r\n" % (path.encode(), framing)
    first, second = first_then_second(mock_gateway.port, head, body)
    assert first.startswith(b"HTTP/1.1 200 " if path == "/ping" else b"HTTP/1.1 403 "), first
    assert second is not None, "the first answer closed the connection"
    assert second[0].startswith(b"HTTP/1.1 200 "), second


@pytest.mark.parametrize(
    "headers, body",
    [
        (b"Content-Length: 1048576", b"y" * 4096),  # the start of it
        (b"Content-Length: 10\r\nExpect: 100-continue", b""),
        (b"Content-Length: 10", b"12345"),  # the rest never comes
    ],
    ids=["large body", "expect 100-continue", "slow body"],
)
def test_unread_body_not_drained_answers_connection_close(mock_gateway: Process, headers: bytes, body: bytes) -> None:
    """A body too large to drain (over 64 KiB), one the client waits to be asked for, or one that does not arrive
    within a second, is not read (to its end): the answer says ``Connection: close`` whatever hyper noticed, and
    the connection is closed cleanly, so the client knows not to reuse it."""
    head = b"POST /ping HTTP/1.1\r\nHost: gw\r\n%s\r\n\r\n" % headers
    first, _ = first_then_second(mock_gateway.port, head, body)
    assert first.startswith(b"HTTP/1.1 200 ") and says_close(first), first


def test_no_site_answer_with_a_body_says_connection_close(tmp_path: Path, gateway: GatewayFactory) -> None:
    """No API mapped at the path: a request with a body is answered ``Connection: close`` (issue 18, item 4)."""
    first_file = gateway.write(mock_api("a", "/alpha"), "a.yaml")
    second_file = gateway.write(mock_api("b", "/beta"), "b.yaml")
    port = free_port()
    command = [sys.executable, "-m", "fastgw", "serve", str(first_file), str(second_file), "--port", str(port)]
    server = Process(command, port, tmp_path / "no-site.log")
    try:
        head = b"POST /elsewhere HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\n"
        first, _ = first_then_second(server.port, head, b"z" * 10)
        assert first.startswith(b"HTTP/1.1 403 ") and says_close(first), first
    finally:
        server.stop()
