"""The run (PROTOCOL.md): backend on the load CPU; per round, each gateway in turn on the gateway CPU, started
fresh, warmed up, measured at c=64 and at c=1, stopped."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastgw.bench import backend, cpustat, wrk
from fastgw.bench.gateways import Gateway, Target
from fastgw.bench.procs import HOST, MemoryWatch, Process, StartError, free_port, group_memory, pinned, wait_ready
from fastgw.bench.requirements import Environment
from fastgw.bench.scenarios import LARGE_BODY, PROXY, Scenario

_CONFIG_TEXT_LIMIT = 16 * 1024  # config files up to this size are kept verbatim in results.json


@dataclass(frozen=True)
class Settings:
    scenario: Scenario
    rounds: int
    duration: int  # seconds measured at c=`connections`
    warmup: int  # seconds of warm-up before it
    c1_duration: int  # seconds measured at c=1
    connections: int
    load_cpu: str
    gateway_cpu: str
    canary: str
    keep_temp: bool = False
    wait_idle: float = 0.0  # before each gateway, wait up to this many seconds for both CPUs to be idle
    max_others: float | None = None  # re-measure when other processes took more than this share of the gateway CPU
    retries: int = 2  # at most this many re-measurements per gateway and round


@dataclass
class Run:
    """One gateway in one round."""

    gateway: str
    round: int
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    configs: dict[str, object] = field(default_factory=dict)
    idle_wait_seconds: float = 0.0
    ready_seconds: float | None = None
    warmup: wrk.WrkResult | None = None
    load: wrk.WrkResult | None = None
    c1: wrk.WrkResult | None = None
    cpu: dict[str, float] | None = None  # cpustat.usage during the measurement at c=`connections`
    memory_idle: int | None = None  # bytes (PSS of all its processes) once ready, before any load
    memory_load: int | None = None  # the peak during the measurement at c=`connections`
    error: str | None = None
    log_tail: str | None = None
    rejected: list[dict[str, object]] = field(default_factory=list)  # earlier attempts, taken on a busy CPU

    @property
    def contended(self) -> bool:
        """Other processes took a noticeable share of either CPU (see Settings.max_others)."""
        return cpustat.others(self.cpu) > 0.05

    @property
    def ok(self) -> bool:
        return self.error is None and self.load is not None and self.load.ok

    def to_json(self) -> dict[str, object]:
        return {
            "gateway": self.gateway,
            "round": self.round,
            "command": self.command,
            "env": self.env,
            "configs": self.configs,
            "idle_wait_seconds": self.idle_wait_seconds,
            "ready_seconds": self.ready_seconds,
            "warmup": self.warmup.to_json() if self.warmup else None,
            "load": self.load.to_json() if self.load else None,
            "c1": self.c1.to_json() if self.c1 else None,
            "cpu": self.cpu,
            "memory_idle_bytes": self.memory_idle,
            "memory_load_bytes": self.memory_load,
            "error": self.error,
            "log_tail": self.log_tail,
            "rejected_attempts": self.rejected,
        }


@dataclass
class Round:
    index: int
    direct_c1: wrk.WrkResult | None = None  # wrk -c1 straight to the backend, the base of "added latency"
    runs: dict[str, Run] = field(default_factory=dict)
    kept: bool = True
    drop_reason: str | None = None


@dataclass
class Backend:
    port: int
    pid: int  # its process group, for the CPU accounting
    command: list[str]
    config: str


Progress = Callable[[str], None]


def _record_configs(paths: tuple[Path, ...]) -> dict[str, object]:
    recorded: dict[str, object] = {}
    for path in paths:
        data = path.read_bytes()
        if len(data) <= _CONFIG_TEXT_LIMIT:
            recorded[path.name] = data.decode(errors="replace")
        else:
            recorded[path.name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return recorded


def _workdir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    path.chmod(0o755)  # nginx workers drop root privileges and still need to reach their temp directories
    return path


def start_backend(root: Path, load_cpu: str, env: Environment, scenario: Scenario) -> tuple[Process, Backend]:
    """The nginx backend pinned to `load_cpu`, in `root`/backend, answering `scenario`'s request."""
    nginx = env.find("nginx")
    if nginx is None:
        raise StartError("the backend needs nginx (Debian package nginx)")
    workdir = _workdir(root, "backend")
    port = free_port()
    large = workdir / "large.json"
    large.write_bytes(LARGE_BODY)
    config = backend.backend_config(workdir, port, large)
    conf = workdir / "nginx.conf"
    conf.write_text(config)
    argv = pinned(load_cpu, backend.nginx_argv(nginx, workdir, conf))
    process = Process("backend", argv, log_path=workdir / "output.log", env=None, cwd=workdir)
    try:
        wait_ready(process, port, scenario.path, scenario.body, timeout=15)
    except BaseException:
        process.stop()
        raise
    return process, Backend(port=port, pid=process.pid, command=argv, config=config)


