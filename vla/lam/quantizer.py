"""Vector quantiser with a straight-through gradient, commitment loss, k-means init and dead-code restart.

Each latent token is snapped to its nearest codebook vector (cosine distance: latents and codes on
the unit sphere). Until `init_from` is called the quantiser passes latents through unquantised, so
the encoder first learns a continuous code of the change; the codebook then starts as k-means
centroids of those latents (as SoundStream/EnCodec do) instead of random vectors the encoder has to
find its way to (measured on the moving-square data: random init encodes only *whether* the square
moved, k-means init of a warmed-up encoder encodes *where to*). Codes that no batch has chosen
for `restart_after` updates are re-seeded from random encoder outputs of the current batch,
so the codebook stays alive (the usual failure of small VQ models is collapse onto 1-2 codes).
The training loop passes the generator for those draws (vla.core.seeding.step_generator), so a restart
is fixed by (seed, step) like everything else a run draws.
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
        self.register_buffer("initialised", torch.tensor(False))

    # Latents and codes live on the unit sphere (cosine distance): with raw L2 a small model's
    # encoder outputs bunch up and one or two codes win everything (measured: usage 2/8).
    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (...,) of the nearest codebook vectors to z (..., code_dim)."""
        flat = F.normalize(z.reshape(-1, self.code_dim), dim=-1)
        return (flat @ F.normalize(self.codebook, dim=-1).t()).argmax(1).reshape(z.shape[:-1])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, F.normalize(self.codebook, dim=-1))

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """z (B, n_tokens, code_dim) -> (quantised with straight-through grad, codes, vq loss, stats).
        `generator` (CPU) draws the dead-code restarts in training; None = torch's global generator."""
        z = F.normalize(z, dim=-1)
        codes = self.nearest(z)
        if not self.initialised:  # warm-up: continuous latents, no codebook loss
            return z, codes, z.new_zeros(()), code_stats(codes, self.codebook_size)
        q = self.lookup(codes)
        # codebook loss pulls codes to the encoder; commitment keeps the encoder near its code.
        loss = F.mse_loss(q, z.detach()) + self.beta * F.mse_loss(z, q.detach())
        q_st = z + (q - z).detach()
        stats = code_stats(codes, self.codebook_size)
        if self.training:
            self._track_and_restart(codes, z.detach(), generator)
        return q_st, codes, loss, stats

    @torch.no_grad()
    def init_from(self, z: torch.Tensor, iters: int = 20, seed: int = 0) -> None:
        """Spherical k-means of latents z (..., code_dim) into the codebook; quantising starts here."""
        flat = F.normalize(z.reshape(-1, self.code_dim).float(), dim=-1)
        if len(flat) < self.codebook_size:
            raise ValueError(f"k-means init needs >= {self.codebook_size} latents, got {len(flat)}")
        g = torch.Generator(device="cpu").manual_seed(seed)
        # k-means++ seeding: each new centroid drawn far (in cosine distance) from the ones so far
        centroids = flat[torch.randint(len(flat), (1,), generator=g).to(flat.device)]
        for _ in range(1, self.codebook_size):
            dist = (1 - flat @ centroids.t()).min(1).values.clamp_min(0).cpu()
            pick = torch.multinomial(dist + 1e-12, 1, generator=g).to(flat.device)
            centroids = torch.cat([centroids, flat[pick]])
        for _ in range(iters):
            assign = (flat @ centroids.t()).argmax(1)
            sums = torch.zeros_like(centroids).index_add_(0, assign, flat)
            empty = torch.bincount(assign, minlength=self.codebook_size) == 0
            sums[empty] = flat[torch.randint(len(flat), (int(empty.sum()),), generator=g).to(flat.device)]
            centroids = F.normalize(sums, dim=-1)
        self.codebook.data.copy_(centroids)
        self.idle.zero_()
        self.initialised.fill_(True)

    @torch.no_grad()
    def _track_and_restart(self, codes: torch.Tensor, z: torch.Tensor, generator: torch.Generator | None) -> int:
        used = torch.bincount(codes.reshape(-1), minlength=self.codebook_size) > 0
        self.idle[used] = 0
        self.idle[~used] += 1
        return self.restart_dead(z, generator)

    @torch.no_grad()
    def restart_dead(self, z: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """Re-seed codes idle for >= restart_after updates from random encoder outputs z (..., code_dim),
        drawn with `generator` (CPU; None = torch's global generator)."""
        dead = torch.nonzero(self.idle >= self.restart_after).flatten()
        if len(dead) == 0:
            return 0
        flat = z.reshape(-1, self.code_dim)
        pick = torch.randint(len(flat), (len(dead),), generator=generator).to(flat.device)
        noise = torch.randn((len(dead), self.code_dim), generator=generator).to(flat.device, flat.dtype)
        self.codebook.data[dead] = F.normalize(flat[pick] + 0.01 * noise, dim=-1)
        self.idle[dead] = 0
        return len(dead)


def code_stats(codes: torch.Tensor, codebook_size: int) -> dict:
    """Perplexity (effective number of codes used) and fraction of the codebook used."""
    counts = torch.bincount(codes.reshape(-1), minlength=codebook_size).float()
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {"perplexity": float(entropy.exp()), "usage": float((counts > 0).float().mean())}
