"""PolicyRunner: observation dict -> action chunk, for the ROS node, the sim evaluator and benchmarks.

Loads a VLAPolicy checkpoint once, picks cuda when present, optionally runs under bf16/fp16 autocast
and torch.compile (both off on CPU by default), and keeps an action queue so `select_action` needs
one inference per chunk. No ROS import here: `robot/policy_node.py` wraps this class.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from vla.core.device import resolve_device
from vla.runtime.action_queue import ActionQueue, TemporalEnsembler

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


class PolicyRunner:
    def __init__(self, checkpoint: str | Path, device: str = "auto", dtype: str | None = None,
                 compile: bool = False, temporal_ensemble: bool = False, ensemble_coeff: float = 0.01):
        from vla.policy.modeling import VLAPolicy

        self.device = resolve_device(device)
        self.policy = VLAPolicy.from_pretrained(checkpoint).to(self.device).eval()
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
        self.checkpoint = Path(checkpoint)
        self.last_latency_s = float("nan")

    def _check(self, obs: dict) -> None:
        for key in ("image", "state", "instruction"):
            if key not in obs:
                raise KeyError(f"observation lacks {key!r} (needs image, state, instruction)")
        image = np.asarray(obs["image"])
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"observation image must be uint8 HxWx3, got {image.dtype} {image.shape}")
        state = np.asarray(obs["state"])
        if state.shape != (self.state_dim,):
            raise ValueError(f"observation state must have shape ({self.state_dim},), got {state.shape}")
        if not np.all(np.isfinite(state)):
            raise ValueError("observation state contains NaN/Inf")

    @torch.inference_mode()
    def predict_chunk(self, obs: dict) -> np.ndarray:
        """(chunk_size, action_dim) float32 actions in robot units for one observation."""
        self._check(obs)
        t0 = time.perf_counter()
        batch = {"image": np.asarray(obs["image"])[None],  # any layout: the processor makes it contiguous
                 "state": np.asarray(obs["state"], np.float32)[None], "instruction": [obs["instruction"]]}
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            chunk = self.policy.predict_action_chunk(batch)[0]
        out = chunk.float().cpu().numpy().astype(np.float32)
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
        obs = {"image": np.zeros((size, size, 3), np.uint8), "state": np.zeros(self.state_dim, np.float32)}
        for i in range(n):
            self.predict_chunk(dict(obs, instruction=WARMUP_INSTRUCTIONS[i % 2]))
        self.reset()
