"""The scaling sweeps (fastgw.bench.sweep) at tiny sizes: the structure of what they measure, never timings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fastgw._core import Engine, Forward, Reject
from fastgw.bench import apispec, charts, sweep
from fastgw.cli import main as fastgw_main
from fastgw.config.openapi import load_definition

ROUTE_SIZES = (10, 100)
KEY_SIZES = (1, 10)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[str]]:
    """One run of both sweeps as ``fastgw bench --sweep`` does it (a fresh process per size), at tiny sizes."""
    out = tmp_path_factory.mktemp("sweep")
    lines: list[str] = []
    document = sweep.run_sweeps(
        out,
        quick=True,
        cpu=None,
        progress=lines.append,
        route_sizes=ROUTE_SIZES,
        yaml_sizes=((10, 1),),
        key_sizes=KEY_SIZES,
    )
    return out, document, lines


# ---- the generated definitions ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 10, 100, 1_000, 1_234])
def test_definition_has_exactly_n_routes(tmp_path: Path, n: int) -> None:
    path = sweep.write_definition(tmp_path / "api.json", n)
    assert len(load_definition(path).routes) == n


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_fastgw_routes_lists_n_routes(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    path = sweep.write_definition(tmp_path / f"api{suffix}", 100)
    assert fastgw_main(["routes", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("ROUTE")
    assert len(lines) - 1 == 100


def test_a_thousand_routes_are_apispecs_resources_and_operations() -> None:
    bench_routes = {
        (method, template.format(r=collection, p=param))
        for collection, param in apispec._RESOURCES
        for method, template in apispec._OPERATIONS
    }
    assert len(bench_routes) == 1_000
    assert set(sweep.route_table(1_000)) == bench_routes


def test_small_tables_mix_every_kind_of_segment() -> None:
    paths = [path for _, path in sweep.route_table(10)]
    assert "/pets" in paths  # static only
    assert "/pets/search" in paths and "/pets/{id}" in paths  # a static sibling of a parameter
    assert any("{proxy+}" in path for path in paths)  # greedy
    assert any(path.count("{") == 2 for path in paths)  # two parameters


def test_large_tables_continue_under_service_prefixes() -> None:
    routes = sweep.route_table(2_500)
    assert len(set(routes)) == 2_500
    assert ("get", "/svc1/pets") in routes and ("get", "/svc2/pets/{id}") in routes


# ---- what the loops measure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [10, 100, 1_000])
def test_every_sample_path_is_decided_as_it_says(tmp_path: Path, n: int) -> None:
    gateway, steps = sweep.load_gateway(sweep.write_definition(tmp_path / "api.json", n))
    assert steps["total_ms"] > 0
    runtime = next(iter(gateway.stages.values()))
    routes = [(route.method, route.path) for route in runtime.definition.routes]
    sample = sweep.lookup_sample(routes)
    assert len(sample) == sweep.SAMPLE_SIZE
    assert sweep.check_sample(runtime.engine, sample) == {"hits": 900, "misses": 100, "wrong": 0}
    # Each hit is forwarded to the very route it was drawn from, by the bare trie as well.
    assert sweep.check_sample(Engine("REST", routes), sample)["wrong"] == 0


def test_the_sample_reaches_every_depth_of_the_table() -> None:
    routes = sweep.route_table(1_000)
    sample = sweep.lookup_sample(routes)
    depths = {path.count("/") for _, path, expected in sample if expected is not None}
    # A {proxy+} takes three segments (docs/2024/report.pdf).
    assert depths == {template.count("/") + 2 * ("+}" in template) for _, template in routes} == {1, 2, 3, 4, 6}
    assert sum(expected is None for _, _, expected in sample) == sweep.SAMPLE_SIZE // 10


def test_loaded_keys_are_admitted_and_others_refused() -> None:
    gateway = sweep.keys_gateway(10)
    engine = gateway.stages[(sweep.API, sweep.STAGE)].engine
    admitted = engine.admit("GET", sweep.KEY_PATH, [("x-api-key", sweep.key_value(3))])
    assert isinstance(admitted, Forward) and admitted.key_slot is not None and admitted.plan_slot is not None
    for headers in ([("x-api-key", sweep.key_value(10))], []):  # a key not loaded; no key
        refused = engine.admit("GET", sweep.KEY_PATH, headers)
        assert isinstance(refused, Reject) and refused.response_type == "INVALID_API_KEY"  # AWS's 403
    assert isinstance(engine.admit("GET", sweep.OPEN_PATH, []), Forward)
    values = [sweep.key_value(i) for i in range(10)]
    assert sweep.check_keys(engine, values) == {"admitted": 10, "refused": 2, "open": 10, "wrong": 0}


def test_time_loops_interleaves_repetitions() -> None:
    calls: list[str] = []
    loops = {"a": lambda rounds: calls.extend("a" * rounds), "b": lambda rounds: calls.extend("b" * rounds)}
    timing = sweep.time_loops(loops, 1, reps=3, seconds=0.0)
    assert timing.rounds == 1
    assert {name: len(values) for name, values in timing.ns.items()} == {"a": 3, "b": 3}
    assert 0 < timing.cpu_share <= 1
    assert "".join(calls[4:]) == "abababab"[: len(calls) - 4]  # after the warm-up and calibration (a a b b)


def test_child_command_pins_when_asked() -> None:
    command = sweep.child_command(["--one-keys", "5"], quick=True, cpu=1)
    assert command[1:] == ["-m", "fastgw.bench.sweep", "--one-keys", "5", "--quick", "--cpu", "1"]
    assert "--cpu" not in sweep.child_command(["--one-keys", "5"], quick=False, cpu=None)


# ---- the run ------------------------------------------------------------------------------------------------


def test_every_route_size_is_measured(swept: tuple[Path, dict[str, Any], list[str]]) -> None:
    _, document, _ = swept
    rows = document["routes"]
    assert [row["n"] for row in rows] == list(ROUTE_SIZES)
    for row in rows:
        assert "error" not in row, row
        assert row["routes_loaded"] == row["n"] and row["warnings"] == 0
        assert row["command"][1:4] == ["-m", "fastgw.bench.sweep", "--one-routes"]
        load = row["load"]
        assert len(load["reps"]) == load["loads"] == sweep.LOADS
        assert all(load[step] > 0 for step in ("detect_ms", "parse_ms", "compile_ms", "total_ms"))
        assert row["memory"]["rss_before_bytes"] > 0 and row["memory"]["rss_growth_bytes"] >= 0
        lookup = row["lookup"]
        assert lookup["sample"]["wrong"] == 0 and lookup["sample"]["hits"] == 900
        assert lookup["noop_ns"] > 0 and len(lookup["noop_reps_ns"]) == sweep.REPS and lookup["cpu_share"] > 0
        for name in ("admit", "trie"):
            assert lookup[name]["raw_ns"] > 0 and len(lookup[name]["raw_reps_ns"]) == sweep.REPS
    assert rows[0]["file_bytes"] < rows[1]["file_bytes"]
    assert [row["n"] for row in document["routes_yaml"]] == [10]
    assert "lookup" not in document["routes_yaml"][0] and document["routes_yaml"][0]["routes_loaded"] == 10


def test_every_key_size_is_measured(swept: tuple[Path, dict[str, Any], list[str]]) -> None:
    _, document, _ = swept
    rows = document["keys"]
    assert [row["k"] for row in rows] == list(KEY_SIZES)
    for row in rows:
        assert "error" not in row, row
        k = row["k"]
        assert row["keys_loaded"] == row["distinct_key_slots"] == k
        assert row["verified"] == {"admitted": k, "refused": 2, "open": k, "wrong": 0}
        memory, check = row["memory"], row["check"]
        assert memory["throttle_memory_bytes"] > 0 and memory["rss_growth_bytes"] >= 0
        assert memory["buckets_after_touch"] == k + 1  # a plan bucket per key, and the gateway's
        assert memory["shared_rss_after_touch_bytes"] > 0
        assert check["cycled_keys"] == k and check["noop_ns"] > 0 and check["touch_all_keys_ns"] > 0
        assert check["cpu_share"] > 0 and check["calls_per_round"] == sweep.CYCLED_KEYS
        for name in ("keyed", "open"):
            assert check[name]["raw_ns"] > 0 and len(check[name]["raw_reps_ns"]) == sweep.REPS


def test_the_run_writes_json_markdown_and_charts(swept: tuple[Path, dict[str, Any], list[str]]) -> None:
    out, document, lines = swept
    assert json.loads((out / "sweep.json").read_text()) == document
    assert {"date", "cpu_model", "kernel", "python"} <= set(document["machine"])
    assert document["parameters"]["loads"] == sweep.LOADS and document["parameters"]["reps"] == sweep.REPS
    text = (out / "sweep.md").read_text()
    for n in ROUTE_SIZES:
        assert re.search(rf"^\| {n}( †)? \| [0-9.]+ \| [0-9.,]+ \|", text, re.MULTILINE), n
    for k in KEY_SIZES:
        assert re.search(rf"^\| {k}( †)? \| [0-9.]+ \|", text, re.MULTILINE), k
    if charts.available() is None:
        assert document["charts"] == ["routes-admit.png", "routes-load.png", "routes-memory.png"] + [
            "keys-check.png",
            "keys-memory.png",
        ]
        assert document["charts_note"] is None
        for name in document["charts"]:
            assert (out / name).read_bytes().startswith(b"\x89PNG")
    else:
        assert document["charts"] == [] and document["charts_note"] in text
    assert any(line.startswith("routes: N=10 ") for line in lines)
    assert any(line.startswith("keys: K=10") for line in lines)


def test_a_failed_size_is_reported_not_raised(swept: tuple[Path, dict[str, Any], list[str]]) -> None:
    _, document, _ = swept
    failed = dict(document)
    failed["routes"] = [*document["routes"], {"n": 1_000_000, "error": "timed out after 600 s"}]
    failed["keys"] = [{"k": 5, "error": "exit status 1"}]
    text = sweep.markdown(failed)
    assert "| 1,000,000 | failed: timed out after 600 s |" in text
    assert "| 5 | failed: exit status 1 |" in text


def test_timings_on_a_contended_cpu_are_flagged(swept: tuple[Path, dict[str, Any], list[str]]) -> None:
    _, document, _ = swept
    measured = document["keys"][-1]

    def row(k: int, noop_ns: float, cpu_share: float) -> dict[str, Any]:
        check: dict[str, Any] = measured["check"] | {"noop_ns": noop_ns, "cpu_share": cpu_share}
        result: dict[str, Any] = measured | {"k": k, "check": check}
        return result

    # Quiet, quiet, another process on the CPU, the canary 50% off its median.
    rows = [row(1, 20.0, 1.0), row(2, 20.0, 1.0), row(3, 20.0, 0.7), row(4, 30.0, 1.0)]
    text = sweep.markdown(document | {"keys": rows})
    firsts = [line.split(" |")[0] for line in text.splitlines() if re.match(r"\| [1-4]( †)? \|", line)]
    assert firsts == ["| 1", "| 2", "| 3 †", "| 4 †"]
    assert "† Timed on a contended CPU" in text


@pytest.mark.skipif(charts.available() is not None, reason="matplotlib is not installed")
def test_a_chart_with_nothing_to_draw_is_skipped(tmp_path: Path, swept: tuple[Path, dict[str, Any], list[str]]) -> None:
    _, document, _ = swept
    # One key: no memory grows by a whole page, and a log axis has no room for 0 (plot_curves raises on it).
    zero = {name: 0 for name in document["keys"][0]["memory"]}
    keys = [row | {"memory": zero} for row in document["keys"]]
    written, note = sweep._charts(tmp_path, document | {"keys": keys})
    assert "keys-memory.png" not in written and "keys-check.png" in written
    assert note == "keys-memory.png: nothing to draw"
    assert "Some charts not drawn: keys-memory.png: nothing to draw." in sweep.markdown(
        document | {"charts": written, "charts_note": note}
    )


def test_a_child_that_fails_gives_an_error_row(tmp_path: Path) -> None:
    command = sweep.child_command(["--one-routes", "10", str(tmp_path / "missing.json")], quick=True, cpu=None)
    row = sweep.run_child(command, cwd=tmp_path)
    assert row["error"] == "exit status 1" and "missing.json" in row["stderr_tail"]
