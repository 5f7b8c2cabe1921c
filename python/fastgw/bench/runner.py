"""The run (PROTOCOL.md): the backend on the load CPU; per round, every gateway started fresh on the gateway CPU,
warmed up, then measured at c=64 in short slices taken in turn (A B C … A B C …), then at c=1, then stopped.

Why slices: this machine's speed drifts by 10–30% within a minute (a host shared with other machines: a bare
hello-world measured every 2 s went from 42k to 29k req/s in 60 s, with no other process running). Measured one
after the other for 8 s each, two gateways a minute apart in a round differ by that drift, and a second run's
ratios moved by up to 20%. Taken in slices of a couple of seconds, each gateway still alone at work on its CPU
(the others are idle), every gateway sees the same stretches of the drift. The drift does not slow every runtime
alike, though: report.best_quarter is the estimate that holds when it does not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    duration: int  # seconds measured per gateway and round at c=`connections`, in `slices` slices
    warmup: int  # seconds of warm-up before it
    c1_duration: int  # seconds measured at c=1
    connections: int
    load_cpu: str
    gateway_cpu: str
    canary: str
    slices: int = 4  # the measurement at c=`connections` is taken in this many slices, every gateway in turn
    keep_temp: bool = False
    wait_idle: float = 0.0  # before each round, wait up to this many seconds for both CPUs to be idle
    max_others: float | None = None  # re-measure a slice when other processes took more than this share of a CPU
    retries: int = 2  # at most this many re-measurements per slice

    @property
    def slice_count(self) -> int:
        """Slices of at least a second each, at most `slices`."""
        return max(1, min(self.slices, self.duration))

    @property
    def slice_seconds(self) -> int:
        return max(1, self.duration // self.slice_count)


@dataclass
class Run:
    """One gateway in one round."""

    gateway: str
    round: int
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    configs: dict[str, object] = field(default_factory=dict)
    ready_seconds: float | None = None
    warmup_seconds: int = 0
    warmup: wrk.WrkResult | None = None
    slices: list[wrk.WrkResult] = field(default_factory=list)  # the measurement at c=`connections`, slice by slice
    load: wrk.WrkResult | None = None  # the slices combined (wrk.combine)
    c1: wrk.WrkResult | None = None
    cpu: dict[str, float] | None = None  # cpustat.usage during the slices (their mean)
    memory_idle: int | None = None  # bytes (PSS of all its processes) once ready, before any load
    memory_load: int | None = None  # the peak during the slices
    error: str | None = None
    log_tail: str | None = None
    rejected: list[dict[str, object]] = field(default_factory=list)  # slices taken again: a busy CPU

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
            "ready_seconds": self.ready_seconds,
            "warmup_seconds": self.warmup_seconds,
            "warmup": self.warmup.to_json() if self.warmup else None,
            "load": self.load.to_json() if self.load else None,
            "slices": [result.to_json() for result in self.slices],
            "c1": self.c1.to_json() if self.c1 else None,
            "cpu": self.cpu,
            "memory_idle_bytes": self.memory_idle,
            "memory_load_bytes": self.memory_load,
            "error": self.error,
            "log_tail": self.log_tail,
            "rejected_attempts": self.rejected,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """The run as `to_json` wrote it (for re-rendering a run's reports)."""

        def result(key: str) -> wrk.WrkResult | None:
            value = data.get(key)
            return wrk.WrkResult.from_json(value) if value else None

        return cls(
            gateway=data["gateway"],
            round=data["round"],
            command=data.get("command") or [],
            env=data.get("env") or {},
            configs=data.get("configs") or {},
            ready_seconds=data.get("ready_seconds"),
            warmup_seconds=data.get("warmup_seconds") or 0,
            warmup=result("warmup"),
            slices=[wrk.WrkResult.from_json(value) for value in data.get("slices") or []],
            load=result("load"),
            c1=result("c1"),
            cpu=data.get("cpu"),
            memory_idle=data.get("memory_idle_bytes"),
            memory_load=data.get("memory_load_bytes"),
            error=data.get("error"),
            log_tail=data.get("log_tail"),
            rejected=data.get("rejected_attempts") or [],
        )


@dataclass
class Round:
    index: int
    direct_c1: wrk.WrkResult | None = None  # wrk -c1 straight to the backend, the base of "added latency"
    runs: dict[str, Run] = field(default_factory=dict)
    idle_wait_seconds: float = 0.0
    kept: bool = True
    drop_reason: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Round:
        """The round as results.json holds it."""
        return cls(
            index=data["round"],
            direct_c1=wrk.WrkResult.from_json(data["direct_c1"]) if data.get("direct_c1") else None,
            runs={name: Run.from_json(run) for name, run in (data.get("runs") or {}).items()},
            idle_wait_seconds=data.get("idle_wait_seconds") or 0.0,
            kept=data.get("kept", True),
            drop_reason=data.get("drop_reason"),
        )


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


@dataclass
class _Live:
    """A gateway started for a round, and how to load it."""

    run: Run
    process: Process
    url: str
    scenario: Scenario  # what it is asked (the canary: the plain request)
    script: Path | None
    warmup: int  # seconds


def _start(gateway: Gateway, index: int, root: Path, upstream: Backend, settings: Settings, env: Environment) -> _Live:
    """Starts `gateway` fresh for round `index` and waits for its first right answer; a failure is in run.error."""
    run = Run(gateway.name, index)
    workdir = _workdir(root, f"round{index}-{gateway.name}")
    port = free_port()
    target = Target(port=port, backend_port=upstream.port, scenario=settings.scenario, workdir=workdir, env=env)
    launch = gateway.prepare(target)
    run.command = pinned(settings.gateway_cpu, launch.argv)
    run.env = dict(launch.env)
    run.configs = _record_configs(launch.configs)
    process = Process(
        gateway.name, run.command, log_path=workdir / "output.log", env={**os.environ, **launch.env}, cwd=workdir
    )
    # A gateway that answers by itself whatever is asked (the canary) is measured with the plain request.
    scenario = PROXY if gateway.fixed_answer else settings.scenario
    url = f"http://{HOST}:{port}{scenario.path}"
    warmup = max(settings.warmup, gateway.warmup)
    live = _Live(run, process, url, scenario, _request_script(scenario, root), warmup)
    try:
        run.ready_seconds = wait_ready(
            process, port, scenario.path, scenario.body, gateway.start_timeout, headers=scenario.headers
        )
        run.memory_idle = group_memory(process.pid)
    except Exception as exc:  # a peer that fails is reported in the results, never fatal to the run
        run.error = str(exc) if isinstance(exc, StartError) else f"{type(exc).__name__}: {exc}"
    return live


def _load(live: _Live, settings: Settings, connections: int, seconds: int, *, latency: bool) -> wrk.WrkResult:
    return wrk.run(
        live.url,
        connections=connections,
        seconds=seconds,
        latency=latency,
        cpu=settings.load_cpu,
        headers=live.scenario.headers,
        script=live.script,
    )


def _failed(live: _Live, result: wrk.WrkResult) -> str | None:
    if not result.ok:
        return f"wrk failed (exit {result.exit_code}): {result.output.strip()[-300:]}"
    if live.process.exit_code() is not None:
        return f"{live.run.gateway} exited during the measurement (status {live.process.exit_code()})"
    return None


def _slice(
    live: _Live, number: int, settings: Settings, backend_pid: int
) -> tuple[dict[str, float] | None, int | None]:
    """One slice at c=`connections` into live.run.slices: taken again (up to Settings.retries times) while other
    processes took more than Settings.max_others of a CPU. Returns its CPU shares and peak memory."""
    pids = (settings.gateway_cpu, settings.load_cpu, live.process.pid, backend_pid)
    for attempt in range(settings.retries + 1):
        before = cpustat.sample(*pids)
        with MemoryWatch(live.process.pid, interval=0.25) as memory:
            result = _load(live, settings, settings.connections, settings.slice_seconds, latency=True)
        usage = cpustat.usage(before, cpustat.sample(*pids))
        busy = cpustat.others(usage)
        if settings.max_others is None or not result.ok or busy <= settings.max_others or attempt == settings.retries:
            live.run.slices.append(result)
            return usage, memory.peak
        live.run.rejected.append(
            {"slice": number, "requests_per_sec": result.requests_per_sec, "cpu": usage,
             "reason": f"other processes took {busy:.0%} of a CPU"}
        )  # fmt: skip
    raise AssertionError("unreachable")


def _mean_usage(usages: list[dict[str, float]]) -> dict[str, float] | None:
    if not usages:
        return None
    return {key: statistics.fmean(usage[key] for usage in usages) for key in usages[0]}


def _measure_round(
    index: int, gateways: list[Gateway], root: Path, upstream: Backend, settings: Settings, env: Environment
) -> Round:
    """One round: every gateway started, warmed up, measured in slices taken in turn, then at c=1, then stopped."""
    current = Round(index)
    if settings.wait_idle > 0:
        current.idle_wait_seconds = cpustat.wait_idle([settings.load_cpu, settings.gateway_cpu], settings.wait_idle)
    lives: list[_Live] = []
    try:
        for gateway in gateways:
            live = _start(gateway, index, root, upstream, settings, env)
            lives.append(live)
            current.runs[gateway.name] = live.run
        working = [live for live in lives if live.run.error is None]
        for live in working:
            live.run.warmup_seconds = live.warmup
            live.run.warmup = _load(live, settings, settings.connections, live.warmup, latency=False)
        usages: dict[str, list[dict[str, float]]] = {live.run.gateway: [] for live in working}
        for number in range(1, settings.slice_count + 1):
            for live in working:
                if live.run.error is not None:
                    continue
                usage, peak = _slice(live, number, settings, upstream.pid)
                if usage is not None:
                    usages[live.run.gateway].append(usage)
                if peak is not None:
                    live.run.memory_load = max(live.run.memory_load or 0, peak)
                live.run.error = _failed(live, live.run.slices[-1])
        for live in working:
            if live.run.error is None:
                live.run.c1 = _load(live, settings, 1, settings.c1_duration, latency=True)
            if live.run.slices:
                live.run.load = wrk.combine(live.run.slices)
                live.run.cpu = _mean_usage(usages[live.run.gateway])
    finally:
        for live in lives:
            live.process.stop()
            if live.run.error is not None:
                live.run.log_tail = live.process.log_tail()
    return current


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
        text += f" steal {run.cpu['steal_on_gateway_cpu']:.0%}"
        text += f" | load CPU: others {run.cpu['others_on_load_cpu']:.0%} idle {run.cpu['load_cpu_idle']:.0%}"
    if run.memory_idle is not None and run.memory_load is not None:
        text += f"  memory {run.memory_idle / 2**20:.0f}/{run.memory_load / 2**20:.0f} MiB"
    if run.rejected:
        text += f"  ({len(run.rejected)} busy slice(s) taken again)"
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
            direct_c1 = wrk.run(
                direct_url,
                connections=1,
                seconds=settings.c1_duration,
                latency=True,
                cpu=settings.load_cpu,
                headers=settings.scenario.headers,
                script=direct_script,
            )
            direct_p50 = direct_c1.p50.text if direct_c1.p50 else "?"
            progress(
                f"round {index}/{settings.rounds}: direct to backend at c=1, p50 {direct_p50}; "
                f"{len(gateways)} gateways, {settings.slice_count} slices of {settings.slice_seconds} s each"
            )
            current = _measure_round(index, gateways, root, backend_info, settings, env)
            current.direct_c1 = direct_c1
            if current.idle_wait_seconds > 1.0:
                progress(f"round {index}/{settings.rounds}: waited {current.idle_wait_seconds:.0f} s for idle CPUs")
            for name, measured in current.runs.items():
                progress(f"round {index}/{settings.rounds}  {name:<18} {_describe(measured)}")
            rounds.append(current)
        return rounds, backend_info
    finally:
        if backend_process is not None:
            backend_process.stop()
        if settings.keep_temp:
            progress(f"temporary files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
