"""Network blocks more than one model uses (the LAM and the IDM read frame pairs the same way)."""

from __future__ import annotations

import torch
from torch import nn


def to_unit(x: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """Images in [0, 1] as float, on `device` (moved while still uint8: a quarter of the bytes)."""
    x = x.to(device) if device is not None else x
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def conv_stack(c_in: int, width: int) -> tuple[nn.Sequential, int]:
    """Three stride-2 convs: H -> H/8. Returns (net, out channels)."""
    w1, w2, w3 = width, min(2 * width, 128), min(4 * width, 256)
    net = nn.Sequential(
        nn.Conv2d(c_in, w1, 4, 2, 1), nn.GELU(),
        nn.Conv2d(w1, w2, 4, 2, 1), nn.GELU(),
        nn.Conv2d(w2, w3, 4, 2, 1), nn.GELU(),
    )
    return net, w3
