"""Run every bench/*.py in turn and write bench/results/summary.md: each ratio next to its goal.

Each benchmark writes bench/results/<name>.json with a "goals" list of
{"name", "value", "goal", "op" (">=" or "<="), "unit"}; this script only collects them, and those of
<name>_<preset>.json (the same benchmark on another preset, e.g. study_midrange).
Pass --quick to run each benchmark in its short mode, or --collect to only rebuild summary.md from the
results already in bench/results/ (the learning benchmarks, policy_floor, lam_motion and study, take an
hour or more each on 2 cores; each JSON's own date says when it was measured).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def run(bench: Path, quick: bool) -> tuple[int, float]:
    cmd = [sys.executable, str(bench)] + (["--quick"] if quick else [])
    print(f"== {bench.name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    return rc, time.perf_counter() - t0


def previous_rows(name: str) -> list[str]:
    """This benchmark's rows in the summary.md already there (only summary.md and the learning benchmarks'
    JSON are committed, so --collect in a fresh clone keeps the speed rows of the last full run)."""
    path = RESULTS / "summary.md"
    if not path.is_file():
        return []
    text = path.read_text()
    when = re.search(r"(?:run|written) (\d{4}-\d{2}-\d{2})", text)
    rows = [line for line in text.splitlines() if line.startswith(f"| {name} |") and "(no results written)" not in line]
    # a row from before the "measured" column gets the date of the run that wrote it
    return [row + f" {when.group(1) if when else ''} |" if row.count("|") == 6 else row for row in rows]


def goal_rows(name: str, keep_previous: bool = False) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return (keep_previous and previous_rows(name)) or [f"| {name} | (no results written) | | | | |"]
    record = json.loads(path.read_text())
    goals, when = record.get("goals", []), record.get("date", "")
    rows = []
    for g in goals:
        met = g["value"] >= g["goal"] if g["op"] == ">=" else g["value"] <= g["goal"]
        unit = g.get("unit", "")
        rows.append(f"| {name} | {g['name']} | {g['value']:.3g} {unit} | {g['op']} {g['goal']:g} {unit} | "
                    f"{'yes' if met else 'NO'} | {when} |")
    return rows or [f"| {name} | (no goals in {path.name}) | | | | {when} |"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test of the benchmarks)")
    parser.add_argument("--collect", action="store_true", help="run nothing: summarise the results already written")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    benches = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    bench_names = {b.stem for b in benches}
    mode = " (collected: nothing re-run)" if args.collect else " (quick mode)" if args.quick else ""
    lines = ["# Benchmark summary", "", f"Machine: {sys.platform}, written {time.strftime('%Y-%m-%d %H:%M')}{mode}.",
             "", "| benchmark | measure | value | goal | met | measured |", "|---|---|---|---|---|---|"]
    failed = []
    for bench in benches:
        if not args.collect:
            rc, seconds = run(bench, args.quick)
            if rc != 0:
                failed.append(bench.name)
        lines += goal_rows(bench.stem, keep_previous=args.collect)
        # the same benchmark on another preset (bench/study.py --preset study_midrange -> study_midrange.json)
        for variant in sorted(p.stem for p in RESULTS.glob(f"{bench.stem}_*.json")):
            if variant not in bench_names:  # policy_floor.json is bench/policy_floor.py's, not bench/policy.py's
                lines += goal_rows(variant)
    if failed:
        lines += ["", f"Failed to run: {', '.join(failed)}"]
    (RESULTS / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {RESULTS / 'summary.md'} (plots: {RESULTS}/*.png)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
