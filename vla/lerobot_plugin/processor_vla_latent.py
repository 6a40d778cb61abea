"""Pre/post processors for `vla_latent`: LeRobot's own pipeline steps, saved next to the weights.

In: rename -> add batch dim -> device -> normalise (state; action during training) with dataset stats.
Out: un-normalise the action -> cpu. The stats live in the processors' safetensors files, so
`lerobot-eval --policy.path=...` restores them without the dataset.
"""

from typing import Any

import torch
from lerobot.processor import PolicyAction, PolicyProcessorPipeline, make_default_pre_post_processors

from .configuration_vla_latent import VLALatentConfig


def make_vla_latent_pre_post_processors(
    config: VLALatentConfig,
    dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
) -> tuple[
    PolicyProcessorPipeline[dict[str, Any], dict[str, Any]],
    PolicyProcessorPipeline[PolicyAction, PolicyAction],
]:
    return make_default_pre_post_processors(config, dataset_stats, normalizer_device=config.device)
