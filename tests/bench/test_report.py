"""The load bench's estimates from rounds of slices: the median of per-round ratios, and the ratio of best quarters
that interference on a shared host cannot drag down unequally."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fastgw.bench import report, wrk
from fastgw.bench.gateways import GATEWAYS
from fastgw.bench.runner import Backend, Round, Run, Settings
from fastgw.bench.scenarios import SCENARIOS


def _slice(rps: float) -> wrk.WrkResult:
    return wrk.WrkResult(argv=["wrk"], exit_code=0, output="", requests_per_sec=rps, requests=int(rps * 2))


def _rounds(speeds: dict[str, list[list[float]]]) -> list[Round]:
    """Rounds in which each gateway's slices ran at the given req/s (one list of slices per round)."""
    count = len(next(iter(speeds.values())))
    rounds = [Round(index=i + 1) for i in range(count)]
    for name, per_round in speeds.items():
        for r, slices in zip(rounds, per_round, strict=True):
            results = [_slice(rps) for rps in slices]
            r.runs[name] = Run(gateway=name, round=r.index, slices=results, load=wrk.combine(results))
    return rounds


def test_the_best_quarter_is_the_mean_of_the_fastest_quarter_of_all_slices() -> None:
    rounds = _rounds({"fastgw": [[10, 80, 30, 40], [50, 60, 70, 20]]})
    assert report.best_quarter(rounds, "fastgw") == pytest.approx(75)  # 80 and 70: a quarter of 8 slices
    assert report.best_quarter(_rounds({"fastgw": [[10, 30, 20]]}), "fastgw") == pytest.approx(30)  # one at least
    assert report.best_quarter(rounds, "caddy") is None


def test_slowed_slices_move_the_median_ratio_but_not_the_best_quarters() -> None:
    steady = [[200.0] * 4] * 3
    slowed = [[100.0, 40.0, 100.0, 100.0], [100.0, 100.0, 45.0, 50.0], [100.0, 100.0, 100.0, 100.0]]
    rows = report.summarize(
        _rounds({"fastgw": slowed, "nginx-proxy": steady}), [GATEWAYS["fastgw"], GATEWAYS["nginx-proxy"]]
    )
    ours = rows[0]
    assert ours.rps_best_quarter == pytest.approx(100)
    assert ours.best_quarter_ratios["nginx-proxy"] == pytest.approx(0.5)
    median = ours.ratios["nginx-proxy"]
    assert median is not None and median < 0.45  # the per-round ratios: 0.425, 0.369, 0.5
    assert rows[1].best_quarter_ratios["fastgw"] == pytest.approx(2.0)


def test_best_quarter_ratios_use_only_rounds_both_gateways_ran_in() -> None:
    rounds = _rounds({"fastgw": [[100.0] * 4, [300.0] * 4], "caddy": [[50.0] * 4, [50.0] * 4]})
    failed = rounds[1].runs["caddy"]
    failed.error = "did not start"
    rows = report.summarize(rounds, [GATEWAYS["fastgw"], GATEWAYS["caddy"]])
    assert rows[0].best_quarter_ratios["caddy"] == pytest.approx(2.0)  # round 2 (fastgw at 300) left out
    assert rows[0].rps_best_quarter == pytest.approx(300)  # its own figure: every round it ran in
    assert rows[0].best_quarter_ratios["nginx-proxy"] is None  # not measured: no ratio


def test_a_rewrite_keeps_the_scenario_the_run_recorded(tmp_path: Path) -> None:
    """A run measured before the code's scenario changed (large at c=64, with its own description) keeps both when
    its reports are written again, and gains the best quarters."""
    measured = dataclasses.replace(SCENARIOS["large"], description="large as it was measured", connections=64)
    settings = Settings(measured, 1, 8, 2, 3, 64, "0", "1", "granian-hello")
    rounds = _rounds({"fastgw": [[300.0, 320.0, 310.0, 330.0]], "nginx-proxy": [[330.0] * 4]})
    gateways = [GATEWAYS["fastgw"], GATEWAYS["nginx-proxy"]]
    report.write(
        tmp_path,
        rows=report.summarize(rounds, gateways),
        rounds=rounds,
        settings=settings,
        backend=Backend(port=1, pid=1, command=["nginx"], config=""),
        machine={},
        versions={},
        skipped={},
        canary_median=None,
    )
    document = json.loads((tmp_path / "results.json").read_text())
    for row in document["summary"]:
        del row["best_quarter_ratios"], row["rps_best_quarter"]  # as a run written before best quarters
    (tmp_path / "results.json").write_text(json.dumps(document))

    rewritten, rows, text = report.rewrite(tmp_path)
    assert rewritten.scenario == measured and rewritten.connections == 64
    assert "large as it was measured" in text and "-c64" in text
    assert rows[0].best_quarter_ratios["nginx-proxy"] == pytest.approx(1.0)
    again = json.loads((tmp_path / "results.json").read_text())
    assert again["scenario"]["description"] == "large as it was measured" and again["scenario"]["connections"] == 64
