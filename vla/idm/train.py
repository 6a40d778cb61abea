"""Train the IDM on the labelled teleop episodes (`vla-idm train`) and label the store (`vla-idm label`).

Output (out_dir = paths.idm): model/ (InverseDynamicsModel checkpoint), checkpoints/ (resume=true),
metrics.json (held-out R^2 of trained vs untrained IDM, and the LAM probe numbers if present), curves.png.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from vla.core.splits import held_out
from vla.core.training import TrainConfig, save_run, train_loop
from vla.data.labelling import LabelSpec, label_store
from vla.idm.configuration import IDMConfig
from vla.idm.modeling import InverseDynamicsModel

log = logging.getLogger(__name__)


@dataclass
class IDMTrainConfig(TrainConfig):
    """The shared loop's settings (vla.core.training.TrainConfig) with the IDM's defaults, plus its own."""
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 0
    eval_every: int = 200
    ckpt_every: int = 200
    eval_fraction: float = 0.25  # share of episodes held out
    demos_per_task: int | None = None  # train on the first N teleop episodes of every task (None = all)


@dataclass
class Pairs:
    frame_t: torch.Tensor   # (N,3,H,W) uint8
    frame_tk: torch.Tensor
    action: torch.Tensor    # (N, action_dim) float32
    episode: np.ndarray     # (N,) episode index


def episode_pairs(episodes: list, gap: int = 1) -> Pairs:
    """Every (o_t, o_{t+gap}, a_t) of the episodes, in memory (the teleop set is small)."""
    ft, ftk, act, ep = [], [], [], []
    for e in episodes:
        if len(e.images) <= gap:
            continue
        v = torch.from_numpy(np.ascontiguousarray(e.images)).permute(0, 3, 1, 2)
        ft.append(v[:-gap]), ftk.append(v[gap:]), act.append(torch.from_numpy(e.actions[:-gap]).float())
        ep.append(np.full(len(v) - gap, e.episode_index))
    if not ft:
        raise ValueError(f"no episode longer than gap={gap}")
    return Pairs(torch.cat(ft), torch.cat(ftk), torch.cat(act), np.concatenate(ep))


def r2(model: InverseDynamicsModel, p: Pairs, rows: np.ndarray) -> float:
    """R^2 of predicted vs true actions on rows, pooled over the action dims that vary."""
    pred = torch.cat([model.predict(p.frame_t[r], p.frame_tk[r]).cpu() for r in np.array_split(rows, max(1, len(rows) // 256))])
    y = p.action[rows]
    keep = y.std(0) > 1e-6
    sse = ((pred - y)[:, keep] ** 2).sum()
    sst = ((y - y.mean(0))[:, keep] ** 2).sum()
    return float(1 - sse / sst.clamp_min(1e-12))


def train(model_cfg: IDMConfig, cfg: IDMTrainConfig, teleop_root: str | Path, out_dir: str | Path,
          resume: bool = False, lam_diagnostics: str | Path | None = None, episodes: list | None = None) -> dict:
    from vla.data.lerobot_io import load_episodes, open_metadata, select_episodes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if episodes is None:
        chosen = None if cfg.demos_per_task is None else select_episodes(open_metadata(teleop_root), cfg.demos_per_task)
        episodes = load_episodes(teleop_root, chosen)
    p = episode_pairs(episodes, model_cfg.gap)
    ids = np.unique(p.episode)
    if len(ids) < 2:
        raise ValueError(f"IDM needs >= 2 teleop episodes in {teleop_root} (train + held out), got {len(ids)}")
    held = list(held_out(ids, cfg.eval_fraction, np.random.default_rng(cfg.seed)))
    te, tr = np.flatnonzero(np.isin(p.episode, held)), np.flatnonzero(~np.isin(p.episode, held))
    torch.manual_seed(cfg.seed)  # parameter init: the only draw from torch's global generator

    model = InverseDynamicsModel(model_cfg)
    model.set_stats(p.action[tr])

    def step_loss(prepared, step: int, rank: int):
        # The batch depends only on (seed, step, rank); rank 0 draws what single-process runs always drew.
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + step + (rank << 40))
        rows = tr[torch.randint(len(tr), (cfg.batch_size,), generator=g).numpy()]
        target = (p.action[rows].to(model.mean.device) - model.mean) / model.std
        return torch.nn.functional.mse_loss(prepared(p.frame_t[rows], p.frame_tk[rows]), target), {}

    result = train_loop(model, step_loss, cfg, out_dir, resume=resume,
                        evaluate=lambda m: {"eval_r2": r2(m, p, te)}, desc="idm train")
    evals = result["evals"]  # empty on the ranks other than the main one
    metrics = {"model": str(out_dir / "model"), "steps": cfg.steps, "eval_r2": evals[-1]["eval_r2"] if evals else None,
               "untrained_eval_r2": evals[0]["eval_r2"] if evals and evals[0]["step"] == 0 else None,
               "train_pairs": int(len(tr)), "eval_pairs": int(len(te)), "eval_episodes": [int(e) for e in held],
               **result}
    if lam_diagnostics and Path(lam_diagnostics).is_file():
        lam_final = json.loads(Path(lam_diagnostics).read_text()).get("final", {})
        metrics["lam_probe"] = {k: v for k, v in lam_final.items() if k.startswith("probe_")}
    save_run(model, metrics, out_dir, lambda path: plot(result["history"], evals, path), plot_name="curves.png")
    return metrics


def plot(history: list[dict], evals: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].plot([h["step"] for h in history], [h["loss"] for h in history], lw=1)
    ax[0].set_yscale("log"), ax[0].set_title("IDM train loss (normalised MSE)")
    ev = evals
    ax[1].plot([h["step"] for h in ev], [h["eval_r2"] for h in ev], "o-")
    ax[1].set_title("held-out R^2")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def idm_predictor(checkpoint: str):
    """The IDM's pair function (frames t, t+gap -> actions), on the best device here."""
    from vla.core.device import resolve_device

    return InverseDynamicsModel.from_pretrained(checkpoint).to(resolve_device("auto")).predict


def label_with_idm(checkpoint: str, store_url: str, batch_size: int = 256, engine: str = "local", workers: int = 2,
                   ray_address: str | None = None) -> dict:
    """`idm_actions` (T-1, action_dim) float32 per video. engine=ray: on `workers` Ray actors."""
    from vla.core.checkpoint import checkpoint_hash

    c = InverseDynamicsModel.from_pretrained(checkpoint).cfg
    spec = LabelSpec("idm_actions", "idm_hash", checkpoint_hash(checkpoint), c.gap, {"action_dim": c.action_dim},
                     np.float32, batch_size)
    return label_store(store_url, spec, partial(idm_predictor, checkpoint), engine, workers, ray_address)
