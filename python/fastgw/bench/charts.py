"""PNG charts of a load-bench result: throughput.png and latency.png from results.json, and plot_curves for sweeps.

matplotlib is optional (the `bench` extra) and imported only inside the functions that draw, so importing this
module never needs it; `available()` says whether charts can be drawn. Figures have fixed sizes (FIGURE_SIZES, in
inches at DPI), so the same document always gives PNGs of the same pixel size.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastgw.bench.requirements import PythonPackage

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

DPI = 120
FIGURE_SIZES: dict[str, tuple[float, float]] = {  # inches; pixels are these times DPI
    "throughput.png": (10.0, 6.5),
    "latency.png": (13.0, 7.0),
    "curves": (10.0, 6.0),
}
REFERENCE = "nginx-proxy"  # the ratio written on the throughput bars, and the marker on the c=1 panel
LOG_SPREAD = 20.0  # latency bars go on a log axis when the largest value is more than this times the smallest
MISSING = "matplotlib is not installed (pip install 'fastgw[bench]')"

OURS = "#d9480f"  # fastgw* bars
PEERS = "#7b8794"  # every other gateway
P50, P99 = "#4c78a8", "#a6c8ec"


MATPLOTLIB = PythonPackage("matplotlib", pip="matplotlib>=3.8")
"""What `fastgw bench --install-missing` installs when charts cannot be drawn."""


def available() -> str | None:
    """None when charts can be drawn, else a one-line reason."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return MISSING
    return None


# ---- the results document -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Gateway:
    """The part of one summary row (report.Row, as results.json holds it) that the charts draw."""

    name: str
    rps_median: float
    rps_min: float
    rps_max: float
    ratio: float | None  # ÷ REFERENCE, same rounds
    p50_us: float | None
    p99_us: float | None
    added_c1_us: float | None
    reference_added_c1_us: float | None

    @property
    def ours(self) -> bool:
        return self.name.startswith("fastgw")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _measured(document: Mapping[str, Any]) -> list[_Gateway]:
    """The summary rows with a median req/s, in the summary's order; rows never measured are left out."""
    gateways = []
    for row in document.get("summary") or []:
        median = _number(row.get("rps_median"))
        if median is None:
            continue
        ratios = row.get("ratios") or {}
        low, high = _number(row.get("rps_min")), _number(row.get("rps_max"))
        gateways.append(
            _Gateway(
                name=str(row.get("gateway", "?")),
                rps_median=median,
                rps_min=median if low is None else low,
                rps_max=median if high is None else high,
                ratio=_number(ratios.get(REFERENCE)),
                p50_us=_number(row.get("p50_us")),
                p99_us=_number(row.get("p99_us")),
                added_c1_us=_number(row.get("added_c1_us")),
                reference_added_c1_us=_number(row.get("nginx_added_c1_us")),
            )
        )
    return gateways


def _subtitle(document: Mapping[str, Any]) -> str:
    machine = document.get("machine") or {}
    settings = document.get("settings") or {}
    date = str(machine.get("date") or "")
    try:
        date = dt.datetime.fromisoformat(date).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        pass  # not ISO 8601: show it as recorded
    parts = [str(machine.get("cpu_model") or "unknown CPU"), date]
    if (cpus := machine.get("cpus")) is not None:
        parts.insert(1, f"{cpus} CPUs")
    if (kept := document.get("rounds_kept")) is not None:
        parts.append(f"{len(kept)} kept round{'s' if len(kept) != 1 else ''}")
    if (duration := settings.get("duration")) is not None:
        parts.append(f"{duration} s each")
    return " · ".join(p for p in parts if p)


def _title(fig: Figure, document: Mapping[str, Any], what: str) -> None:
    scenario = document.get("scenario") or {}
    name, description = scenario.get("name", "?"), scenario.get("description")
    head = f"{what}: {name}" + (f" ({description})" if description else "")
    fig.suptitle(f"{textwrap.shorten(head, 110)}\n{_subtitle(document)}", fontsize=11)


# ---- drawing ------------------------------------------------------------------------------------------------------


@contextmanager
def _figure(path: Path, size: tuple[float, float]) -> Iterator[Figure]:
    """A figure to draw on; saved to `path` as the block ends, and closed whatever happens."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(MISSING) from exc
    if "matplotlib.pyplot" not in sys.modules:  # a caller that chose a backend keeps it (savefig needs none)
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size, dpi=DPI)
    try:
        yield fig
        fig.savefig(path, dpi=DPI, format="png")
    finally:
        plt.close(fig)


def _plain(axis: Axis) -> None:
    """Tick labels as plain numbers with thousands separators (not 1e5 or 10^3)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: _short(value)))
    axis.set_minor_formatter(NullFormatter())


