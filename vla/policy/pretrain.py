"""Stage 2: train backbone + latent head to predict stored LAM codes from (frame, instruction).

`target="idm"` regresses the IDM's pseudo-actions instead (the VPT route). The whole backbone is
trained here (as LAPA does); LoRA comes in stage 3. Evaluation holds out whole videos and compares
code accuracy with the most-frequent-code predictor, the baseline a useless model already reaches.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from lerobot.utils.constants import OBS_IMAGE

from vla.core.splits import held_out
from vla.core.training import TrainConfig, indexed_batches, plot_history, save_run, train_loop
from vla.data.labelled_frames import TARGET_ARRAY, LabelledFrames, load_labelled_frames
from vla.policy.configuration_vla import VLAConfig
from vla.policy.modeling_vla import VLAPolicy
from vla.policy.processor_vla import compute_stats, normalize_target, target_normalizer

log = logging.getLogger(__name__)

def split_by_video(video_index: np.ndarray, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    held = held_out(np.unique(video_index), eval_fraction, np.random.default_rng(seed))
    is_eval = np.isin(video_index, list(held))
    return np.flatnonzero(~is_eval), np.flatnonzero(is_eval)


def make_batch(data: LabelledFrames, rows: np.ndarray, target: str, idm_normalizer=None) -> dict:
    """A LeRobot-keyed batch of one camera (the video's), its task and the stage-2 target: latent codes, or
    the IDM's pseudo-actions normalised with `idm_normalizer` (processor_vla.target_normalizer)."""
    batch = {OBS_IMAGE: data.images[rows], "task": [data.instructions[r] for r in rows]}
    if target == "latent":
        batch["latent_actions"] = torch.as_tensor(data.labels[rows])
    else:
        batch["idm_action"] = normalize_target(idm_normalizer, torch.as_tensor(data.labels[rows], dtype=torch.float32))
    return batch


def latent_accuracy(policy: VLAPolicy, data: LabelledFrames, rows: np.ndarray, batch_size: int = 64) -> float:
    hits = []
    for i in range(0, len(rows), batch_size):
        r = rows[i: i + batch_size]
        pred = policy.predict_latent_codes(make_batch(data, r, "latent")).cpu().numpy()
        hits.append(pred == data.labels[r])
    return float(np.concatenate(hits).mean())


def majority_accuracy(train_codes: np.ndarray, eval_codes: np.ndarray) -> float:
    """Accuracy of always predicting each token position's most frequent training code."""
    mode = np.array([np.bincount(train_codes[:, j]).argmax() for j in range(train_codes.shape[1])])
    return float((eval_codes == mode[None]).mean())


def idm_mse(policy: VLAPolicy, data: LabelledFrames, rows: np.ndarray, idm_normalizer, batch_size: int = 64) -> float:
    losses = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            r = rows[i: i + batch_size]
            losses.append(policy(make_batch(data, r, "idm", idm_normalizer))[0].item() * len(r))
    return float(sum(losses) / max(1, len(rows)))


def pretrain(policy_cfg: VLAConfig, train_cfg: TrainConfig, store_url: str | Path, out_dir: str | Path,
             backbone_path: str | Path, resume: bool = False, eval_fraction: float = 0.1,
             max_videos: int | None = None, max_eval_frames: int = 512, labels_array: str | None = None) -> dict:
    """Run stage 2 and write out_dir/model (a VLAPolicy checkpoint) + metrics.json + loss.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = policy_cfg.pretrain_target
    data = load_labelled_frames(store_url, target, max_videos, labels_array)
    if target == "latent":
        policy_cfg.n_tokens = int(data.labels.shape[1])
        policy_cfg.codebook_size = int(data.label_attrs.get("codebook_size", data.labels.max() + 1))
    else:  # the IDM's actions are the video robot's, whatever robot stage 3 finetunes for
        policy_cfg.pretrain_action_dim = int(data.labels.shape[1])
    train_rows, eval_rows = split_by_video(data.video_index, eval_fraction, train_cfg.seed)
    eval_rows = eval_rows[:: max(1, len(eval_rows) // max_eval_frames)] if len(eval_rows) else train_rows[:64]
    torch.manual_seed(train_cfg.seed)
    policy = VLAPolicy.from_backbone(policy_cfg, backbone_path)
    # The pseudo-actions are regressed in normalised units (their stats: the training videos').
    idm_normalizer = (target_normalizer(compute_stats(data.labels[train_rows]), policy_cfg.normalization)
                      if target == "idm" else None)
    for name, head in (("action", policy.action_head), ("latent", policy.latent_head),
                       ("idm", policy.pseudo_action_head)):
        head.requires_grad_(name == target)  # unused heads would break DDP's gradient reduction

    baseline = majority_accuracy(data.labels[train_rows], data.labels[eval_rows]) if target == "latent" else None

    def evaluate(model):
        if target == "latent":
            return {"eval_acc": latent_accuracy(model, data, eval_rows), "majority_acc": baseline}
        return {"eval_mse": idm_mse(model, data, eval_rows, idm_normalizer)}

    batches = indexed_batches(lambda idx: make_batch(data, train_rows[idx.numpy()], target, idm_normalizer),
                              len(train_rows), train_cfg)
    result = train_loop(policy, batches, train_cfg, out_dir, resume=resume, evaluate=evaluate,
                        desc=f"pretrain[{target}]", write_more=policy.write_files)
    metrics = {"target": target, "labels": labels_array or TARGET_ARRAY[target],
               "n_train_frames": int(len(train_rows)), "n_eval_frames": int(len(eval_rows)),
               "label_attrs": data.label_attrs, **result}
    title = f"stage 2 pretraining ({target})"
    save_run(policy, metrics, out_dir, lambda path: plot_history(result["history"], path, title))
    log.info("stage 2 done: %s", result["evals"][-1] if result["evals"] else "no eval")
    return metrics
