"""Statistics for comparing arms: paired bootstrap differences and demos needed to reach a success rate.

Every arm is evaluated on the same evaluation seeds, and each training seed s of one arm has a twin s
in every other arm, so outcomes are paired twice: by training seed and by evaluation episode. The
bootstrap resamples both (seeds, then episodes, the same draw for both arms) so the interval carries
the spread between training runs as well as the luck of the episodes.
"""

from __future__ import annotations

import math

import numpy as np


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 4000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """Mean success of `a` minus `b` with a percentile interval. a, b: (n_training_seeds, n_episodes) 0/1
    outcomes, row s of both from training seed s, column e of both from evaluation episode e."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(f"paired outcomes must be two equal (seeds, episodes) arrays, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    n_seeds, n_eps = a.shape
    diff = a - b
    seeds = rng.integers(0, n_seeds, (n_boot, n_seeds))
    eps = rng.integers(0, n_eps, (n_boot, n_eps))
    # mean over the drawn seeds of the mean over the drawn episodes, per bootstrap sample
    boots = np.stack([diff[s][:, e].mean() for s, e in zip(seeds, eps)])
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"diff": float(diff.mean()), "ci95": [float(lo), float(hi)], "n_seeds": n_seeds, "n_episodes": n_eps}


def demos_to_reach(points: list[tuple[float, float]], target: float = 0.5) -> float | None:
    """Demos per task at which success first reaches `target`, interpolated linearly in log(demos) between
    the swept points; None when no point reaches it (the sweep does not say how many would)."""
    pts = sorted(points)
    for i, (demos, rate) in enumerate(pts):
        if rate >= target:
            if i == 0:
                return float(demos)
            (d0, r0), (d1, r1) = pts[i - 1], (demos, rate)
            t = (target - r0) / (r1 - r0)
            return float(math.exp(math.log(d0) + t * (math.log(d1) - math.log(d0))))
    return None
