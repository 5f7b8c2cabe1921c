"""Who used the CPUs during a measurement: the gateway's own process group, everyone else, the load CPU's idle.

On a shared machine this says how much a figure can be trusted: a gateway that got 80% of its CPU was measured
at 80% speed, and a load CPU with no idle time means wrk or the backend, not the gateway, set the pace.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuTicks:
    """One CPU's line of /proc/stat, in clock ticks."""

    busy: int  # user + nice + system (process time; interrupts are counted apart)
    interrupts: int  # irq + softirq (loopback networking lands here)
    idle: int  # idle + iowait
    steal: int  # time the hypervisor ran someone else while this virtual CPU had work: a busy host
    total: int


def _cpu_ticks(cpu: str) -> CpuTicks | None:
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if fields and fields[0] == f"cpu{cpu}":
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
            total = user + nice + system + idle + iowait + irq + softirq + steal
            return CpuTicks(
                busy=user + nice + system, interrupts=irq + softirq, idle=idle + iowait, steal=steal, total=total
            )
    return None


def _group_ticks(pgid: int) -> int:
    """utime + stime of every process (all its threads) in process group `pgid`."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces: fields are counted after its closing parenthesis.
        rest = stat[stat.rindex(")") + 2 :].split()
        if int(rest[2]) == pgid:  # field 5, pgrp
            ticks += int(rest[11]) + int(rest[12])  # fields 14 and 15, utime and stime
    return ticks


def _bench_ticks() -> int:
    """CPU time of this process and of its reaped children (wrk, run to completion between two samples)."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime) * ticks_per_second)


@dataclass(frozen=True)
class Sample:
    gateway_cpu: CpuTicks | None
    load_cpu: CpuTicks | None
    gateway: int  # the gateway's process group
    load: int  # the backend's process group, this process and wrk: everything the bench runs on the load CPU


def sample(gateway_cpu: str, load_cpu: str, gateway_pgid: int, backend_pgid: int) -> Sample:
    return Sample(
        _cpu_ticks(gateway_cpu),
        _cpu_ticks(load_cpu),
        _group_ticks(gateway_pgid),
        _group_ticks(backend_pgid) + _bench_ticks(),
    )


def usage(before: Sample, after: Sample) -> dict[str, float] | None:
    """Shares of the interval, 0–1: on the gateway CPU, the gateway's own time, other processes' time, interrupts
    and steal (the host ran another machine); on the load CPU, other processes' time (neither wrk, the backend nor
    the bench), idle time and steal. None when /proc/stat could not be read."""
    g0, g1, l0, l1 = before.gateway_cpu, after.gateway_cpu, before.load_cpu, after.load_cpu
    if g0 is None or g1 is None or l0 is None or l1 is None or g1.total <= g0.total or l1.total <= l0.total:
        return None
    span, load_span = g1.total - g0.total, l1.total - l0.total
    own, load = after.gateway - before.gateway, after.load - before.load
    return {
        "gateway_own": own / span,
        "others_on_gateway_cpu": max(0, g1.busy - g0.busy - own) / span,
        "interrupts_on_gateway_cpu": (g1.interrupts - g0.interrupts) / span,
        "steal_on_gateway_cpu": (g1.steal - g0.steal) / span,
        "others_on_load_cpu": max(0, l1.busy - l0.busy - load) / load_span,
        "load_cpu_idle": (l1.idle - l0.idle) / load_span,
        "steal_on_load_cpu": (l1.steal - l0.steal) / load_span,
    }


def others(usage: dict[str, float] | None) -> float:
    """The larger share other processes took of either CPU (0 when unknown)."""
    if usage is None:
        return 0.0
    return max(usage["others_on_gateway_cpu"], usage["others_on_load_cpu"])


def wait_idle(cpus: list[str], timeout: float, idle_share: float = 0.9, window: float = 1.0) -> float:
    """Wait until every CPU in `cpus` was at least `idle_share` idle over one `window`, for at most `timeout`
    seconds; returns the seconds waited. For a shared machine: start measuring when others' work has paused."""
    waited = 0.0
    while waited < timeout:
        before = [_cpu_ticks(cpu) for cpu in cpus]
        time.sleep(window)
        waited += window
        after = [_cpu_ticks(cpu) for cpu in cpus]
        shares = [
            (a.idle - b.idle) / (a.total - b.total)
            for b, a in zip(before, after, strict=True)
            if a is not None and b is not None and a.total > b.total
        ]
        if len(shares) == len(cpus) and min(shares) >= idle_share:
            return waited
    return waited
