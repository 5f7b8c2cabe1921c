"""`fastgw bench --compare FIRST SECOND`: do two runs agree? fastgw's ratio to every peer, per scenario, side by side.

A run's result is a set of ratios (fastgw ÷ peer, measured in the same run), so two runs agree when each ratio
of the second is within the tolerance (10% by default, the suite's promise) of the same ratio in the first.

Each ratio is estimated two ways (report.py): the median of per-round ratios, and the ratio of best quarters (each
gateway's fastest quarter of slices). Both are shown; agreement is judged on the best quarters, the estimate that
interference on a shared host cannot drag down unequally (report.best_quarter says why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOLERANCE = 0.10
MEDIAN = "ratios"  # results.json field: median of per-round ratios
BEST_QUARTER = "best_quarter_ratios"  # results.json field: ratio of best quarters, the one agreement is judged on


@dataclass(frozen=True)
class Change:
    scenario: str
    peer: str
    first: float
    second: float

    @property
    def relative(self) -> float:
        return self.second / self.first - 1

    def within(self, tolerance: float) -> bool:
        return abs(self.relative) <= tolerance


def ratios(run: Path, estimate: str = BEST_QUARTER) -> dict[str, dict[str, float]]:
    """Per scenario directory of a run: fastgw's ratio to each peer measured with it, as `estimate` (a field of
    results.json's rows: MEDIAN or BEST_QUARTER)."""
    found: dict[str, dict[str, float]] = {}
    for results in sorted(run.glob("*/results.json")):
        document: dict[str, Any] = json.loads(results.read_text())
        rows = {row["gateway"]: row for row in document.get("summary") or []}
        ours = rows.get("fastgw")
        if ours is None:
            continue
        scenario = str(document.get("settings", {}).get("scenario") or results.parent.name)
        request = document.get("scenario") or {}
        plain = request.get("method", "GET") == "GET" and not request.get("request_bytes")
        canary = (document.get("canary") or {}).get("gateway")
        measured = {
            peer: float(value)
            for peer, value in (ours.get(estimate) or {}).items()
            if isinstance(value, int | float)
            and value > 0
            and peer in rows
            # The canary answers its plain GET whatever the scenario asks: no ratio to compare where it differs.
            and (plain or peer != canary)
        }
        if measured:
            found[scenario] = measured
    return found


def compare(first: Path, second: Path, estimate: str = BEST_QUARTER) -> tuple[list[Change], list[str]]:
    """The ratios both runs measured, and what only one of them did (as notes)."""
    a, b = ratios(first, estimate), ratios(second, estimate)
    changes: list[Change] = []
    notes: list[str] = []
    for scenario in sorted(a.keys() | b.keys()):
        if scenario not in a or scenario not in b:
            notes.append(f"{scenario}: only in {first if scenario in a else second}")
            continue
        for peer in sorted(a[scenario].keys() | b[scenario].keys()):
            if peer in a[scenario] and peer in b[scenario]:
                changes.append(Change(scenario, peer, a[scenario][peer], b[scenario][peer]))
            else:
                notes.append(f"{scenario} / {peer}: measured in one run only")
    return changes, notes


def report(first: Path, second: Path, tolerance: float = TOLERANCE) -> tuple[str, bool]:
    """A Markdown table of every ratio in both runs, both estimates, and whether the best-quarter ratios all agree
    within `tolerance`."""
    changes, notes = compare(first, second, BEST_QUARTER)
    medians = {(c.scenario, c.peer): c for c in compare(first, second, MEDIAN)[0]}
    lines = [
        f"# fastgw bench: {first} against {second}",
        "",
        "fastgw ÷ peer in each run and the second's change, two ways: the ratio of best quarters (each gateway's "
        f"fastest quarter of slices; agreement is judged on it: within ±{tolerance:.0%}) and the median of per-round "
        "ratios.",
        "",
        "| scenario | peer | best quarters: first | second | change | | medians: first | second | change |",
        "|---|---|--:|--:|--:|---|--:|--:|--:|",
    ]
    for change in changes:
        mark = "ok" if change.within(tolerance) else "**outside**"
        median = medians.get((change.scenario, change.peer))
        median_cells = f"{median.first:.2f} | {median.second:.2f} | {median.relative:+.1%}" if median else "– | – | –"
        lines.append(
            f"| {change.scenario} | {change.peer} | {change.first:.2f} | {change.second:.2f} "
            f"| {change.relative:+.1%} | {mark} | {median_cells} |"
        )
    agree = bool(changes) and all(change.within(tolerance) for change in changes)
    outside = [change for change in changes if not change.within(tolerance)]
    lines += ["", *notes] if notes else [""]
    if not changes:
        lines.append(
            "No best-quarter ratio was measured in both runs (a run written before they existed gets them from "
            "`fastgw bench --rewrite RUN`)."
        )
    elif agree:
        worst = max(changes, key=lambda change: abs(change.relative))
        lines.append(
            f"All {len(changes)} ratios agree within ±{tolerance:.0%} "
            f"(the largest change: {worst.scenario} / {worst.peer}, {worst.relative:+.1%})."
        )
    else:
        lines.append(f"{len(outside)} of {len(changes)} ratios changed by more than ±{tolerance:.0%}.")
    if medians:
        apart = sum(not median.within(tolerance) for median in medians.values())
        lines.append(f"Medians of per-round ratios: {len(medians) - apart} of {len(medians)} within ±{tolerance:.0%}.")
    return "\n".join(lines) + "\n", agree
