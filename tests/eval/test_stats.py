import numpy as np
import pytest

from vla.eval.stats import demos_to_reach, paired_bootstrap


def test_a_clearly_better_arm_has_an_interval_above_zero_and_a_tie_straddles_it():
    rng = np.random.default_rng(0)
    base = (rng.random((3, 150)) < 0.2).astype(int)
    better = (rng.random((3, 150)) < 0.6).astype(int)
    same = (rng.random((3, 150)) < 0.2).astype(int)
    up = paired_bootstrap(better, base)
    assert up["diff"] == pytest.approx(better.mean() - base.mean())
    assert 0 < up["ci95"][0] < up["diff"] < up["ci95"][1]
    tie = paired_bootstrap(same, base)
    assert tie["ci95"][0] < 0 < tie["ci95"][1]


def test_pairing_by_episode_narrows_the_interval():
    # The arms share which episodes are hard: paired, the difference is exact; unpaired it would be noisy.
    rng = np.random.default_rng(1)
    hard = rng.random((3, 100)) < 0.5
    a, b = (~hard).astype(int), np.zeros((3, 100), int)
    b[:, :10] = a[:, :10]  # b succeeds on a subset of a's successes
    r = paired_bootstrap(a, b)
    assert r["ci95"][1] - r["ci95"][0] < 0.25


def test_mismatched_outcomes_are_refused():
    with pytest.raises(ValueError, match="paired outcomes"):
        paired_bootstrap(np.zeros((3, 10)), np.zeros((2, 10)))


def test_demos_to_reach_interpolates_in_log_demos():
    assert demos_to_reach([(3, 0.1), (10, 0.3), (25, 0.7)]) == pytest.approx(float(np.exp((np.log(10) + np.log(25)) / 2)))
    assert demos_to_reach([(3, 0.6), (10, 0.9)]) == 3.0
    assert demos_to_reach([(3, 0.1), (10, 0.2)]) is None
