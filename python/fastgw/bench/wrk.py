"""Run wrk and read its report: requests/s, latency percentiles (with their units), errors."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastgw.bench.procs import pinned

_UNIT_US = {"us": 1.0, "ms": 1_000.0, "s": 1_000_000.0, "m": 60_000_000.0, "h": 3_600_000_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s+(\d+) requests in ([\d.]+\w+),", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class Latency:
    """One percentile as wrk printed it (`text`, e.g. "1.20ms") and in microseconds."""

    text: str
    us: float


@dataclass(frozen=True)
class WrkResult:
    argv: list[str]
    exit_code: int
    output: str
    requests_per_sec: float | None
    requests: int | None
    percentiles: dict[str, Latency] = field(default_factory=dict)
    non_2xx_3xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def p50(self) -> Latency | None:
        return self.percentiles.get("50")

    @property
    def p99(self) -> Latency | None:
        return self.percentiles.get("99")

    @property
    def socket_error_count(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.requests_per_sec is not None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WrkResult:
        """The result as `to_json` wrote it."""
        percentiles = {key: Latency(**value) for key, value in (data.get("percentiles") or {}).items()}
        return cls(**(data | {"percentiles": percentiles}))


def parse(argv: list[str], exit_code: int, output: str) -> WrkResult:
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    percentiles = {
        _percentile_key(m.group(1)): Latency(m.group(2) + m.group(3), float(m.group(2)) * _UNIT_US[m.group(3)])
        for m in _PERCENTILE.finditer(output)
    }
    non_2xx = _NON_2XX.search(output)
    sockets = _SOCKET.search(output)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True)) if sockets else {}
    )
    return WrkResult(
        argv=argv,
        exit_code=exit_code,
        output=output,
        requests_per_sec=float(rps.group(1)) if rps else None,
        requests=int(total.group(1)) if total else None,
        percentiles=percentiles,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def combine(results: Sequence[WrkResult]) -> WrkResult:
    """One result for several runs against the same target (the slices of a measurement): requests over the time
    they took, every error summed, each latency percentile the median of the runs' values. `output` names the runs
    (their own outputs stay with them)."""
    timed = [(r.requests, r.requests / r.requests_per_sec) for r in results if r.requests and r.requests_per_sec]
    requests = sum(count for count, _ in timed)
    seconds = sum(span for _, span in timed)
    percentiles = {}
    for key in dict.fromkeys(key for r in results for key in r.percentiles):
        values = sorted((r.percentiles[key] for r in results if key in r.percentiles), key=lambda p: p.us)
        percentiles[key] = values[(len(values) - 1) // 2]  # the lower median: a value wrk printed
    socket_errors: dict[str, int] = {}
    for r in results:
        for kind, count in r.socket_errors.items():
            socket_errors[kind] = socket_errors.get(kind, 0) + count
    failed = [r.exit_code for r in results if r.exit_code != 0]
    ok = len(timed) == len(results) and not failed
    return WrkResult(
        argv=results[0].argv if results else [],
        exit_code=failed[0] if failed else 0,
        output=f"{len(results)} runs combined: {requests} requests in {seconds:.2f} s",
        requests_per_sec=requests / seconds if ok and seconds > 0 else None,
        requests=requests if ok else None,
        percentiles=percentiles,
        non_2xx_3xx=sum(r.non_2xx_3xx for r in results),
        socket_errors=socket_errors,
    )


def _percentile_key(text: str) -> str:
    """ "50" for wrk's "50%", "99.9" for "99.900%"."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def request_script(path: Path, method: str, body_bytes: int) -> Path:
    """A wrk Lua script sending `method` with a body of `body_bytes` bytes (wrk's default is GET, no body)."""
    path.write_text(f'wrk.method = "{method}"\nwrk.body = string.rep("x", {body_bytes})\n')
    return path


def run(
    url: str,
    *,
    connections: int,
    seconds: int,
    latency: bool,
    cpu: str,
    headers: Sequence[tuple[str, str]] = (),
    script: Path | None = None,
    timeout: int | None = None,
) -> WrkResult:
    """`wrk -t1 -c<connections> -d<seconds>s [--latency] [--timeout <timeout>s] [-H ...] [-s script] url`, pinned
    to `cpu`. `timeout`: seconds after which wrk counts a request as timed out (wrk's default: 2)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if latency:
        argv.append("--latency")
    if timeout is not None:
        argv.append(f"--timeout={timeout}s")
    for name, value in headers:
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    argv = pinned(cpu, argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        return parse(argv, -1, out + "\n[timed out]")
    return parse(argv, done.returncode, done.stdout + (("\n" + done.stderr) if done.stderr else ""))
