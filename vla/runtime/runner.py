"""PolicyRunner: observation dict -> action chunk, for the ROS node, the sim evaluator and benchmarks.

Loads a finetuned VLAPolicy checkpoint (vla-finetune's or `lerobot-train --policy.type=vla_latent`'s: the same
files) with the LeRobot processors saved beside it once, picks cuda when present, optionally
runs under bf16/fp16 autocast and torch.compile (both off on CPU by default), and keeps an action queue so
`select_action` needs one inference per chunk. No ROS import here: `robot/policy_node.py` wraps this class.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from lerobot.utils.constants import OBS_STATE, POLICY_PREPROCESSOR_DEFAULT_NAME as PREPROCESSOR

from vla.core.device import resolve_device
from vla.core.action_queue import ActionQueue, TemporalEnsembler

log = logging.getLogger(__name__)

DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
          "fp32": None, "float32": None, None: None}
WARMUP_INSTRUCTIONS = ("warm up", "warm up the policy before the robot moves")   # two text lengths


@runtime_checkable
class ChunkPolicy(Protocol):
    """What a controller needs from a policy: the ROS node accepts anything shaped like this."""
    action_dim: int
    chunk_size: int
    state_dim: int

    def predict_chunk(self, obs: dict) -> np.ndarray: ...

    def select_action(self, obs: dict) -> np.ndarray: ...

    def reset(self) -> None: ...


def load_policy(checkpoint: str | Path, device: torch.device):
    """(VLAPolicy, preprocessor, postprocessor, directory) of a finetuned checkpoint (a local directory or a hub
    repo), the processors running on `device`."""
    from lerobot.policies.factory import make_pre_post_processors

    from vla.core.checkpoint import CheckpointError
    from vla.policy.modeling_vla import VLAPolicy, checkpoint_directory

    directory = checkpoint_directory(checkpoint)
    policy = VLAPolicy.from_pretrained(directory)
    if not (directory / f"{PREPROCESSOR}.json").is_file():
        raise CheckpointError(f"{directory / PREPROCESSOR}.json is missing: {checkpoint} is not a finetuned "
                              "policy (a stage-2 checkpoint predicts no actions: finetune it with vla-finetune)")
    on_device = {"device_processor": {"device": str(device)}}
    pre, post = make_pre_post_processors(policy.config, pretrained_path=str(directory),
                                         preprocessor_overrides=on_device)
    return policy, pre, post, directory


class PolicyRunner:
    def __init__(self, checkpoint: str | Path, device: str = "auto", dtype: str | None = None,
                 compile: bool = False, temporal_ensemble: bool = False, ensemble_coeff: float = 0.01):
        self.device = resolve_device(device)
        policy, self.preprocess, self.postprocess, self.checkpoint = load_policy(checkpoint, self.device)
        self.policy = policy.to(self.device).eval()
        if dtype not in DTYPES:
            raise ValueError(f"PolicyRunner dtype must be one of {sorted(k for k in DTYPES if k)} or None, got {dtype!r}")
        self.autocast_dtype = DTYPES[dtype]
        if compile:
            # Compiling the backbone only: pre/post-processing is tiny and shape-dynamic (text length).
            self.policy.backbone = torch.compile(self.policy.backbone)
        cfg = self.policy.config
        self.action_dim, self.chunk_size, self.state_dim = cfg.action_dim, cfg.chunk_size, cfg.state_dim
        self.queue = ActionQueue()
        self.ensembler = TemporalEnsembler(cfg.chunk_size, ensemble_coeff) if temporal_ensemble else None
        self.last_latency_s = float("nan")

    @property
    def image_keys(self) -> list[str]:
        """The cameras the policy reads, in order."""
        return self.policy.config.cameras

    def _batch(self, obs: dict) -> dict:
        """One observation -> a LeRobot batch of one. Keys are the dataset's feature names (`observation.images.front`,
        ..., `observation.state`, `task`); a one-camera policy also takes `image`, `state` and `instruction`."""
        cfg, keys = self.policy.config, self.image_keys
        images = []
        for key in keys:
            image = obs.get(key, obs.get("image") if len(keys) == 1 else None)
            if image is None:
                raise KeyError(f"observation lacks camera {key!r} (the policy reads {keys}); it has {sorted(obs)}")
            image = np.asarray(image)  # any layout: the processor makes it contiguous
            if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
                raise ValueError(f"observation {key} must be uint8 HxWx3, got {image.dtype} {image.shape}")
            images.append(torch.from_numpy(np.ascontiguousarray(image)[None]))
        state = obs.get(cfg.state_key, obs.get("state"))
        if state is None:
            raise KeyError(f"observation lacks {cfg.state_key!r} (or 'state'); it has {sorted(obs)}")
        state = np.asarray(state, np.float32)
        if state.shape != (self.state_dim,):
            raise ValueError(f"observation state must have shape ({self.state_dim},), got {state.shape}")
        if not np.all(np.isfinite(state)):
            raise ValueError("observation state contains NaN/Inf")
        instruction = obs.get("task", obs.get("instruction"))
        if not isinstance(instruction, str):
            raise KeyError(f"observation lacks the instruction ('task' or 'instruction'); it has {sorted(obs)}")
        return {**dict(zip(keys, images)), OBS_STATE: torch.from_numpy(state[None]), "task": [instruction]}

    @torch.inference_mode()
    def predict_chunk(self, obs: dict) -> np.ndarray:
        """(chunk_size, action_dim) float32 actions in robot units for one observation."""
        batch = self._batch(obs)
        t0 = time.perf_counter()
        batch = self.preprocess(batch)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            chunk = self.policy.predict_action_chunk(batch)
        out = self.postprocess(chunk.float())[0].numpy().astype(np.float32)
        self.last_latency_s = time.perf_counter() - t0
        return out

    def select_action(self, obs: dict) -> np.ndarray:
        """One action per control tick: pops the queue, inferring a new chunk only when it runs dry."""
        if self.ensembler is not None:
            return self.ensembler.update(self.predict_chunk(obs))
        if len(self.queue) == 0:
            self.queue.extend(self.predict_chunk(obs))
        return self.queue.pop()

    def reset(self) -> None:
        self.queue.clear()
        if self.ensembler is not None:
            self.ensembler.reset()

    def warmup(self, n: int = 2, image_size: int | None = None) -> None:
        """Run dummy inferences so kernel selection / compilation happens before the robot is live.

        The instructions alternate between two lengths: with `compile`, the second length recompiles the
        backbone with the text length dynamic, so a real instruction of any length compiles nothing more
        (with one length, the first real instruction took 15 s to compile on CPU)."""
        size = image_size or self.policy.config.image_size
        obs = {key: np.zeros((size, size, 3), np.uint8) for key in self.image_keys}
        obs["state"] = np.zeros(self.state_dim, np.float32)
        for i in range(n):
            self.predict_chunk(dict(obs, instruction=WARMUP_INSTRUCTIONS[i % 2]))
        self.reset()
