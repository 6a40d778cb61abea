"""Run every bench/*.py in turn and write bench/results/summary.md: each ratio next to its goal.

Each benchmark writes bench/results/<name>.json with a "goals" list of
{"name", "value", "goal", "op" (">=" or "<="), "unit"}; this script only collects them.
Pass --quick to run each benchmark in its short mode.
"""

from __future__ import annotations

import argparse
import json
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


def goal_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return [f"| {name} | (no results written) | | |"]
    goals = json.loads(path.read_text()).get("goals", [])
    rows = []
    for g in goals:
        met = g["value"] >= g["goal"] if g["op"] == ">=" else g["value"] <= g["goal"]
        unit = g.get("unit", "")
        rows.append(f"| {name} | {g['name']} | {g['value']:.3g} {unit} | {g['op']} {g['goal']:g} {unit} | "
                    f"{'yes' if met else 'NO'} |")
    return rows or [f"| {name} | (no goals in {path.name}) | | | |"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test of the benchmarks)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    benches = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    lines = ["# Benchmark summary", "", f"Machine: {sys.platform}, run {time.strftime('%Y-%m-%d %H:%M')}"
             f"{' (quick mode)' if args.quick else ''}.", "",
             "| benchmark | measure | value | goal | met |", "|---|---|---|---|---|"]
    failed = []
    for bench in benches:
        rc, seconds = run(bench, args.quick)
        if rc != 0:
            failed.append(bench.name)
        lines += goal_rows(bench.stem)
    if failed:
        lines += ["", f"Failed to run: {', '.join(failed)}"]
    (RESULTS / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {RESULTS / 'summary.md'} (plots: {RESULTS}/*.png)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
