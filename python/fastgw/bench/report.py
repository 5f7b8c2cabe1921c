"""From rounds to results: the canary rule, per-gateway medians and ratios, results.md and results.json."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fastgw.bench import cpustat
from fastgw.bench.gateways import GATEWAYS, REFERENCES, Gateway
from fastgw.bench.runner import Backend, Round, Settings
from fastgw.bench.scenarios import Scenario

CANARY_TOLERANCE = 0.10  # PROTOCOL.md: drop a round whose canary is more than 10% off the canary's median


def apply_canary(rounds: list[Round], canary: str) -> float | None:
    """Mark rounds kept or dropped by the canary rule; returns the canary's median req/s (None if it never ran)."""
    clean = {r.index: v for r in rounds if (v := _rps(r, canary)) is not None}
    if not clean:
        for r in rounds:
            r.kept, r.drop_reason = False, f"canary {canary} did not run"
        return None
    median = statistics.median(clean.values())
    for r in rounds:
        value = clean.get(r.index)
        if value is None:
            r.kept, r.drop_reason = False, f"canary {canary} failed in this round"
        elif abs(value - median) > CANARY_TOLERANCE * median:
            r.kept = False
            r.drop_reason = (
                f"canary {value:,.0f} req/s is {100 * (value / median - 1):+.1f}% off its median {median:,.0f}"
            )
    return median


def _rps(r: Round, name: str) -> float | None:
    run = r.runs.get(name)
    if run is None or not run.ok or run.load is None:
        return None
    return run.load.requests_per_sec


def _added_c1(r: Round, name: str) -> float | None:
    """p50(through the gateway) − p50(direct to the backend) at c=1, in µs, from one round."""
    run = r.runs.get(name)
    if run is None or not run.ok or run.c1 is None or run.c1.p50 is None:
        return None
    if r.direct_c1 is None or r.direct_c1.p50 is None:
        return None
    return run.c1.p50.us - r.direct_c1.p50.us


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def best_quarter(rounds: list[Round], name: str) -> float | None:
    """The mean req/s of the fastest quarter of `name`'s slices over `rounds` (at least one slice).

    Interference on a shared host (other virtual machines on the same cores, caches and memory) only ever slows a
    gateway down, and it slows runtimes unequally: in one round (suite-2026-12-07-6, proxy, round 4) fastgw and the
    aiohttp proxy each lost over half their speed in a slice, bare Granian a fifth at most. The median of a
    gateway's slices still moves with how much of the run was disturbed; its fastest quarter is what it does when
    left alone, so ratios of best quarters hold between runs where ratios of medians do not (see
    benches/load/README.md, "Two estimates of a ratio")."""
    slices = sorted(
        result.requests_per_sec
        for r in rounds
        if _rps(r, name) is not None
        for result in r.runs[name].slices
        if result.requests_per_sec is not None
    )
    if not slices:
        return None
    fastest = slices[-math.ceil(len(slices) / 4) :]
    return statistics.fmean(fastest)


@dataclass
class Row:
    gateway: str
    description: str
    rounds: int  # kept rounds in which it was measured
    rps_median: float | None = None
    rps_min: float | None = None
    rps_max: float | None = None
    p50_us: float | None = None  # median over kept rounds
    p99_us: float | None = None
    non_2xx_3xx: int = 0  # summed over kept rounds
    socket_errors: int = 0
    ratios: dict[str, float | None] = field(default_factory=dict)  # to every other gateway: median of same-round ratios
    rps_best_quarter: float | None = None  # mean req/s of its fastest quarter of slices (best_quarter)
    best_quarter_ratios: dict[str, float | None] = field(default_factory=dict)  # to every other gateway, same rounds
    added_c1_us: float | None = None
    nginx_added_c1_us: float | None = None  # nginx-proxy's added latency, over the same rounds
    cpu: dict[str, float | None] = field(default_factory=dict)  # medians of cpustat.usage shares
    rps_per_cpu: float | None = None  # median of req/s ÷ the gateway's own CPU share: requests per CPU-second
    memory_idle_bytes: float | None = None  # median PSS of all its processes once ready, before any load
    memory_load_bytes: float | None = None  # median of its peak PSS under load
    failures: list[str] = field(default_factory=list)