def _short(value: float) -> str:
    size = abs(value)
    if size >= 100 or size == 0:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _unit(values: Sequence[float]) -> tuple[str, float]:
    """("ms", 1000) when the largest magnitude is a millisecond or more, else ("µs", 1)."""
    return ("ms", 1000.0) if max((abs(v) for v in values), default=0.0) >= 1000 else ("µs", 1.0)


def _label_bar(ax: Axes, x: float, y: float, text: str, *, size: float = 8) -> None:
    """`text` just right of (x, y), in data coordinates."""
    ax.annotate(
        text,
        (x, y),
        xytext=(4, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=size,
    )


def _names(ax: Axes, gateways: Sequence[_Gateway]) -> None:
    """Gateway names on the y axis, top to bottom in summary order, fastgw's in its colour."""
    ax.set_yticks(range(len(gateways)), [g.name for g in gateways])
    for label, gateway in zip(ax.get_yticklabels(), gateways, strict=True):
        if gateway.ours:
            label.set_color(OURS)
            label.set_fontweight("bold")
    ax.set_ylim(len(gateways) - 0.5, -0.5)


def _throughput(path: Path, document: Mapping[str, Any], gateways: Sequence[_Gateway]) -> Path:
    with _figure(path, FIGURE_SIZES["throughput.png"]) as fig:
        ax = fig.add_subplot()
        ys = range(len(gateways))
        medians = [g.rps_median for g in gateways]
        spans = [[g.rps_median - g.rps_min for g in gateways], [g.rps_max - g.rps_median for g in gateways]]
        ax.barh(ys, medians, height=0.6, color=[OURS if g.ours else PEERS for g in gateways], zorder=2)
        ax.errorbar(medians, ys, xerr=spans, fmt="none", ecolor="#222222", elinewidth=1, capsize=3, zorder=3)
        for y, g in zip(ys, gateways, strict=True):
            text = f"{g.rps_median:,.0f}"
            if g.ratio is not None and g.name != REFERENCE:
                text += f"  ({g.ratio:.2f}× {REFERENCE})"
            _label_bar(ax, g.rps_max, y, text, size=9)
        _names(ax, gateways)
        ax.set_xlim(0, max(g.rps_max for g in gateways) * 1.4)  # room for the labels past the longest bar
        _plain(ax.xaxis)
        ax.grid(axis="x", alpha=0.3, zorder=0)
        ax.set_xlabel("requests per second (median of kept rounds; bars: min–max)")
        _title(fig, document, "Throughput")
        fig.tight_layout()
    return path


def _latency_panel(ax: Axes, gateways: Sequence[_Gateway], connections: object) -> None:
    from matplotlib.patches import Patch

    values = [v for g in gateways for v in (g.p50_us, g.p99_us) if v is not None and v > 0]
    unit, scale = _unit(values)
    height = 0.38
    for y, g in enumerate(gateways):
        for offset, color, value in ((-height / 2, P50, g.p50_us), (height / 2, P99, g.p99_us)):
            if value is not None and value > 0:
                ax.barh(y + offset, value / scale, height=height, color=color, zorder=2)
                _label_bar(ax, value / scale, y + offset, f"{_short(value / scale)} {unit}", size=7)
    if values and max(values) > LOG_SPREAD * min(values):
        ax.set_xscale("log")
        ax.set_xlim(min(values) / scale / 2, max(values) / scale * 4)
        ax.set_xlabel(f"{unit}, log scale (median of kept rounds)")
    else:
        ax.set_xlim(0, max(values, default=1.0) / scale * 1.2)
        ax.set_xlabel(f"{unit} (median of kept rounds)")
    _plain(ax.xaxis)
    ax.grid(axis="x", which="major", alpha=0.3, zorder=0)
    ax.legend(handles=[Patch(color=P50, label="p50"), Patch(color=P99, label="p99")], loc="lower right", fontsize=8)
    ax.set_title(f"latency under load, c={connections}", fontsize=10)


def _added_panel(ax: Axes, gateways: Sequence[_Gateway]) -> None:
    values = [v for g in gateways for v in (g.added_c1_us, g.reference_added_c1_us) if v is not None]
    unit, scale = _unit(values)
    for y, g in enumerate(gateways):
        reference = 0.0 if g.reference_added_c1_us is None else g.reference_added_c1_us / scale
        if g.added_c1_us is None:
            _label_bar(ax, max(0.0, reference), y, "no c=1 measurement", size=7)
            continue
        value = g.added_c1_us / scale
        ax.barh(y, value, height=0.6, color=OURS if g.ours else PEERS, zorder=2)
        # Past the bar and nginx's marker, whichever ends later, so that neither hides it.
        text = ("+" if value >= 0 else "−") + f"{_short(abs(value))} {unit}"
        _label_bar(ax, max(0.0, value, reference), y, text, size=7)
    marks = [
        (g.reference_added_c1_us / scale, y) for y, g in enumerate(gateways) if g.reference_added_c1_us is not None
    ]
    if marks:
        ax.scatter(
            [x for x, _ in marks],
            [y for _, y in marks],
            marker="|",
            s=220,
            linewidths=2,
            color="#111111",
            zorder=4,
            label=f"{REFERENCE}'s, same rounds",
        )
        ax.legend(loc="lower right", fontsize=8)
    low = min(0.0, min(values, default=0.0) / scale * 1.3)
    ax.set_xlim(low, max(max(values, default=1.0) / scale * 1.35, 1.0))
    ax.axvline(0, color="#444444", linewidth=0.8, zorder=1)
    _plain(ax.xaxis)
    ax.grid(axis="x", alpha=0.3, zorder=0)
    ax.set_xlabel(f"{unit}: p50 through the gateway − p50 direct to the backend")
    ax.set_title("added latency at c=1", fontsize=10)


def _latency(path: Path, document: Mapping[str, Any], gateways: Sequence[_Gateway]) -> Path:
    connections = (document.get("settings") or {}).get("connections", "?")
    with _figure(path, FIGURE_SIZES["latency.png"]) as fig:
        under_load, at_c1 = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
        _latency_panel(under_load, gateways, connections)
        _added_panel(at_c1, gateways)
        _names(under_load, gateways)
        _title(fig, document, "Latency")
        fig.tight_layout()
    return path


def write_charts(out: Path, document: Mapping[str, Any]) -> list[Path]:
    """Write throughput.png and latency.png into `out` from a results.json document (what report.write dumps).

    Gateways without a median req/s are left out; with none measured nothing is drawn. Returns the paths written.
    """
    gateways = _measured(document)
    if not gateways:
        return []
    out.mkdir(parents=True, exist_ok=True)
    return [
        _throughput(out / "throughput.png", document, gateways),
        _latency(out / "latency.png", document, gateways),
    ]


def plot_curves(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    log_x: bool = True,
    log_y: bool = False,
    note: str | None = None,
    y_from_zero: bool = False,
) -> Path:
    """One line with markers per series, (x, y) points sorted by x; `note` goes in small print under the plot.
    `y_from_zero`: the y axis starts at 0, so that small changes look small (a level that should stay flat).

    On a log x axis the ticks are the x values themselves when there are few (a sweep over 1, 2, 4 … 256).
    """
    width, height = FIGURE_SIZES["curves"]
    lines = textwrap.wrap(note, 150) if note else []
    with _figure(path, (width, height)) as fig:
        ax = fig.add_subplot()
        for name, points in series.items():
            ordered = sorted(points)
            ax.plot([x for x, _ in ordered], [y for _, y in ordered], marker="o", markersize=4, label=name)
        xs = sorted({x for points in series.values() for x, _ in points})
        if log_x:
            ax.set_xscale("log")
            if 0 < len(xs) <= 16:
                from matplotlib.ticker import NullLocator

                ax.set_xticks(xs, [_short(x) for x in xs])
                ax.xaxis.set_minor_locator(NullLocator())
        else:
            _plain(ax.xaxis)
        if log_y:
            ax.set_yscale("log")
        elif y_from_zero:
            ax.set_ylim(bottom=0)
        _plain(ax.yaxis)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if series:
            ax.legend(fontsize=9)
        if lines:
            fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="#444444", va="bottom", ha="left")
        # Leave room at the bottom for the note (about 0.15 in per line of 7-point text).
        fig.tight_layout(rect=(0, (0.15 * len(lines) + 0.05) / height if lines else 0, 1, 1))
    return path