def _request_script(scenario: Scenario, directory: Path) -> Path | None:
    """wrk's Lua script (written in `directory`) for a request other than a plain GET; None for a plain GET."""
    if scenario.method == "GET" and not scenario.request_bytes:
        return None
    return wrk.request_script(directory / f"{scenario.name}.lua", scenario.method, scenario.request_bytes)


def _measure(gateway: Gateway, index: int, root: Path, upstream: Backend, settings: Settings, env: Environment) -> Run:
    """Measure once; with Settings.max_others, measure again (up to Settings.retries times) while other processes
    took more than that share of the gateway's CPU, keeping the earlier attempts' figures in `rejected`."""
    rejected: list[dict[str, object]] = []
    for attempt in range(settings.retries + 1):
        run = _measure_once(gateway, index, attempt, root, upstream, settings, env)
        run.rejected = rejected
        busy = cpustat.others(run.cpu)
        if settings.max_others is None or not run.ok or busy <= settings.max_others or attempt == settings.retries:
            return run
        rejected.append(
            {
                "requests_per_sec": run.load.requests_per_sec if run.load else None,
                "cpu": run.cpu,
                "reason": f"other processes took {busy:.0%} of a CPU",
            }
        )
    raise AssertionError("unreachable")


def _measure_once(
    gateway: Gateway, index: int, attempt: int, root: Path, upstream: Backend, settings: Settings, env: Environment
) -> Run:
    backend_port, backend_pid = upstream.port, upstream.pid
    run = Run(gateway.name, index)
    if settings.wait_idle > 0:
        run.idle_wait_seconds = cpustat.wait_idle([settings.load_cpu, settings.gateway_cpu], settings.wait_idle)
    workdir = _workdir(root, f"round{index}-{gateway.name}" + (f"-retry{attempt}" if attempt else ""))
    port = free_port()
    target = Target(port=port, backend_port=backend_port, scenario=settings.scenario, workdir=workdir, env=env)
    process: Process | None = None
    try:
        launch = gateway.prepare(target)
        run.command = pinned(settings.gateway_cpu, launch.argv)
        run.env = dict(launch.env)
        run.configs = _record_configs(launch.configs)
        process = Process(
            gateway.name, run.command, log_path=workdir / "output.log", env={**os.environ, **launch.env}, cwd=workdir
        )
        # A gateway that answers by itself whatever is asked (the canary) is measured with the plain request.
        scenario = PROXY if gateway.fixed_answer else settings.scenario
        run.ready_seconds = wait_ready(
            process, port, scenario.path, scenario.body, gateway.start_timeout, headers=scenario.headers
        )
        run.memory_idle = group_memory(process.pid)
        url = f"http://{HOST}:{port}{scenario.path}"
        script = _request_script(scenario, root)

        def load(connections: int, seconds: int, latency: bool) -> wrk.WrkResult:
            return wrk.run(
                url,
                connections=connections,
                seconds=seconds,
                latency=latency,
                cpu=settings.load_cpu,
                headers=scenario.headers,
                script=script,
            )

        run.warmup = load(settings.connections, settings.warmup, latency=False)
        pids = (settings.gateway_cpu, settings.load_cpu, process.pid, backend_pid)
        before = cpustat.sample(*pids)
        with MemoryWatch(process.pid) as memory:
            run.load = load(settings.connections, settings.duration, latency=True)
        run.cpu = cpustat.usage(before, cpustat.sample(*pids))
        run.memory_load = memory.peak
        run.c1 = load(1, settings.c1_duration, latency=True)
        if not run.load.ok:
            run.error = f"wrk failed (exit {run.load.exit_code}): {run.load.output.strip()[-300:]}"
        elif process.exit_code() is not None:
            run.error = f"{gateway.name} exited during the measurement (status {process.exit_code()})"
    except Exception as exc:  # a peer that fails is reported in the results, never fatal to the run
        run.error = str(exc) if isinstance(exc, StartError) else f"{type(exc).__name__}: {exc}"
    finally:
        if process is not None:
            process.stop()
            if run.error is not None:
                run.log_tail = process.log_tail()
    return run


