"""Pooling of the backbone's hidden states, and the heads on the pooled features: latent codes (stage 2),
pseudo-actions (VPT), action chunks (stage 3)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Sequential):
    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_hidden), nn.GELU(),
                         nn.Linear(d_hidden, d_out))


class MeanPool(nn.Module):
    """Masked mean over every image and instruction token: (B, T, D) -> (B, D). Where things are is averaged away."""

    def __init__(self, d_model: int):
        super().__init__()
        self.out_dim = d_model

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


class AttentionPool(nn.Module):
    """`n_queries` learned queries attend over the (masked) token states: (B, T, D) -> (B, n_queries * D).

    Each query can pick out the tokens of one thing (the puck, the goal, the hand), so the head keeps the
    spatial detail a mean over all tokens throws away (the image tokens carry their position embeddings).
    """

    def __init__(self, d_model: int, n_queries: int = 4, n_heads: int = 4):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, d_model) * d_model ** -0.5)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.out_dim = n_queries * d_model

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = self.queries.unsqueeze(0).expand(hidden.shape[0], -1, -1).to(hidden.dtype)
        kv = self.norm(hidden)
        out, _ = self.attn(q, kv, kv, key_padding_mask=~mask.bool(), need_weights=False)
        return out.flatten(1)


def make_pool(kind: str, d_model: int, n_queries: int) -> nn.Module:
    if kind == "mean":
        return MeanPool(d_model)
    if kind == "attention":
        return AttentionPool(d_model, n_queries)
    raise ValueError(f"policy.pool must be 'mean' or 'attention', got {kind!r}")


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
