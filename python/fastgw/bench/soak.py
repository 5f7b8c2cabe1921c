"""The soak (`fastgw bench --soak MINUTES`): one fastgw worker under full load of mixed traffic for MINUTES, then
checks that it served all of it as it should, with its memory flat and its log clean (issue 18, "Soak").

What runs where, as in the suite (benches/load/README.md): `fastgw serve` with one worker pinned to the gateway
CPU; on the load CPU, the suite's nginx backend, a Granian backend (a slow route and a long stream), wrk
(`-t1 -c64`, the soakmix Lua script drawing every request from the mix and counting every answer by status)
and this process, whose thread of "edge clients" (:class:`EdgeClients`) opens a connection five times a second
and goes away in the middle of a download (one already sent, one still streaming), of an upload
(`Content-Length` and chunked), of a validated body, or before a slow answer, or sends a body after a pause
and then a second request on the connection.

wrk runs in consecutive stretches (`Settings.stretch`, 5-30 s) so that the report has a curve of throughput and
answers over time beside the worker's memory, sampled every `Settings.sample_interval` seconds
(:class:`MemoryCurve`: the worker's RSS, the gateway's PSS). After the load the gateway's own metrics are read
(per route and status class, cache hits and misses, throttled requests), the gateway is stopped, and its log is
read through.

The checks, every one of which must pass (exit 1 otherwise): no 5xx (the backends only answer 200: every 5xx
is the gateway's), by what the clients saw and by the gateway's metrics; nothing in flight once the load has
stopped (a request never finished, or never counted out); no status outside the mix's expected
ones, and every one of them seen, cache hits and misses, throttled requests; no socket errors; the worker alive
and the same process throughout; its RSS at the end (the median of the last `window` seconds) within 10% of its
level after warm-up (the median of the first `window` seconds after `warmup`); no traceback, ERROR or
CRITICAL line, and no panic, in the gateway's log.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastgw.bench import cpustat, soakmix, wrk
from fastgw.bench.gateways import GATEWAYS, Target, granian_argv
from fastgw.bench.procs import HOST, Process, StartError, free_port, group_memory, http_get, pinned, wait_ready
from fastgw.bench.requirements import Environment
from fastgw.bench.runner import start_backend
from fastgw.bench.scenarios import LARGE_PATH, PROXY

RSS_TOLERANCE = 0.10  # the worker's RSS at the end within 10% of its level after warm-up
EDGE_INTERVAL = 0.2  # seconds between two edge clients
WRK_TIMEOUT = 10  # seconds: wrk counts a request unanswered this long as a timeout (its default, 2 s, is tight)
SOCKET_TIMEOUT = 10.0  # every socket the edge clients open
SETTLE = 2.0  # seconds between the end of the load and reading the metrics: the last slow answers come in

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """How long and where the soak runs; the stretches, the memory samples and their windows follow from
    `seconds`."""

    seconds: int  # of load, the warm-up included
    warmup: int  # seconds of load before the worker's memory level is taken
    connections: int = 64
    load_cpu: str = "0"
    gateway_cpu: str = "1"
    keep_temp: bool = False

    @staticmethod
    def default_warmup(seconds: int) -> int:
        """A minute for runs of 5 minutes or more; 20 s (a third of the run at most) for shorter ones, where a
        minute would leave too little, and is plenty: the worker's RSS levels off within a few seconds."""
        return 60 if seconds >= 300 else min(20, seconds // 3)

    @property
    def stretch(self) -> int:
        """Seconds per wrk run: a tenth of the run, 5-30 s."""
        return max(5, min(30, self.seconds // 10))

    @property
    def sample_interval(self) -> float:
        """Seconds between two memory samples: 0.5 s in a 1-minute run, 5 s in a 10-minute one (a level is the
        median of a dozen samples either way: the RSS moves by several MiB while 1 MiB bodies pass)."""
        return max(0.5, min(5.0, self.seconds / 120))

    @property
    def window(self) -> float:
        """Seconds whose samples give a memory level: a minute in long runs, a tenth of the run in short ones,
        at least three samples."""
        return max(3 * self.sample_interval, min(60.0, self.seconds / 10))


# ---- the worker's memory ------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:  # field 4, ppid
            found.append(int(entry.name))
    return found


def _rss(pid: int) -> int | None:
    """VmRSS of `pid` in bytes; None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


@dataclass(frozen=True)
class MemorySample:
    t: float  # seconds since the load started
    worker_pid: int | None
    worker_rss: int | None  # bytes
    gateway_pss: int | None  # bytes: the PSS of the gateway's process group (parent and worker)


class MemoryCurve:
    """The worker's RSS (and the whole gateway's PSS) every `interval` seconds from a thread while in the `with`.
    The worker is the `fastgw serve` process's child (Granian forks one per `--workers`; the soak runs one)."""

    def __init__(self, leader: int, interval: float) -> None:
        self.leader = leader
        self.interval = interval
        self.samples: list[MemorySample] = []
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="soak-memory", daemon=True)

    def __enter__(self) -> MemoryCurve:
        self._started = time.monotonic()
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def latest(self) -> MemorySample | None:
        return self.samples[-1] if self.samples else None

    def _take(self) -> None:
        children = _children(self.leader)
        worker = children[0] if len(children) == 1 else None
        self.samples.append(
            MemorySample(
                t=time.monotonic() - self._started,
                worker_pid=worker,
                worker_rss=_rss(worker) if worker is not None else None,
                gateway_pss=group_memory(self.leader),
            )
        )

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()


def memory_levels(samples: Sequence[MemorySample], settings: Settings) -> dict[str, Any]:
    """The worker's RSS level after warm-up, at the end, its peak, and the change between the two levels."""
    rss = [(s.t, s.worker_rss) for s in samples if s.worker_rss is not None]
    after = [value for t, value in rss if settings.warmup <= t < settings.warmup + settings.window]
    end = [value for t, value in rss if t >= settings.seconds - settings.window]
    level = statistics.median(after) if after else None
    final = statistics.median(end) if end else None
    change = (final - level) / level if level and final is not None else None
    return {
        "warmup_s": settings.warmup,
        "window_s": settings.window,
        "after_warmup_bytes": level,
        "after_warmup_samples": len(after),
        "end_bytes": final,
        "end_samples": len(end),
        "last_bytes": rss[-1][1] if rss else None,
        "peak_bytes": max((value for _, value in rss), default=None),
        "change": change,
        "worker_pids": sorted({s.worker_pid for s in samples if s.worker_pid is not None}),
        "samples_without_worker": sum(1 for s in samples if s.worker_rss is None),
    }


# ---- edge clients -------------------------------------------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT)


def _status_of(head: bytes) -> list[int]:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
    return [int(match.group(1))] if match else []


class KeepAliveBrokenError(ConnectionError):
    """The gateway closed a connection after an answer that did not say `Connection: close`."""


def _leave_download(port: int, path: str = LARGE_PATH) -> list[int]:
    """GET `path`, read 64 KiB of its body, then reset the connection (SO_LINGER 0: an RST, not a FIN). The 1 MiB
    of LARGE_PATH fits in the kernel's buffers: the gateway has sent it all when the client leaves."""
    with contextlib.closing(_connect(port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
        received = b""
        while len(received) < 64 * 1024:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return _status_of(received)


def _leave_stream(port: int) -> list[int]:
    """`_leave_download` of the 16 MiB stream: the gateway is still sending (held by its client window) when the
    client resets the connection, and must stop the stream from the backend."""
    return _leave_download(port, "/stream/1")


def _leave_upload(port: int) -> list[int]:
    """POST announcing 1 MiB, send 64 KiB of it, wait a little (the gateway is streaming it), close."""
    with contextlib.closing(_connect(port)) as sock:
        head = f"POST {LARGE_PATH} HTTP/1.1\r\nHost: soak\r\nContent-Length: {1024 * 1024}\r\n\r\n"
        sock.sendall(head.encode() + b"x" * 65536)
        time.sleep(0.05)
    return []


def _leave_chunked(port: int) -> list[int]:
    """A chunked POST of 48 KiB in three chunks with no last chunk, then close."""
    with contextlib.closing(_connect(port)) as sock:
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        sock.sendall(f"POST {LARGE_PATH} HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        for _ in range(3):
            sock.sendall(chunk)
        time.sleep(0.05)
    return []


def _leave_validated(port: int) -> list[int]:
    """A validated route's body cut short: 20 of 200 bytes (issue 18, item 8 was a 500 and a traceback)."""
    with contextlib.closing(_connect(port)) as sock:
        head = "POST /validated HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        sock.sendall(head.encode() + soakmix.VALID_ORDER.encode()[:20])
        time.sleep(0.05)
    return []


def _leave_before_answer(port: int) -> list[int]:
    """GET the slow route and close before it answers."""
    with contextlib.closing(_connect(port)) as sock:
        sock.sendall(b"GET /slow/1 HTTP/1.1\r\nHost: soak\r\n\r\n")
        time.sleep(soakmix.SLOW_SECONDS / 2)
    return []


def _leave_unread(port: int) -> list[int]:
    """GET a proxied route and close without reading the answer."""
    with contextlib.closing(_connect(port)) as sock:
        sock.sendall(b"GET /pets/1 HTTP/1.1\r\nHost: soak\r\n\r\n")
    return []


def _body_after_a_pause(port: int) -> list[int]:
    """POST to no route with the body 20 ms after the head (the 403 is ready before the body arrives: wrk, which
    writes both at once, never does this), then a second request on the same connection, which must be
    answered unless the first answer said `Connection: close` (issue 18, item 4: such connections were closed
    without a word, and the client's next request failed). Raises KeepAliveBrokenError otherwise."""
    with contextlib.closing(_connect(port)) as sock:
        body = soakmix.VALID_ORDER.encode()
        sock.sendall(f"POST /nowhere/1 HTTP/1.1\r\nHost: soak\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        time.sleep(0.02)
        sock.sendall(body)
        first = http.client.HTTPResponse(sock)
        first.begin()
        first.read()
        if first.will_close:
            return [first.status]
        sock.sendall(b"GET /mock HTTP/1.1\r\nHost: soak\r\n\r\n")
        second = http.client.HTTPResponse(sock)
        try:
            second.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError) as error:
            raise KeepAliveBrokenError(f"closed after a {first.status} without Connection: close") from error
        second.read()
        return [first.status, second.status]


EDGES: dict[str, Callable[[int], list[int]]] = {
    "download reset after 64 KiB of 1 MiB (all sent)": _leave_download,
    "streamed download reset after 64 KiB of 16 MiB": _leave_stream,
    "upload cut (64 KiB of 1 MiB)": _leave_upload,
    "chunked upload cut (no last chunk)": _leave_chunked,
    "validated body cut (20 of 200 bytes)": _leave_validated,
    "gone before a slow answer": _leave_before_answer,
    "answer never read": _leave_unread,
    "body after a pause, then a second request": _body_after_a_pause,
}


class EdgeClients:
    """From a thread while in the `with`: every EDGE_INTERVAL seconds one client of EDGES in turn, most of which
    leave in the middle of a request. Counts each kind, the statuses they read, and errors (a connection
    refused, reset or closed before the client meant to leave)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.done: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-edge-clients", daemon=True)

    def __enter__(self) -> EdgeClients:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        kinds = list(EDGES.items())
        turn = 0
        while not self._stop.wait(EDGE_INTERVAL):
            name, client = kinds[turn % len(kinds)]
            turn += 1
            try:
                statuses = client(self.port)
            except (OSError, http.client.HTTPException) as error:
                self.errors[f"{name}: {type(error).__name__}: {error}"[:200]] += 1
                continue
            self.done[name] += 1
            self.statuses.update(statuses)

    def to_json(self) -> dict[str, Any]:
        return {
            "interval_s": EDGE_INTERVAL,
            "done": dict(self.done),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
        }


# ---- the gateway's metrics and log --------------------------------------------------------------------------------


def read_metrics(text: str) -> dict[str, Any]:
    """From a /metrics scrape: requests by route and status class, cache hits and misses, throttled and
    quota-rejected requests, upstream errors by kind, requests in flight, access-log lines dropped."""
    from prometheus_client.parser import text_string_to_metric_families

    by_route: dict[str, dict[str, int]] = {}
    totals: Counter[str] = Counter()
    upstream: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = int(sample.value)
            if sample.name == "fastgw_requests_total":
                route = f"{sample.labels.get('api', '?')} {sample.labels.get('route', '?')}"
                classes = by_route.setdefault(route, {})
                status_class = sample.labels.get("status_class", "?")
                classes[status_class] = classes.get(status_class, 0) + value
            elif sample.name in (
                "fastgw_cache_hits_total",
                "fastgw_cache_misses_total",
                "fastgw_throttled_requests_total",
                "fastgw_quota_rejected_requests_total",
            ):
                totals[sample.name.removeprefix("fastgw_").removesuffix("_total")] += value
            elif sample.name == "fastgw_upstream_errors_total":
                upstream[sample.labels.get("kind", "?")] += value
            elif sample.name in ("fastgw_requests_in_flight", "fastgw_access_log_dropped_total"):
                totals[sample.name.removeprefix("fastgw_").removesuffix("_total")] += value
    classes_total: Counter[str] = Counter()
    for classes in by_route.values():
        classes_total.update(classes)
    return {
        "requests_by_route": by_route,
        "requests_by_class": dict(classes_total),
        "cache_hits": totals["cache_hits"],
        "cache_misses": totals["cache_misses"],
        "throttled": totals["throttled_requests"],
        "quota_rejected": totals["quota_rejected_requests"],
        "upstream_errors": dict(upstream),
        "in_flight": totals["requests_in_flight"],
        "access_log_dropped": totals["access_log_dropped"],
    }


_BAD_LINE = re.compile(r"Traceback \(most recent call last\)|^\[(ERROR|CRITICAL)\]|panicked at|Fatal Python error")
_LEVEL = re.compile(r"^\[(\w+)\] ([\w.]+): ")
_VARIABLE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b|\d+")  # request ids and numbers, to group messages


def scan_log(text: str) -> dict[str, Any]:
    """The gateway's output read through: lines that must never appear (tracebacks, ERROR and CRITICAL, a Rust
    panic, a fatal Python error) with a few of them in full, and the other lines counted by level and by message
    (request ids and numbers masked)."""
    bad: list[str] = []
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for line in text.splitlines():
        if _BAD_LINE.search(line):
            bad.append(line)
        level = _LEVEL.match(line)
        if level is not None:
            levels[level.group(1)] += 1
            if level.group(1) != "INFO" or "request" in line:
                messages[_VARIABLE.sub("N", line)[:200]] += 1
    return {
        "bad_lines": len(bad),
        "bad_examples": bad[:20],
        "lines_by_level": dict(levels),
        "messages": dict(messages.most_common(20)),
    }


# ---- the run ------------------------------------------------------------------------------------------------------


@dataclass
class Stretch:
    """One wrk run of the mix."""

    started_s: float  # since the load started
    result: wrk.WrkResult
    statuses: dict[int, int]
    samples_5xx: list[str]
    cpu: dict[str, float] | None
    worker_rss: int | None  # at its end

    def to_json(self) -> dict[str, Any]:
        return {
            "started_s": self.started_s,
            "wrk": self.result.to_json(),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "samples_5xx": self.samples_5xx,
            "cpu": self.cpu,
            "worker_rss_bytes": self.worker_rss,
        }


@dataclass
class Soak:
    """Everything a soak run measured; `checks` says whether it passed."""

    settings: Settings
    commands: dict[str, list[str]] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    stretches: list[Stretch] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)
    edge: dict[str, Any] = field(default_factory=dict)  # EdgeClients.to_json()
    metrics: dict[str, Any] | None = None
    metrics_error: str | None = None
    log: dict[str, Any] = field(default_factory=dict)
    gateway_exit: int | None = None  # None: the gateway still ran when the load ended; else its exit status
    error: str | None = None  # what cut the run short

    def statuses(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for stretch in self.stretches:
            total.update(stretch.statuses)
        return total

    def checks(self) -> list[tuple[str, bool, str]]:
        """(check, passed, what was found) for every check of the module's docstring."""
        statuses = self.statuses()
        edge_statuses = Counter({int(k): v for k, v in self.edge.get("statuses", {}).items()})
        seen_5xx = sum(n for s, n in (statuses + edge_statuses).items() if s >= 500)
        requests = sum(s.result.requests or 0 for s in self.stretches)
        unexpected = {s: n for s, n in statuses.items() if s not in soakmix.EXPECTED_STATUSES}
        missing = sorted(soakmix.EXPECTED_STATUSES - set(statuses))
        socket_errors: Counter[str] = Counter()
        for stretch in self.stretches:
            socket_errors.update(stretch.result.socket_errors)
        failed_wrk = [s.result.exit_code for s in self.stretches if not s.result.ok]
        memory = memory_levels(self.memory, self.settings)
        without_worker = memory["samples_without_worker"]
        stayed_up = self.gateway_exit is None and len(memory["worker_pids"]) == 1 and not without_worker
        up = f"worker pid(s) {memory['worker_pids']}"
        up += f"; no worker in {without_worker} samples" if without_worker else ""
        up += f"; the gateway exited with {self.gateway_exit}" if self.gateway_exit is not None else ""
        checks = [
            ("the load ran", self.error is None and not failed_wrk and requests > 0,
             self.error or (f"wrk failed: exit {failed_wrk}" if failed_wrk else f"{requests:,} requests")),
            ("no 5xx answered", seen_5xx == 0, f"{seen_5xx} 5xx"),
        ]  # fmt: skip
        if self.metrics is not None:
            counted = self.metrics["requests_by_class"].get("5xx", 0)
            checks.append(("no 5xx counted by the gateway", counted == 0, f"{counted} in fastgw_requests_total"))
            exercised = {
                "cache hits": self.metrics["cache_hits"],
                "cache misses": self.metrics["cache_misses"],
                "throttled": self.metrics["throttled"],
            }
            thin = [name for name, count in exercised.items() if count == 0]
            checks.append(
                ("cache hits, misses and throttling seen", not thin,
                 ", ".join(f"{name} {count:,}" for name, count in exercised.items()))
            )  # fmt: skip
            in_flight = self.metrics["in_flight"]
            checks.append(("nothing left in flight once the load stopped", in_flight == 0, f"{in_flight} in flight"))
        else:
            checks.append(("the gateway's metrics read", False, self.metrics_error or "not read"))
        checks += [
            ("only the mix's statuses", not unexpected,
             "none other" if not unexpected else ", ".join(f"{s}: {n}" for s, n in sorted(unexpected.items()))),
            ("every expected status seen", not missing,
             "all of " + ", ".join(map(str, sorted(soakmix.EXPECTED_STATUSES))) if not missing
             else "never seen: " + ", ".join(map(str, missing))),
            ("no socket errors", not +socket_errors,
             ", ".join(f"{k} {v}" for k, v in socket_errors.items() if v) or "none"),
            ("no edge client failed", not self.edge.get("errors"),
             ", ".join(f"{k}: {v}" for k, v in self.edge.get("errors", {}).items()) or "none"),
            ("the worker stayed up", stayed_up, up),
        ]  # fmt: skip
        change = memory["change"]
        checks.append(
            (f"worker RSS within {RSS_TOLERANCE:.0%} of its level after warm-up",
             change is not None and abs(change) <= RSS_TOLERANCE,
             "no level" if change is None
             else f"{mib(memory['after_warmup_bytes'])} → {mib(memory['end_bytes'])} ({change:+.1%})")
        )  # fmt: skip
        checks.append(
            ("no traceback, ERROR or panic in the log", self.log.get("bad_lines", 1) == 0,
             f"{self.log.get('bad_lines', 'unread')} such lines")
        )  # fmt: skip
        return checks

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks())


def mib(value: float | None) -> str:
    """Bytes as MiB with one decimal, "–" for none."""
    return "–" if value is None else f"{value / 2**20:.1f} MiB"


def clock(seconds: float) -> str:
    """Seconds as m:ss."""
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _start_granian_backend(root: Path, env: Environment, load_cpu: str) -> tuple[Process, int]:
    """peers/soak_backend.py (the slow route and the long stream) pinned to `load_cpu`, once it answers."""
    workdir = root / "granian-backend"
    workdir.mkdir()
    port = free_port()
    # granian_argv is the suite's Granian command line (one worker, one runtime thread, uvloop).
    target = Target(port=port, backend_port=0, scenario=PROXY, workdir=workdir, env=env)
    argv = pinned(load_cpu, granian_argv(target, "soak_backend:app"))
    environment = {**os.environ, "BENCH_DELAY": str(soakmix.SLOW_SECONDS)}
    process = Process("granian backend", argv, log_path=workdir / "output.log", env=environment, cwd=workdir)
    try:
        wait_ready(process, port, "/ready", soakmix.READY_BODY, timeout=30)
    except BaseException:
        process.stop()
        raise
    return process, port


def run(settings: Settings, env: Environment, progress: Progress) -> Soak:
    """The soak; every process it starts is stopped, whatever happens. Raises StartError when a backend or the
    gateway does not come up."""
    soak = Soak(settings)
    root = Path(tempfile.mkdtemp(prefix="fastgw-soak-"))
    root.chmod(0o755)  # nginx's workers drop root privileges and still need to reach their directories
    started: list[Process] = []
    try:
        backend_process, backend = start_backend(root, settings.load_cpu, env, PROXY)
        started.append(backend_process)
        soak.commands["backend"] = backend.command
        soak.configs["backend nginx.conf"] = backend.config
        granian_process, granian_port = _start_granian_backend(root, env, settings.load_cpu)
        started.append(granian_process)
        soak.commands["granian backend"] = granian_process.argv
        progress(f"backends: nginx on {HOST}:{backend.port}, Granian on {HOST}:{granian_port}, CPU {settings.load_cpu}")

        workdir = root / "gateway"
        workdir.mkdir()
        port, metrics_port = free_port(), free_port()
        config = soakmix.gateway_file(
            workdir,
            host=HOST,
            port=port,
            metrics_port=metrics_port,
            backend_port=backend.port,
            granian_port=granian_port,
        )
        for path in sorted(workdir.iterdir()):
            soak.configs[path.name] = path.read_text()
        fastgw = env.find("fastgw")
        if fastgw is None:
            raise StartError("`fastgw` not found beside the interpreter or on PATH")
        argv = pinned(settings.gateway_cpu, [str(fastgw), "serve", str(config), "--workers", "1"])
        soak.commands["gateway"] = argv
        gateway = Process("fastgw", argv, log_path=workdir / "output.log", env=None, cwd=workdir)
        started.append(gateway)
        wait_ready(gateway, port, soakmix.READY_PATH, soakmix.READY_BODY, timeout=GATEWAYS["fastgw"].start_timeout)
        progress(f"gateway: fastgw serve, one worker on CPU {settings.gateway_cpu}, {HOST}:{port}")

        script = root / "soak.lua"
        script.write_text(soakmix.lua_script())
        _load(soak, gateway, backend.pid, f"http://{HOST}:{port}", script, progress)
        time.sleep(SETTLE)
        try:
            status, body = http_get(metrics_port, "/metrics", timeout=10)
            soak.metrics = read_metrics(body.decode())
        except (OSError, ValueError) as error:
            soak.metrics_error = f"{type(error).__name__}: {error}"
        soak.gateway_exit = gateway.exit_code()
        gateway.stop(grace=15)
        soak.log = scan_log(gateway.log_path.read_text(errors="replace"))
    finally:
        for process in reversed(started):
            process.stop()
        if settings.keep_temp:
            progress(f"temporary files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return soak


def _load(soak: Soak, gateway: Process, backend_pid: int, url: str, script: Path, progress: Progress) -> None:
    """wrk stretch after stretch for settings.seconds, the edge clients and the memory curve all along."""
    settings = soak.settings
    port = int(url.rsplit(":", 1)[1])
    started = time.monotonic()
    with MemoryCurve(gateway.pid, settings.sample_interval) as memory, EdgeClients(port) as edge:
        while (elapsed := time.monotonic() - started) < settings.seconds - 0.5:
            seconds = max(1, min(settings.stretch, round(settings.seconds - elapsed)))
            pids = (settings.gateway_cpu, settings.load_cpu, gateway.pid, backend_pid)
            before = cpustat.sample(*pids)
            result = wrk.run(
                url,
                connections=settings.connections,
                seconds=seconds,
                latency=True,
                cpu=settings.load_cpu,
                script=script,
                timeout=WRK_TIMEOUT,
            )
            usage = cpustat.usage(before, cpustat.sample(*pids))
            statuses, samples = soakmix.read_statuses(result.output)
            latest = memory.latest()
            stretch = Stretch(elapsed, result, statuses, samples, usage, latest.worker_rss if latest else None)
            soak.stretches.append(stretch)
            progress(_describe(stretch, settings))
            if gateway.exit_code() is not None:
                soak.error = f"the gateway exited with status {gateway.exit_code()} during the load"
                break
            if not result.ok:
                soak.error = f"wrk failed (exit {result.exit_code}): {result.output.strip()[-300:]}"
                break
    soak.memory = memory.samples
    soak.edge = edge.to_json()


def _describe(stretch: Stretch, settings: Settings) -> str:
    result = stretch.result
    end = stretch.started_s + (
        result.requests / result.requests_per_sec if result.requests and result.requests_per_sec else 0
    )
    classes = status_classes(stretch.statuses)
    total = sum(classes.values()) or 1
    shares = "  ".join(f"{name} {count / total:.0%}" for name, count in classes.items() if name != "5xx")
    cpu = f"  gateway CPU {stretch.cpu['gateway_own']:.0%}" if stretch.cpu else ""
    errors = f"  socket errors {result.socket_error_count}" if result.socket_error_count else ""
    return (
        f"soak {clock(end)}/{clock(settings.seconds)}  {result.requests_per_sec or 0:>7,.0f} req/s  {shares}  "
        f"5xx {classes.get('5xx', 0)}{errors}  worker RSS {mib(stretch.worker_rss)}{cpu}"
    )


def status_classes(statuses: Mapping[int, int] | Mapping[str, int]) -> dict[str, int]:
    """{200: 5, 204: 1, 429: 2} (or with the statuses as text, as results.json holds them) -> {"2xx": 6, "4xx": 2}."""
    classes: dict[str, int] = {}
    for status, count in sorted(statuses.items()):
        name = f"{str(status)[0]}xx"
        classes[name] = classes.get(name, 0) + count
    return classes
