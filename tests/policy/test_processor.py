"""The policy's LeRobot processors: the normalisation stage 3, the runner and lerobot-train share."""

import numpy as np
import pytest
import torch
from lerobot.utils.constants import ACTION, OBS_STATE

from vla.policy.configuration_vla import VLAConfig
from vla.policy.processor_vla import (compute_stats, make_vla_latent_pre_post_processors, normalize_target,
                                     target_normalizer)


def _processors(mode: str, states: np.ndarray, actions: np.ndarray):
    config = VLAConfig(normalization=mode, device="cpu")
    config.set_features({"observation.image": (3, 8, 8)}, state_dim=states.shape[1], action_dim=actions.shape[1])
    stats = {OBS_STATE: compute_stats(states), ACTION: compute_stats(actions)}
    return make_vla_latent_pre_post_processors(config, stats)


@pytest.mark.parametrize("mode", ["mean_std", "min_max"])
def test_state_and_action_round_trip_and_a_constant_dimension_stays_finite(mode):
    rng = np.random.default_rng(0)
    states = rng.normal(3.0, 2.0, size=(50, 3)).astype(np.float32)
    states[:, 2] = 0.25  # a joint that never moves
    actions = rng.uniform(-1, 1, size=(50, 2)).astype(np.float32)
    pre, post = _processors(mode, states, actions)
    image = torch.zeros(4, 8, 8, 3, dtype=torch.uint8)
    batch = pre({"observation.image": image, OBS_STATE: torch.as_tensor(states[:4]), "task": ["reach"] * 4,
                 ACTION: torch.as_tensor(actions[:4])})
    state = batch[OBS_STATE]
    # constant: the centre, 0 (min_max to float32 rounding of a range of 2e-6), not inf or -1
    assert torch.isfinite(state).all() and state[:, 2].abs().max() < 0.02
    if mode == "mean_std":
        expected = (states[:4, :2] - states[:, :2].mean(0)) / states[:, :2].std(0)
    else:
        lo, hi = states[:, :2].min(0), states[:, :2].max(0)
        expected = 2 * (states[:4, :2] - lo) / (hi - lo) - 1
    np.testing.assert_allclose(state[:, :2].numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(post(batch[ACTION]).numpy(), actions[:4], rtol=1e-5, atol=1e-6)  # back to robot units
    assert torch.equal(batch["observation.image"], torch.zeros(4, 8, 8, 3, dtype=torch.uint8))  # images untouched


def test_a_regression_target_is_normalised_by_its_own_stats():
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 0.5, size=(200, 3)).astype(np.float32)
    y = normalize_target(target_normalizer(compute_stats(x), "mean_std"), torch.as_tensor(x))
    np.testing.assert_allclose(y.mean(0).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(0, unbiased=False).numpy(), 1, atol=1e-4)
