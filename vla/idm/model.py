"""Supervised inverse dynamics q(a | o_t, o_{t+1}): the VPT-style baseline to latent actions.

A small conv net over the channel-stacked pair regresses the (normalised) 4-d action taken at t.
Normalisation stats (mean/std of the training actions) live in buffers, so they travel with the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from vla.core.checkpoint import check_config_matches, load_checkpoint, save_checkpoint
from vla.core.checkpoint import load_weights
from vla.core.nn import conv_stack, to_unit

KIND = "idm"


@dataclass
class IDMConfig:
    image_size: int = 64
    channels: int = 3
    width: int = 32
    action_dim: int = 4
    gap: int = 1  # o_t -> o_{t+gap}; 1 = the action at t

    @classmethod
    def from_dict(cls, d: dict) -> "IDMConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class InverseDynamicsModel(nn.Module):
    def __init__(self, cfg: IDMConfig):
        super().__init__()
        if cfg.image_size % 8:
            raise ValueError(f"IDMConfig.image_size must be a multiple of 8, got {cfg.image_size}")
        self.cfg = cfg
        self.enc, c = conv_stack(2 * cfg.channels, cfg.width)
        s = cfg.image_size // 8
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * s * s, 256), nn.GELU(), nn.Linear(256, cfg.action_dim))
        self.register_buffer("mean", torch.zeros(cfg.action_dim))
        self.register_buffer("std", torch.ones(cfg.action_dim))

    def set_stats(self, actions: torch.Tensor) -> None:
        self.mean.copy_(actions.mean(0))
        self.std.copy_(actions.std(0).clamp_min(1e-3))  # a constant dim (gripper) must not blow up

    def forward(self, frame_t, frame_tk) -> torch.Tensor:
        """Normalised action prediction (B, action_dim)."""
        return self.head(self.enc(torch.cat([to_unit(frame_t), to_unit(frame_tk)], 1)))

    @torch.no_grad()
    def predict(self, frame_t, frame_tk) -> torch.Tensor:
        """Action in the original units."""
        return self(frame_t, frame_tk) * self.std + self.mean

    def save_pretrained(self, directory: str | Path, train_state: dict | None = None) -> Path:
        return save_checkpoint(directory, weights=self.state_dict(), config={"kind": KIND, **asdict(self.cfg)},
                               train_state=train_state)

    @classmethod
    def from_pretrained(cls, directory: str | Path, expect: IDMConfig | None = None) -> "InverseDynamicsModel":
        ckpt = load_checkpoint(directory, expected_kind=KIND, with_train_state=False)
        cfg = IDMConfig.from_dict(ckpt.config)
        if expect is not None:
            check_config_matches(Path(directory), asdict(cfg), asdict(expect))
        model = cls(cfg)
        load_weights(model, ckpt.weights, Path(directory))
        return model.eval()
