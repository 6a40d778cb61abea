"""Train the latent action model on frame pairs of the store: `vla-lam train`.

Output (out_dir = paths.lam):
    model/               the final LatentActionModel checkpoint (LatentActionModel.from_pretrained)
    checkpoints/step_*/  periodic checkpoints with optimiser state, for resume=true
    diagnostics.json     config, every eval (recon vs copy, perplexity, usage, probe R^2 vs shuffled)
    curves.png           training curves
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from vla.core.seeding import StepBatchSampler, step_generator
from vla.core.splits import held_out
from vla.core.training import TrainConfig, save_run, train_loop
from vla.data.lerobot_io import first_per_task
from vla.data.pairs import PairDataset
from vla.lam.configuration import LAMConfig
from vla.lam.modeling import LatentActionModel
from vla.lam.probe import action_sums, probe, recon_ratio

log = logging.getLogger(__name__)

# vla.core.seeding.step_generator streams of this loop (the batches have their own: StepBatchSampler).
RESTART_STREAM, KMEANS_STREAM, LABELLED_STREAM = 1, 2, 3


@dataclass
class LAMTrainConfig(TrainConfig):
    """The shared loop's settings (vla.core.training.TrainConfig) with the LAM's defaults, plus its own."""
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 0
    weight_decay: float = 0.0
    eval_every: int = 250
    ckpt_every: int = 250
    eval_batches: int = 8
    vq_warmup: int = 200        # steps with continuous latents before the codebook is k-means initialised
    vq_init_batches: int = 4    # batches of latents the k-means init clusters
    eval_fraction: float = 0.1  # share of videos held out for eval
    num_workers: int = 0        # DataLoader workers (0 = in the main process)
    # The labelled episodes (first N of every teleop task) a LAM with an action head learns from; they are
    # held out of the probe, for every LAM, so probes of pure-video and supervised LAMs stay comparable.
    labelled_demos_per_task: int | None = None
    labelled_batch_size: int = 16  # labelled pairs added to every batch (action head only)

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.vq_warmup < self.steps:
            raise ValueError(f"lam.train.vq_warmup={self.vq_warmup} must be in [0, steps={self.steps}): "
                             "the codebook is initialised after the warm-up, so it would never be used")


def split_videos(vids: list[str], eval_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    held = held_out(vids, eval_fraction, np.random.default_rng(seed))
    return [v for v in vids if v not in held], [v for v in vids if v in held] or vids


def pair_datasets(store_url: str, model_cfg: LAMConfig, cfg: LAMTrainConfig) -> tuple[PairDataset, PairDataset]:
    """The frame pairs of the training videos and of the held-out ones."""
    from vla.data.store import FrameStore

    train_ids, eval_ids = split_videos(FrameStore(store_url).video_ids(), cfg.eval_fraction, cfg.seed)
    train = PairDataset(store_url, model_cfg.k_min, model_cfg.k_max, seed=cfg.seed, video_ids=train_ids,
                        gap_s=model_cfg.gap_s)
    evalset = PairDataset(store_url, model_cfg.k_min, model_cfg.k_max, seed=cfg.seed + 1, video_ids=eval_ids,
                          gap_s=model_cfg.gap_s)
    return train, evalset


def train_loader(train: PairDataset, cfg: LAMTrainConfig, start_step: int, rank: int = 0) -> DataLoader:
    # The batch of step s depends only on (seed, s, rank), so a run resumed at start_step sees the batches the
    # uninterrupted run saw. (A sampler seeded once at start_step would start a different stream.)
    batches = StepBatchSampler(len(train), cfg.batch_size, cfg.seed, start_step, rank)
    return DataLoader(train, batch_sampler=batches, num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0)


def eval_loader(evalset: PairDataset, cfg: LAMTrainConfig) -> DataLoader:
    n_eval = min(len(evalset), cfg.eval_batches * cfg.batch_size)
    return DataLoader(Subset(evalset, range(n_eval)), batch_size=cfg.batch_size)


def make_loaders(store_url: str, model_cfg: LAMConfig, cfg: LAMTrainConfig, start_step: int, rank: int = 0):
    train, evalset = pair_datasets(store_url, model_cfg, cfg)
    return train_loader(train, cfg, start_step, rank), eval_loader(evalset, cfg)


@dataclass
class LabelledPairs:
    """Every (t, t+k) pair of some labelled episodes, in memory: frames (N,3,H,W) uint8, actions (N, dims)."""
    frame_t: torch.Tensor
    frame_tk: torch.Tensor
    actions: torch.Tensor

    @classmethod
    def from_episodes(cls, episodes: list, frame_gap, dims: int) -> "LabelledPairs":
        """The action of pair (t, t+gap) is the mean action over the gap (xyz for dims=3): in [-1, 1]. The gap
        is frame_gap(episode fps) frames (LAMConfig.frame_gap)."""
        t, tk, a = [], [], []
        for e in episodes:
            gap = frame_gap(e.fps)
            if len(e.images) <= gap:
                continue
            video = torch.from_numpy(np.asarray(e.images)).permute(0, 3, 1, 2)
            t.append(video[:-gap]), tk.append(video[gap:])
            a.append(torch.from_numpy(action_sums(e.actions, gap, dims) / gap).float())
        if not t:
            raise ValueError("no labelled episode is longer than the LAM's frame gap")
        return cls(torch.cat(t), torch.cat(tk), torch.cat(a))

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = torch.randint(len(self.actions), (n,), generator=generator)
        return self.frame_t[rows], self.frame_tk[rows], self.actions[rows]


def split_labelled(episodes: list, demos_per_task: int | None) -> tuple[list, list]:
    """(the first `demos_per_task` episodes of every task, the rest): labels for the LAM, episodes for the probe."""
    if demos_per_task is None:
        return [], episodes
    by_task: dict[str, list[int]] = {}
    for i, e in enumerate(episodes):
        by_task.setdefault(e.instruction, []).append(i)
    chosen = set(first_per_task(by_task, demos_per_task, "the LAM's labelled episodes"))
    return [e for i, e in enumerate(episodes) if i in chosen], [e for i, e in enumerate(episodes) if i not in chosen]


def with_labels(frame_t, frame_tk, labelled: LabelledPairs | None, n: int, generator: torch.Generator):
    """The video batch plus n labelled pairs; actions NaN on the video rows (None without labels)."""
    if labelled is None:
        return frame_t, frame_tk, None
    lt, ltk, la = labelled.batch(n, generator)
    unlabelled = torch.full((len(frame_t), la.shape[1]), float("nan"))
    return torch.cat([frame_t, lt]), torch.cat([frame_tk, ltk]), torch.cat([unlabelled, la])


def evaluate(model: LatentActionModel, eval_loader, episodes, seed: int) -> dict:
    stats = recon_ratio(model, eval_loader)
    if episodes:
        stats.update(probe(model, episodes, seed=seed))
    return stats


@torch.no_grad()
def init_codebook(model: LatentActionModel, dataset, cfg: LAMTrainConfig) -> None:
    """k-means of the warmed-up encoder's latents into the codebook (see VectorQuantizer.init_from), on
    batches drawn apart from the training ones, so the batch of every step stays that of (seed, step)."""
    g = step_generator(cfg.seed, cfg.vq_warmup, KMEANS_STREAM)
    rows = torch.randint(len(dataset), (cfg.vq_init_batches, cfg.batch_size), generator=g).tolist()
    z = [model._latents(b["frame_t"], b["frame_tk"]) for b in DataLoader(dataset, batch_sampler=rows)]
    model.vq.init_from(torch.cat(z), seed=cfg.seed)
    log.info("codebook initialised by k-means on %d latents", sum(len(x) for x in z))


def frame_gaps(store_url: str, model_cfg: LAMConfig) -> dict[str, int]:
    """The frame gap at each fps the store's videos have: what "gap_s seconds" meant in this run."""
    from vla.data.store import FrameStore

    store = FrameStore(store_url)
    rates = sorted({float(store.attrs(v).get("fps") or 0) for v in store.video_ids()})
    return {(f"{fps:g}" if fps else "unknown"): model_cfg.frame_gap(fps) for fps in rates}