def _describe(run: Run) -> str:
    if run.error is not None or run.load is None:
        first = (run.error or "no measurement").splitlines()[0].rstrip(":")
        return f"FAILED: {first}"
    load = run.load
    text = f"{load.requests_per_sec or 0:>9,.0f} req/s"
    if load.p50 and load.p99:
        text += f"  p50 {load.p50.text:>8}  p99 {load.p99.text:>8}"
    if run.c1 is not None and run.c1.p50 is not None:
        text += f"  c=1 p50 {run.c1.p50.text:>8}"
    if run.cpu is not None:
        text += f"  CPU: own {run.cpu['gateway_own']:.0%} others {run.cpu['others_on_gateway_cpu']:.0%}"
        text += f" | load CPU: others {run.cpu['others_on_load_cpu']:.0%} idle {run.cpu['load_cpu_idle']:.0%}"
    if run.memory_idle is not None and run.memory_load is not None:
        text += f"  memory {run.memory_idle / 2**20:.0f}/{run.memory_load / 2**20:.0f} MiB"
    if run.rejected:
        text += f"  ({len(run.rejected)} busy attempt(s) discarded)"
    if run.idle_wait_seconds > 1.0:
        text += f"  (waited {run.idle_wait_seconds:.0f} s for idle CPUs)"
    if load.non_2xx_3xx or load.socket_error_count:
        text += f"  non-2xx {load.non_2xx_3xx} socket errors {load.socket_error_count}"
    return text


def run(
    settings: Settings, gateways: list[Gateway], env: Environment, progress: Progress
) -> tuple[list[Round], Backend]:
    """All rounds. Every process started here is stopped and the temporary directory removed, whatever happens."""
    root = Path(tempfile.mkdtemp(prefix="fastgw-bench-"))
    root.chmod(0o755)
    backend_process: Process | None = None
    try:
        backend_process, backend_info = start_backend(root, settings.load_cpu, env, settings.scenario)
        progress(f"backend: nginx on {HOST}:{backend_info.port}, CPU {settings.load_cpu}")
        direct_url = f"http://{HOST}:{backend_info.port}{settings.scenario.path}"
        scenario = settings.scenario
        direct_script = _request_script(scenario, root)
        rounds: list[Round] = []
        for index in range(1, settings.rounds + 1):
            current = Round(index)
            current.direct_c1 = wrk.run(
                direct_url,
                connections=1,
                seconds=settings.c1_duration,
                latency=True,
                cpu=settings.load_cpu,
                headers=settings.scenario.headers,
                script=direct_script,
            )
            direct_p50 = current.direct_c1.p50.text if current.direct_c1.p50 else "?"
            progress(f"round {index}/{settings.rounds}: direct to backend at c=1, p50 {direct_p50}")
            for gateway in gateways:
                measured = _measure(gateway, index, root, backend_info, settings, env)
                current.runs[gateway.name] = measured
                progress(f"round {index}/{settings.rounds}  {gateway.name:<18} {_describe(measured)}")
            rounds.append(current)
        return rounds, backend_info
    finally:
        if backend_process is not None:
            backend_process.stop()
        if settings.keep_temp:
            progress(f"temporary files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
