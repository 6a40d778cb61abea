"""The inverse dynamics model's configuration (configs/idm/*.yaml `model:`)."""

from __future__ import annotations

from dataclasses import dataclass, fields


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
