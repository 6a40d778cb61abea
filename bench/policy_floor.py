"""The policy's floor: what the `none` arm (no pretraining) reaches from its labelled demos alone.

For 5, 10 and 25 demos per task on reach, push and button-press-topdown, 3 training seeds each: finetune
with the project's recipe (the composed config, `finetune.init=none`) and evaluate closed-loop on
`--episodes` episodes per task from `eval.seed_start` (900000+, a range no tuning run looked at: tuning used
950000+, see docs/policy.md). Same demos (the first N of each task, so the points nest), same budget, same seeds
for every point. Runs go two at a time (one torch thread each); a finished run is kept under
`--work` and skipped when the command is run again.

Writes bench/results/policy_floor.json ({"rows": [{"arm", "demos_per_task", "seed", "task", "successes",
"n"}, ...]}, the recipe, and the issue's goals at 25 demos per task) and policy_floor.png.
Extra config overrides after `--` change the recipe, e.g. `-- policy.pool=attention`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TASKS = ["reach-v3", "push-v3", "button-press-topdown-v3"]
GOALS = {"reach-v3": 0.8, "push-v3": 0.5, "button-press-topdown-v3": 0.8}  # at 25 demos per task


def make_teleop(cfg, work: Path, demos: int) -> Path:
    from vla.data.sim import SimConfig, generate

    sim = SimConfig(tasks=tuple(TASKS), video_episodes_per_task=0, teleop_episodes_per_task=demos,
                    image_size=cfg.data.sim.image_size, camera=cfg.data.sim.camera, fps=cfg.data.sim.fps,
                    max_steps=cfg.data.sim.max_steps, tail_steps=cfg.data.sim.tail_steps,
                    teleop_video=cfg.data.sim.teleop_video, workers=2)
    generate(sim, work / "videos", work / "teleop")
    return work / "teleop"


def run_one(job: tuple) -> list[dict]:
    """Finetune one (demos per task, seed) point from scratch and evaluate it: one row per task."""
    overrides, teleop, run_dir, demos, seed, episodes = job
    import torch

    torch.set_num_threads(1)
    from vla.core.config import load_config
    from vla.pipeline.experiment import eval_config
    from vla.eval.sim_eval import evaluate_checkpoint
    from vla.pipeline.stages import run_finetune

    cfg = load_config(overrides + [f"seed={seed}", f"paths.teleop={teleop}"])
    done = Path(run_dir) / "rows.json"
    if done.is_file():
        return json.loads(done.read_text())
    run_finetune(cfg, out_dir=run_dir, init="none", demos_per_task=demos)
    ecfg = eval_config(cfg)
    ecfg.tasks, ecfg.n_episodes, ecfg.n_videos = TASKS, episodes, 1
    info = evaluate_checkpoint(Path(run_dir) / "model", ecfg, Path(run_dir) / "eval")
    rows = [{"arm": "none", "demos_per_task": demos, "seed": seed, "task": t, "successes": r["successes"], "n": r["n"]}
            for t, r in info["tasks"].items()]
    done.write_text(json.dumps(rows))
    return rows


def pooled(rows: list[dict], demos: int, task: str) -> tuple[int, int]:
    sel = [r for r in rows if r["demos_per_task"] == demos and r["task"] == task]
    return sum(r["successes"] for r in sel), sum(r["n"] for r in sel)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vla.eval.sim_eval import wilson_interval

    demos = sorted({r["demos_per_task"] for r in rows})
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, task in enumerate(TASKS):
        k_n = [pooled(rows, d, task) for d in demos]
        rate = [k / max(1, n) for k, n in k_n]
        ci = [wilson_interval(k, n) for k, n in k_n]
        x = [d * (1 + 0.03 * (i - 1)) for d in demos]
        ax.errorbar(x, rate, yerr=[[r - lo for r, (lo, _) in zip(rate, ci)], [hi - r for r, (_, hi) in zip(rate, ci)]],
                    marker="o", capsize=3, label=task)
    ax.set_xscale("log"), ax.set_xticks(demos, [str(d) for d in demos]), ax.minorticks_off()
    ax.set_ylim(-0.02, 1.02), ax.set_xlabel("labelled demos per task"), ax.set_ylabel("success (95% Wilson CI)")
    ax.set_title("no pretraining: success vs demos (pooled over seeds)"), ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 demos per task, one seed, 3 episodes (smoke test)")
    parser.add_argument("--demos", type=int, nargs="+", default=[5, 10, 25])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per task and run")
    parser.add_argument("--work", type=Path, default=Path("outputs/bench/policy_floor"))
    parser.add_argument("--collect", action="store_true",
                        help="only gather the runs finished so far into the JSON and PNG (marked incomplete)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the recipe (after --)")
    args = parser.parse_args()
    if args.quick:
        args.demos, args.seeds, args.episodes = [5], 1, 3
        args.overrides = args.overrides + ["finetune.train.steps=50"]

    from vla.core.config import load_config, setup_logging
    from vla.data.workers import spawn_pool, unordered
    from vla.eval.sim_eval import wilson_interval

    setup_logging()
    cfg = load_config(args.overrides)
    t0 = time.perf_counter()
    run_dirs = {(d, s): args.work / f"none_demos{d}pt_seed{s}" for d in args.demos for s in range(args.seeds)}
    rows = []
    if args.collect:
        for run_dir in run_dirs.values():
            if (run_dir / "rows.json").is_file():
                rows += json.loads((run_dir / "rows.json").read_text())
    else:
        teleop = make_teleop(cfg, args.work, max(args.demos))
        jobs = [(args.overrides, str(teleop), str(run_dir), d, s, args.episodes) for (d, s), run_dir in run_dirs.items()]
        with spawn_pool(2) as pool:
            for done, result in enumerate(unordered(pool, run_one, jobs, "policy_floor"), 1):
                rows += result
                print(f"[{done}/{len(jobs)}] demos/task={result[0]['demos_per_task']} seed={result[0]['seed']}: "
                      + ", ".join(f"{r['task']} {r['successes']}/{r['n']}" for r in result), flush=True)
    rows.sort(key=lambda r: (r["demos_per_task"], r["seed"], TASKS.index(r["task"])))
    top = max(args.demos)
    goals = []
    for task in TASKS:
        k, n = pooled(rows, top, task)
        if n == 0:  # --collect before any run at this count finished
            continue
        goals.append({"name": f"none arm, {task}, {top} demos/task (pooled)", "value": k / max(1, n),
                      "goal": GOALS[task], "op": ">=", "unit": ""})
    summary = {f"{d}/{t}": dict(zip(("successes", "n"), pooled(rows, d, t)), ci95=list(wilson_interval(*pooled(rows, d, t))))
               for d in args.demos for t in TASKS}
    from omegaconf import OmegaConf

    recipe = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("policy", "finetune")}
    recipe["camera"], recipe["image_size"] = cfg.data.sim.camera, cfg.data.sim.image_size
    out = {"rows": rows, "pooled": summary, "goals": goals, "recipe": recipe, "overrides": args.overrides,
           "eval_seed_start": cfg.eval.seed_start, "episodes_per_task": args.episodes, "seeds": args.seeds,
           "quick": args.quick, "complete": len(rows) == len(run_dirs) * len(TASKS),
           "minutes": None if args.collect else (time.perf_counter() - t0) / 60, "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "policy_floor.json").write_text(json.dumps(out, indent=2))
    plot(rows, RESULTS / "policy_floor.png")
    for key, s in summary.items():
        print(f"{key}: {s['successes']}/{s['n']} (95% CI {s['ci95'][0]:.2f}-{s['ci95'][1]:.2f})")
    took = "" if args.collect else f" in {out['minutes']:.1f} min"
    print(f"wrote {RESULTS / 'policy_floor.json'} and policy_floor.png{took}")
    return 0 if all(math.isfinite(g["value"]) for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
