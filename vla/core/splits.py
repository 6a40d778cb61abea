"""Held-out splits: which videos or episodes a model never trains on (one rule for every model)."""

from __future__ import annotations

import numpy as np


def held_out(ids, fraction: float, rng: np.random.Generator) -> set:
    """A random `fraction` of `ids` (at least one) to hold out; none when there is only one id, so that a
    one-video store still trains (its evaluation then reuses the training data). `rng` is consumed as
    one permutation, so a caller that draws from it afterwards sees the same stream every run."""
    ids = list(ids)
    n_held = max(1, int(round(len(ids) * fraction))) if len(ids) > 1 else 0
    return set(rng.permutation(ids)[:n_held].tolist())
