"""Scaling sweeps: how config load time, memory and the per-request ``admit`` cost grow with the route table
(N = 10 … 100,000 routes) and with the key table (K = 1 … 1,000,000 API keys).

Run: ``python -m fastgw.bench.sweep [--quick] [--out DIR] [--cpu N]`` (``fastgw bench --sweep`` calls
:func:`run_sweeps`). Writes ``sweep.json`` (machine, commands, every repetition), ``sweep.md`` (the tables) and
the charts (``routes-*.png``, ``keys-*.png``) into ``--out``.

How (PROTOCOL.md: medians, one pinned CPU, ratios to a baseline measured in the same run):

- Each size runs in a fresh Python process (``python -m fastgw.bench.sweep --one-routes N FILE`` or
  ``--one-keys K``) pinned to one CPU, which prints its result as one JSON line. Memory is that process's own
  ``VmRSS`` growth, with nothing left over from another size.
- Routes: an OpenAPI 3 definition of N routes (:func:`api_document`, apispec's resources × operations carried
  on under ``/svc{k}`` prefixes) is written as JSON, then loaded the way ``fastgw serve FILE`` does it before
  listening (:func:`load_gateway`: the file kind, the definition, the compiled gateway), three times; the
  first load also gives the memory. A YAML copy of the smaller tables shows what the format costs.
- Keys: a gateway with a usage plan and K keys in the config, built by :class:`fastgw.gateway.Gateway`
  itself (so the keys go through ``NodeAdmission`` and ``Engine.set_keys`` as in ``fastgw serve``).
- Per-call costs: a timed loop over a fixed sample of calls; ns per call is the median of 5 repetitions, each
  interleaved with the same loop around a no-op C call (``len([1])``). "net" is the median of the per-repetition
  differences. The garbage collector is off while timing, as ``timeit`` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fastgw.bench import apispec

if TYPE_CHECKING:
    from fastgw._core import Engine
    from fastgw.gateway import Gateway

ROUTE_SIZES = (10, 100, 1_000, 10_000, 100_000)
QUICK_ROUTE_SIZES = (10, 100, 1_000, 10_000)
# (N, loads): YAML tables, loaded the same way, for the format's cost. The largest is loaded once (over 10 s).
YAML_SIZES = ((10, 3), (100, 3), (1_000, 3), (10_000, 1))
QUICK_YAML_SIZES = ((10, 3), (100, 3), (1_000, 1))
KEY_SIZES = (1, 1_000, 100_000, 1_000_000)
QUICK_KEY_SIZES = (1, 1_000, 100_000)

LOADS = 3  # loads per route table; the median is reported
REPS = 5  # repetitions of each timed loop; the median is reported
LOOP_SECONDS = 0.1  # one repetition of one timed loop lasts about this long (--quick: QUICK_LOOP_SECONDS)
QUICK_LOOP_SECONDS = 0.03
SAMPLE_SIZE = 1_000  # request paths per lookup sample, a tenth of them misses
CYCLED_KEYS = 1_000  # distinct keys the check loop cycles over (K when smaller)
CHILD_TIMEOUT = 600.0  # seconds for one size
# A size's timings are flagged (†) in sweep.md when its thread ran less than this share of the wall time, or when
# its no-op canary is more than CANARY_SPREAD slower than the median of the sweep's (PROTOCOL.md's canary rule;
# only slower: contention cannot speed a loop up, and a 20 ns canary jitters by a nanosecond or two).
CPU_SHARE_FLOOR = 0.95
CANARY_SPREAD = 0.10

API, STAGE, PLAN = "api", "$default", "sweep"
STAGE_VARIABLES = {"backendPort": "9000"}  # as the load bench serves apispec's definition
# The gateway-wide and plan limits, far above any rate a timed loop reaches: every call is a full admission,
# never a 429 (the default gateway limit, 10,000 rps with a burst of 5,000, would throttle a loop in 2 ms).
UNLIMITED = (1e9, 1_000_000_000)
KEY_PATH, OPEN_PATH = "/pets/42", "/open/42"  # the keyed route and the same route without a key requirement

_PARAM = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")
# apispec's twenty operations, in an order that gives a table cut short (N = 10) every kind of segment: static,
# {param}, static sibling of a parameter, greedy {proxy+}, two parameters, a versioned prefix.
_FIRST = [
    ("get", "/{r}"),
    ("get", "/{r}/{{{p}}}"),
    ("get", "/{r}/search"),
    ("get", "/{r}/{{{p}}}/files/{{proxy+}}"),
    ("get", "/{r}/{{{p}}}/notes/{{noteId}}"),
    ("post", "/{r}"),
    ("get", "/v2/{r}/{{{p}}}"),
]
_OPERATIONS = _FIRST + [op for op in apispec._OPERATIONS if op not in _FIRST]
assert sorted(_OPERATIONS) == sorted(apispec._OPERATIONS), "apispec's operations changed: update _FIRST"


# ---- generating definitions ---------------------------------------------------------------------------------


def route_table(n: int) -> list[tuple[str, str]]:
    """N ``(method, path template)`` routes: apispec's fifty resources with twenty operations each, then the same
    fifty again under ``/svc1``, ``/svc2``, … (a gateway in front of many services). N = 1,000 is apispec's
    resources × operations (without the routes it adds for particular scenarios)."""
    routes: list[tuple[str, str]] = []
    resource = 0
    while len(routes) < n:
        group, index = divmod(resource, len(apispec._RESOURCES))
        collection, param = apispec._RESOURCES[index]
        prefix = f"/svc{group}" if group else ""
        for method, template in _OPERATIONS[: n - len(routes)]:
            routes.append((method, prefix + template.format(r=collection, p=param)))
        resource += 1
    return routes


def api_document(n: int) -> dict[str, Any]:
    """An OpenAPI 3 definition with N ``http_proxy`` routes (:func:`route_table`), in apispec's shape."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in route_table(n):
        paths.setdefault(path, {})[method] = apispec._operation(method, path)
    return {"openapi": "3.0.1", "info": {"title": f"fastgw-sweep-{n}", "version": "1.0"}, "paths": paths}


