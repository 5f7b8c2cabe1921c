"""`python -m fastgw.bench`: run the load benchmark of PROTOCOL.md against fastgw and its peers."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from fastgw.bench import charts, compare, machine, report, runner
from fastgw.bench.gateways import CANARY, GATEWAYS, Gateway
from fastgw.bench.procs import StartError
from fastgw.bench.requirements import Environment, Requirement, install
from fastgw.bench.scenarios import SCENARIOS, Scenario

DEFAULT_NODE_DIR = Path.home() / ".cache" / "fastgw-bench" / "node"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastgw bench",
        description="Load-benchmark fastgw beside nginx, HAProxy, Caddy, Node gateways and Granian baselines "
        "(wrk and the backend on one CPU, the gateway alone on the other). With --soak: one fastgw worker under "
        "full load of mixed traffic for MINUTES, then checks (exit 1 if one fails).",
    )
    parser.add_argument(
        "--gateways",
        default=",".join(GATEWAYS),
        help=f"comma-separated gateways to run, in this order (default: all: {','.join(GATEWAYS)})",
    )
    parser.add_argument(
        "--scenario",
        default="all",
        help=f"comma-separated scenarios, or all (default): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also the scaling sweeps (routes 10 → 100,000, keys 1 → 1,000,000) and the 10,000-route start and "
        "reload under load (about 4 minutes more)",
    )
    parser.add_argument("--sweep-only", action="store_true", help="only the sweeps and the reload, no load scenarios")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each running every gateway once (default 5)")
    parser.add_argument(
        "--duration", type=int, default=8, help="seconds measured per gateway and round at c=64 (default 8)"
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=4,
        help="take those seconds in this many slices, every gateway in turn, so that all see the machine's drift "
        "alike (default 4)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before measuring (default 2)")
    parser.add_argument("--c1-duration", type=int, default=3, help="seconds measured at c=1 (default 3)")
    parser.add_argument(
        "--connections", type=int, help="wrk connections (default: the scenario's, 64; 16 for large's 1 MiB bodies)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, 2 slices of 1 s, 1 s warm-up")
    parser.add_argument("--canary", default=CANARY, help=f"gateway run every round as the canary (default {CANARY})")
    parser.add_argument("--out", type=Path, help="results directory (default benches/results/<UTC timestamp>/)")
    parser.add_argument(
        "--install-missing",
        action="store_true",
        help="apt-get / npm / pip install peers that are missing (npm into --node-dir) instead of skipping them",
    )
    parser.add_argument(
        "--node-dir", type=Path, default=DEFAULT_NODE_DIR, help=f"npm prefix (default {DEFAULT_NODE_DIR})"
    )
    parser.add_argument("--load-cpu", default="0", help="CPU for wrk and the backend (default 0)")
    parser.add_argument("--gateway-cpu", default="1", help="CPU for the gateway under test (default 1)")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each round, wait up to SECONDS for both CPUs to be 90%% idle (a shared machine; default 0)",
    )
    parser.add_argument(
        "--max-others",
        type=float,
        metavar="SHARE",
        help="take a slice again when other processes took more than SHARE (0-1) of the gateway CPU or of the load "
        "CPU (default: never)",
    )
    parser.add_argument("--retries", type=int, default=2, help="re-measurements per slice for --max-others (default 2)")
    parser.add_argument("--keep-temp", action="store_true", help="keep generated configs and logs")
    parser.add_argument("--list", action="store_true", help="list the gateways and whether each can run, then exit")
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("FIRST", "SECOND"),
        help="compare two runs' results directories: every fastgw ratio of SECOND against FIRST, exit 1 when one "
        "moved by more than --tolerance; runs nothing",
    )
    parser.add_argument(
        "--rewrite",
        type=Path,
        metavar="RUN",
        help="write a run's reports (results.md, the summaries in results.json, charts) again from its raw rounds, "
        "as this version reports them; runs nothing",
    )
    soak = parser.add_argument_group(
        "soak",
        "--soak MINUTES: one fastgw worker (pinned to --gateway-cpu) under full load (wrk -c64, --connections) of "
        "mixed traffic for MINUTES: proxied GETs and POSTs, bodies over 256 KiB both ways, cache hits and misses, "
        "a mock, an API key with a throttled usage plan, a validated route with invalid bodies, no-route 403s and "
        "404s, a slow backend, clients that leave mid-download, mid-upload and mid-body. It checks: no 5xx (the "
        "backends never answer one), no status outside the mix's, no socket errors, the worker up throughout, its "
        "RSS at the end within 10% of its level after warm-up, no traceback, ERROR or panic in the gateway's log "
        "(exit 1 if a check fails). Writes results.md, results.json and memory.png to --out (default "
        "benches/results/soak-<UTC timestamp>/); runs nothing else.",
    )
    soak.add_argument("--soak", type=float, metavar="MINUTES", help="run the soak for MINUTES (warm-up included)")
    soak.add_argument(
        "--soak-seconds", type=int, metavar="SECONDS", help="the soak's length in seconds instead (at least 10)"
    )
    soak.add_argument(
        "--soak-warmup",
        type=int,
        metavar="SECONDS",
        help="seconds of load before the worker's RSS level is taken (default: 60 for runs of 5 minutes or more, "
        "else 20, at most a third of the run)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=compare.TOLERANCE,
        help=f"for --compare: the largest relative change that counts as agreement (default {compare.TOLERANCE})",
    )
    return parser


def _missing(gateway: Gateway, env: Environment) -> list[tuple[Requirement, str]]:
    return [(req, reason) for req in gateway.requires if (reason := req.missing(env)) is not None]


def _scenarios(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Scenario]:
    if args.sweep_only:
        return []
    names = [n.strip() for n in str(args.scenario).split(",") if n.strip()]
    if names == ["all"]:
        return list(SCENARIOS.values())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)} or all")
    return [SCENARIOS[n] for n in dict.fromkeys(names)]


def _select(args: argparse.Namespace, parser: argparse.ArgumentParser, scenario: Scenario) -> list[Gateway]:
    names = [n.strip() for n in str(args.gateways).split(",") if n.strip()]
    unknown = [n for n in [*names, args.canary] if n not in GATEWAYS]
    if unknown:
        parser.error(f"unknown gateway(s): {', '.join(unknown)}; known: {', '.join(GATEWAYS)}")
    if args.canary not in names:
        names.insert(0, args.canary)  # the canary runs every round whatever is selected
    return [GATEWAYS[n] for n in dict.fromkeys(names) if scenario.name in GATEWAYS[n].scenarios]


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so that every `finally` stops its processes.
    raise SystemExit(128 + signum)


Summaries = list[tuple[Scenario, list[report.Row]]]  # per scenario run, its summary rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.compare or args.rewrite:
        return _read_runs(args)
    if args.soak is not None or args.soak_seconds is not None:
        return _soak(args, parser, list(argv) if argv is not None else sys.argv[1:])
    _check_counts(args, parser)
    env = Environment(
        python=Path(sys.executable), peers_dir=Path(__file__).resolve().parent / "peers", node_dir=args.node_dir
    )

    if args.list:
        return _list(env)

    scenarios = _scenarios(args, parser)
    selected = {scenario.name: _select(args, parser, scenario) for scenario in scenarios}
    if args.install_missing:
        _install_missing([g for gateways in selected.values() for g in gateways], env)
    tools_missing = [(req, reason) for req in machine.TOOLS if (reason := req.missing(env)) is not None]
    if tools_missing:
        print("cannot run: " + "; ".join(reason for _, reason in tools_missing), file=sys.stderr)
        return 2

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or Path("benches") / "results" / stamp
    # Keep this process (it mostly waits) off the gateway's CPU.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in str(args.load_cpu).split(",") if c.isdigit()} or {0})
    previous = signal.signal(signal.SIGTERM, _terminate)
    summaries: Summaries = []
    try:
        for scenario in scenarios:
            rows = _run_scenario(args, env, scenario, selected[scenario.name], out / scenario.name)
            if rows is None:
                return 2
            summaries.append((scenario, rows))
        if args.sweep or args.sweep_only:
            _run_sweeps(args, env, out)
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped; results written so far are kept", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if summaries:
        sweep_dir = out / "sweep" if (args.sweep or args.sweep_only) else None
        _write_index(out, summaries, sweep_dir, args.canary)
    print(f"results: {out}/")
    return 0 if all(any(row.rounds for row in rows) for _, rows in summaries) else 1


def _soak(args: argparse.Namespace, parser: argparse.ArgumentParser, arguments: list[str]) -> int:
    """`--soak MINUTES`: the soak alone (fastgw.bench.soak); 0 when every check passed, 1 when one failed, 2 when
    it could not run."""
    from fastgw.bench import soak, soakreport
    from fastgw.bench.gateways import GRANIAN

    seconds = args.soak_seconds if args.soak_seconds is not None else round(args.soak * 60)
    if seconds < 10:
        parser.error("the soak takes at least 10 seconds")
    warmup = args.soak_warmup if args.soak_warmup is not None else soak.Settings.default_warmup(seconds)
    settings = soak.Settings(
        seconds=seconds,
        warmup=warmup,
        connections=args.connections if args.connections is not None else 64,
        load_cpu=str(args.load_cpu),
        gateway_cpu=str(args.gateway_cpu),
        keep_temp=args.keep_temp,
    )
    if not 0 <= warmup <= seconds - 2 * settings.window:
        parser.error(f"--soak-warmup must leave two memory windows ({settings.window:g} s each) of the run")
    env = Environment(
        python=Path(sys.executable), peers_dir=Path(__file__).resolve().parent / "peers", node_dir=args.node_dir
    )
    fastgw = GATEWAYS["fastgw"]
    if args.install_missing:
        _install_missing([fastgw], env)
    required = [*machine.TOOLS, GRANIAN, *fastgw.requires]
    missing = [reason for req in required if (reason := req.missing(env)) is not None]
    if missing:
        print("cannot run: " + "; ".join(missing), file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or Path("benches") / "results" / f"soak-{stamp}"
    if hasattr(os, "sched_setaffinity"):  # this process (its edge clients) runs on the load CPU
        os.sched_setaffinity(0, {int(c) for c in str(args.load_cpu).split(",") if c.isdigit()} or {0})
    facts = machine.facts()
    versions = machine.versions([fastgw], env) | {GRANIAN.key: GRANIAN.version(env)}  # it runs the second backend
    previous = signal.signal(signal.SIGTERM, _terminate)
    print(f"== soak: {seconds} s of mixed load on one fastgw worker, warm-up {warmup} s", flush=True)
    try:
        result = soak.run(settings, env, progress=lambda line: print(line, flush=True))
    except StartError as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    facts["loadavg_at_end"] = machine.loadavg()
    text = soakreport.write(out, result, command=["fastgw", "bench", *arguments], machine=facts, versions=versions)
    print()
    print(text)
    print(f"results: {out}/")
    return 0 if result.passed else 1


def _list(env: Environment) -> int:
    """--list: every gateway, and whether it can run here."""
    for gateway in GATEWAYS.values():
        reasons = [reason for _, reason in _missing(gateway, env)]
        state = "ready" if not reasons else "missing: " + "; ".join(reasons)
        print(f"{gateway.name:<18} {gateway.description}  [{state}]")
    return 0


def _check_counts(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--quick's settings, and every count at least 1."""
    if args.quick:
        args.rounds, args.duration, args.slices, args.warmup, args.c1_duration = 1, 2, 2, 1, 1
    counts = [args.rounds, args.duration, args.slices, args.warmup, args.c1_duration]
    if min(counts + ([] if args.connections is None else [args.connections])) < 1:
        parser.error("--rounds, --duration, --slices, --warmup, --c1-duration and --connections must be at least 1")


