"""Processing around VLAPolicy's network, LeRobot's way.

`make_vla_latent_pre_post_processors`: LeRobot's own pipeline steps, saved next to the weights with the
dataset's stats. In: rename -> add batch dim -> device -> normalise state (and the action, in training).
Out: un-normalise the action chunk -> cpu. Every trainer and runner goes through them: our stage 3, the
runner (vla-eval, the ROS node), lerobot-train and lerobot-eval.

`InputEncoder`: what the network does to its inputs itself (the tokenizer travels with the backbone):
image(s) uint8 HxWx3 (any size, one or more cameras) -> resized, scaled to [-1, 1] (SmolVLM's mean/std 0.5);
instruction -> [image tokens per camera] + text tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lerobot.configs import FeatureType, PolicyFeature
from lerobot.processor import NormalizerProcessorStep, PolicyAction, PolicyProcessorPipeline, TransitionKey
from lerobot.processor.converters import create_transition
from lerobot.processor.factory import make_default_policy_processor_steps, make_policy_processor_pipelines
from lerobot.utils.constants import ACTION

from vla.policy.configuration_vla import NORMALIZATION_MODES, VLAConfig

# The smallest std (and half-range) a dimension is divided by: a constant dimension (a gripper that never
# moves) stays finite. The stats are floored here and the steps' own eps is 0, so that x / std is the same
# number however the stats were made.
EPS = 1e-6


def compute_stats(x: np.ndarray | torch.Tensor) -> dict[str, list[float]]:
    """Per-dimension mean/std/min/max of an (N, D) array (D = state or action dim)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64).reshape(-1, np.asarray(x).shape[-1])
    if x.shape[0] == 0:
        raise ValueError("cannot compute normalisation stats from an empty array")
    return {"mean": x.mean(0).tolist(), "std": x.std(0, unbiased=False).tolist(),
            "min": x.min(0).values.tolist(), "max": x.max(0).values.tolist()}


def images_to_pixels(images, image_size: int, device=None) -> torch.Tensor:
    """uint8 (B,H,W,3) / (H,W,3) or float (B,3,H,W) in [0,1] -> (B, 1, 3, S, S) in [-1, 1].
    A numpy view of any layout (a padded camera row, a flipped image) is made C-contiguous first: the backbone
    always gets one memory layout, and a compiled one is not recompiled for another."""
    x = torch.as_tensor(np.ascontiguousarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dtype == torch.uint8:
        if x.shape[-1] != 3:
            raise ValueError(f"uint8 images must be (B, H, W, 3), got shape {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2).float() / 255.0
    elif x.shape[1] != 3:
        raise ValueError(f"float images must be (B, 3, H, W) in [0, 1], got shape {tuple(x.shape)}")
    x = x.to(device=device, dtype=torch.float32)
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return ((x - 0.5) / 0.5).unsqueeze(1)


class InputEncoder:
    """Tokenizer + image scaling: turns images and instructions into the backbone's inputs."""

    def __init__(self, tokenizer, image_token_id: int, n_image_tokens: int, image_size: int, max_text_tokens: int):
        self.tokenizer, self.image_token_id, self.n_image_tokens = tokenizer, image_token_id, n_image_tokens
        self.image_size, self.max_text_tokens = image_size, max_text_tokens

    def tokenize(self, instructions: list[str], device=None, n_images: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Each image's tokens first (camera after camera), then the instruction; right-padded. The causal
        decoder's last text tokens see all."""
        text = self.tokenizer([s.lower() for s in instructions], add_special_tokens=False, truncation=True,
                              max_length=self.max_text_tokens)["input_ids"]
        pad, n_image = self.tokenizer.pad_token_id, self.n_image_tokens * n_images
        length = n_image + max(len(t) for t in text)
        ids = torch.full((len(text), length), pad, dtype=torch.long)
        mask = torch.zeros((len(text), length), dtype=torch.long)
        for i, t in enumerate(text):
            n = n_image + len(t)
            ids[i, :n_image] = self.image_token_id
            ids[i, n_image: n] = torch.tensor(t, dtype=torch.long)
            mask[i, :n] = 1
        return ids.to(device), mask.to(device)

    def encode(self, cameras: list, instructions: list[str] | str, device=None) -> dict:
        """One batch of images per camera (each its own size) + the instructions -> backbone inputs."""
        if isinstance(instructions, str):
            instructions = [instructions]
        ids, mask = self.tokenize(list(instructions), device, n_images=len(cameras))
        pixels = [images_to_pixels(images, self.image_size, device) for images in cameras]
        return {"input_ids": ids, "attention_mask": mask,
                "pixel_values": pixels[0] if len(pixels) == 1 else torch.cat(pixels, dim=1)}  # (B, cameras, 3, S, S)


def floored_stats(stats: dict) -> dict[str, np.ndarray]:
    """One feature's stats with std and the min-max half-range floored at EPS (see EPS); a narrower range is
    widened about its centre, so a constant dimension normalises to 0 in either mode."""
    out = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
    if "std" in out:
        out["std"] = np.maximum(out["std"], EPS)
    if "min" in out and "max" in out:
        centre, narrow = (out["min"] + out["max"]) / 2, out["max"] - out["min"] < 2 * EPS
        out["min"] = np.where(narrow, centre - EPS, out["min"])
        out["max"] = np.where(narrow, centre + EPS, out["max"])
    return out


PreProcessor = PolicyProcessorPipeline[dict[str, Any], dict[str, Any]]
PostProcessor = PolicyProcessorPipeline[PolicyAction, PolicyAction]


def make_vla_latent_pre_post_processors(config: VLAConfig, dataset_stats: dict[str, dict] | None = None
                                        ) -> tuple[PreProcessor, PostProcessor]:
    """LeRobot's default policy pipelines (stats keyed by feature: observation.state, action), eps 0 on
    floored stats. lerobot-train and lerobot-eval find this function by name."""
    steps = make_default_policy_processor_steps(
        config, {k: floored_stats(v) for k, v in (dataset_stats or {}).items()}, normalizer_device=config.device)
    steps.normalize.eps = steps.unnormalize.eps = 0.0
    return make_policy_processor_pipelines(
        input_steps=[steps.rename_observations, steps.add_batch_dim, steps.to_device, steps.normalize],
        output_steps=[steps.unnormalize, steps.to_cpu])


def target_normalizer(stats: dict, mode: str) -> NormalizerProcessorStep:
    """The same normalisation for a regression target that is no dataset feature (stage 2's IDM
    pseudo-actions): `normalize_target(step, x)`."""
    return NormalizerProcessorStep(features={ACTION: PolicyFeature(FeatureType.ACTION, (len(stats["mean"]),))},
                                   norm_map={FeatureType.ACTION: NORMALIZATION_MODES[mode]},
                                   stats={ACTION: floored_stats(stats)}, eps=0.0)


def normalize_target(step: NormalizerProcessorStep, x: torch.Tensor) -> torch.Tensor:
    return step(create_transition(action=x))[TransitionKey.ACTION]