def write_definition(path: Path, n: int) -> Path:
    """:func:`api_document` in ``path``: YAML when it ends in ``.yaml``, else JSON (100,000 routes in 2 s)."""
    document = api_document(n)
    if path.suffix == ".yaml":
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        path.write_text(yaml.dump(document, Dumper=dumper, sort_keys=False, width=120))
    else:
        path.write_text(json.dumps(document))
    return path


def keys_document() -> dict[str, Any]:
    """Two ``http_proxy`` routes: ``GET /pets/{id}`` requires an API key, ``GET /open/{id}`` (the baseline)
    does not."""
    keyed = apispec._operation("get", "/pets/{id}")
    keyed["security"] = [{"api_key": []}]
    return {
        "openapi": "3.0.1",
        "info": {"title": "fastgw-sweep-keys", "version": "1.0"},
        "paths": {"/pets/{id}": {"get": keyed}, "/open/{id}": {"get": apispec._operation("get", "/open/{id}")}},
        "components": {"securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}},
    }


def key_value(index: int) -> str:
    """The value of key number ``index``: 28 letters and digits (AWS: 20-128)."""
    return f"sweepkey{index:020d}"


# ---- measuring, in the process of one size ------------------------------------------------------------------


def _status_bytes(field: str) -> int:
    """A ``/proc/self/status`` field given in kB (``VmRSS``, ``VmHWM``, ``RssShmem``), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_bytes() -> int:
    return _status_bytes("VmRSS")


def peak_rss_bytes() -> int:
    return _status_bytes("VmHWM")


def shared_rss_bytes() -> int:
    """Resident shared memory: the node's bucket table (its pages are committed as keys land on them)."""
    return _status_bytes("RssShmem")


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


def _mb(size: int) -> float:
    return round(size / 2**20, 2)


def load_gateway(path: Path, *, state_path: str | None = None) -> tuple[Gateway, dict[str, float]]:
    """The steps of ``Gateway.from_file(path)`` (what ``fastgw serve FILE`` does before listening), timed:
    ``detect`` (the file kind), ``parse`` (the definition), ``compile`` (the gateway: engines and keys).

    The gateway-wide limit is raised out of the way (``UNLIMITED``, a config file's ``throttling``), so timed
    loops measure full admissions rather than 429s."""
    from fastgw.config.gateway_file import config_from_cli, detect_file_kind, load_definitions
    from fastgw.config.settings import NodeSettings, Throttle
    from fastgw.gateway import Gateway

    started = time.perf_counter_ns()
    kind = detect_file_kind(path)
    detected = time.perf_counter_ns()
    if kind != "definition":
        raise ValueError(f"{path}: expected an API definition, got a {kind} file")
    config = config_from_cli([os.fspath(path)], stage_variables=STAGE_VARIABLES)
    node = NodeSettings(throttle=Throttle(*UNLIMITED), state_path=state_path)
    config = dataclasses.replace(config, node=node)
    definitions, _ = load_definitions(config)
    parsed = time.perf_counter_ns()
    gateway = Gateway(config, definitions)
    compiled = time.perf_counter_ns()
    steps = {
        "detect_ms": _ms(detected - started),
        "parse_ms": _ms(parsed - detected),
        "compile_ms": _ms(compiled - parsed),
        "total_ms": _ms(compiled - started),
    }
    return gateway, steps


def _concrete(template: str, rng: random.Random) -> str:
    """A request path for a route's path template: numbers for parameters, three segments for a greedy one."""

    def value(match: re.Match[str]) -> str:
        return f"docs/{rng.randrange(2000, 2030)}/report.pdf" if match.group(2) else str(rng.randrange(1, 10**6))

    return _PARAM.sub(value, template)


def lookup_sample(
    routes: Sequence[tuple[str, str]], size: int = SAMPLE_SIZE, *, seed: int = 0
) -> list[tuple[str, str, int | None]]:
    """``(method, path, expected route index or None)``: nine tenths hits on routes drawn uniformly from the
    table (so at every depth it has), one tenth misses (an unknown first segment, or three unknown segments
    below a route that has no greedy parameter: one could be a parameter's value)."""
    rng = random.Random(seed)
    candidates = [i for i, (method, path) in enumerate(routes) if path.startswith("/")]
    misses = size // 10
    sample: list[tuple[str, str, int | None]] = []
    for _ in range(size - misses):
        index = rng.choice(candidates)
        method, template = routes[index]
        sample.append(("GET" if method == "ANY" else method, _concrete(template, rng), index))
    for number in range(misses):
        method, template = routes[rng.choice(candidates)]
        path = _concrete(template, rng).rstrip("/")
        if number % 2 or "+}" in template:
            path = f"/no-such-resource-{number}{path}"
        else:
            path += "/no-such-child/no-such-grandchild/x"
        sample.append(("GET" if method == "ANY" else method, path, None))
    rng.shuffle(sample)
    return sample


def check_sample(engine: Engine, sample: Sequence[tuple[str, str, int | None]]) -> dict[str, int]:
    """How each sample path is decided: ``hits`` (the expected route), ``misses`` (rejected as expected), and
    ``wrong`` (anything else: a sample that does not measure what it says)."""
    from fastgw._core import Forward, Reject

    counts = {"hits": 0, "misses": 0, "wrong": 0}
    for method, path, expected in sample:
        decision = engine.admit(method, path)
        if expected is None and isinstance(decision, Reject) and decision.route_id is None:
            counts["misses"] += 1
        elif expected is not None and isinstance(decision, Forward) and decision.route_id == expected:
            counts["hits"] += 1
        else:
            counts["wrong"] += 1
    return counts


@contextmanager
def _gc_off() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclasses.dataclass(frozen=True)
class Timing:
    ns: dict[str, list[float]]
    """ns per call of each loop, one value per repetition."""
    rounds: int
    """Rounds of each loop per repetition."""
    cpu_share: float
    """The lowest share of a repetition's wall time that this thread was running: below 1 when another process
    took the CPU."""


def time_loops(
    loops: Mapping[str, Callable[[int], object]], calls_per_round: int, *, reps: int, seconds: float
) -> Timing:
    """ns per call of each loop (``loop(rounds)`` makes ``rounds * calls_per_round`` calls), ``reps`` times,
    the loops interleaved within each repetition; the slowest loop's repetition lasts about ``seconds``."""
    slowest = 1
    for loop in loops.values():
        loop(1)  # warm-up
        started = time.perf_counter_ns()
        loop(1)
        slowest = max(slowest, time.perf_counter_ns() - started)
    rounds = max(1, int(seconds * 1e9 / slowest))
    results: dict[str, list[float]] = {name: [] for name in loops}
    share = 1.0
    with _gc_off():
        for _ in range(reps):
            wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
            for name, loop in loops.items():
                started = time.perf_counter_ns()
                loop(rounds)
                results[name].append(round((time.perf_counter_ns() - started) / (rounds * calls_per_round), 2))
            share = min(share, (time.thread_time_ns() - cpu) / max(1, time.perf_counter_ns() - wall))
    return Timing(results, rounds, round(share, 3))


def _summary(raw: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """The median of ``raw`` and the median of the per-repetition differences from ``baseline``."""
    return {
        "raw_ns": round(statistics.median(raw), 1),
        "net_ns": round(statistics.median(a - b for a, b in zip(raw, baseline, strict=True)), 1),
        "raw_reps_ns": list(raw),
    }


def _noop_loop(items: Sequence[object]) -> Callable[[int], None]:
    """The baseline of a loop over ``items``: the same loop around a no-op C call."""
    one = [1]
    call = len

    def run(rounds: int) -> None:
        for _ in range(rounds):
            for _item in items:
                call(one)

    return run


def _noop_pairs_loop(sample: Sequence[tuple[str, str, int | None]]) -> Callable[[int], None]:
    """The baseline of :func:`_admit_loop`: the same loop, pairs unpacked, around a no-op C call."""
    one = [1]
    call = len
    calls = [(method, path) for method, path, _ in sample]

    def run(rounds: int) -> None:
        for _ in range(rounds):
            for _method, _path in calls:
                call(one)

    return run


def _admit_loop(engine: Engine, sample: Sequence[tuple[str, str, int | None]]) -> Callable[[int], None]:
    admit = engine.admit
    calls = [(method, path) for method, path, _ in sample]

    def run(rounds: int) -> None:
        for _ in range(rounds):
            for method, path in calls:
                admit(method, path)

    return run


def _warm_up_routes(tmp: Path) -> None:
    """One small load first, so that lazy imports count in neither the time nor the memory of the table."""
    gateway, _ = load_gateway(write_definition(tmp / "warm-up.json", 10), state_path=str(tmp / "no-state.db"))
    del gateway
    gc.collect()


def measure_routes(path: Path, n: int, *, quick: bool, lookup: bool = True, loads: int = LOADS) -> dict[str, Any]:
    """Load the definition in ``path`` ``loads`` times (memory from the first load), then time ``admit`` over a
    sample of its routes. Meant for a fresh process: memory is this process's RSS growth."""
    with tempfile.TemporaryDirectory(prefix="fastgw-sweep-") as scratch:
        return _measure_routes(Path(scratch), path, n, quick=quick, lookup=lookup, loads=loads)


def _measure_routes(tmp: Path, path: Path, n: int, *, quick: bool, lookup: bool, loads: int) -> dict[str, Any]:
    from fastgw._core import Engine

    state_path = str(tmp / "no-state.db")  # no state store: keys come from the config only
    _warm_up_routes(tmp)
    before, peak_before = rss_bytes(), peak_rss_bytes()
    repetitions: list[dict[str, float]] = []
    gateway, steps = load_gateway(path, state_path=state_path)
    repetitions.append(steps)
    runtime = next(iter(gateway.stages.values()))
    loaded = len(runtime.definition.routes)
    after = rss_bytes()
    memory = {
        "rss_before_bytes": before,
        "rss_growth_bytes": after - before,
        "peak_rss_growth_bytes": peak_rss_bytes() - max(before, peak_before),
    }
    for _ in range(loads - 1):
        del runtime, gateway
        gc.collect()
        gateway, steps = load_gateway(path, state_path=state_path)
        repetitions.append(steps)
        runtime = next(iter(gateway.stages.values()))
    result: dict[str, Any] = {
        "n": n,
        "routes_loaded": loaded,
        "warnings": len(gateway.warnings),
        "load": {
            step: round(statistics.median(rep[step] for rep in repetitions), 3)
            for step in ("detect_ms", "parse_ms", "compile_ms", "total_ms")
        }
        | {"loads": loads, "reps": repetitions},
        "memory": memory,
    }
    if not lookup:
        return result
    routes = [(route.method, route.path) for route in runtime.definition.routes]
    sample = lookup_sample(routes)
    # The engine as the data plane has it (proxy heads written for http_proxy routes), and the bare route trie
    # built from the same list (no proxies, no throttle): the difference is the admission's own work.
    engine = runtime.engine
    trie = Engine(runtime.api_type, routes)
    seconds = QUICK_LOOP_SECONDS if quick else LOOP_SECONDS
    loops = {"noop": _noop_pairs_loop(sample), "admit": _admit_loop(engine, sample), "trie": _admit_loop(trie, sample)}
    timing = time_loops(loops, len(sample), reps=REPS, seconds=seconds)
    times = timing.ns
    result["lookup"] = {
        "sample": {"size": len(sample), **check_sample(engine, sample), "trie": check_sample(trie, sample)},
        "depths": _depths(sample),
        "rounds": timing.rounds,
        "cpu_share": timing.cpu_share,
        "noop_ns": round(statistics.median(times["noop"]), 1),
        "noop_reps_ns": times["noop"],
        "admit": _summary(times["admit"], times["noop"]),
        "trie": _summary(times["trie"], times["noop"]),
    }
    return result


def _depths(sample: Sequence[tuple[str, str, int | None]]) -> dict[str, int]:
    """How many sample paths have each number of segments."""
    depths: dict[str, int] = {}
    for _, path, _ in sample:
        depth = str(path.count("/"))
        depths[depth] = depths.get(depth, 0) + 1
    return dict(sorted(depths.items(), key=lambda item: int(item[0])))


def keys_gateway(k: int, *, state_path: str | None = None, key_configs: Sequence[Any] | None = None) -> Gateway:
    """A gateway for :func:`keys_document` with one usage plan (limits out of the way) and keys ``0 … k-1``, as
    a config file's ``usagePlans`` and ``apiKeys`` give them (``key_configs``: the keys, already built)."""
    from fastgw.config.gateway_file import ApiConfig, BasePathMapping, GatewayConfig, Limits, Listener, StageConfig
    from fastgw.config.openapi import parse_definition
    from fastgw.config.settings import NodeSettings, PlanStage, Throttle, UsagePlan
    from fastgw.errors import Place
    from fastgw.gateway import Gateway

    place = Place("<sweep>")
    definition = parse_definition(json.dumps(keys_document()), "<sweep keys>")
    plan = UsagePlan(PLAN, Throttle(*UNLIMITED), None, (PlanStage(API, STAGE),), place)
    keys = tuple(key_configs) if key_configs is not None else tuple(key_configs_for(k))
    node = NodeSettings(throttle=Throttle(*UNLIMITED), usage_plans={PLAN: plan}, api_keys=keys, state_path=state_path)
    stages = {STAGE: StageConfig(STAGE, dict(STAGE_VARIABLES), place)}
    api = ApiConfig(API, definition.source, definition.api_type, "ignore", stages, place)
    mapping = BasePathMapping(API, STAGE, "", None, place)
    config = GatewayConfig({API: api}, (Listener(),), (mapping,), Limits(), None, node)
    return Gateway(config, {API: definition})


def key_configs_for(k: int) -> list[Any]:
    """Keys ``0 … k-1`` in the shape the config file reader gives them (the SHA-256 of the value, the plan)."""
    from fastgw.config.settings import ApiKeyConfig
    from fastgw.errors import Place

    place = Place("<sweep>")
    sha256 = hashlib.sha256
    return [ApiKeyConfig(f"key{i}", sha256(key_value(i).encode()).hexdigest(), True, (PLAN,), place) for i in range(k)]


def _headers_loop(engine: Engine, path: str, headers: Sequence[list[tuple[str, str]]]) -> Callable[[int], None]:
    admit = engine.admit

    def run(rounds: int) -> None:
        for _ in range(rounds):
            for header_list in headers:
                admit("GET", path, header_list)

    return run


def check_keys(engine: Engine, values: Sequence[str]) -> dict[str, int]:
    """``admitted``: loaded keys forwarded on the keyed route; ``refused``: a key not loaded, and no key, get
    ``INVALID_API_KEY`` (AWS's 403); ``open``: the route without a key requirement forwards with any key."""
    from fastgw._core import Forward, Reject

    counts = {"admitted": 0, "refused": 0, "open": 0, "wrong": 0}
    for value in values:
        ok = isinstance(engine.admit("GET", KEY_PATH, [("x-api-key", value)]), Forward)
        counts["admitted" if ok else "wrong"] += 1
        ok = isinstance(engine.admit("GET", OPEN_PATH, [("x-api-key", value)]), Forward)
        counts["open" if ok else "wrong"] += 1
    for headers in ([("x-api-key", "notloadedkey0000000000000000")], []):
        decision = engine.admit("GET", KEY_PATH, headers)
        ok = isinstance(decision, Reject) and decision.response_type == "INVALID_API_KEY"
        counts["refused" if ok else "wrong"] += 1
    return counts


def measure_keys(k: int, *, quick: bool) -> dict[str, Any]:
    """Build the keys gateway with ``k`` keys (memory: the key configs, then the gateway holding them), time the
    key check, then take one token for every key (memory of the buckets). Meant for a fresh process."""
    with tempfile.TemporaryDirectory(prefix="fastgw-sweep-") as scratch:
        return _measure_keys(str(Path(scratch) / "no-state.db"), k, quick=quick)


def _measure_keys(state_path: str, k: int, *, quick: bool) -> dict[str, Any]:
    from fastgw._core import Engine

    warm = keys_gateway(1, state_path=state_path)  # lazy imports; its engine is dropped
    del warm
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter_ns()
    configs = key_configs_for(k)
    configured = time.perf_counter_ns()
    after_configs = rss_bytes()
    gateway = keys_gateway(k, state_path=state_path, key_configs=configs)
    built = time.perf_counter_ns()
    after_gateway = rss_bytes()
    engine = gateway.stages[(API, STAGE)].engine
    throttle = gateway.admission.throttle
    # The engine's key table alone: the same entries into a bare engine, RSS before and after.
    entries = gateway.admission.key_entries(API, STAGE)
    bare = Engine("REST", [("GET", "/pets/{id}")], api_key_required=[True])
    gc.collect()
    before_table = rss_bytes()
    bare.set_keys(entries)
    table_bytes = rss_bytes() - before_table
    key_slots = len({entry[1] for entry in entries})  # 64-bit slots from key ids: distinct unless they collide
    del bare, entries
    gc.collect()

    cycled = [key_value(i * k // min(k, CYCLED_KEYS)) for i in range(min(k, CYCLED_KEYS))]
    verified = check_keys(engine, cycled)
    # Always CYCLED_KEYS calls per round (the K keys over and over when fewer): the same loop shape for every K.
    headers = [[("x-api-key", cycled[i % len(cycled)])] for i in range(CYCLED_KEYS)]
    loops = {
        "noop": _noop_loop(headers),
        "keyed": _headers_loop(engine, KEY_PATH, headers),
        "open": _headers_loop(engine, OPEN_PATH, headers),
    }
    timing = time_loops(loops, len(headers), reps=REPS, seconds=QUICK_LOOP_SECONDS if quick else LOOP_SECONDS)
    times = timing.ns

    # One token for every key: each key's plan bucket comes into use (memory that grows with live keys).
    # len(throttle) scans (so commits) the whole table: it is read only after the memory.
    rss_before_touch, shared_before_touch = rss_bytes(), shared_rss_bytes()
    admit = engine.admit
    touched = time.perf_counter_ns()
    with _gc_off():
        for i in range(k):
            admit("GET", KEY_PATH, [("x-api-key", key_value(i))])
    touch_ns = time.perf_counter_ns() - touched
    rss_after_touch, shared_after_touch = rss_bytes(), shared_rss_bytes()
    return {
        "k": k,
        "keys_loaded": len(gateway.admission.keys),
        "distinct_key_slots": key_slots,
        "verified": verified,
        "build": {"key_configs_ms": _ms(configured - started), "gateway_ms": _ms(built - configured)},
        "memory": {
            "rss_before_bytes": before,
            "key_configs_bytes": after_configs - before,
            "gateway_bytes": after_gateway - after_configs,
            "rss_growth_bytes": after_gateway - before,
            "engine_key_table_bytes": table_bytes,
            "throttle_memory_bytes": throttle.memory_bytes,
            "shared_rss_before_touch_bytes": shared_before_touch,
            "shared_rss_after_touch_bytes": shared_after_touch,
            "touch_rss_growth_bytes": rss_after_touch - rss_before_touch,
            "buckets_after_touch": len(throttle),
        },
        "check": {
            "cycled_keys": len(cycled),
            "calls_per_round": len(headers),
            "rounds": timing.rounds,
            "cpu_share": timing.cpu_share,
            "noop_ns": round(statistics.median(times["noop"]), 1),
            "noop_reps_ns": times["noop"],
            "keyed": _summary(times["keyed"], times["noop"]),
            "open": _summary(times["open"], times["noop"]),
            # What the key lookup and the plan bucket cost: the keyed route minus the same call without a key.
            "key_net_ns": round(
                statistics.median(a - b for a, b in zip(times["keyed"], times["open"], strict=True)), 1
            ),
            "touch_all_keys_ns": round(touch_ns / k, 1),
        },
    }


# ---- running the sizes --------------------------------------------------------------------------------------


def child_command(args: Sequence[str], *, quick: bool, cpu: int | None) -> list[str]:
    """The command that measures one size in a fresh process."""
    command = [sys.executable, "-m", "fastgw.bench.sweep", *args]
    if quick:
        command.append("--quick")
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    return command


def run_child(command: Sequence[str], *, cwd: Path, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
    """Run one size; its JSON result, with the command and the wall time (``error`` when it failed)."""
    started = time.monotonic()
    record: dict[str, Any] = {"command": list(command)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return record | {"error": f"timed out after {timeout:.0f} s"}
    record["wall_s"] = round(time.monotonic() - started, 2)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-12:])
        return record | {"error": f"exit status {done.returncode}", "stderr_tail": tail}
    result: dict[str, Any] = json.loads(lines[-1])
    return result | record


def _route_rows(
    tmp: Path, sizes: Sequence[tuple[int, int]], suffix: str, *, quick: bool, cpu: int | None, lookup: bool,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for n, loads in sizes:
        started = time.monotonic()
        path = write_definition(tmp / f"routes-{n}{suffix}", n)
        generated = time.monotonic() - started
        args = ["--one-routes", str(n), str(path), "--loads", str(loads)] + ([] if lookup else ["--no-lookup"])
        progress(f"routes: N={n:,} ({suffix[1:]}, {path.stat().st_size / 2**20:.1f} MB, {loads} loads)")
        row = run_child(child_command(args, quick=quick, cpu=cpu), cwd=tmp)
        row |= {"n": n, "format": suffix[1:], "file_bytes": path.stat().st_size, "generate_s": round(generated, 2)}
        path.unlink()
        progress(f"  {_route_line(row)}")
        rows.append(row)
    return rows


def _route_line(row: Mapping[str, Any]) -> str:
    if "error" in row:
        return f"failed: {row['error']}"
    text = f"load {row['load']['total_ms']:,.0f} ms, RSS +{_mb(row['memory']['rss_growth_bytes']):,.1f} MB"
    if "lookup" in row:
        text += f", admit {row['lookup']['admit']['raw_ns']:.0f} ns (net {row['lookup']['admit']['net_ns']:.0f})"
    return text


def run_sweeps(
    out: Path,
    *,
    quick: bool,
    cpu: int | None,
    progress: Callable[[str], None],
    route_sizes: Sequence[int] | None = None,
    yaml_sizes: Sequence[tuple[int, int]] | None = None,
    key_sizes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Both sweeps, one fresh process per size pinned to ``cpu`` (``None``: not pinned); writes
    ``out/sweep.json``, ``out/sweep.md`` and the charts, and returns the JSON document. The sizes default to
    ``ROUTE_SIZES``, ``YAML_SIZES`` (``(N, loads)``) and ``KEY_SIZES``, or their ``QUICK_`` versions."""
    from fastgw.bench.machine import facts

    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if route_sizes is None:
        route_sizes = QUICK_ROUTE_SIZES if quick else ROUTE_SIZES
    if yaml_sizes is None:
        yaml_sizes = QUICK_YAML_SIZES if quick else YAML_SIZES
    if key_sizes is None:
        key_sizes = QUICK_KEY_SIZES if quick else KEY_SIZES
    document: dict[str, Any] = {
        "kind": "fastgw-sweep",
        "quick": quick,
        "cpu": cpu,
        "machine": facts(),
        "parameters": {
            "route_sizes": list(route_sizes),
            "yaml_sizes": [list(size) for size in yaml_sizes],
            "key_sizes": list(key_sizes),
            "loads": LOADS,
            "reps": REPS,
            "loop_seconds": QUICK_LOOP_SECONDS if quick else LOOP_SECONDS,
            "sample_size": SAMPLE_SIZE,
            "cycled_keys": CYCLED_KEYS,
            "stage_variables": STAGE_VARIABLES,
            "unlimited_throttle": list(UNLIMITED),
            "baseline": "len([1]) in the same loop",
        },
    }
    with tempfile.TemporaryDirectory(prefix="fastgw-sweep-") as name:
        tmp = Path(name)
        sizes = [(n, LOADS) for n in route_sizes]
        document["routes"] = _route_rows(tmp, sizes, ".json", quick=quick, cpu=cpu, lookup=True, progress=progress)
        document["routes_yaml"] = _route_rows(
            tmp, yaml_sizes, ".yaml", quick=quick, cpu=cpu, lookup=False, progress=progress
        )
        document["keys"] = []
        for k in key_sizes:
            progress(f"keys: K={k:,}")
            row = run_child(child_command(["--one-keys", str(k)], quick=quick, cpu=cpu), cwd=tmp) | {"k": k}
            progress(f"  {_key_line(row)}")
            document["keys"].append(row)
    document["elapsed_s"] = round(time.monotonic() - started, 1)
    document["charts"], document["charts_note"] = _charts(out, document)
    (out / "sweep.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "sweep.md").write_text(markdown(document))
    progress(f"wrote {out / 'sweep.json'}, {out / 'sweep.md'} ({document['elapsed_s']:.0f} s)")
    return document


def _key_line(row: Mapping[str, Any]) -> str:
    if "error" in row:
        return f"failed: {row['error']}"
    memory, check = row["memory"], row["check"]
    return f"RSS +{_mb(memory['rss_growth_bytes']):,.1f} MB, key check net {check['key_net_ns']:.0f} ns"


# ---- reporting ----------------------------------------------------------------------------------------------


def _ok(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [row for row in rows if "error" not in row]


def _points(rows: Sequence[Mapping[str, Any]], x: str, *path: str, scale: float = 1.0) -> list[tuple[float, float]]:
    """``(row[x], row[path…] / scale)`` for each row; points at or below 0 are left out (log axes)."""
    points = []
    for row in rows:
        value: Any = row
        for key in path:
            value = value[key]
        if value > 0:
            points.append((float(row[x]), value / scale))
    return points


@dataclasses.dataclass(frozen=True)
class _Chart:
    name: str
    title: str
    xlabel: str
    ylabel: str
    series: dict[str, list[tuple[float, float]]]
    note: str
    log_y: bool = False


def _chart_specs(document: Mapping[str, Any]) -> list[_Chart]:
    routes, yaml_rows, keys = _ok(document["routes"]), _ok(document["routes_yaml"]), _ok(document["keys"])
    where = f"{document['machine'].get('cpu_model')}, {_pinning(document['cpu'])}"
    mib = float(2**20)
    specs = []
    if routes:
        noop = routes[0]["lookup"]["noop_ns"]
        admit = {
            "admit, raw": _points(routes, "n", "lookup", "admit", "raw_ns"),
            "admit, net of a no-op C call": _points(routes, "n", "lookup", "admit", "net_ns"),
            "bare route trie, net": _points(routes, "n", "lookup", "trie", "net_ns"),
        }
        note = (
            f"{where}; median of {REPS} reps. 1,000 request paths per table (9 in 10 hits, at every depth); "
            f"no-op C call {noop:.0f} ns."
        )
        specs.append(_Chart("routes-admit.png", "Engine.admit vs route count", "routes", "ns per call", admit, note))
        load = {
            "JSON: total": _points(routes, "n", "load", "total_ms"),
            "JSON: parse": _points(routes, "n", "load", "parse_ms"),
            "JSON: compile": _points(routes, "n", "load", "compile_ms"),
            "YAML: total": _points(yaml_rows, "n", "load", "total_ms"),
            "YAML: file kind detection": _points(yaml_rows, "n", "load", "detect_ms"),
        }
        note = (
            f"{where}. The steps of Gateway.from_file (what `fastgw serve FILE` does before listening); "
            f"median of {LOADS} loads."
        )
        specs.append(_Chart("routes-load.png", "Config load time vs route count", "routes", "ms", load, note, True))
        memory = {
            "RSS growth": _points(routes, "n", "memory", "rss_growth_bytes", scale=mib),
            "peak RSS growth": _points(routes, "n", "memory", "peak_rss_growth_bytes", scale=mib),
        }
        note = f"{where}. VmRSS of a fresh process, before and after the first load."
        specs.append(_Chart("routes-memory.png", "Gateway memory vs route count", "routes", "MB", memory, note, True))
    if keys:
        check = {
            "key check (keyed route − same call on a route without a key)": _points(keys, "k", "check", "key_net_ns"),
            "admit with a key, net of a no-op C call": _points(keys, "k", "check", "keyed", "net_ns"),
            "admit on the route without a key, net": _points(keys, "k", "check", "open", "net_ns"),
        }
        note = (
            f"{where}; median of {REPS} reps. Cycling over {CYCLED_KEYS:,} keys spread over the table (K when fewer)."
        )
        specs.append(_Chart("keys-check.png", "API key check vs key count", "API keys", "ns per call", check, note))
        memory = {
            "RSS growth: key configs + gateway": _points(keys, "k", "memory", "rss_growth_bytes", scale=mib),
            "engine key table (Engine.set_keys)": _points(keys, "k", "memory", "engine_key_table_bytes", scale=mib),
            "bucket table resident, every key live": _points(
                keys, "k", "memory", "shared_rss_after_touch_bytes", scale=mib
            ),
        }
        reserved = keys[0]["memory"]["throttle_memory_bytes"] / mib
        note = (
            f"{where}. The node's bucket table maps {reserved:,.0f} MB of shared memory; its pages are committed "
            "as keys land on them."
        )
        specs.append(_Chart("keys-memory.png", "Memory vs API key count", "API keys", "MB", memory, note, True))
    return specs


def _charts(out: Path, document: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The PNGs drawn (names in ``out``), and why some or all are missing (``None``: all drawn)."""
    from fastgw.bench import charts

    if (missing := charts.available()) is not None:
        return [], missing
    written, problems = [], []
    for chart in _chart_specs(document):
        series = {name: points for name, points in chart.series.items() if points}  # log axes drop values ≤ 0
        if not series:
            problems.append(f"{chart.name}: nothing to draw")
            continue
        try:
            charts.plot_curves(
                out / chart.name, chart.title, chart.xlabel, chart.ylabel, series, log_y=chart.log_y, note=chart.note
            )
        except Exception as error:  # a chart that fails to draw must not lose minutes of measurements
            problems.append(f"{chart.name}: {type(error).__name__}: {error}")
            continue
        written.append(chart.name)
    return written, "; ".join(problems) or None


def _pinning(cpu: int | None) -> str:
    return "not pinned" if cpu is None else f"pinned to CPU {cpu}"


def _cell(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _flagged(rows: Sequence[Mapping[str, Any]], timing: str) -> tuple[set[int], str | None]:
    """The rows (by index) whose timings were taken on a contended CPU, and the footnote saying why."""
    measured = [(i, row[timing]) for i, row in enumerate(rows) if "error" not in row and timing in row]
    if not measured:
        return set(), None
    canary = statistics.median(t["noop_ns"] for _, t in measured)
    flagged = {
        i for i, t in measured if t["cpu_share"] < CPU_SHARE_FLOOR or t["noop_ns"] > (1 + CANARY_SPREAD) * canary
    }
    if not flagged:
        return flagged, None
    note = (
        f"† Timed on a contended CPU: the measuring thread ran less than {CPU_SHARE_FLOOR:.0%} of the wall time, "
        f"or the no-op canary was more than {CANARY_SPREAD:.0%} slower than its median in this sweep "
        f"({canary:.1f} ns). Compare such rows with care, or run again."
    )
    return flagged, note


def markdown(document: Mapping[str, Any]) -> str:
    """sweep.md: what was run, the routes and keys tables, the charts."""
    machine = document["machine"]
    lines = [
        "# fastgw scaling sweeps" + (" (quick)" if document["quick"] else ""),
        "",
        f"{machine.get('date')} · {machine.get('cpu_model')} · {machine.get('cpus')} CPUs · kernel "
        f"{machine.get('kernel')} · Python {machine.get('python')} · commit {machine.get('git_commit')}"
        + (" (dirty)" if machine.get("git_dirty") else ""),
        "",
        f"Each size in a fresh process, {_pinning(document['cpu'])} ({document['elapsed_s']:.0f} s in all). "
        f"Times per call are medians of {REPS} repetitions of a timed loop; *net* subtracts the same loop around a "
        "no-op C call (`len([1])`), per repetition. Memory is the growth of the process's VmRSS.",
        "",
        "## Routes",
        "",
        f"An OpenAPI 3 definition of N `http_proxy` routes (JSON), loaded as `fastgw serve FILE` does before "
        f"listening (median of {LOADS} loads: file kind · definition · compiled gateway), then "
        "`engine.admit(method, path)` over 1,000 request paths drawn from the table (900 hits at every depth, "
        "100 misses). *Trie only*: an `Engine` built from the same route list without proxies or throttle.",
        "",
        "| routes | file MB | load ms | detect / parse / compile ms | RSS MB | peak RSS MB "
        "| admit ns raw | admit ns net | trie only ns net |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    flagged, footnote = _flagged(document["routes"], "lookup")
    for index, row in enumerate(document["routes"]):
        if "error" in row:
            lines.append(f"| {row['n']:,} | failed: {row['error']} |||||||")
            continue
        load, memory, lookup = row["load"], row["memory"], row["lookup"]
        mark = " †" if index in flagged else ""
        lines.append(
            f"| {row['n']:,}{mark} | {_mb(row['file_bytes']):,.2f} | {_cell(load['total_ms'], 1)} "
            f"| {load['detect_ms']:,.1f} / {load['parse_ms']:,.1f} / {load['compile_ms']:,.1f} "
            f"| {_mb(memory['rss_growth_bytes']):,.1f} | {_mb(memory['peak_rss_growth_bytes']):,.1f} "
            f"| {lookup['admit']['raw_ns']:,.0f} | {lookup['admit']['net_ns']:,.0f} | {lookup['trie']['net_ns']:,.0f} |"
        )
    noop = next((row["lookup"]["noop_ns"] for row in _ok(document["routes"])), None)
    lines += ["", f"No-op C call in the same loop: {_cell(noop, 1)} ns.", ""]
    if footnote:
        lines += [footnote, ""]
    json_by_n = {row["n"]: row for row in _ok(document["routes"])}
    if document["routes_yaml"]:
        lines += [
            "The same definitions as YAML (load only):",
            "",
            "| routes | loads | load ms | detect / parse / compile ms | × JSON |",
            "|---:|---:|---:|---|---:|",
        ]
        for row in document["routes_yaml"]:
            if "error" in row:
                lines.append(f"| {row['n']:,} | failed: {row['error']} ||||")
                continue
            load = row["load"]
            json_row = json_by_n.get(row["n"])
            ratio = load["total_ms"] / json_row["load"]["total_ms"] if json_row else None
            lines.append(
                f"| {row['n']:,} | {load['loads']} | {load['total_ms']:,.1f} "
                f"| {load['detect_ms']:,.1f} / {load['parse_ms']:,.1f} / {load['compile_ms']:,.1f} "
                f"| {_cell(ratio, 1)} |"
            )
        lines.append("")
    lines += [
        "## API keys",
        "",
        "A gateway whose stage has `GET /pets/{id}` requiring an API key and `GET /open/{id}` without, one usage "
        "plan (limits out of the way) and K keys, built by `Gateway` as from a config file's `usagePlans` and "
        f"`apiKeys`. The check cycles over {CYCLED_KEYS:,} keys (K when fewer) spread over the table; *key check "
        "net* is the keyed route minus the same call on the open route (the SHA-256 of the key, the table lookup, "
        "the plan bucket). *Key table*: the RSS growth of `Engine.set_keys` alone. *Buckets*: the bucket table's "
        "resident pages once every key has taken one token (one pass over all K keys: *first token per key*). "
        "*Slot collisions*: K − distinct 64-bit key slots (`fastgw.admission.name_slot`); keys with one slot share "
        "a plan bucket and an entry in `NodeAdmission.key_by_slot`.",
        "",
        "| keys | RSS MB (configs + gateway) | key table MB | bucket table bytes | buckets MB (all keys live) "
        "| slot collisions | key check ns net | keyed admit ns raw | open admit ns raw | first token per key ns |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    flagged, footnote = _flagged(document["keys"], "check")
    for index, row in enumerate(document["keys"]):
        if "error" in row:
            lines.append(f"| {row['k']:,} | failed: {row['error']} |||||||||")
            continue
        memory, check = row["memory"], row["check"]
        first_token = check["touch_all_keys_ns"] if row["k"] >= CYCLED_KEYS else None  # one call is no figure
        mark = " †" if index in flagged else ""
        lines.append(
            f"| {row['k']:,}{mark} | {_mb(memory['rss_growth_bytes']):,.1f} "
            f"| {_mb(memory['engine_key_table_bytes']):,.1f} | {memory['throttle_memory_bytes']:,} "
            f"| {_mb(memory['shared_rss_after_touch_bytes']):,.1f} "
            f"| {row['keys_loaded'] - row['distinct_key_slots']:,} | {check['key_net_ns']:,.0f} "
            f"| {check['keyed']['raw_ns']:,.0f} | {check['open']['raw_ns']:,.0f} | {_cell(first_token)} |"
        )
    if footnote:
        lines += ["", footnote]
    lines += ["", "## Charts", ""]
    if document["charts_note"]:
        lines.append(f"{'Some charts' if document['charts'] else 'No charts'} not drawn: {document['charts_note']}.")
    lines += [f"![{name}]({name})" for name in document["charts"]]
    lines += ["", "Raw repetitions, commands and machine facts: `sweep.json`.", ""]
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------------------------


def _cpu(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgw.bench.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter loops (under 30 s)")
    parser.add_argument("--out", type=Path, help="results directory (default benches/results/sweep-<UTC time>/)")
    parser.add_argument(
        "--cpu", type=_cpu, default=1, help="CPU to pin each measuring process to, or 'none' (default 1)"
    )
    # One size in this process (what run_sweeps starts): prints one JSON line.
    parser.add_argument("--one-routes", nargs=2, metavar=("N", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--loads", type=int, default=LOADS, help=argparse.SUPPRESS)
    parser.add_argument("--no-lookup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one-keys", type=int, metavar="K", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_routes is not None or args.one_keys is not None:
        if args.cpu is not None:
            os.sched_setaffinity(0, {args.cpu})
        if args.one_routes is not None:
            n, file = args.one_routes
            result = measure_routes(Path(file), int(n), quick=args.quick, lookup=not args.no_lookup, loads=args.loads)
        else:
            result = measure_keys(args.one_keys, quick=args.quick)
        print(json.dumps(result))
        return 0
    if args.cpu is not None and args.cpu not in os.sched_getaffinity(0):
        parser.error(f"--cpu {args.cpu}: this process may run on CPUs {sorted(os.sched_getaffinity(0))} only")
    out = args.out or Path("benches/results") / f"sweep-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    run_sweeps(out, quick=args.quick, cpu=args.cpu, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(out / "sweep.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
