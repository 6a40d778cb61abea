"""The one training loop: the LAM, the IDM, stage 2 (pretrain) and stage 3 (finetune), visible in one function.

Batches are drawn by index from a generator seeded with (seed, step, rank) (vla.core.seeding), so a resumed
run sees exactly the batches the killed run would have seen; with the optimiser state restored from
the checkpoint, resuming reproduces the uninterrupted run. Runs unchanged under `accelerate launch`.
The caller seeds torch's global generator before it builds the policy (parameter init draws from it).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from vla.core.checkpoint import (CheckpointManager, check_config_matches, checkpoint_kind, load_checkpoint,
                                 load_weights)
from vla.core.device import resolve_device
from vla.core.seeding import batch_indices, deterministic_torch

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-4
    warmup_steps: int = 20
    # "constant" after warm-up (a run's first N steps do not depend on its total length), or "cosine": decay to
    # lr/10 at the last step, which fits the action head closer in the same budget (docs/policy.md "The policy's floor").
    lr_schedule: str = "constant"
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 100
    ckpt_every: int = 100
    keep_checkpoints: int = 2
    seed: int = 0
    device: str = "auto"  # "auto" = cuda when present, else cpu
    threads: int = 0  # torch intra-op threads on CPU; 0 = torch default (bit-identical runs need equal counts)

    def __post_init__(self):
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"train.lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")


def lr_at(step: int, cfg: TrainConfig) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    if cfg.lr_schedule == "constant":
        return cfg.lr * warm
    if cfg.lr_schedule == "cosine":
        done = max(0, step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))
    raise ValueError(f"train.lr_schedule must be 'constant' or 'cosine', got {cfg.lr_schedule!r}")


def train_loop(model, step_loss: Callable, cfg: TrainConfig, run_dir: str | Path, resume: bool = False,
               evaluate: Callable[[object], dict] | None = None, desc: str = "train",
               unused_parameters: bool = False, write_more: Callable[[Path], None] | None = None) -> dict:
    """Train `model` in place: LAM, IDM and policy alike.

    `step_loss(prepared_model, step, rank) -> (loss, logs)` computes one step's loss through the model that
    accelerate prepared (under DDP the forward must go through the wrapper); `evaluate(model) -> dict` runs on
    the main process at step 0 (the untrained model: the control every later eval compares to), every
    `eval_every` steps and at the end. The model provides `checkpoint_weights()` and `checkpoint_config()`
    (with its "kind"); a resumed run refuses a checkpoint written under another config. `unused_parameters`:
    some steps leave parameters out of the loss (DDP must then look for them each step, at a small cost).
    `write_more(dir)` adds the model's own files to every periodic checkpoint (the policy's backbone
    description and processors), so any of them loads like the final model.
    Returns {"history": [...], "evals": [...], "resumed_from": step|None, "torch_threads": n}."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    threads = deterministic_torch(cfg.threads)
    device = resolve_device(cfg.device)
    accelerator = Accelerator(cpu=device.type == "cpu",
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=unused_parameters)])
    manager = CheckpointManager(run_dir, keep=cfg.keep_checkpoints)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    config = json.loads(json.dumps(model.checkpoint_config()))  # as it reads back from config.json
    start, resumed_from, history, evals = 0, None, [], []
    if resume and (latest := manager.latest()) is not None:
        ckpt = load_checkpoint(latest, expected_kind=checkpoint_kind(config))
        check_config_matches(latest, ckpt.config, config)
        load_weights(model, ckpt.weights, latest)
        optimizer.load_state_dict(ckpt.train_state["optimizer"])
        start = resumed_from = int(ckpt.train_state["step"])
        history = json.loads(ckpt.train_state.get("history_json", "[]"))
        evals = json.loads(ckpt.train_state.get("evals_json", "[]"))
        log.info("%s: resumed from %s (step %d)", desc, latest, start)
    prepared, optimizer = accelerator.prepare(model, optimizer)

    def run_eval(step: int) -> None:
        if evaluate is not None and accelerator.is_main_process:
            model.eval()
            evals.append({"step": step, **evaluate(model)})
            log.info("%s eval @%d: %s", desc, step, evals[-1])
            model.train()

    if start == 0:
        run_eval(0)
    prepared.train()
    bar = tqdm(range(start, cfg.steps), desc=desc, initial=start, total=cfg.steps,
               disable=not accelerator.is_main_process)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss, logs = step_loss(prepared, step, accelerator.process_index)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if cfg.grad_clip:
            accelerator.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        history.append({"step": step + 1, "loss": loss.item(), **logs})
        bar.set_postfix(loss=f"{loss.item():.4f}")
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            run_eval(done)
        if (done % cfg.ckpt_every == 0 or done == cfg.steps) and accelerator.is_main_process:
            manager.save(done, weights=model.checkpoint_weights(), config=model.checkpoint_config(),
                         train_state={"optimizer": optimizer.state_dict(), "history_json": json.dumps(history),
                                      "evals_json": json.dumps(evals)}, write_more=write_more)
        accelerator.wait_for_everyone()
    model.eval()
    return {"history": history, "evals": evals, "resumed_from": resumed_from, "torch_threads": threads}


def indexed_batches(get_batch: Callable[[torch.Tensor], dict], n_samples: int, cfg: TrainConfig) -> Callable:
    """A step_loss for a model whose forward(batch) returns (loss, logs): the batch of each (seed, step, rank)
    is get_batch(indices into the n_samples)."""
    def step_loss(model, step: int, rank: int):
        return model(get_batch(batch_indices(n_samples, cfg.batch_size, cfg.seed, step, rank)))
    return step_loss


def save_run(model, metrics: dict, out_dir: Path, plot: Callable[[Path], None], metrics_name: str = "metrics.json",
             plot_name: str = "loss.png", **save_kwargs) -> None:
    """A finished run's model/ (`save_kwargs` go to its save_pretrained), metrics and curves. Under `accelerate
    launch` rank 0 writes (the replicas hold the same weights) and no rank returns before the checkpoint exists."""
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:
        model.save_pretrained(out_dir / "model", **save_kwargs)
        (out_dir / metrics_name).write_text(json.dumps(metrics, indent=2, default=str))
        plot(out_dir / plot_name)
    state.wait_for_everyone()


def plot_history(history: list[dict], path: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], lw=1)
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title(title), ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
