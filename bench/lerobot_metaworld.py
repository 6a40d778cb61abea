"""LeRobot's own loop on our data (issue 17, item 3): `vla-data sim experiment=lerobot_metaworld` ->
`lerobot-train --policy.type=vla_latent` -> `lerobot-eval --env.type=metaworld`, against an untrained control.

The demos are rendered in LeRobot's MetaWorld conventions (corner2 as LeRobot's env shows it, 480x480, 80 fps,
LeRobot's feature names), so lerobot-eval shows the policy the images it was trained on. The control is the same
command with a learning rate of ~0 for one step (the same dataset statistics and initial weights, never trained).
Both are evaluated by lerobot-eval on the same episodes (its seeds, not the demos' layouts: ours start at
500000). Every step is skipped when its output is there, so a killed run continues; --collect only gathers.

Writes bench/results/lerobot_metaworld.json (successes, n, Wilson 95% CI per policy, the commands) and
lerobot_metaworld.png. Cost on 2 CPU cores: ~30 min of rendering for the demos, 4 min of training, and
lerobot-eval at ~0.2 s a step (480 px at MuJoCo's full quality): a success ends an episode early, a failure
runs its 500 steps (~2-4 min).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TASK = "button-press-topdown-v3"  # configs/experiment/lerobot_metaworld.yaml's task


def sh(cmd: list[str], collect: bool) -> None:
    """Run a step whose output is missing (--collect: say so instead)."""
    if collect:
        raise SystemExit(f"lerobot_metaworld --collect: the output of `{Path(cmd[0]).name} {cmd[1]}` is missing; "
                         "run without --collect")
    from vla.core.command import console_script

    cmd = [console_script(cmd[0]), *cmd[1:]]
    print("$", " ".join(cmd), flush=True)
    if subprocess.call(cmd) != 0:
        raise SystemExit(f"lerobot_metaworld: `{cmd[0]}` failed; re-run to continue (done steps are kept)")


def train(root: Path, out: Path, steps: int, extra: list[str], collect: bool) -> Path:
    model = out / "checkpoints" / "last" / "pretrained_model"
    if not model.is_dir():
        sh(["lerobot-train", "--policy.type=vla_latent", "--dataset.repo_id=local/metaworld_sim",
            f"--dataset.root={root / 'sim' / 'teleop'}", "--policy.device=cpu", "--policy.push_to_hub=false",
            "--wandb.enable=false", f"--output_dir={out}", f"--steps={steps}", "--batch_size=8",
            f"--save_freq={steps}", "--num_workers=2", "--seed=0", "--log_freq=100", *extra], collect)
    return model


def evaluate(model: Path, out: Path, episodes: int, collect: bool) -> dict:
    info = out / "eval_info.json"
    if not info.is_file():
        sh(["lerobot-eval", f"--policy.path={model}", "--env.type=metaworld", f"--env.task={TASK}",
            f"--eval.n_episodes={episodes}", "--eval.batch_size=1", "--policy.device=cpu", f"--output_dir={out}"],
           collect)
    overall = json.loads(info.read_text())["overall"]
    n = int(overall["n_episodes"])
    return {"successes": round(overall["pc_success"] * n / 100), "n": n, "eval_ep_s": overall["eval_ep_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="4 demos, 200 steps, 2 episodes each (smoke test, ~15 min; numbers mean nothing)")
    parser.add_argument("--collect", action="store_true", help="only gather the finished runs' results")
    args = parser.parse_args()
    root, out = ((Path("outputs/bench/lerobot_metaworld_quick/data"), Path("outputs/bench/lerobot_metaworld_quick"))
                 if args.quick else (Path("data/lerobot_metaworld"), Path("outputs/lerobot_metaworld")))
    demos, steps, episodes = (4, 200, 2) if args.quick else (20, 2000, 10)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    if not args.collect:  # renders only the demos that are missing
        sh(["vla-data", "sim", "experiment=lerobot_metaworld", f"paths.root={root}",
            f"data.sim.teleop_episodes_per_task={demos}"], collect=False)
    trained = train(root, out / "trained", steps, [], args.collect)
    # the control: one step at a learning rate of ~0 (LeRobot's scheduler divides by the peak lr, so not 0)
    untrained = train(root, out / "untrained", 1, ["--policy.optimizer_lr=1e-12", "--policy.scheduler_decay_lr=1e-13"],
                      args.collect)
    from vla.eval.sim_eval import plot_success, wilson_interval

    policies = {}
    for name, model in (("trained", trained), ("untrained", untrained)):
        r = evaluate(model, out / f"eval_{name}", episodes, args.collect)
        policies[name] = {**r, "success": r["successes"] / r["n"],
                          "ci95": list(wilson_interval(r["successes"], r["n"]))}
    record = {"task": TASK, "demos": demos, "train_steps": steps, "policies": policies, "quick": args.quick,
              "minutes": None if args.collect else (time.perf_counter() - t0) / 60, "date": time.strftime("%Y-%m-%d"),
              "goals": [{"name": "lerobot-eval success: trained - untrained control (lower 95% bound of trained "
                                 "minus upper of control)",
                         "value": policies["trained"]["ci95"][0] - policies["untrained"]["ci95"][1],
                         "goal": 0.0, "op": ">=", "unit": ""}]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lerobot_metaworld.json").write_text(json.dumps(record, indent=2))
    plot_success({name: {**p, "success_rate": p["success"]} for name, p in policies.items()},
                 RESULTS / "lerobot_metaworld.png", title=f"lerobot-eval: {TASK}")
    for name, p in policies.items():
        print(f"{name}: {p['successes']}/{p['n']} = {p['success']:.2f} (95% CI {p['ci95'][0]:.2f}-{p['ci95'][1]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
