"""Facts about the machine and the software measured, recorded beside every result."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

from fastgw.bench.gateways import Gateway
from fastgw.bench.requirements import Environment, Program, Requirement

# Tools every run uses, whatever the gateways.
TOOLS: tuple[Requirement, ...] = (
    Program("wrk", ("--version",), debian="wrk"),
    Program("taskset", ("--version",), debian="util-linux"),
    Program("nginx", ("-v",), debian="nginx"),  # the backend
)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def loadavg() -> str:
    return _read("/proc/loadavg").strip()


def facts() -> dict[str, object]:
    uname = platform.uname()
    cpuinfo = _read("/proc/cpuinfo")
    meminfo = _read("/proc/meminfo")
    flags = (_field(cpuinfo, "flags") or "").split()
    status = _git("status", "--porcelain")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "kernel": f"{uname.system} {uname.release} {uname.version} {uname.machine}",
        "cpu_model": _field(cpuinfo, "model name") or uname.processor or "unknown",
        "cpu_family_model_stepping": "/".join(_field(cpuinfo, k) or "?" for k in ("cpu family", "model", "stepping")),
        "cpu_mhz": _field(cpuinfo, "cpu MHz"),
        "cpus": os.cpu_count(),
        "virtualized": "hypervisor" in flags,
        "memory": _field(meminfo, "MemTotal"),
        "loadavg_at_start": loadavg(),
        "python": sys.version.split()[0],
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def versions(gateways: list[Gateway], env: Environment) -> dict[str, str]:
    """One line per tool and per thing a gateway requires, e.g. {"nginx": "nginx version: nginx/1.22.1"}."""
    seen: dict[str, str] = {}
    for req in [*TOOLS, *(r for g in gateways for r in g.requires)]:
        if isinstance(req, Program) and not req.version_argv:
            continue  # no version flag: the version comes from its package, listed beside it
        if req.key not in seen:
            seen[req.key] = req.version(env)
    return seen
