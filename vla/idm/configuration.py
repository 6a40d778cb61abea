"""The inverse dynamics model's configuration (configs/idm/*.yaml `model:`)."""

from __future__ import annotations

from dataclasses import dataclass

from vla.core.checkpoint import SavedConfig


@dataclass
class IDMConfig(SavedConfig):
    image_size: int = 64
    channels: int = 3
    width: int = 32
    action_dim: int = 4
    gap: int = 1  # o_t -> o_{t+gap}; 1 = the action at t

