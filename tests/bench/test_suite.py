"""The load bench itself: every scenario's configs load, and `fastgw bench` runs end to end on this machine
(nginx as the backend, wrk as the load), writing the tables, the JSON and the charts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastgw.bench import apispec, backend, gateways
from fastgw.bench.requirements import Environment
from fastgw.bench.scenarios import LARGE_BODY, LARGE_BYTES, SCENARIOS, Scenario
from fastgw.bench.sweep import route_table

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
needs_load_tools = pytest.mark.skipif(
    NGINX is None or shutil.which("wrk") is None, reason="needs nginx and wrk (Debian packages; CI installs them)"
)


def env() -> Environment:
    peers = Path(gateways.__file__).resolve().parent / "peers"
    return Environment(python=Path(sys.executable), peers_dir=peers, node_dir=Path("/nonexistent"))


def test_the_large_body_is_one_mebibyte_of_json() -> None:
    assert len(LARGE_BODY) == LARGE_BYTES
    assert json.loads(LARGE_BODY)["blob"].startswith("0123456789abcdef")


def test_the_bench_api_has_the_table_and_the_scenario_routes() -> None:
    document = apispec.api_definition(mock=True, api_key_route=("get", "/pets/{id}"))
    operations = [(path, method) for path, item in document["paths"].items() for method in item]
    assert len(operations) == apispec.ROUTES + 1  # and ANY /large
    pets = document["paths"]["/pets/{id}"]["get"]
    assert pets["x-amazon-apigateway-integration"]["type"] == "mock"
    assert pets["security"] == [{"api_key": []}]


@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_fastgw_config_of_every_scenario_loads_without_warnings(tmp_path: Path, scenario: Scenario) -> None:
    """The command line the bench starts, built into a gateway as `fastgw serve` does before it listens."""
    from fastgw.cli import _serve_config, build_parser
    from fastgw.gateway import Gateway

    target = gateways.Target(port=18000, backend_port=18001, scenario=scenario, workdir=tmp_path, env=env())
    launch = gateways.fastgw(target)
    args = build_parser().parse_args(launch.argv[1:])
    gateway = Gateway.from_config(_serve_config(args))
    assert gateway.warnings == []
    runtime = next(iter(gateway.stages.values()))
    assert len(runtime.routes) == apispec.ROUTES + 1


@pytest.mark.skipif(NGINX is None, reason="needs nginx")
@pytest.mark.parametrize("config", ["backend", "proxy", "streaming proxy", "cache", "return"])
def test_nginx_configs_are_valid(tmp_path: Path, config: str) -> None:
    large = tmp_path / "large.json"
    large.write_bytes(LARGE_BODY)
    text = {
        "backend": lambda: backend.backend_config(tmp_path, 18002, large),
        "proxy": lambda: backend.proxy_config(tmp_path, 18003, 18002, 128),
        "streaming proxy": lambda: backend.proxy_config(tmp_path, 18003, 18002, 128, streaming=True),
        "cache": lambda: backend.cache_config(tmp_path, 18004, 18002, 128),
        "return": lambda: backend.return_config(tmp_path, 18005),
    }[config]()
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    assert NGINX is not None
    done = subprocess.run(
        [*backend.nginx_argv(Path(NGINX), tmp_path, conf), "-t"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_sweep_table_route_the_reload_bench_loads_exists() -> None:
    from fastgw.bench.reload import LOAD_PATH

    assert ("get", "/pets/{id}") in route_table(10_000)
    assert LOAD_PATH == "/pets/42"


@needs_load_tools
def test_fastgw_bench_runs_every_scenario_end_to_end(tmp_path: Path) -> None:
    """One short round of every scenario with fastgw and the canary: results per scenario, charts, and an index
    naming fastgw's ratio to the canary; no request failed."""
    out = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastgw.bench",
            "--scenario",
            "all",
            "--gateways",
            "fastgw",
            "--rounds",
            "1",
            "--duration",
            "2",
            "--warmup",
            "1",
            "--c1-duration",
            "1",
            "--out",
            str(out),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in SCENARIOS:
        document = json.loads((out / name / "results.json").read_text())
        rows = {row["gateway"]: row for row in document["summary"]}
        assert rows["fastgw"]["rps_median"] > 0, name
        assert rows["fastgw"]["non_2xx_3xx"] == 0 and rows["fastgw"]["socket_errors"] == 0, name
        assert rows["fastgw"]["ratios"]["granian-hello"] > 0
        assert rows["fastgw"]["best_quarter_ratios"]["granian-hello"] > 0 and rows["fastgw"]["rps_best_quarter"] > 0
        run = document["rounds"][0]["runs"]["fastgw"]
        assert run["memory_idle_bytes"] > 0 and run["memory_load_bytes"] >= run["memory_idle_bytes"] * 0.9
        assert len(run["slices"]) == 2 and run["load"]["requests"] == sum(s["requests"] for s in run["slices"])
        if name == "large":
            assert any("-s" == part for part in run["load"]["argv"])  # the POST script
        assert f"-c{SCENARIOS[name].connections}" in run["load"]["argv"]  # 16 for large, 64 elsewhere
        assert 0 <= run["cpu"]["steal_on_gateway_cpu"] <= 1 and 0 <= run["cpu"]["steal_on_load_cpu"] <= 1
        for chart in ("throughput.png", "latency.png"):
            assert (out / name / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index = (out / "results.md").read_text()
    assert "## realistic" in index and "| granian-hello |" in index
    fastgw = json.loads((out / "proxy" / "results.json").read_text())["summary"]
    memory = next(row for row in fastgw if row["gateway"] == "fastgw")["memory_idle_bytes"]
    assert f"memory {memory / 2**20:.0f} MiB idle" in index
    assert "| MiB idle / load |" in (out / "proxy" / "results.md").read_text()

    # --rewrite reads the rounds back from results.json and writes the same reports.
    before = {path: path.read_text() for path in out.rglob("*.md")}
    rewritten = subprocess.run(
        [sys.executable, "-m", "fastgw.bench", "--rewrite", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rewritten.returncode == 0, rewritten.stderr[-3000:]
    assert {path: path.read_text() for path in out.rglob("*.md")} == before
