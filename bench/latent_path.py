"""The path from latent to action (issue 16, item 3): does the action head reading the policy's predicted
latent action help, with few demos? With vs without, side by side on the study's own stage-2 checkpoints.

`policy.action_reads_pretrain_head=true` feeds the action head the stage-2 head's prediction (latent-code
probabilities) beside the pooled features (UniVLA's action decoder reads its latent action tokens). Only
finetuning reads the flag: the LAMs and stage 2 do not (finetuning rebuilds the action head), so this
benchmark reuses the finished study's LAM and stage-2 checkpoints (copied into their own comparison.out and
stamped with this config) and finetunes + evaluates the LAM arms again with the flag on: the same data,
budget, finetuning seeds and evaluation seeds (900000+) as the study's rows without it, so every
difference is paired. Run bench/study.py first.

Writes bench/results/latent_path.json (rows of both, per arm and demo count the success with and without
and the paired difference with its bootstrap 95% CI, and each with-arm's difference to `none`) and
latent_path.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ARMS = ("latent", "latent_labels")
SHARED = ("lam_latent_labels", "pretrain_latent", "pretrain_latent_labels")  # what finetuning starts from


def seed_from_study(study_out: Path, out: Path, fingerprint: str) -> None:
    """Copy the study's LAM and stage-2 checkpoints and stamp them with this config's stage-2 fingerprint, so that
    vla-experiment reuses them instead of training them again (they do not depend on the flag)."""
    from vla.pipeline.experiment import STAMP

    for name in SHARED:
        src, dst = study_out / name, out / name
        if not (src / "model" / "manifest.json").is_file():
            raise SystemExit(f"latent_path: {src} is missing: run bench/study.py first")
        if not (dst / "model" / "manifest.json").is_file():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        (dst / STAMP).write_text(json.dumps({"config": fingerprint}))


def compare(study_rows: list[dict], reads_rows: list[dict], arms: tuple[str, ...]) -> dict:
    """Per arm and demo count: success without and with the path, and the paired difference (with - without);
    and each with-arm against `none` (the study's goal)."""
    from vla.pipeline.experiment import study_summary

    out = {}
    for arm in arms:
        pair = ([{**r, "arm": "without"} for r in study_rows if r["arm"] == arm]
                + [{**r, "arm": "with"} for r in reads_rows if r["arm"] == arm])
        vs_none = ([r for r in study_rows if r["arm"] == "none"] + [{**r, "arm": "with"} for r in reads_rows
                                                                   if r["arm"] == arm])
        s, n = study_summary(pair, baseline="without")["arms"], study_summary(vs_none)["arms"]
        out[arm] = {demos: {"without": {k: s["without"]["points"][demos][k] for k in ("success", "ci95")},
                            "with": {k: p[k] for k in ("success", "ci95")},
                            "diff_with_minus_without": p["diff_vs_without"],
                            "with_minus_none": n["with"]["points"][demos]["diff_vs_none"]}
                    for demos, p in s["with"]["points"].items()}
    return out


def plot(comparison: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(comparison), figsize=(5 * len(comparison), 3.6), squeeze=False)
    for ax, (arm, points) in zip(axes[0], comparison.items()):
        demos = list(points)
        for i, side in enumerate(("without", "with")):
            y = [points[d][side]["success"] for d in demos]
            err = [[y[j] - points[d][side]["ci95"][0] for j, d in enumerate(demos)],
                   [points[d][side]["ci95"][1] - y[j] for j, d in enumerate(demos)]]
            ax.bar([j + 0.38 * i for j in range(len(demos))], y, 0.36, yerr=err, capsize=3,
                   label=f"{side} latent -> action path")
        ax.set_xticks([j + 0.19 for j in range(len(demos))], [f"{d} demos/task" for d in demos])
        ax.set_ylim(0, 1)
        ax.set_ylabel("success (95% CI)")
        ax.set_title(arm)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collect", action="store_true", help="only gather the finished runs' results")
    parser.add_argument("--quick", action="store_true", help="accepted for make bench; this benchmark has no short mode")
    args = parser.parse_args()
    if args.quick:
        print("latent_path: no quick mode (it reuses the study's checkpoints); skipped")
        return 0
    from vla.core.config import load_config
    from vla.pipeline.experiment import pretrain_fingerprint

    study_out = Path(load_config(["experiment=study"]).comparison.out)
    out = study_out.parent / "experiment_reads_head"
    overrides = ["experiment=study", "policy.action_reads_pretrain_head=true", f"comparison.out={out}",
                 f"comparison.arms=[{','.join(ARMS)}]"]
    t0 = time.perf_counter()
    if not args.collect:
        seed_from_study(study_out, out, pretrain_fingerprint(load_config(overrides)))
        from vla.core.command import console_script

        rc = subprocess.call([console_script("vla-experiment"), *overrides])
        if rc != 0:
            print(f"latent_path: vla-experiment failed (exit {rc}); re-run to resume", file=sys.stderr)
            return rc
    missing = [str(d / "results.json") for d in (study_out, out) if not (d / "results.json").is_file()]
    if missing:  # --collect before the study or this benchmark has finished
        print(f"latent_path: {', '.join(missing)} missing: run bench/study.py, then bench/latent_path.py without "
              "--collect", file=sys.stderr)
        return 1
    study_rows = json.loads((study_out / "results.json").read_text())["rows"]
    reads_rows = json.loads((out / "results.json").read_text())["rows"]
    comparison = compare(study_rows, reads_rows, ARMS)
    goals = [{"name": f"{arm} with - without the latent->action path, {d} demos/task (paired; 95% CI "
                      f"{p['diff_with_minus_without']['ci95'][0]:+.2f} to {p['diff_with_minus_without']['ci95'][1]:+.2f})",
              "value": p["diff_with_minus_without"]["diff"], "goal": 0.0, "op": ">=", "unit": ""}
             for arm, points in comparison.items() for d, p in points.items()]
    strip = ("per_task", "run_dir", "label")   # the outcomes stay: every statistic is recomputed from them
    record = {"comparison": comparison, "goals": goals, "overrides": overrides,
              "rows_with": [{k: v for k, v in r.items() if k not in strip} for r in reads_rows],
              "minutes": None if args.collect else (time.perf_counter() - t0) / 60, "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latent_path.json").write_text(json.dumps(record, indent=2))
    plot(comparison, RESULTS / "latent_path.png")
    for arm, points in comparison.items():
        for d, p in points.items():
            dd = p["diff_with_minus_without"]
            print(f"{arm:14s} {d:>3s} demos/task: without {p['without']['success']:.2f}, with {p['with']['success']:.2f}, "
                  f"diff {dd['diff']:+.2f} [{dd['ci95'][0]:+.2f}, {dd['ci95'][1]:+.2f}]; "
                  f"with - none {p['with_minus_none']['diff']:+.2f}")
    print(f"wrote {RESULTS / 'latent_path.json'} and latent_path.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
