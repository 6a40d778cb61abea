"""ActionQueue's chunk hand-over without a policy: `replace` plays the new chunk from its first action,
`blend` drops the new chunk's actions for ticks that passed while it was inferred and cross-fades the rest
of the old chunk into it, so the command never steps back."""

import numpy as np
import pytest

from vla.core.action_queue import ActionQueue, crossfade

STEP = 0.1   # the old chunk's own change per tick


def ramp(start: float, n: int) -> np.ndarray:
    """n actions (2-d) moving STEP per tick from `start`: a path the policy follows."""
    return (start + STEP * np.arange(n))[:, None] * np.ones((1, 2))


def mid_chunk_handover(mode: str, offset: float = -0.3, elapsed: int = 2):
    """The old chunk plays 4 actions, the next chunk's observation is taken, `elapsed` more play while it is
    inferred, then it lands. It plans the same path from the observation's tick, off by `offset` (a policy
    never agrees with itself exactly). Returns the last action played before the hand-over, what plays
    after it, and the new chunk."""
    q = ActionQueue()
    q.extend(ramp(0.0, 10))
    for _ in range(4):
        q.pop()
    pops_at_observation = q.pops
    last = [q.pop() for _ in range(elapsed)][-1]
    new = ramp(0.4 + offset, 10)   # planned for the ticks after the observation: 0.4, 0.5, ... + offset
    if mode == "blend":
        q.blend(new, elapsed=q.pops - pops_at_observation)
    else:
        q.replace(new)
    return last, np.stack([q.pop() for _ in range(len(q))]), new


def test_blend_hands_over_without_a_jump_and_ends_on_the_new_chunk():
    last, played, new = mid_chunk_handover("blend")
    steps = np.abs(np.diff(np.vstack([last, played]), axis=0)).max(axis=1)
    assert steps[0] <= STEP + 1e-9, f"first command after the hand-over moved {steps[0]:.3f}"
    overlap = 4   # the old chunk's actions left when the new one landed
    assert steps.max() <= STEP + 0.3 / (overlap + 1) + 1e-9   # the disagreement, spread over the overlap
    np.testing.assert_allclose(played[overlap:], new[2 + overlap:])   # then the new chunk itself
    assert len(played) == len(new) - 2   # its actions for the ticks spent inferring it are dropped


def test_replace_steps_back_by_the_ticks_spent_inferring():
    """The control for the test above: today's hand-over jumps back along the path."""
    last, played, new = mid_chunk_handover("replace")
    np.testing.assert_allclose(played, new)
    assert np.abs(played[0] - last).max() > 3 * STEP


def test_blend_with_an_agreeing_policy_is_the_path_itself():
    last, played, _ = mid_chunk_handover("blend", offset=0.0)
    np.testing.assert_allclose(np.vstack([last, played])[:, 0], 0.5 + STEP * np.arange(len(played) + 1))


@pytest.mark.parametrize("elapsed", [0, 3])
def test_blend_keeps_a_one_action_chunks_action(elapsed):
    q = ActionQueue()
    q.extend(ramp(0.0, 3))
    q.blend(np.array([[7.0, 7.0]]), elapsed=elapsed)
    assert len(q) == 1 and q.pop().tolist() == [7.0, 7.0]


def test_blend_into_an_empty_queue_drops_only_the_stale_actions():
    q = ActionQueue()
    q.blend(ramp(0.0, 5), elapsed=2)
    np.testing.assert_allclose(np.stack([q.pop() for _ in range(3)]), ramp(0.2, 3))
    assert q.pop() is None and q.pops == 4


def test_crossfade_weights_run_from_old_to_new():
    old, new = np.zeros((3, 1)), np.ones((3, 1))
    np.testing.assert_allclose(crossfade(old, new)[:, 0], [0.25, 0.5, 0.75])
