"""`fastgw bench --compare`: two runs' ratios side by side, and whether they agree within the tolerance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastgw.bench import compare


def write_run(
    root: Path, scenarios: dict[str, dict[str, float]], medians: dict[str, dict[str, float]] | None = None
) -> Path:
    """A results directory as `fastgw bench` writes it: per scenario, results.json with fastgw's ratios of best
    quarters, and its medians of per-round ratios (the same unless given; the scenario `large` POSTs, the others
    GET)."""
    for scenario, ratios in scenarios.items():
        median = (medians or {}).get(scenario, ratios)
        rows = [
            {
                "gateway": "fastgw",
                "ratios": {**median, "absent-peer": None},
                "best_quarter_ratios": {**ratios, "absent-peer": None},
            }
        ]
        rows += [{"gateway": peer, "ratios": {}} for peer in ratios]
        (root / scenario).mkdir(parents=True)
        request = {"method": "POST", "request_bytes": 1 << 20} if scenario == "large" else {"method": "GET"}
        document = {
            "settings": {"scenario": scenario},
            "scenario": request,
            "canary": {"gateway": "granian-hello"},
            "summary": rows,
        }
        (root / scenario / "results.json").write_text(json.dumps(document))
    return root


def test_runs_within_the_tolerance_agree(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", {"proxy": {"nginx-proxy": 0.50, "caddy": 2.00}, "cache": {"granian-hello": 0.90}})
    second = write_run(
        tmp_path / "b", {"proxy": {"nginx-proxy": 0.54, "caddy": 1.85}, "cache": {"granian-hello": 0.93}}
    )
    text, agree = compare.report(first, second)
    assert agree
    assert "| proxy | nginx-proxy | 0.50 | 0.54 | +8.0% | ok | 0.50 | 0.54 | +8.0% |" in text
    assert "All 3 ratios agree within ±10% (the largest change: proxy / nginx-proxy, +8.0%)" in text


def test_one_ratio_outside_the_tolerance_is_a_disagreement(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", {"proxy": {"nginx-proxy": 0.50, "caddy": 2.00}})
    second = write_run(tmp_path / "b", {"proxy": {"nginx-proxy": 0.50, "caddy": 1.70}, "mock": {"nginx-return": 1.0}})
    text, agree = compare.report(first, second)
    assert not agree
    assert "| proxy | caddy | 2.00 | 1.70 | -15.0% | **outside** | 2.00 | 1.70 | -15.0% |" in text
    assert "1 of 2 ratios changed by more than ±10%." in text
    assert f"mock: only in {second}" in text


def test_the_command_exits_1_on_disagreement_and_takes_a_tolerance(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", {"proxy": {"nginx-proxy": 0.50}})
    second = write_run(tmp_path / "b", {"proxy": {"nginx-proxy": 0.56}})

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "fastgw.bench", "--compare", str(first), str(second), *extra]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    assert run().returncode == 1
    loose = run("--tolerance", "0.15")
    assert loose.returncode == 0, loose.stderr
    assert "+12.0%" in loose.stdout


def test_the_canary_is_not_compared_where_it_answers_another_request(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", {"large": {"nginx-proxy": 1.0, "granian-hello": 0.010}})
    second = write_run(tmp_path / "b", {"large": {"nginx-proxy": 1.0, "granian-hello": 0.005}})
    text, agree = compare.report(first, second)
    assert agree and "granian-hello" not in text


def test_agreement_is_judged_on_best_quarters_and_the_medians_are_shown(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", {"proxy": {"nginx-proxy": 0.50}}, medians={"proxy": {"nginx-proxy": 0.50}})
    second = write_run(tmp_path / "b", {"proxy": {"nginx-proxy": 0.52}}, medians={"proxy": {"nginx-proxy": 0.40}})
    text, agree = compare.report(first, second)
    assert agree
    assert "| proxy | nginx-proxy | 0.50 | 0.52 | +4.0% | ok | 0.50 | 0.40 | -20.0% |" in text
    assert "Medians of per-round ratios: 0 of 1 within ±10%." in text
    _, agree_backwards = compare.report(second, first)
    assert agree_backwards  # still judged on the best quarters, whichever run comes first


def test_a_run_without_best_quarters_says_how_to_get_them(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", {"proxy": {"nginx-proxy": 0.50}})
    second = write_run(tmp_path / "b", {"proxy": {"nginx-proxy": 0.50}})
    for results in (tmp_path / "a").glob("*/results.json"):
        results.write_text(results.read_text().replace("best_quarter_ratios", "older_field"))
    text, agree = compare.report(first, second)
    assert not agree
    assert "fastgw bench --rewrite RUN" in text
