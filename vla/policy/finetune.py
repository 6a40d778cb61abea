"""Stage 3: action finetuning on a LeRobot v3 dataset, from a stage-2 checkpoint or the bare backbone.

Action chunks come from LeRobot's `delta_timestamps` (H future actions per frame, padded past the
episode end). LoRA (peft) adapts the backbone unless `full_finetune`; the action head is new.
Normalisation stats are computed from exactly the episodes used; LeRobot's processors (processor_vla)
normalise every batch with them and are saved with the checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from lerobot.utils.constants import ACTION, OBS_STATE

from vla.core.training import TrainConfig, indexed_batches, plot_history, save_run, train_loop
from vla.data.lerobot_io import ChunkData, load_chunks
from vla.policy.configuration_vla import VLAConfig
from vla.policy.modeling_vla import VLAPolicy
from vla.policy.processor_vla import compute_stats, make_vla_latent_pre_post_processors

log = logging.getLogger(__name__)


def make_batch(data: ChunkData, rows: np.ndarray) -> dict:
    """A LeRobot batch (before the preprocessor): cameras, state, task, the action chunk and its padding."""
    batch = {key: torch.as_tensor(data.images[key][rows]) for key in data.image_keys}
    batch.update({OBS_STATE: torch.as_tensor(data.states[rows]), "task": [data.instructions[r] for r in rows],
                  ACTION: torch.as_tensor(data.actions[rows]), f"{ACTION}_is_pad": torch.as_tensor(data.is_pad[rows])})
    return batch


def with_dataset_features(policy_cfg: VLAConfig, data: ChunkData) -> None:
    """The policy reads what the dataset has: its cameras and its state and action sizes, as the config's
    fields and LeRobot features (saved with the checkpoint, so lerobot-eval knows them too)."""
    dims = {"state_dim": data.states.shape[1], "action_dim": data.actions.shape[2]}
    changed = {k: (getattr(policy_cfg, k), v) for k, v in dims.items() if getattr(policy_cfg, k) != v}
    if changed:
        log.info("the dataset sets %s", ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))
    shapes = {key: (3, *data.images[key].shape[1:3]) for key in data.image_keys}
    policy_cfg.set_features(shapes, dims["state_dim"], dims["action_dim"])


def build_policy(policy_cfg: VLAConfig, init: str, pretrain_dir: str | Path | None,
                 backbone_path: str | Path) -> VLAPolicy:
    """init="pretrained": from a stage-2 checkpoint; init="none": the bare backbone (no-pretraining arm)."""
    if init == "none":
        return VLAPolicy.from_backbone(policy_cfg, backbone_path)
    if init != "pretrained":
        raise ValueError(f"finetune.init must be 'pretrained' or 'none', got {init!r}")
    if pretrain_dir is None or not Path(pretrain_dir).exists():
        raise FileNotFoundError(f"stage-2 checkpoint {pretrain_dir} not found: run `vla-pretrain` first, "
                                "or use finetune.init=none")
    policy = VLAPolicy.from_pretrained(pretrain_dir)
    # The stage-2 IDM head keeps the size it was trained at (the video's robot), whatever robot this one is.
    policy.config.pretrain_action_dim = policy.pseudo_action_dim
    # Stage-3 settings (chunk, LoRA, full finetune, the robot's features) come from this run, not from stage 2.
    for key in ("chunk_size", "n_action_steps", "lora_r", "lora_alpha", "lora_dropout", "lora_targets",
                "full_finetune", "normalization", "normalization_mapping", "head_hidden", "random_shift",
                "action_reads_pretrain_head", "state_dim", "action_dim", "image_keys", "state_key", "action_key",
                "input_features", "output_features", "device"):
        setattr(policy.config, key, getattr(policy_cfg, key))
    from vla.policy.heads import ActionChunkHead

    policy.action_head = ActionChunkHead(policy.action_input_dim, policy.config.state_dim, policy.config.chunk_size,
                                         policy.config.action_dim, policy.config.head_hidden)
    return policy


def finetune(policy_cfg: VLAConfig, train_cfg: TrainConfig, dataset_root: str | Path, out_dir: str | Path,
             backbone_path: str | Path, init: str = "pretrained", pretrain_dir: str | Path | None = None,
             demos_per_task: int | None = None, resume: bool = False, data: ChunkData | None = None) -> dict:
    """Run stage 3 and write out_dir/model + metrics.json + loss.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = data or load_chunks(dataset_root, policy_cfg.chunk_size, demos_per_task, policy_cfg.image_keys,
                               policy_cfg.state_key, policy_cfg.action_key)
    with_dataset_features(policy_cfg, data)
    torch.manual_seed(train_cfg.seed)
    policy = build_policy(policy_cfg, init, pretrain_dir, backbone_path)
    pre, post = make_vla_latent_pre_post_processors(
        policy.config, {OBS_STATE: compute_stats(data.states), ACTION: compute_stats(data.actions[:, 0])})
    policy.apply_lora()
    for head in (policy.latent_head, policy.pseudo_action_head):
        head.requires_grad_(False)
    policy.action_head.requires_grad_(True)
    n_rows = len(data.states)
    eval_rows = np.arange(0, n_rows, max(1, n_rows // 256))

    def evaluate(model):  # training-set fit only; the real evaluation is closed-loop (vla-eval)
        with torch.no_grad():
            return {"fit_mse": float(model(pre(make_batch(data, eval_rows)))[0].item())}

    batches = indexed_batches(lambda idx: pre(make_batch(data, idx.numpy())), n_rows, train_cfg)
    result = train_loop(policy, batches, train_cfg, out_dir, resume=resume, evaluate=evaluate, desc=f"finetune[{init}]",
                        write_more=lambda d: policy.write_files(d, (pre, post)))
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    metrics = {"init": init, "episodes": data.episodes, "n_frames": n_rows, "trainable_params": trainable,
               "total_params": sum(p.numel() for p in policy.parameters()), **result}
    title = f"stage 3 finetuning (init={init})"
    save_run(policy, metrics, out_dir, lambda path: plot_history(result["history"], path, title),
             processors=(pre, post))
    return metrics
