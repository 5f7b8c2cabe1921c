"""Child processes for a bench run: each in its own process group, always stopped, with its output in a log file."""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"

# Ports are drawn below the kernel's ephemeral range so that a listening port never collides with the client side
# of a connection that wrk, a gateway's upstream pool or anything else on the machine opened meanwhile.
_PORT_RANGE = (20000, 32000)
_given_ports: set[int] = set()


class StartError(RuntimeError):
    """A process did not come up: it exited, never listened, or never answered a first 200 with the right body."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and that this run has not handed out before."""
    for _ in range(1000):
        port = random.randint(*_PORT_RANGE)
        if port in _given_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        _given_ports.add(port)
        return port
    raise RuntimeError("no free TCP port found on 127.0.0.1")


def which(command: str, extra_dirs: Sequence[Path] = ()) -> Path | None:
    """Find an executable, looking first in `extra_dirs`, then on PATH, then in the sbin directories."""
    search = [str(d) for d in extra_dirs]
    search.append(os.environ.get("PATH", ""))
    search.extend(["/usr/local/sbin", "/usr/sbin", "/sbin"])
    found = shutil.which(command, path=os.pathsep.join(search))
    return Path(found) if found else None


def pinned(cpu: str, argv: Sequence[str]) -> list[str]:
    """`argv` run under `taskset -c cpu` (taskset execs the command: the pid is the program's own)."""
    return ["taskset", "-c", cpu, *argv]


class Process:
    """A started child: leader of its own process group, so that stopping it also stops its workers."""

    def __init__(
        self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None, cwd: Path | None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self._popen.pid

    def exit_code(self) -> int | None:
        return self._popen.poll()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the group, SIGKILL it after `grace` seconds, and reap the leader; idempotent."""
        pgid = self._popen.pid  # start_new_session: the leader's pid is the group id
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self._popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
                self._popen.wait(timeout=grace)
        # Workers can outlive their leader (a pre-fork master killed hard): clear whatever is left of the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        self._log.close()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def http_get(port: int, path: str, timeout: float = 2.0, headers: Sequence[tuple[str, str]] = ()) -> tuple[int, bytes]:
    """One GET on a fresh connection: (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(
    process: Process,
    port: int,
    path: str,
    expected_body: bytes,
    timeout: float,
    headers: Sequence[tuple[str, str]] = (),
) -> float:
    """Wait until `process` answers GET `path` (with `headers`) with 200 and `expected_body`; returns the seconds
    it took."""
    started = time.monotonic()
    deadline = started + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = process.exit_code()
        if code is not None:
            tail = process.log_tail()
            last_line = tail.splitlines()[-1] if tail else "no output"
            raise StartError(f"{process.name} exited with status {code} before answering ({last_line}):\n{tail}")
        try:
            status, body = http_get(port, path, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status == 200 and body == expected_body:
                return time.monotonic() - started
            last = f"HTTP {status} with body {body[:200]!r}"
            if status == 200:
                raise StartError(f"{process.name} answered 200 with an unexpected body: {body[:200]!r}")
        time.sleep(0.1)
    raise StartError(f"{process.name} not ready after {timeout:.0f} s ({last}):\n{process.log_tail()}")


def group_memory(pgid: int) -> int | None:
    """The memory of process group `pgid`: the sum of its processes' PSS (proportional set size: pages shared
    between a parent and its forked workers counted once in all), in bytes; None when nothing could be read."""
    total, seen = 0, False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:  # field 5, pgrp
                continue
            rollup = Path(entry.path, "smaps_rollup").read_text()
        except (OSError, ValueError):
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                seen = True
                break
    return total if seen else None


class MemoryWatch:
    """The peak of `group_memory(pgid)`, sampled every `interval` seconds from a thread while in the `with`."""

    def __init__(self, pgid: int, interval: float = 0.5) -> None:
        self.pgid = pgid
        self.interval = interval
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-memory", daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            value = group_memory(self.pgid)
            if value is not None:
                self.peak = max(self.peak or 0, value)
