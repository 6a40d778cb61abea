"""The study: does pretraining on action-free video pay off? `vla-experiment experiment=study`, collected.

Runs (or, with --collect, only gathers) the study preset: four arms (none, latent, latent_labels, idm) and
the shuffled-codes control (latent_shuffled) x demos per task x 3 finetuning seeds, evaluated on seeds
900000+. The experiment is resumable: a second run reuses every finished arm. Writes
bench/results/study.json — the flat rows {arm, demos_per_task, seed, task, successes, n} from which every
statistic can be recomputed, each LAM's probe, and per arm and demo count the pooled success (Wilson 95%
CI), the paired difference to `none` (bootstrap over seeds and episodes), the paired difference to the
control (arms_vs_control) and the demos needed to reach 50% — and study.png (success vs demos per task,
per arm).

Goals (issue 16): at the smallest demo count the LAM arm beats `none` by >= +0.15 with the paired 95% CI
above 0; LAM needs >= 3x fewer demos than `none` to reach 50% success.
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


def goals(study: dict) -> list[dict]:
    """Issue 16's goals, for each LAM arm (pure video, LAPA; and with labelled demos, LAOM)."""
    arms, out = study["arms"], []
    for arm in ("latent", "latent_labels"):
        if arm not in arms or "none" not in arms:
            continue
        for demos, p in arms[arm]["points"].items():
            d = p.get("diff_vs_none")
            if d:
                out.append({"name": f"{arm} - none, {demos} demos/task (paired diff; 95% CI {d['ci95'][0]:+.2f} "
                                    f"to {d['ci95'][1]:+.2f})", "value": d["diff"], "goal": 0.15, "op": ">=",
                            "unit": ""})
        none_n, lam_n = arms["none"]["demos_to_50pct"], arms[arm]["demos_to_50pct"]
        if none_n is not None and lam_n is not None:
            out.append({"name": f"demos to 50%: none / {arm}", "value": none_n / lam_n, "goal": 3.0, "op": ">=",
                        "unit": "x"})
    return out


def vs_control(rows: list[dict]) -> dict | None:
    """Each arm's paired difference to the shuffled-codes control: what the codes say, beyond pretraining on
    codes at all."""
    from vla.pipeline.experiment import study_summary

    if not any(r["arm"] == "latent_shuffled" for r in rows):
        return None
    return {arm: {demos: p.get("diff_vs_latent_shuffled") for demos, p in a["points"].items()}
            for arm, a in study_summary(rows, baseline="latent_shuffled")["arms"].items() if arm != "latent_shuffled"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the tiny preset, 2 seeds (smoke test; numbers mean nothing)")
    parser.add_argument("--collect", action="store_true", help="only gather the finished experiment's results")
    parser.add_argument("--preset", default="study",
                        help="the experiment preset (study_midrange: three tasks with a mid-range floor); "
                             "results go to bench/results/<preset>.json and .png")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for vla-experiment (after --)")
    args = parser.parse_args()
    preset = ["experiment=demo_tiny", "paths.root=outputs/bench/study_quick", "comparison.demos=[1,2]",
              "comparison.seeds=[0,1]", "comparison.arms=[none,latent,latent_labels,idm]"] if args.quick \
        else [f"experiment={args.preset}"]
    overrides = preset + args.overrides
    from vla.core.config import load_config

    cfg = load_config(overrides)
    out = Path(cfg.comparison.out)
    t0 = time.perf_counter()
    if not args.collect:
        from vla.core.command import console_script

        rc = subprocess.call([console_script("vla-experiment"), *overrides])
        if rc != 0:
            print(f"study: vla-experiment failed (exit {rc}); re-run to resume", file=sys.stderr)
            return rc
    if not (out / "results.json").is_file():  # --collect before the experiment has finished
        print(f"study: {out / 'results.json'} is missing: run bench/study.py without --collect first (it resumes "
              "what is done)", file=sys.stderr)
        return 1
    results = json.loads((out / "results.json").read_text())
    study = results["study"]
    record = {"rows": study["rows"], "lam": results.get("lam", {}), "arms": study["arms"],
              "tasks": results["tasks"], "episodes_per_task": results["n_episodes_per_task"],
              "eval_seed_start": results["seed_start"], "finetune_steps": results["finetune_steps"],
              "pretrain_steps": results["pretrain_steps"], "overrides": overrides, "quick": args.quick,
              "goals": goals(study), "minutes": None if args.collect else (time.perf_counter() - t0) / 60,
              "arms_vs_control": vs_control(results["rows"]),
              "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "study" if args.quick else args.preset
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2))
    shutil.copyfile(out / "results.png", RESULTS / f"{name}.png")
    print((out / "results.md").read_text())
    print(f"wrote {RESULTS / name}.json and {name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
