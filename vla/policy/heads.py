"""Heads on the pooled backbone features: latent codes (stage 2), pseudo-actions (VPT), action chunks (stage 3)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Sequential):
    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_hidden), nn.GELU(),
                         nn.Linear(d_hidden, d_out))


class LatentActionHead(nn.Module):
    """Classification over the LAM codebook for each of the n_tokens latent tokens: (B, n_tokens, K) logits."""

    def __init__(self, d_model: int, n_tokens: int, codebook_size: int, hidden: int):
        super().__init__()
        self.n_tokens, self.codebook_size = n_tokens, codebook_size
        self.net = MLP(d_model, hidden, n_tokens * codebook_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).view(-1, self.n_tokens, self.codebook_size)


class PseudoActionHead(nn.Module):
    """Regression of the IDM's pseudo-action for the current frame (the VPT route): (B, action_dim)."""

    def __init__(self, d_model: int, action_dim: int, hidden: int):
        super().__init__()
        self.net = MLP(d_model, hidden, action_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class ActionChunkHead(nn.Module):
    """H future (normalised) actions from pooled features + normalised state: (B, H, action_dim)."""

    def __init__(self, d_model: int, state_dim: int, chunk_size: int, action_dim: int, hidden: int):
        super().__init__()
        self.chunk_size, self.action_dim = chunk_size, action_dim
        self.net = MLP(d_model + state_dim, hidden, chunk_size * action_dim)

    def forward(self, features: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([features, state.to(features.dtype)], dim=-1))
        return out.view(-1, self.chunk_size, self.action_dim)
