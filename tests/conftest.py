"""Fixtures that start real processes: the test backend and the gateway (``python -m fastgw serve``)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures" / "apis"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port that refuses connections while the block runs: bound and never listening, so no other process can
    take it meanwhile (a closed free_port() can go to the next server started, which then answers instead)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_names(self) -> set[str]:
        return {key.lower() for key, _ in self.headers}

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    port: int,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
) -> Reply:
    """One request on a fresh connection with the standard library client (real sockets)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        items = list(headers.items() if isinstance(headers, Mapping) else (headers or []))
        has_host = any(name.lower() == "host" for name, _ in items)
        connection.putrequest(method, path, skip_host=has_host, skip_accept_encoding=True)
        for name, value in items:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


class Process:
    def __init__(self, args: Sequence[str], port: int, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = port
        self.log = log
        self.args = list(args)
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        wait_for_port(port, self.process)

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        return call(self.port, method, path, **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """The test backend (tests/backend_app.py), one process for the session."""
    port = free_port()
    log = tmp_path_factory.mktemp("backend") / "backend.log"
    process = Process([sys.executable, str(TESTS / "backend_app.py"), str(port)], port, log)
    yield process
    process.stop()


class GatewayFactory:
    """Starts ``fastgw serve`` on a definition (a path, or a document written to a temp file)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Process] = []

    def write(self, document: Mapping[str, Any] | str, name: str = "api.yaml") -> Path:
        path = self.tmp_path / name
        path.write_text(document if isinstance(document, str) else yaml.safe_dump(dict(document), sort_keys=False))
        return path

    def start(
        self,
        definition: Path | Mapping[str, Any] | str,
        *args: str,
        stage_variables: Mapping[str, str] | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Process:
        path = definition if isinstance(definition, Path) else self.write(definition)
        port = port or free_port()
        command = [sys.executable, "-m", "fastgw", "serve", str(path), "--port", str(port), *args]
        for key, value in (stage_variables or {}).items():
            command += ["--stage-variable", f"{key}={value}"]
        log = self.tmp_path / f"gateway-{port}.log"
        process = Process(command, port, log, env)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    factory = GatewayFactory(tmp_path)
    yield factory
    factory.stop_all()


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m fastgw ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "fastgw", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


class RedisServer:
    """A private redis-server on a free port, so that a test may kill it (the machine's own stays up)."""

    def __init__(self, directory: Path) -> None:
        import shutil

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.directory = directory
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=self.directory, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)  # type: ignore[arg-type]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.kill()
