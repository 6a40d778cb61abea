"""Closed-loop MetaWorld evaluation of a policy: success rate with a 95% Wilson interval per task.

Seeds start at `seed_start` (default 900000, as vla.data.sim reserves), far from the data generator's seeds, so every
evaluation episode has object/goal positions the policy never saw.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vla.data.video import write_mp4

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    tasks: list[str] = field(default_factory=lambda: ["reach-v3"])
    n_episodes: int = 20
    seed_start: int = 900_000
    max_steps: int = 150
    image_size: int = 64  # render size; the policy resizes to its own
    camera: str = "corner4"
    n_videos: int = 2  # rollout mp4s kept per task
    video_fps: int = 30
    device: str = "auto"


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval: honest at small n and at 0 or n successes, unlike the normal approximation."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rollout(policy, env, seed: int, record: bool) -> dict:
    policy.reset()
    obs = env.reset(seed)
    frames = [obs["image"]] if record else []
    success, steps = False, 0
    for steps in range(1, env.max_steps + 1):
        result = env.step(np.asarray(policy.select_action(obs), dtype=np.float32))
        obs = result.obs
        if record:
            frames.append(obs["image"])
        if result.success:
            success = True
            break
        if result.done:
            break
    return {"seed": seed, "success": success, "length": steps, "frames": frames}


def evaluate_policy(policy, cfg: EvalConfig, out_dir: str | Path, label: str = "policy") -> dict:
    """Run cfg.n_episodes seeded episodes per task with any ChunkPolicy; write eval_info.json, PNG, mp4s."""
    from vla.data.metaworld_env import MetaWorldTask

    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    per_task = {}
    for task in cfg.tasks:
        episodes = []
        with MetaWorldTask(task, image_size=cfg.image_size, camera=cfg.camera, max_steps=cfg.max_steps) as env:
            for i in tqdm(range(cfg.n_episodes), desc=f"eval {task}"):
                ep = rollout(policy, env, cfg.seed_start + i, record=i < cfg.n_videos)
                if ep["frames"]:
                    # 4:2:0, which browsers play (the training corpus keeps 4:4:4 colour, vla.data.video)
                    write_mp4(out_dir / "videos" / f"{task}_seed{ep['seed']}.mp4", np.stack(ep["frames"]),
                              cfg.video_fps, pix_fmt="yuv420p")
                episodes.append({k: v for k, v in ep.items() if k != "frames"})
        k = sum(e["success"] for e in episodes)
        lo, hi = wilson_interval(k, len(episodes))
        per_task[task] = {"successes": k, "n": len(episodes), "success_rate": k / max(1, len(episodes)),
                          "ci95": [lo, hi], "mean_length": float(np.mean([e["length"] for e in episodes])),
                          "episodes": episodes}
        log.info("%s: %d/%d success (95%% CI %.2f-%.2f)", task, k, len(episodes), lo, hi)
    k_all = sum(t["successes"] for t in per_task.values())
    n_all = sum(t["n"] for t in per_task.values())
    info = {"label": label, "config": cfg.__dict__, "tasks": per_task,
            "overall": {"successes": k_all, "n": n_all, "success_rate": k_all / max(1, n_all),
                        "ci95": list(wilson_interval(k_all, n_all))}}
    (out_dir / "eval_info.json").write_text(json.dumps(info, indent=2))
    plot_success(per_task, out_dir / "success.png", title=f"closed-loop success: {label}")
    return info


def evaluate_checkpoint(checkpoint: str | Path, cfg: EvalConfig, out_dir: str | Path) -> dict:
    from vla.core.checkpoint import checkpoint_hash
    from vla.runtime import PolicyRunner

    runner = PolicyRunner(checkpoint, device=cfg.device)
    info = evaluate_policy(runner, cfg, out_dir, label=Path(checkpoint).parent.name or str(checkpoint))
    info["checkpoint"], info["checkpoint_hash"] = str(checkpoint), checkpoint_hash(runner.checkpoint)
    (Path(out_dir) / "eval_info.json").write_text(json.dumps(info, indent=2))
    return info


def plot_success(per_task: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_task)
    rates = [per_task[t]["success_rate"] for t in names]
    err = np.array([[r - per_task[t]["ci95"][0], per_task[t]["ci95"][1] - r] for t, r in zip(names, rates)]).T
    fig, ax = plt.subplots(figsize=(max(4, 1.5 * len(names)), 3.5))
    ax.bar(names, rates, yerr=err, capsize=4, color="tab:blue")
    ax.set_ylim(0, 1), ax.set_ylabel("success rate (95% Wilson CI)"), ax.set_title(title)
    for i, t in enumerate(names):
        ax.text(i, 0.02, f"{per_task[t]['successes']}/{per_task[t]['n']}", ha="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
