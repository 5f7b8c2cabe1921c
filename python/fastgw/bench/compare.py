"""`fastgw bench --compare FIRST SECOND`: do two runs agree? fastgw's ratio to every peer, per scenario, side by side.

A run's result is a set of ratios (fastgw ÷ peer, measured in the same rounds), so two runs agree when each ratio
of the second is within the tolerance (10% by default, the suite's promise) of the same ratio in the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOLERANCE = 0.10


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


def ratios(run: Path) -> dict[str, dict[str, float]]:
    """Per scenario directory of a run: fastgw's ratio to each peer measured with it."""
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
            for peer, value in (ours.get("ratios") or {}).items()
            if isinstance(value, int | float)
            and value > 0
            and peer in rows
            # The canary answers its plain GET whatever the scenario asks: no ratio to compare where it differs.
            and (plain or peer != canary)
        }
        if measured:
            found[scenario] = measured
    return found


def compare(first: Path, second: Path) -> tuple[list[Change], list[str]]:
    """The ratios both runs measured, and what only one of them did (as notes)."""
    a, b = ratios(first), ratios(second)
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
    """A Markdown table of every ratio in both runs and whether all agree within `tolerance`."""
    changes, notes = compare(first, second)
    lines = [
        f"# fastgw bench: {first} against {second}",
        "",
        f"fastgw ÷ peer in each run, and the second's change; agreement: within ±{tolerance:.0%}.",
        "",
        "| scenario | peer | first | second | change | |",
        "|---|---|--:|--:|--:|---|",
    ]
    for change in changes:
        mark = "ok" if change.within(tolerance) else "**outside**"
        lines.append(
            f"| {change.scenario} | {change.peer} | {change.first:.2f} | {change.second:.2f} "
            f"| {change.relative:+.1%} | {mark} |"
        )
    agree = bool(changes) and all(change.within(tolerance) for change in changes)
    outside = [change for change in changes if not change.within(tolerance)]
    lines += ["", *notes] if notes else [""]
    if not changes:
        lines.append("No ratio was measured in both runs.")
    elif agree:
        worst = max(changes, key=lambda change: abs(change.relative))
        lines.append(
            f"All {len(changes)} ratios agree within ±{tolerance:.0%} "
            f"(the largest change: {worst.scenario} / {worst.peer}, {worst.relative:+.1%})."
        )
    else:
        lines.append(f"{len(outside)} of {len(changes)} ratios changed by more than ±{tolerance:.0%}.")
    return "\n".join(lines) + "\n", agree