def _read_runs(args: argparse.Namespace) -> int:
    """--compare and --rewrite: work on results already written, run nothing."""
    if args.rewrite:
        return _rewrite(args.rewrite)
    first, second = args.compare
    text, agree = compare.report(first, second, tolerance=args.tolerance)
    print(text)
    return 0 if agree else 1


def _write_index(out: Path, summaries: Summaries, sweep: Path | None, canary: str) -> None:
    index = report.index(summaries, sweep=sweep, canary=canary)
    (out / "results.md").write_text(index)
    print()
    print(index)


def _rewrite(run: Path) -> int:
    """`--rewrite RUN`: every scenario's reports and the index again, from the rounds results.json holds."""
    summaries: Summaries = []
    canary = CANARY
    found = [path for path in run.glob("*/results.json") if path.parent.name in SCENARIOS]
    for results in sorted(found, key=lambda path: list(SCENARIOS).index(path.parent.name)):
        settings, rows, text = report.rewrite(results.parent)
        _add_charts(results.parent, text)
        summaries.append((settings.scenario, rows))
        canary = settings.canary
    if not summaries:
        print(f"no results.json under {run}/*/", file=sys.stderr)
        return 2
    _write_index(run, summaries, run / "sweep" if (run / "sweep").is_dir() else None, canary)
    return 0


