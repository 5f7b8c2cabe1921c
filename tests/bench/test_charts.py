"""The load bench's charts: PNGs of the size set, from a results.json document; gateways never measured left out."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from matplotlib.image import imread

from fastgw.bench import charts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(
    gateway: str, rps: tuple[float, float, float] | None, p50: float, p99: float, added: float, nginx: float
) -> dict[str, Any]:
    """A summary row as report.write dumps it (asdict(Row)), measured in two kept rounds."""
    median, low, high = rps if rps else (None, None, None)
    measured = rps is not None
    return {
        "gateway": gateway,
        "description": f"{gateway} in the test",
        "rounds": 2 if measured else 0,
        "rps_median": median,
        "rps_min": low,
        "rps_max": high,
        "p50_us": p50 if measured else None,
        "p99_us": p99 if measured else None,
        "non_2xx_3xx": 0,
        "socket_errors": 0,
        "ratios": {
            "nginx-proxy": median / 41_850.0 if median else None,
            "granian-hello": median / 60_900.0 if median else None,
            "fast-gateway": None,
        },
        "added_c1_us": added if measured else None,
        "nginx_added_c1_us": nginx if measured else None,
        "cpu": {"gateway_own": 0.97, "others_on_gateway_cpu": 0.01, "load_cpu_idle": 0.2} if measured else {},
        "rps_per_cpu": median / 0.97 if median else None,
        "failures": [] if measured else ["round 1: did not start", "round 2: did not start"],
    }


def _document() -> dict[str, Any]:
    return {
        "schema": 1,
        "scenario": {
            "name": "proxy",
            "path": "/pets/42",
            "description": "GET /pets/{id} proxied to the backend over a keep-alive pool",
            "body": '{"id":1,"name":"rex","kind":"dog"}',
        },
        "settings": {"scenario": "proxy", "rounds": 2, "duration": 10, "warmup": 3, "connections": 64},
        "machine": {
            "date": "2025-11-22T01:41:07+00:00",
            "cpu_model": "AMD EPYC 7B13 64-Core Processor",
            "cpus": 8,
            "kernel": "Linux 6.8.0 x86_64",
        },
        "versions": {"wrk": "wrk 4.2.0"},
        "canary": {"gateway": "granian-hello", "median_rps": 60_900.0, "tolerance": 0.1},
        "rounds_kept": [1, 2],
        "rounds_dropped": [],
        "skipped": {},
        "summary": [
            _row("nginx-proxy", (41_850.0, 41_200.0, 42_500.0), 1_480.0, 2_950.0, 38.0, 38.0),
            _row("granian-hello", (60_900.0, 60_100.0, 61_700.0), 1_020.0, 1_870.0, 21.0, 38.0),
            _row("haproxy", None, 0, 0, 0, 0),
            _row("fastgw", (35_400.0, 34_600.0, 36_200.0), 1_760.0, 4_120.0, 92.0, 38.0),
        ],
        "rounds": [],
    }


def _pixels(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, read back."""
    image = imread(path)
    return image.shape[1], image.shape[0]


def _size(name: str) -> tuple[int, int]:
    width, height = charts.FIGURE_SIZES[name]
    return round(width * charts.DPI), round(height * charts.DPI)


def test_available_when_matplotlib_imports() -> None:
    assert charts.available() is None


def test_available_gives_the_reason_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert charts.available() == "matplotlib is not installed (pip install 'fastgw[bench]')"


def test_importing_charts_does_not_import_matplotlib() -> None:
    code = "import sys, fastgw.bench.charts; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_write_charts_writes_both_pngs_at_the_size_set(tmp_path: Path) -> None:
    written = charts.write_charts(tmp_path / "out", _document())
    assert written == [tmp_path / "out" / "throughput.png", tmp_path / "out" / "latency.png"]
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert _pixels(path) == _size(path.name)


def test_latency_spread_over_20x_and_negative_added_latency_draw(tmp_path: Path) -> None:
    document = _document()
    slow = _row("fast-gateway", (9_800.0, 9_100.0, 10_400.0), 6_400.0, 95_000.0, 410.0, 38.0)
    quick = _row("granian-rawproxy", (52_000.0, 51_000.0, 53_500.0), 240.0, 610.0, -4.0, 38.0)
    document["summary"] += [slow, quick]
    for path in charts.write_charts(tmp_path, document):
        assert _pixels(path) == _size(path.name)


def test_a_gateway_never_measured_is_left_out(tmp_path: Path) -> None:
    with_failure = _document()
    without = copy.deepcopy(with_failure)
    without["summary"] = [row for row in without["summary"] if row["rps_median"] is not None]
    assert len(without["summary"]) == len(with_failure["summary"]) - 1

    drawn = charts.write_charts(tmp_path / "with", with_failure)
    expected = charts.write_charts(tmp_path / "without", without)
    for a, b in zip(drawn, expected, strict=True):
        assert a.read_bytes() == b.read_bytes()  # the same picture: no bar, label or gap for it


def test_nothing_measured_draws_nothing(tmp_path: Path) -> None:
    document = _document()
    for row in document["summary"]:
        row["rps_median"] = None
    assert charts.write_charts(tmp_path / "out", document) == []
    assert not (tmp_path / "out").exists()


def test_plot_curves_two_series_on_log_x(tmp_path: Path) -> None:
    connections = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    series = {
        "fastgw": [(c, min(35_000.0, 2_900.0 * c)) for c in connections],
        "nginx-proxy": [(c, min(42_000.0, 3_800.0 * c)) for c in reversed(connections)],  # order does not matter
    }
    path = charts.plot_curves(
        tmp_path / "scaling.png",
        "Throughput by connections: proxy",
        "connections (wrk -c)",
        "requests per second",
        series,
        note="Median of 3 rounds per point; gateway on CPU 2, wrk and the backend on CPU 3. " * 3,
    )
    assert path == tmp_path / "scaling.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert _pixels(path) == _size("curves")


def test_plot_curves_linear_and_log_y_without_note(tmp_path: Path) -> None:
    series = {"p99": [(1.0, 180.0), (10.0, 900.0), (100.0, 12_000.0)]}
    linear = charts.plot_curves(tmp_path / "a.png", "t", "x", "y", series, log_x=False)
    log_y = charts.plot_curves(tmp_path / "b.png", "t", "x", "µs", series, log_y=True)
    assert _pixels(linear) == _pixels(log_y) == _size("curves")
