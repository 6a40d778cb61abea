"""The comparison: no pretraining vs LAM latent pretraining vs IDM pseudo-label pretraining (VPT).

Every arm is finetuned on the same labelled episodes with the same budget and evaluated on the same
seeds; optionally the number of labelled demos is swept. Each finished run leaves its eval_info.json,
so re-running the command skips what is done (and unfinished training resumes from its checkpoints).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vla.eval.sim_eval import EvalConfig, evaluate_checkpoint

log = logging.getLogger(__name__)

ARM_TARGET = {"none": None, "latent": "latent", "idm": "idm"}
ARM_LABEL = {"none": "no pretraining", "latent": "LAM latent pretraining", "idm": "IDM pseudo-labels (VPT)"}


def eval_config(cfg: DictConfig) -> EvalConfig:
    d = OmegaConf.to_container(cfg.eval, resolve=True)
    return EvalConfig(**{k: v for k, v in d.items() if k in EvalConfig.__dataclass_fields__})


def _pretrain_arm(cfg: DictConfig, arm: str, out: Path) -> Path:
    from vla.policy.stages import run_pretrain

    run_dir = out / f"pretrain_{arm}"
    if not (run_dir / "model" / "manifest.json").is_file():
        sub = cfg.copy()
        OmegaConf.update(sub, "pretrain.target", ARM_TARGET[arm])
        OmegaConf.update(sub, "paths.pretrain", str(run_dir))
        OmegaConf.update(sub, "resume", True)  # a killed comparison picks up where it stopped
        run_pretrain(sub)
    return run_dir / "model"


def run_experiment(cfg: DictConfig) -> dict:
    from vla.policy.finetune import load_chunks
    from vla.policy.stages import run_finetune

    out = Path(cfg.comparison.out)
    out.mkdir(parents=True, exist_ok=True)
    arms = list(cfg.comparison.arms)
    unknown = [a for a in arms if a not in ARM_TARGET]
    if unknown:
        raise ValueError(f"comparison.arms: unknown {unknown}; choose from {sorted(ARM_TARGET)}")
    pretrained = {arm: _pretrain_arm(cfg, arm, out) for arm in arms if ARM_TARGET[arm]}
    ecfg = eval_config(cfg)
    rows = []
    for demos in cfg.comparison.demos:
        data = None
        for arm in arms:
            run_dir = out / f"{arm}_demos{demos if demos is not None else 'all'}"
            info_path = run_dir / "eval" / "eval_info.json"
            if not info_path.is_file():
                if data is None:  # decoded once, shared by every arm: the same finetuning data
                    data = load_chunks(cfg.paths.teleop, cfg.policy.chunk_size, demos)
                sub = cfg.copy()
                OmegaConf.update(sub, "resume", True)
                ft = run_finetune(sub, out_dir=run_dir, init="none" if arm == "none" else "pretrained",
                                  pretrain_dir=pretrained.get(arm), max_episodes=demos, data=data)
                evaluate_checkpoint(run_dir / "model", ecfg, run_dir / "eval")
                n_demos = len(ft["episodes"])
            else:
                n_demos = len(json.loads((run_dir / "metrics.json").read_text())["episodes"])
            info = json.loads(info_path.read_text())
            rows.append({"arm": arm, "label": ARM_LABEL[arm], "demos": n_demos, **info["overall"],
                         "per_task": {t: {k: v for k, v in r.items() if k != "episodes"}
                                      for t, r in info["tasks"].items()},
                         "run_dir": str(run_dir)})
            log.info("%s, %d demos: %d/%d", arm, n_demos, info["overall"]["successes"], info["overall"]["n"])
    results = {"tasks": ecfg.tasks, "n_episodes_per_task": ecfg.n_episodes, "seed_start": ecfg.seed_start,
               "finetune_steps": int(cfg.finetune.train.steps), "pretrain_steps": int(cfg.pretrain.train.steps),
               "rows": rows}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(results_markdown(results))
    plot_results(rows, out / "results.png")
    return results


def results_markdown(results: dict) -> str:
    lines = [f"# Pretraining comparison\n",
             f"Tasks: {', '.join(results['tasks'])}; {results['n_episodes_per_task']} evaluation episodes per task "
             f"(seeds from {results['seed_start']}); finetuning {results['finetune_steps']} steps per run, "
             f"pretraining {results['pretrain_steps']} steps.\n",
             "| arm | labelled demos | success | rate | 95% CI (Wilson) |", "|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['label']} | {r['demos']} | {r['successes']}/{r['n']} | {r['success_rate']:.2f} | "
                     f"{r['ci95'][0]:.2f}–{r['ci95'][1]:.2f} |")
    lines.append("\nOverlapping intervals mean the runs do not distinguish the arms at this sample size.\n")
    return "\n".join(lines)


def plot_results(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, arm in enumerate(dict.fromkeys(r["arm"] for r in rows)):
        pts = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["demos"])
        x = [r["demos"] * (1 + 0.03 * (i - 1)) for r in pts]  # small offset so intervals do not hide each other
        y = [r["success_rate"] for r in pts]
        err = [[r["success_rate"] - r["ci95"][0] for r in pts], [r["ci95"][1] - r["success_rate"] for r in pts]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=4, label=pts[0]["label"])
    ax.set_xlabel("labelled demos (episodes)"), ax.set_ylabel("success rate (95% Wilson CI)")
    ax.set_ylim(-0.02, 1.02), ax.legend(), ax.set_title("closed-loop success vs labelled demos")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