def _add_charts(out: Path, text: str) -> str:
    """Draw the scenario's charts and link them from its results.md, when matplotlib is there."""
    if (reason := charts.available()) is not None:
        print(f"no charts: {reason}", flush=True)
        return text
    pngs = charts.write_charts(out, json.loads((out / "results.json").read_text()))
    text += "\n" + "\n".join(f"![{png.stem}]({png.name})" for png in pngs) + "\n"
    (out / "results.md").write_text(text)
    return text


def _install_missing(gateways: list[Gateway], env: Environment) -> None:
    """wrk, the selected gateways' software and matplotlib, where missing."""
    wanted = [req for req in machine.TOOLS if req.missing(env) is not None]
    wanted += [req for g in gateways for req, _ in _missing(g, env)]
    if charts.available() is not None:
        wanted.append(charts.MATPLOTLIB)
    for note in install(list(dict.fromkeys(wanted)), env) if wanted else []:
        print(note, flush=True)


def _run_scenario(
    args: argparse.Namespace, env: Environment, scenario: Scenario, selected: list[Gateway], out: Path
) -> list[report.Row] | None:
    """One scenario's rounds, its results.md / results.json and charts in `out`; None when it cannot run."""
    print(f"\n== scenario {scenario.name}: {scenario.description}", flush=True)
    skipped: dict[str, str] = {}
    gateways: list[Gateway] = []
    for gateway in selected:
        reasons = [reason for _, reason in _missing(gateway, env)]
        if reasons:
            skipped[gateway.name] = "; ".join(reasons) + ("" if args.install_missing else " (try --install-missing)")
            print(f"note: skipping {gateway.name}: {skipped[gateway.name]}", flush=True)
        else:
            gateways.append(gateway)
    if args.canary not in {g.name for g in gateways}:
        print(f"cannot run: the canary {args.canary} is not available", file=sys.stderr)
        return None
    settings = runner.Settings(
        scenario=scenario,
        rounds=args.rounds,
        duration=args.duration,
        warmup=args.warmup,
        c1_duration=args.c1_duration,
        connections=args.connections if args.connections is not None else scenario.connections,
        load_cpu=str(args.load_cpu),
        gateway_cpu=str(args.gateway_cpu),
        canary=args.canary,
        slices=args.slices,
        keep_temp=args.keep_temp,
        wait_idle=args.wait_idle,
        max_others=args.max_others,
        retries=args.retries,
    )
    facts = machine.facts()
    versions = machine.versions(gateways, env)
    try:
        rounds, backend = runner.run(settings, gateways, env, progress=lambda line: print(line, flush=True))
    except StartError as exc:
        print(f"cannot run: the backend did not start: {exc}", file=sys.stderr)
        return None
    facts["loadavg_at_end"] = machine.loadavg()
    canary_median = report.apply_canary(rounds, settings.canary)
    rows = report.summarize(rounds, gateways)
    text = report.write(
        out,
        rows=rows,
        rounds=rounds,
        settings=settings,
        backend=backend,
        machine=facts,
        versions=versions,
        skipped=skipped,
        canary_median=canary_median,
    )
    text = _add_charts(out, text)
    print()
    print(text)
    return rows


def _run_sweeps(args: argparse.Namespace, env: Environment, out: Path) -> None:
    from fastgw.bench import reload, sweep

    print("\n== scaling sweeps", flush=True)
    cpu = int(args.gateway_cpu) if str(args.gateway_cpu).isdigit() else None
    sweep.run_sweeps(out / "sweep", quick=args.quick, cpu=cpu, progress=lambda line: print(line, flush=True))
    print("\n== start and reload with 10,000 routes under load", flush=True)
    reload.run(
        out / "sweep",
        env,
        reloads=1 if args.quick else reload.RELOADS,
        load_cpu=str(args.load_cpu),
        gateway_cpu=str(args.gateway_cpu),
        progress=lambda line: print(line, flush=True),
    )
