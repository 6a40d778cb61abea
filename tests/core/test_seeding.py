"""vla.core.seeding: every draw is fixed by (seed, step, stream) and by nothing that ran before."""

from itertools import islice

import torch

from vla.core.seeding import StepBatchSampler, batch_indices, step_generator


def test_a_sampler_started_at_a_step_gives_that_steps_batches():
    from_start = list(islice(iter(StepBatchSampler(100, 8, seed=3)), 10))
    resumed = list(islice(iter(StepBatchSampler(100, 8, seed=3, start=6)), 4))
    assert resumed == from_start[6:]
    assert from_start[6] == batch_indices(100, 8, seed=3, step=6).tolist()


def test_batches_ignore_torchs_global_generator():
    torch.manual_seed(0)
    a = batch_indices(1000, 16, seed=1, step=2)
    torch.rand(5)
    assert torch.equal(a, batch_indices(1000, 16, seed=1, step=2))


def test_step_generators_repeat_per_key_and_differ_across_keys():
    def draw(*key):
        return torch.randint(1 << 30, (4,), generator=step_generator(*key))

    assert torch.equal(draw(0, 5, 1), draw(0, 5, 1))
    others = [draw(1, 5, 1), draw(0, 6, 1), draw(0, 5, 2)]
    assert all(not torch.equal(draw(0, 5, 1), o) for o in others)
