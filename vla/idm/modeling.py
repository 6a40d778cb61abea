"""Supervised inverse dynamics q(a | o_t, o_{t+1}): the VPT-style baseline to latent actions.

A small conv net over the channel-stacked pair regresses the (normalised) 4-d action taken at t.
Normalisation stats (mean/std of the training actions) live in buffers, so they travel with the weights.
"""

from __future__ import annotations


import torch
from torch import nn

from vla.core.checkpoint import DataclassCheckpoint
from vla.core.nn import conv_stack, to_unit
from vla.idm.configuration import IDMConfig

KIND = "idm"


class InverseDynamicsModel(DataclassCheckpoint, nn.Module):
    kind, config_class = KIND, IDMConfig

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
        device = self.mean.device
        return self.head(self.enc(torch.cat([to_unit(frame_t, device), to_unit(frame_tk, device)], 1)))

    @torch.no_grad()
    def predict(self, frame_t, frame_tk) -> torch.Tensor:
        """Action in the original units."""
        return self(frame_t, frame_tk) * self.std + self.mean
