"""Where the training loops take their randomness from: draws keyed by (seed, step), never torch's global generator.

A draw made at step s depends on nothing but (seed, s, what it is for), so a run resumed at step s
draws exactly what the uninterrupted run drew there, and nothing that ran earlier in the process
(another stage, a test, an eval) can shift it. torch's global generator is still seeded, once,
before a model is built: parameter initialisation draws from it and nothing else does.
"""

from __future__ import annotations

import os

import numpy as np
import torch


def step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """A CPU generator for one use (`stream`) at one step; unrelated to every other (seed, step, stream)."""
    hi, lo = np.random.SeedSequence([seed, step, stream]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(hi) << 32 | int(lo))


def batch_indices(n: int, batch_size: int, seed: int, step: int, rank: int = 0) -> torch.Tensor:
    """Indices into n samples of the batch of one step (and one data-parallel rank)."""
    # A linear mix rather than step_generator: it predates it, and changing it would change every policy run.
    g = torch.Generator().manual_seed(seed * 1_000_003 + step * 7919 + rank)
    return torch.randint(0, n, (batch_size,), generator=g)


class StepBatchSampler:
    """A DataLoader batch_sampler: one rank's batches of steps start, start + 1, ... (endless), by batch_indices."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0, rank: int = 0):
        self.n, self.batch_size, self.seed, self.start, self.rank = n, batch_size, seed, start, rank

    def __iter__(self):
        step = self.start
        while True:
            yield batch_indices(self.n, self.batch_size, self.seed, step, self.rank).tolist()
            step += 1


def deterministic_torch(threads: int = 0) -> int:
    """Make torch pick deterministic kernels where it has them, and fix the intra-op thread count
    if asked (0 keeps torch's default). Returns the thread count in use.

    The kernels matter on CUDA (atomics in index_add/scatter, cuBLAS workspaces); on CPU the same
    thread count already gave bit-identical LAM and policy runs without this. The switch fills
    torch.empty with NaN, measured at <= 4% of a LAM step's CPU time. The thread count does matter on
    CPU (reductions split per thread: the LAM's losses differed in the last bits between 1 and 2
    threads), so runs compare bit for bit only at equal counts; each run records its count."""
    if threads:
        torch.set_num_threads(threads)
    # cuBLAS is deterministic only with this set before its first call; harmless without CUDA.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # warn_only: an op with no deterministic kernel warns instead of stopping a run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.get_num_threads()
