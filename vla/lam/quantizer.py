"""Vector quantiser with a straight-through gradient, commitment loss and dead-code restart.

Each latent token is snapped to its nearest codebook vector. Codes that no batch has chosen
for `restart_after` updates are re-seeded from random encoder outputs of the current batch,
so the codebook stays alive (the usual failure of small VQ models is collapse onto 1-2 codes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, codebook_size: int = 8, code_dim: int = 32, beta: float = 0.25, restart_after: int = 50):
        super().__init__()
        self.codebook_size, self.code_dim, self.beta, self.restart_after = codebook_size, code_dim, beta, restart_after
        self.codebook = nn.Parameter(torch.randn(codebook_size, code_dim) * 0.1)
        # Updates since each code was last picked; a buffer so it is saved and resumed with the model.
        self.register_buffer("idle", torch.zeros(codebook_size, dtype=torch.long))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (...,) of the nearest codebook vectors to z (..., code_dim)."""
        flat = z.reshape(-1, self.code_dim)
        dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None])
        return dist.argmin(1).reshape(z.shape[:-1])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.codebook)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """z (B, n_tokens, code_dim) -> (quantised with straight-through grad, codes, vq loss, stats)."""
        codes = self.nearest(z)
        q = self.lookup(codes)
        # codebook loss pulls codes to the encoder; commitment keeps the encoder near its code.
        loss = F.mse_loss(q, z.detach()) + self.beta * F.mse_loss(z, q.detach())
        q_st = z + (q - z).detach()
        stats = code_stats(codes, self.codebook_size)
        if self.training:
            self._track_and_restart(codes, z.detach())
        return q_st, codes, loss, stats

    @torch.no_grad()
    def _track_and_restart(self, codes: torch.Tensor, z: torch.Tensor) -> int:
        used = torch.bincount(codes.reshape(-1), minlength=self.codebook_size) > 0
        self.idle[used] = 0
        self.idle[~used] += 1
        return self.restart_dead(z)

    @torch.no_grad()
    def restart_dead(self, z: torch.Tensor) -> int:
        """Re-seed codes idle for >= restart_after updates from random encoder outputs z (..., code_dim)."""
        dead = torch.nonzero(self.idle >= self.restart_after).flatten()
        if len(dead) == 0:
            return 0
        flat = z.reshape(-1, self.code_dim)
        pick = torch.randint(len(flat), (len(dead),), device=flat.device)
        self.codebook.data[dead] = flat[pick] + 0.01 * torch.randn_like(flat[pick])
        self.idle[dead] = 0
        return len(dead)


def code_stats(codes: torch.Tensor, codebook_size: int) -> dict:
    """Perplexity (effective number of codes used) and fraction of the codebook used."""
    counts = torch.bincount(codes.reshape(-1), minlength=codebook_size).float()
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {"perplexity": float(entropy.exp()), "usage": float((counts > 0).float().mean())}