def summarize(rounds: list[Round], gateways: list[Gateway]) -> list[Row]:
    kept = [r for r in rounds if r.kept]
    rows: list[Row] = []
    for gateway in gateways:
        name = gateway.name
        measured = [r for r in kept if _rps(r, name) is not None]
        row = Row(name, gateway.description, len(measured))
        row.failures = [
            f"round {r.index}: {(r.runs[name].error or 'no result').splitlines()[0].rstrip(':')}"
            for r in rounds
            if name in r.runs and not r.runs[name].ok
        ]
        rps = [v for r in measured if (v := _rps(r, name)) is not None]
        if rps:
            row.rps_median, row.rps_min, row.rps_max = statistics.median(rps), min(rps), max(rps)
        loads = [run.load for r in measured if (run := r.runs[name]).load is not None]
        row.p50_us = _median([load.p50.us for load in loads if load.p50])
        row.p99_us = _median([load.p99.us for load in loads if load.p99])
        row.non_2xx_3xx = sum(load.non_2xx_3xx for load in loads)
        row.socket_errors = sum(load.socket_error_count for load in loads)
        for ref in dict.fromkeys([*REFERENCES, *(g.name for g in gateways if g.name != name)]):
            ratios = [
                mine / theirs
                for r in measured
                if (mine := _rps(r, name)) is not None and (theirs := _rps(r, ref)) is not None and theirs > 0
            ]
            row.ratios[ref] = _median(ratios)
            both = [r for r in measured if _rps(r, ref) is not None]
            mine_best, theirs_best = best_quarter(both, name), best_quarter(both, ref)
            row.best_quarter_ratios[ref] = mine_best / theirs_best if mine_best and theirs_best else None
        row.rps_best_quarter = best_quarter(measured, name)
        pairs = [(a, _added_c1(r, "nginx-proxy")) for r in measured if (a := _added_c1(r, name)) is not None]
        row.added_c1_us = _median([a for a, _ in pairs])
        row.nginx_added_c1_us = _median([n for _, n in pairs if n is not None])
        usages = [u for r in measured if (u := r.runs[name].cpu) is not None]
        row.cpu = {key: _median([u[key] for u in usages]) for key in (usages[0] if usages else {})}
        row.rps_per_cpu = _median(
            [
                value / usage["gateway_own"]
                for r in measured
                if (value := _rps(r, name)) is not None
                and (usage := r.runs[name].cpu) is not None
                and usage["gateway_own"] > 0
            ]
        )
        row.memory_idle_bytes = _median([m for r in measured if (m := r.runs[name].memory_idle) is not None])
        row.memory_load_bytes = _median([m for r in measured if (m := r.runs[name].memory_load) is not None])
        rows.append(row)
    return rows


# ---- formatting ---------------------------------------------------------------------------------------------------