def lam_step_loss(model: LatentActionModel, pairs: PairDataset, labelled: LabelledPairs | None, cfg: LAMTrainConfig):
    """The loop's step_loss: the video batch of (seed, step, rank) plus labelled pairs; the codebook is
    k-means initialised when the warm-up ends. Under DDP every rank starts a step from rank 0's codebook:
    dead-code restarts rewrite it outside the gradient, from each rank's own batch."""
    batches = None

    def step_loss(prepared, step: int, rank: int):
        nonlocal batches
        if batches is None:  # the first step of this run: 0, or where a resumed run picks up
            batches = iter(train_loader(pairs, cfg, step, rank))
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(model.vq.codebook.data, 0)
        if step >= cfg.vq_warmup and not model.vq.initialised:
            init_codebook(model, pairs, cfg)
        b = next(batches)
        frame_t, frame_tk, actions = with_labels(b["frame_t"], b["frame_tk"], labelled, cfg.labelled_batch_size,
                                                 step_generator(cfg.seed, step, LABELLED_STREAM))
        loss, stats = prepared(frame_t, frame_tk, actions=None if actions is None else actions.to(model.device),
                               generator=step_generator(cfg.seed, step, RESTART_STREAM))
        stats.pop("codes")
        return loss, stats

    return step_loss


