import numpy as np
import pytest

from robot.safety import SafetyConfig, SafetyFilter


def armed(**kw) -> SafetyFilter:
    f = SafetyFilter(SafetyConfig(**kw))
    f.arm()
    return f


def test_starts_disarmed_and_outputs_nothing():
    f = SafetyFilter()
    assert f.filter(np.zeros(4), 0.0, 0.0) is None


def test_arm_passes_safe_action_through():
    np.testing.assert_allclose(armed().filter([0.1, -0.2, 0.3, 0.0], 1.0, 1.0), [0.1, -0.2, 0.3, 0.0])


def test_estop_latches_until_rearmed():
    f = armed()
    f.estop()
    assert f.filter(np.zeros(4), 0.0, 0.0) is None
    assert f.filter(np.zeros(4), 1.0, 1.0) is None
    f.arm()
    assert f.filter(np.zeros(4), 2.0, 2.0) is not None


def test_clips_to_limits():
    f = armed(max_delta=10.0)
    np.testing.assert_allclose(f.filter([5.0, -5.0, 0.5, 2.0], 0.0, 0.0), [1.0, -1.0, 0.5, 1.0])
    assert f.interventions["clipped"] == 1


def test_rate_limit_bounds_change_per_tick():
    f = armed(max_delta=0.1)
    f.filter(np.zeros(4), 0.0, 0.0)
    out = f.filter(np.ones(4), 0.0, 0.0)
    np.testing.assert_allclose(out, [0.1] * 4)
    assert f.interventions["rate_limited"] == 1


@pytest.mark.parametrize("bad", [[np.nan, 0, 0, 0], [0, np.inf, 0, 0], [0, 0, -np.inf, 0]])
def test_non_finite_rejected_and_held(bad):
    f = armed(stale_mode="hold")
    f.filter([0.2, 0.2, 0.2, 0.2], 0.0, 0.0)
    np.testing.assert_allclose(f.filter(bad, 0.0, 0.0), [0.2] * 4)
    assert f.interventions["non_finite"] == 1


def test_wrong_shape_rejected():
    f = armed()
    np.testing.assert_allclose(f.filter([1.0, 2.0], 0.0, 0.0), np.zeros(4))
    assert f.interventions["bad_shape"] == 1


def test_watchdog_zeroes_on_stale_input():
    f = armed(stale_timeout_s=0.5)
    f.filter([0.3] * 4, 0.0, 0.0)
    np.testing.assert_allclose(f.filter([0.3] * 4, 0.4, 0.0), [0.3] * 4)  # fresh enough
    np.testing.assert_allclose(f.filter([0.3] * 4, 0.6, 0.0), np.zeros(4))
    assert f.interventions["stale"] == 1


def test_watchdog_hold_mode_repeats_last_command():
    f = armed(stale_timeout_s=0.5, stale_mode="hold")
    f.filter([0.3] * 4, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(f.filter([0.9] * 4, 1.0, 1.0, 0.0), [0.3] * 4)  # joint stamp stale


def test_never_received_input_counts_as_stale():
    f = armed()
    np.testing.assert_allclose(f.filter([0.3] * 4, 0.0, None), np.zeros(4))


@pytest.mark.parametrize("kw, word", [({"action_low": [0.0] * 3}, "action_low"), ({"max_delta": 0.0}, "max_delta"),
                                      ({"stale_timeout_s": -1.0}, "stale_timeout_s"),
                                      ({"stale_mode": "drift"}, "stale_mode"),
                                      ({"action_low": [2.0] * 4}, "action_low must be <= ")])
def test_bad_config_named(kw, word):
    with pytest.raises(ValueError, match=word):
        SafetyFilter(SafetyConfig(**kw))


def test_every_problem_is_named_in_one_line():
    with pytest.raises(ValueError) as err:
        SafetyConfig(action_high=[1.0] * 3, max_delta=0.0, stale_mode="drift").validate()
    assert "\n" not in str(err.value)
    for word in ("safety.action_high needs 4 values, got 3", "safety.max_delta", "safety.stale_mode"):
        assert word in str(err.value)


def test_preview_filters_the_planned_actions_as_they_would_be_filtered_in_turn():
    """The lookahead of a streamed trajectory: the same limits and rate limit, chained from this tick's command,
    and nothing past a non-finite action. It commits nothing."""
    f = armed(max_delta=0.2, action_low=[-0.5] * 4, action_high=[0.5] * 4)
    command = f.filter([0.1, 0.1, 0.1, 0.1], 0.0, 0.0)
    upcoming = [[0.4, 0.1, 0.1, 0.1], [9.0, -9.0, 0.1, 0.1], [np.nan, 0, 0, 0], [0.1, 0.1, 0.1, 0.1]]
    plan = f.preview(command, upcoming)
    np.testing.assert_allclose(plan, [[0.3, 0.1, 0.1, 0.1], [0.5, -0.1, 0.1, 0.1]])
    in_turn = [f.filter(a, 0.0, 0.0) for a in upcoming[:2]]
    np.testing.assert_allclose(plan, in_turn)  # what filter() makes of the same actions, one a tick
    assert f.preview(command, []).shape == (0, 4)