def _us(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    sign = "+" if signed and value >= 0 else ""
    if abs(value) >= 1000:
        return f"{sign}{value / 1000:.2f} ms"
    return f"{sign}{value:.0f} µs"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _mib(value: float | None) -> str:
    return "–" if value is None else f"{value / 2**20:.0f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def markdown(
    rows: list[Row],
    rounds: list[Round],
    settings: Settings,
    machine: dict[str, object],
    versions: dict[str, str],
    skipped: dict[str, str],
    canary_median: float | None,
) -> str:
    kept = [r.index for r in rounds if r.kept]
    s = settings
    lines = [
        f"# fastgw load bench: {s.scenario.name} ({s.scenario.description})",
        "",
        f"{machine.get('date')} · {machine.get('cpu_model')} · {machine.get('cpus')} CPUs · {machine.get('kernel')}",
        "",
        f"`wrk -t1 -c{s.connections} --latency` on `{s.scenario.path}`: {s.slice_count * s.slice_seconds} s per "
        f"gateway and round, in {s.slice_count} slices of {s.slice_seconds} s taken in turn (A B C … A B C …), after "
        f"a {s.warmup} s warm-up; c=1 latency over {s.c1_duration} s. Every gateway started fresh each round, pinned "
        f"to CPU {s.gateway_cpu} (one worker), alone at work there during its slices; wrk and the nginx backend on "
        f"CPU {s.load_cpu}. Rounds: {len(rounds)}, kept {len(kept)}"
        + (f" ({', '.join(map(str, kept))})" if len(kept) != len(rounds) else "")
        + ".",
        "",
        "| gateway | req/s (median) | min–max | best quarter | p50 | p99 | non-2xx / socket err | ÷ nginx-proxy "
        "| ÷ granian-hello | ÷ fast-gateway | added p50 at c=1 | nginx-proxy's, same rounds | CPU own / others / steal "
        "| req per CPU-s | MiB idle / load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        span = f"{_num(row.rps_min)}–{_num(row.rps_max)}" if row.rps_min is not None else "–"
        name = row.gateway if row.rounds else f"{row.gateway} (failed)"
        lines.append(
            f"| {name} | {_num(row.rps_median)} | {span} | {_num(row.rps_best_quarter)} | {_us(row.p50_us)} "
            f"| {_us(row.p99_us)} | {row.non_2xx_3xx} / {row.socket_errors} "
            + " ".join(
                f"| {_ratio(row.ratios.get(ref))} ({_ratio(row.best_quarter_ratios.get(ref))})" for ref in REFERENCES
            )
            + f" | {_us(row.added_c1_us, signed=True)} | {_us(row.nginx_added_c1_us, signed=True)} "
            f"| {_share(row.cpu.get('gateway_own'))} / {_share(row.cpu.get('others_on_gateway_cpu'))} "
            f"/ {_share(row.cpu.get('steal_on_gateway_cpu'))} "
            f"| {_num(row.rps_per_cpu)} | {_mib(row.memory_idle_bytes)} / {_mib(row.memory_load_bytes)} |"
        )
    lines += [
        "",
        "req/s: a round's requests over its slices' time; p50 and p99: the median of the slices' values; best "
        "quarter: the mean req/s of the gateway's fastest quarter of slices over the kept rounds, its speed when the "
        "host leaves it alone. Ratios are medians of per-round ratios (both gateways measured in the same round); in "
        "brackets, the ratio of best quarters (the figure `fastgw bench --compare` checks). "
        f"CPU own / others / steal: shares of CPU {s.gateway_cpu} during the measurement used by the gateway's "
        "processes, by other processes on the machine (what the gateway was denied) and by the host running another "
        "virtual machine on it (steal, the same); req per CPU-s: req/s divided by the "
        "gateway's own share, its cost per request whatever else ran (interrupt time not included). "
        "MiB idle / load: the PSS of all the gateway's processes (pages shared between them counted once), once "
        "ready before any load and at its peak under load.",
    ]
    saturated = [row.gateway for row in rows if (idle := row.cpu.get("load_cpu_idle")) is not None and idle < 0.05]
    if saturated:
        lines.append(
            f"**Load CPU {s.load_cpu} had under 5% idle** while measuring {', '.join(saturated)}: wrk or the backend "
            "may have set the pace there, not the gateway."
        )
    longer = sorted({run.gateway for r in rounds for run in r.runs.values() if run.warmup_seconds > s.warmup})
    if longer:
        seconds = max(run.warmup_seconds for r in rounds for run in r.runs.values())
        lines.append(f"Warmed up {seconds} s: {', '.join(longer)} (a JIT runtime reaches its speed while it serves).")
    direct = [r.direct_c1.p50.us for r in rounds if r.kept and r.direct_c1 and r.direct_c1.p50]
    if direct:
        lines.append(f"Direct to the backend at c=1: p50 {_us(statistics.median(direct))} (median of kept rounds).")
    canary_line = f"Canary {s.canary}: " + ", ".join(
        f"round {r.index} {_num(v)}" for r in rounds if (v := _rps(r, s.canary)) is not None
    )
    if canary_median is not None:
        canary_line += f" req/s; median {_num(canary_median)}, tolerance ±{CANARY_TOLERANCE:.0%}."
    lines.append(canary_line)
    for r in rounds:
        if not r.kept:
            lines.append(f"Round {r.index} dropped: {r.drop_reason}.")
    measured = [run for r in rounds if r.kept for run in r.runs.values() if run.ok]
    contended = [run for run in measured if run.contended]
    if contended:
        lines.append(
            f"Other processes took over 5% of CPU {s.gateway_cpu} or CPU {s.load_cpu} in {len(contended)} of "
            f"{len(measured)} kept measurements: "
            + ", ".join(f"{run.gateway} (round {run.round}: {cpustat.others(run.cpu):.0%})" for run in contended)
            + "."
        )
    discarded = sum(len(run.rejected) for r in rounds for run in r.runs.values())
    if discarded:
        lines.append(f"{discarded} slice(s) taken again under --max-others (the discarded ones in results.json).")
    bad = [row.gateway for row in rows if row.non_2xx_3xx or row.socket_errors]
    if bad:
        lines.append(f"**Errors during measurement** (non-2xx must be 0): {', '.join(bad)}.")
    for row in rows:
        for failure in row.failures:
            lines.append(f"{row.gateway} failed in {failure}")
    for name, reason in skipped.items():
        lines.append(f"{name} skipped: {reason}")
    lines.append(
        f"Load average at start: {machine.get('loadavg_at_start')}; at end: {machine.get('loadavg_at_end')} "
        "(other work on the machine moves absolute numbers; the ratios are the result)."
    )
    lines += ["", "Versions: " + "; ".join(f"{k}: {v}" for k, v in versions.items()), ""]
    return "\n".join(lines)


def write(
    out: Path,
    *,
    rows: list[Row],
    rounds: list[Round],
    settings: Settings,
    backend: Backend,
    machine: dict[str, object],
    versions: dict[str, str],
    skipped: dict[str, str],
    canary_median: float | None,
) -> str:
    """Write results.md and results.json into `out`; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, rounds, settings, machine, versions, skipped, canary_median)
    (out / "results.md").write_text(text)
    document = {
        "schema": 1,
        "scenario": asdict(settings.scenario) | {"body": settings.scenario.body.decode()},
        "settings": asdict(settings) | {"scenario": settings.scenario.name},
        "machine": machine,
        "versions": versions,
        "backend": asdict(backend),
        "canary": {"gateway": settings.canary, "median_rps": canary_median, "tolerance": CANARY_TOLERANCE},
        "rounds_kept": [r.index for r in rounds if r.kept],
        "rounds_dropped": [{"round": r.index, "reason": r.drop_reason} for r in rounds if not r.kept],
        "skipped": skipped,
        "summary": [asdict(row) for row in rows],
        "rounds": [
            {
                "round": r.index,
                "kept": r.kept,
                "drop_reason": r.drop_reason,
                "idle_wait_seconds": r.idle_wait_seconds,
                "direct_c1": r.direct_c1.to_json() if r.direct_c1 else None,
                "runs": {name: run.to_json() for name, run in r.runs.items()},
            }
            for r in rounds
        ],
    }
    (out / "results.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return text


def rewrite(out: Path) -> tuple[Settings, list[Row], str]:
    """Write a scenario's results.md and results.json again from the raw rounds in its results.json (after the
    report has changed: the measurements stay as they were). Returns the run's settings, its rows and the Markdown."""
    document: dict[str, Any] = json.loads((out / "results.json").read_text())
    stored = dict(document["settings"])
    stored.pop("scenario")
    settings = Settings(scenario=_scenario_as_recorded(document["scenario"]), **stored)
    rounds = [Round.from_json(r) for r in document["rounds"]]
    gateways = [GATEWAYS[row["gateway"]] for row in document["summary"] if row["gateway"] in GATEWAYS]
    rows = summarize(rounds, gateways)
    text = write(
        out,
        rows=rows,
        rounds=rounds,
        settings=settings,
        backend=Backend(**document["backend"]),
        machine=document["machine"],
        versions=document["versions"],
        skipped=document.get("skipped") or {},
        canary_median=(document.get("canary") or {}).get("median_rps"),
    )
    return settings, rows, text


