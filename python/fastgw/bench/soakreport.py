"""The soak's report: results.json (every figure, command and config), results.md (the checks first, then what
they were read from) and memory.png (the worker's RSS over the run, when matplotlib is there)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastgw.bench import charts, soakmix, wrk
from fastgw.bench.soak import RSS_TOLERANCE, Soak, clock, memory_levels, mib, status_classes

_CURVE_ROWS = 30  # results.md shows the memory curve in at most this many rows (results.json has every sample)


def document(soak: Soak, *, command: list[str], machine: dict[str, object], versions: dict[str, str]) -> dict[str, Any]:
    """results.json: everything measured, and how."""
    settings = soak.settings
    statuses = soak.statuses()
    return {
        "kind": "fastgw-soak",
        "passed": soak.passed,
        "checks": [{"check": name, "passed": ok, "found": found} for name, ok, found in soak.checks()],
        "command": command,
        "settings": asdict(settings)
        | {
            "stretch_s": settings.stretch,
            "sample_interval_s": settings.sample_interval,
            "window_s": settings.window,
            "rss_tolerance": RSS_TOLERANCE,
            "wrk_threads": 1,
        },
        "requests": sum(stretch.result.requests or 0 for stretch in soak.stretches),
        "seconds_measured": sum(_seconds(stretch.result) for stretch in soak.stretches),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "memory": memory_levels(soak.memory, settings) | {"samples": [asdict(sample) for sample in soak.memory]},
        "stretches": [stretch.to_json() for stretch in soak.stretches],
        "edge_clients": soak.edge,
        "metrics": soak.metrics,
        "metrics_error": soak.metrics_error,
        "log": soak.log,
        "error": soak.error,
        "mix": [
            {"request": ask.name, "what": ask.what, "share": ask.weight / 100, "expect": sorted(ask.expect)}
            for ask in soakmix.MIX
        ],
        "commands": soak.commands,
        "configs": soak.configs,
        "machine": machine,
        "versions": versions,
    }


def _seconds(result: wrk.WrkResult) -> float:
    return float(result.requests / result.requests_per_sec) if result.requests and result.requests_per_sec else 0.0


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def markdown(doc: dict[str, Any], *, chart: str | None) -> str:
    """results.md from results.json's document; `chart`: the memory chart's file name, if one was drawn."""
    sections = [
        _head(doc),
        _checks(doc),
        _answers(doc),
        _counted(doc),
        _memory(doc, chart),
        _over_time(doc),
        _edge_clients(doc),
        _log(doc),
        _mix(doc),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def _head(doc: dict[str, Any]) -> list[str]:
    settings, machine = doc["settings"], doc["machine"]
    minutes = settings["seconds"] / 60
    return [
        f"# Soak: {minutes:g} minute{'s' if minutes != 1 else ''} of mixed traffic on one fastgw worker: "
        + ("**passed**" if doc["passed"] else "**FAILED**"),
        "",
        f"`{' '.join(doc['command'])}`, {machine.get('date')}, git {machine.get('git_commit') or '?'}"
        + (" (dirty tree)" if machine.get("git_dirty") else "")
        + f"; load average {machine.get('loadavg_at_start')} at the start, {machine.get('loadavg_at_end')} at the end.",
        "",
        f"One fastgw worker pinned to CPU {settings['gateway_cpu']}; on CPU {settings['load_cpu']}: "
        f"`wrk -t1 -c{settings['connections']}` sending the mix below in {settings['stretch_s']} s stretches, the "
        f"suite's nginx backend, a Granian backend (answering `/slow/{{id}}` after {soakmix.SLOW_SECONDS} s, and a "
        "16 MiB stream) and the edge clients below. The machine may be shared: the throughput here is not "
        "a benchmark (see benches/load/README.md for those); the checks are what this run is for.",
    ]


def _checks(doc: dict[str, Any]) -> list[str]:
    lines = ["## Checks", "", "| check | | found |", "|---|---|---|"]
    lines += [f"| {c['check']} | {'pass' if c['passed'] else '**FAIL**'} | {c['found']} |" for c in doc["checks"]]
    if doc["error"]:
        lines += ["", f"The run was cut short: {doc['error']}"]
    return lines


def _answers(doc: dict[str, Any]) -> list[str]:
    requests, seconds = doc["requests"], doc["seconds_measured"]
    rate = f" ({requests / seconds:,.0f} req/s on average)" if seconds else ""
    lines = [
        "## Answers",
        "",
        f"{requests:,} requests from wrk in {seconds:,.0f} s{rate}, and "
        f"{sum(doc['edge_clients'].get('done', {}).values()):,} edge clients (below). By status (wrk's count, from "
        "the script's `response()`; the backends answer nothing but 200, so a 5xx here is the gateway's own):",
        "",
        "| status | requests | share |",
        "|--:|--:|--:|",
    ]
    lines += [f"| {status} | {count:,} | {_share(count, requests)} |" for status, count in doc["statuses"].items()]
    by_class = status_classes(doc["statuses"])
    lines += ["", "By class: " + ", ".join(f"{c} {by_class.get(c, 0):,}" for c in ("2xx", "3xx", "4xx", "5xx")) + "."]
    samples = [sample for stretch in doc["stretches"] for sample in stretch["samples_5xx"]]
    if samples:
        lines += ["", "The first 5xx answers (status and body):", ""] + [f"- `{sample}`" for sample in samples[:10]]
    return lines


def _counted(doc: dict[str, Any]) -> list[str]:
    metrics = doc["metrics"]
    if metrics is None:
        return []
    lines = [
        "## The gateway's own count (its /metrics, read after the load)",
        "",
        "| API route | 2xx | 4xx | 5xx |",
        "|---|--:|--:|--:|",
    ]
    for route, classes in metrics["requests_by_route"].items():
        lines.append(f"| {route} | {classes.get('2xx', 0):,} | {classes.get('4xx', 0):,} | {classes.get('5xx', 0):,} |")
    upstream = ", ".join(f"{kind} {count:,}" for kind, count in metrics["upstream_errors"].items()) or "none"
    lines += [
        "",
        f"Cache hits {metrics['cache_hits']:,}, misses {metrics['cache_misses']:,}; throttled "
        f"{metrics['throttled']:,}; quota rejections {metrics['quota_rejected']:,}; upstream errors {upstream}; "
        f"in flight once the load had stopped: {metrics['in_flight']}; access-log lines dropped: "
        f"{metrics['access_log_dropped']:,}. The counts include the edge clients (a body cut short is a 400, "
        "`BAD_REQUEST_BODY`).",
    ]
    return lines


def _memory(doc: dict[str, Any], chart: str | None) -> list[str]:
    memory, interval = doc["memory"], doc["settings"]["sample_interval_s"]
    change = memory["change"]
    lines = [
        "## The worker's memory",
        "",
        f"RSS of the worker process, sampled every {interval:g} s. Level after warm-up: the median of the samples "
        f"from {clock(memory['warmup_s'])} to {clock(memory['warmup_s'] + memory['window_s'])} "
        f"({memory['after_warmup_samples']} samples): **{mib(memory['after_warmup_bytes'])}**. At the end: the "
        f"median of the last {memory['window_s']:g} s ({memory['end_samples']} samples): "
        f"**{mib(memory['end_bytes'])}**"
        + (f" ({change:+.1%}; the check allows ±{RSS_TOLERANCE:.0%})" if change is not None else "")
        + f". Last sample {mib(memory['last_bytes'])}, peak {mib(memory['peak_bytes'])}.",
        "",
    ]
    if chart:
        lines += [f"![the worker's RSS]({chart})", ""]
    lines += ["| time | worker RSS | gateway PSS (parent + worker) |", "|--:|--:|--:|"]
    samples = memory["samples"]
    step = max(1, -(-len(samples) // _CURVE_ROWS))
    shown = samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])
    lines += [f"| {clock(s['t'])} | {mib(s['worker_rss'])} | {mib(s['gateway_pss'])} |" for s in shown]
    return lines


def _over_time(doc: dict[str, Any]) -> list[str]:
    lines = [
        "## Over time",
        "",
        "| from | req/s | p50 | p99 | 2xx | 4xx | 5xx | socket errors | gateway CPU own / others / idle | worker RSS |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for stretch in doc["stretches"]:
        result = stretch["wrk"]
        by_class = status_classes(stretch["statuses"])
        percentiles = result.get("percentiles") or {}
        cpu = stretch["cpu"]
        share = "–"
        if cpu:
            used = ("gateway_own", "others_on_gateway_cpu", "interrupts_on_gateway_cpu", "steal_on_gateway_cpu")
            idle = max(0.0, 1 - sum(cpu[key] for key in used))
            share = f"{cpu['gateway_own']:.0%} / {cpu['others_on_gateway_cpu']:.0%} / {idle:.0%}"
        lines.append(
            f"| {clock(stretch['started_s'])} | {result['requests_per_sec'] or 0:,.0f} "
            f"| {percentiles.get('50', {}).get('text', '–')} | {percentiles.get('99', {}).get('text', '–')} "
            f"| {by_class.get('2xx', 0):,} | {by_class.get('4xx', 0):,} | {by_class.get('5xx', 0):,} "
            f"| {sum((result.get('socket_errors') or {}).values())} | {share} | {mib(stretch['worker_rss_bytes'])} |"
        )
    return lines


def _edge_clients(doc: dict[str, Any]) -> list[str]:
    edge = doc["edge_clients"]
    lines = [
        "## Edge clients",
        "",
        f"One every {edge.get('interval_s', 0):g} s, each kind in turn, from the bench's own process.",
        "",
        "| client | done |",
        "|---|--:|",
    ]
    lines += [f"| {kind} | {count:,} |" for kind, count in edge.get("done", {}).items()]
    seen = ", ".join(f"{status}: {count}" for status, count in edge.get("statuses", {}).items()) or "none"
    errors = ", ".join(f"{kind}: {count}" for kind, count in edge.get("errors", {}).items()) or "none"
    lines += ["", f"Statuses they read: {seen}. Failed (a connection refused, reset or closed too soon): {errors}."]
    return lines


def _log(doc: dict[str, Any]) -> list[str]:
    log = doc["log"]
    levels = ", ".join(f"{level} {count:,}" for level, count in log.get("lines_by_level", {}).items()) or "none"
    lines = ["## The gateway's log", "", f"Lines by level: {levels}."]
    if log.get("bad_examples"):
        lines += ["", "Lines that must not appear:", "", "```", *log["bad_examples"], "```"]
    if log.get("messages"):
        lines += ["", "Most frequent messages (request ids and numbers as N):", "", "| lines | message |", "|--:|---|"]
        lines += [f"| {count:,} | `{message}` |" for message, count in log["messages"].items()]
    return lines


def _mix(doc: dict[str, Any]) -> list[str]:
    lines = ["## The mix", "", "| request | | share | may answer |", "|---|---|--:|---|"]
    for ask in doc["mix"]:
        lines.append(
            f"| {ask['request']} | `{ask['what']}` | {ask['share']:.0%} | {', '.join(map(str, ask['expect']))} |"
        )
    lines += ["", "## Commands", ""] + [f"- {name}: `{' '.join(argv)}`" for name, argv in doc["commands"].items()]
    lines += ["", "The gateway file, both API definitions and the nginx config are in results.json (`configs`)."]
    return lines


def write(out: Path, soak: Soak, *, command: list[str], machine: dict[str, object], versions: dict[str, str]) -> str:
    """results.json, memory.png (when matplotlib is there) and results.md in `out`; returns results.md's text."""
    out.mkdir(parents=True, exist_ok=True)
    doc = document(soak, command=command, machine=machine, versions=versions)
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    chart = None
    curve = [(s.t, s.worker_rss / 2**20) for s in soak.memory if s.worker_rss is not None]
    if charts.available() is None and curve:
        levels = doc["memory"]
        note = (
            f"Level after warm-up {mib(levels['after_warmup_bytes'])}, at the end {mib(levels['end_bytes'])}; "
            f"the check allows ±{RSS_TOLERANCE:.0%}."
        )
        charts.plot_curves(
            out / "memory.png",
            "fastgw soak: the worker's RSS under mixed load",
            "seconds since the load started",
            "MiB",
            {"worker RSS": curve},
            log_x=False,
            note=note,
            y_from_zero=True,
        )
        chart = "memory.png"
    text = markdown(doc, chart=chart)
    (out / "results.md").write_text(text)
    return text
