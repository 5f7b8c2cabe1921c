"""The soak (`fastgw bench --soak`, issue 18, "Soak"): its pieces read what they must, its checks fail when they
must, and a one-minute soak of a real gateway (nginx and a Granian backend behind it, wrk and edge clients in
front) passes them, while a soak whose gateway answers 5xx fails."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fastgw.bench import soak, soakmix, soakreport, wrk
from fastgw.bench.soak import MemorySample, Settings, Soak, Stretch
from tests.bench.test_suite import env, needs_load_tools

MiB = 2**20


def test_the_soak_gateway_file_loads_without_warnings(tmp_path: Path) -> None:
    """Both APIs, every route of the mix, the cache, the plan and the key, as `fastgw serve` builds them."""
    from fastgw.cli import _serve_config, build_parser
    from fastgw.gateway import Gateway

    path = soakmix.gateway_file(
        tmp_path, host="127.0.0.1", port=18000, metrics_port=18001, backend_port=18002, granian_port=18003
    )
    gateway = Gateway.from_config(_serve_config(build_parser().parse_args(["serve", str(path)])))
    assert gateway.warnings == []
    routes = {name: len(runtime.routes) for name, runtime in gateway.stages.items()}
    assert routes == {("soak", "prod"): 9, ("soakhttp", "prod"): 1}


def test_the_mix_reaches_every_part_and_its_script_names_every_request() -> None:
    assert sum(ask.weight for ask in soakmix.MIX) == 100
    assert soakmix.EXPECTED_STATUSES == {200, 400, 403, 404, 429}
    script = soakmix.lua_script()
    for ask in soakmix.MIX:
        assert json.dumps(ask.path) in script, ask.name
        for body in ask.bodies:
            assert json.dumps(body) in script, ask.name
    assert f'string.rep("x", {soakmix.UPLOAD_BYTES})' in script and soakmix.UPLOAD_BYTES > 256 * 1024


def test_the_scripts_counts_are_read_from_wrks_output() -> None:
    output = (
        "Running 5s test @ http://127.0.0.1:1/\n"
        'soak-sample 504 {"message": "Endpoint request timed out"}\n'
        "soak-status 200 1000\nsoak-status 429 7\nsoak-status 504 1\n"
        "Requests/sec:   201.60\n"
    )
    statuses, samples = soakmix.read_statuses(output)
    assert statuses == {200: 1000, 429: 7, 504: 1}
    assert samples == ['504 {"message": "Endpoint request timed out"}']


METRICS = """\
# HELP fastgw_requests_total Requests answered, by status class.
# TYPE fastgw_requests_total counter
fastgw_requests_total{api="soak",method="GET",route="GET /mock",stage="prod",status_class="2xx"} 10.0
fastgw_requests_total{api="soak",method="GET",route="GET /mock",stage="prod",status_class="5xx"} 0.0
fastgw_requests_total{api="soak",method="GET",route="GET /slow/{id}",stage="prod",status_class="2xx"} 4.0
fastgw_requests_total{api="soak",method="GET",route="GET /slow/{id}",stage="prod",status_class="5xx"} 3.0
# HELP fastgw_cache_hits_total Cache hits.
# TYPE fastgw_cache_hits_total counter
fastgw_cache_hits_total{api="soak",method="GET",route="GET /cached/{id}",stage="prod"} 5.0
# HELP fastgw_cache_misses_total Cache misses.
# TYPE fastgw_cache_misses_total counter
fastgw_cache_misses_total{api="soak",method="GET",route="GET /cached/{id}",stage="prod"} 2.0
# HELP fastgw_throttled_requests_total Throttled.
# TYPE fastgw_throttled_requests_total counter
fastgw_throttled_requests_total{api="soak",method="GET",route="GET /keyed/{id}",stage="prod"} 9.0
# HELP fastgw_upstream_errors_total Upstream errors.
# TYPE fastgw_upstream_errors_total counter
fastgw_upstream_errors_total{api="soak",kind="timeout",method="GET",route="GET /slow/{id}",stage="prod"} 3.0
# HELP fastgw_requests_in_flight Requests being processed.
# TYPE fastgw_requests_in_flight gauge
fastgw_requests_in_flight{api="soak",stage="prod"} 1.0
fastgw_requests_in_flight{api="soakhttp",stage="prod"} 0.0
"""


def test_the_gateways_metrics_are_read_by_route_and_class() -> None:
    metrics = soak.read_metrics(METRICS)
    assert metrics["requests_by_route"]["soak GET /slow/{id}"] == {"2xx": 4, "5xx": 3}
    assert metrics["requests_by_class"] == {"2xx": 14, "5xx": 3}
    assert (metrics["cache_hits"], metrics["cache_misses"], metrics["throttled"]) == (5, 2, 9)
    assert metrics["upstream_errors"] == {"timeout": 3}
    assert (metrics["in_flight"], metrics["access_log_dropped"]) == (1, 0)


def test_the_log_scan_finds_tracebacks_errors_and_panics_and_groups_the_rest() -> None:
    log = "\n".join(
        [
            "[INFO] fastgw: serving http://127.0.0.1:8080",
            "[INFO] fastgw.app: request 6f1c2a9e-0b1d-4c2e-9f00-000000000001: the client closed the connection",
            "[INFO] fastgw.app: request 6f1c2a9e-0b1d-4c2e-9f00-000000000002: the client closed the connection",
            "[WARNING] fastgw.app: request 7: streamed response cut short: timeout",
            "[ERROR] fastgw.app: request 8 failed",
            "Traceback (most recent call last):",
            "thread 'tokio-runtime-worker' panicked at src/lib.rs:1:1:",
        ]
    )
    found = soak.scan_log(log)
    assert found["bad_lines"] == 3
    assert found["lines_by_level"] == {"INFO": 3, "WARNING": 1, "ERROR": 1}
    assert found["messages"]["[INFO] fastgw.app: request N: the client closed the connection"] == 2
    assert soak.scan_log("[INFO] fastgw: serving http://127.0.0.1:8080\n")["bad_lines"] == 0


SETTINGS = Settings(seconds=60, warmup=20)


def curve(rss: list[float]) -> list[MemorySample]:
    """One sample every 0.5 s with these RSS values (MiB)."""
    return [
        MemorySample(t=index * 0.5, worker_pid=100, worker_rss=round(v * MiB), gateway_pss=None)
        for index, v in enumerate(rss)
    ]


def test_the_memory_levels_are_medians_of_the_window_after_warm_up_and_of_the_last_window() -> None:
    assert (SETTINGS.sample_interval, SETTINGS.window) == (0.5, 6.0)
    # 50 MiB during the warm-up, then 80, 90, 70, 80, ... to the end (t = 60 s)
    flat = soak.memory_levels(curve([50.0] * 40 + [80.0, 90.0, 70.0] * 27), SETTINGS)
    assert flat["after_warmup_bytes"] == 80 * MiB and flat["end_bytes"] == 80 * MiB and flat["change"] == 0
    assert flat["after_warmup_samples"] == 12 and flat["end_samples"] == 13 and flat["peak_bytes"] == 90 * MiB
    growing = soak.memory_levels(curve([80.0 + index * 0.25 for index in range(121)]), SETTINGS)
    assert growing["change"] == pytest.approx((80 + 114 * 0.25) / (80 + 45.5 * 0.25) - 1)


def stretch(statuses: dict[int, int], *, socket_errors: dict[str, int] | None = None) -> Stretch:
    total = sum(statuses.values())
    result = wrk.WrkResult(["wrk"], 0, "", total / 5, total, socket_errors=socket_errors or {})
    return Stretch(0.0, result, statuses, [], None, 80 * MiB)


def passing() -> Soak:
    return Soak(
        SETTINGS,
        stretches=[stretch({200: 800, 400: 50, 403: 40, 404: 20, 429: 90})],
        memory=curve([80.0] * 121),
        edge={"done": {"answer never read": 5}, "statuses": {"200": 1}, "errors": {}},
        metrics=soak.read_metrics(METRICS.replace("} 3.0", "} 0.0").replace("} 1.0", "} 0.0")),
        log={"bad_lines": 0},
    )


def failed(run: Soak) -> set[str]:
    return {name for name, ok, _ in run.checks() if not ok}


def test_the_checks_pass_a_clean_run_and_fail_each_fault() -> None:
    assert failed(passing()) == set() and passing().passed
    with_5xx = passing()
    with_5xx.stretches.append(stretch({502: 1}))
    assert failed(with_5xx) == {"no 5xx answered", "only the mix's statuses"}
    counted = replace(passing(), metrics=soak.read_metrics(METRICS.replace("} 1.0", "} 0.0")))
    assert failed(counted) == {"no 5xx counted by the gateway"}
    stuck = replace(passing(), metrics=soak.read_metrics(METRICS.replace("} 3.0", "} 0.0")))
    assert failed(stuck) == {"nothing left in flight once the load stopped"}
    assert failed(replace(passing(), edge={"statuses": {"500": 1}})) == {"no 5xx answered"}
    broken = replace(passing(), edge={"errors": {"body after a pause: KeepAliveBrokenError": 1}})
    assert failed(broken) == {"no edge client failed"}
    growing = replace(passing(), memory=curve([80.0 + index * 0.25 for index in range(121)]))
    assert failed(growing) == {"worker RSS within 10% of its level after warm-up"}
    replaced = replace(passing(), memory=[replace(s, worker_pid=100 + (s.t > 30)) for s in curve([80.0] * 121)])
    assert failed(replaced) == {"the worker stayed up"}
    assert failed(replace(passing(), gateway_exit=1)) == {"the worker stayed up"}
    gone = replace(passing(), memory=[*curve([80.0] * 121), MemorySample(60.5, None, None, None)])
    assert failed(gone) == {"the worker stayed up"}
    assert failed(replace(passing(), log={"bad_lines": 2})) == {"no traceback, ERROR or panic in the log"}
    errors = replace(
        passing(), stretches=[stretch({200: 10, 400: 1, 403: 1, 404: 1, 429: 1}, socket_errors={"read": 2})]
    )
    assert failed(errors) == {"no socket errors"}
    assert failed(replace(passing(), stretches=[stretch({200: 10})])) == {"every expected status seen"}
    assert "the gateway's metrics read" in failed(replace(passing(), metrics=None))


@needs_load_tools
@pytest.mark.timeout(300)
def test_a_one_minute_soak_of_a_real_gateway_passes(tmp_path: Path) -> None:
    """`fastgw bench --soak 1`, as CI runs it: every check passes, and the report says what it was read from."""
    out = tmp_path / "soak"
    done = subprocess.run(
        [sys.executable, "-m", "fastgw.bench", "--soak", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    document = json.loads((out / "results.json").read_text())
    assert document["passed"] and all(check["passed"] for check in document["checks"]), document["checks"]
    assert document["settings"]["seconds"] == 60 and document["settings"]["warmup"] == 20
    statuses = {int(status): count for status, count in document["statuses"].items()}
    assert set(statuses) == soakmix.EXPECTED_STATUSES and sum(statuses.values()) == document["requests"] > 1000
    assert sum(document["edge_clients"]["done"].values()) >= 100  # five a second for a minute
    assert document["edge_clients"]["statuses"]["403"] > 0  # the body after a pause, answered
    assert document["metrics"]["cache_hits"] > document["metrics"]["cache_misses"] > 0
    assert document["memory"]["after_warmup_samples"] >= 10 and document["memory"]["end_samples"] >= 10
    assert len(document["memory"]["worker_pids"]) == 1
    assert any("-c64" == part for part in document["stretches"][0]["wrk"]["argv"])
    text = (out / "results.md").read_text()
    assert text.startswith("# Soak: 1 minute of mixed traffic on one fastgw worker: **passed**")
    assert "| no 5xx answered | pass | 0 5xx |" in text
    assert (out / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_load_tools
@pytest.mark.timeout(120)
def test_a_soak_whose_gateway_answers_5xx_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The slow route's timeout cut below the slow backend's delay: the gateway answers its 504s, and the soak
    sees them in what the clients got and in the gateway's own count, keeps a few, and fails."""
    monkeypatch.setattr(soakmix, "SLOW_TIMEOUT_MS", 100)  # the Granian backend answers /slow after 250 ms
    settings = Settings(seconds=12, warmup=Settings.default_warmup(12))
    run = soak.run(settings, env(), progress=lambda line: None)
    assert run.statuses()[504] > 0
    assert {"no 5xx answered", "no 5xx counted by the gateway", "only the mix's statuses"} <= failed(run)
    assert any(sample.startswith("504 ") for s in run.stretches for sample in s.samples_5xx)
    assert run.metrics is not None and run.metrics["requests_by_route"]["soak GET /slow/{id}"]["5xx"] > 0
    text = soakreport.write(tmp_path, run, command=["fastgw", "bench"], machine={}, versions={})
    assert "**FAILED**" in text.splitlines()[0] and "| no 5xx answered | **FAIL** |" in text