def _scenario_as_recorded(stored: dict[str, Any]) -> Scenario:
    """The scenario as the run's results.json recorded it: a rewrite keeps what was measured (the large scenario's
    connections, say) after the code's scenario has changed."""
    known = {f.name for f in fields(Scenario)}
    recorded = {key: value for key, value in stored.items() if key in known}
    recorded["body"] = str(stored.get("body", "")).encode()
    recorded["headers"] = tuple((str(name), str(value)) for name, value in stored.get("headers") or ())
    return Scenario(**recorded)


def index(summaries: list[tuple[Scenario, list[Row]]], sweep: Path | None, canary: str) -> str:
    """The run's front page: per scenario, fastgw's median req/s and its ratio to every peer measured with it."""
    lines = [
        "# fastgw load bench",
        "",
        "Per scenario: fastgw's throughput (median req/s over kept rounds) and its ratio to each gateway measured in "
        "the same rounds, `fastgw ÷ peer` (above 1: fastgw is faster), two ways: the median of per-round ratios, and "
        "the ratio of best quarters (each gateway's fastest quarter of slices: its speed when the shared host leaves "
        "it alone; the one `fastgw bench --compare` checks). Each scenario's `results.md` has every figure, "
        "latencies and charts; `results.json` the raw runs.",
        "",
    ]
    for scenario, rows in summaries:
        ours = next((row for row in rows if row.gateway == "fastgw"), None)
        lines += [f"## {scenario.name}", "", scenario.description, ""]
        if ours is None or ours.rps_median is None:
            lines += ["fastgw was not measured in this scenario.", ""]
            continue
        lines += [
            f"fastgw: **{ours.rps_median:,.0f} req/s** (min–max {ours.rps_min:,.0f}–{ours.rps_max:,.0f}; best "
            f"quarter {_num(ours.rps_best_quarter)}), "
            f"p99 {_us(ours.p99_us)}, added latency at c=1 {_us(ours.added_c1_us, signed=True)}, memory "
            f"{_mib(ours.memory_idle_bytes)} MiB idle and {_mib(ours.memory_load_bytes)} MiB under load.",
            "",
            "| peer | its req/s | fastgw ÷ peer | best quarters: its req/s | fastgw ÷ peer |",
            "|---|--:|--:|--:|--:|",
        ]
        plain = scenario.method == "GET" and not scenario.request_bytes
        for row in rows:
            if row.gateway == "fastgw" or row.rps_median is None:
                continue
            if not plain and row.gateway == canary:
                continue  # the canary answered its plain GET, not this scenario's request
            lines.append(
                f"| {row.gateway} | {_num(row.rps_median)} | {_ratio(ours.ratios.get(row.gateway))} "
                f"| {_num(row.rps_best_quarter)} | {_ratio(ours.best_quarter_ratios.get(row.gateway))} |"
            )
        lines += ["", f"Details: [{scenario.name}/results.md]({scenario.name}/results.md)", ""]
    if sweep is not None:
        lines += [
            "## Scaling, start and reload",
            "",
            "[sweep/sweep.md](sweep/sweep.md) (routes 10 → 100,000, keys 1 → 1,000,000) and "
            "[sweep/reload.md](sweep/reload.md) (a 10,000-route table started and reloaded under load).",
            "",
        ]
    return "\n".join(lines)