def train(model_cfg: LAMConfig, cfg: LAMTrainConfig, store_url: str, out_dir: str | Path,
          teleop_root: str | Path | None = None, resume: bool = False, episodes: list | None = None) -> dict:
    """Train (or resume) a LAM; the probe uses `episodes`, else the teleop set at teleop_root if it exists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if episodes is None and teleop_root is not None and Path(teleop_root).exists():
        from vla.data.lerobot_io import load_episodes

        episodes = load_episodes(teleop_root)
    supervised, episodes = split_labelled(episodes or [], cfg.labelled_demos_per_task)
    labelled = None
    if model_cfg.action_dim:
        if not supervised:
            raise ValueError("a LAM with an action head (lam.model.action_dim > 0) needs labelled episodes: set "
                             "lam.train.labelled_demos_per_task and a teleop dataset (lam.teleop)")
        labelled = LabelledPairs.from_episodes(supervised, model_cfg.frame_gap, model_cfg.action_dim)
        log.info("action head: %d labelled pairs from %d episodes", len(labelled.actions), len(supervised))
    pairs, held_out_pairs = pair_datasets(store_url, model_cfg, cfg)  # read once: the store's video attrs
    held_out_batches = eval_loader(held_out_pairs, cfg)

    torch.manual_seed(cfg.seed)  # parameter init: the only draw from torch's global generator
    model = LatentActionModel(model_cfg)
    result = train_loop(model, lam_step_loss(model, pairs, labelled, cfg), cfg, out_dir, resume=resume,
                        evaluate=lambda m: evaluate(m, held_out_batches, episodes, cfg.seed), desc="lam train",
                        unused_parameters=True)  # the codebook is out of the loss in the warm-up
    history, evals = result["history"], result["evals"]
    diagnostics = {"model": str(out_dir / "model"), "steps": history[-1]["step"] if history else 0,
                   "gap": {"seconds": model_cfg.gap_s, "frames_by_fps": frame_gaps(store_url, model_cfg)},
                   "final": evals[-1] if evals else {},
                   "untrained": evals[0] if evals and evals[0]["step"] == 0 else {},  # the control
                   "model_config": asdict(model_cfg), "train_config": asdict(cfg), **result}
    save_run(model, diagnostics, out_dir, lambda path: plot_curves(history, evals, path),
             metrics_name="diagnostics.json", plot_name="curves.png")
    return diagnostics


def plot_curves(history: list[dict], evals: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    steps = [h["step"] for h in history]
    axes[0].plot(steps, [h["recon"] for h in history], lw=1, label="train recon")
    axes[0].plot(steps, [h["copy"] for h in history], lw=1, label="copy-last-frame")
    axes[0].set_yscale("log"), axes[0].legend(), axes[0].set_title("reconstruction MSE")
    axes[1].plot(steps, [h["perplexity"] for h in history], lw=1)
    axes[1].set_title("codebook perplexity (batch)")
    ev = evals
    axes[2].plot([h["step"] for h in ev], [h["recon_vs_copy"] for h in ev], "o-", label="eval recon / copy")
    if ev and "probe_r2" in ev[0]:
        axes[2].plot([h["step"] for h in ev], [h["probe_r2"] for h in ev], "o-", label="probe R2")
        axes[2].plot([h["step"] for h in ev], [h["probe_r2_shuffled"] for h in ev], "o-", label="probe R2 shuffled")
    axes[2].legend(), axes[2].set_title("held-out diagnostics")
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
