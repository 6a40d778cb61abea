"""LAM training is a function of (seed, config): same seed, same numbers and weights; resuming changes nothing."""

import pytest
import torch

import lam_support
from vla.core.checkpoint import load_checkpoint
from vla.lam.quantizer import VectorQuantizer
from vla.lam.train import train

STEPS = 24
# restart_after=2: codes go dead and are re-seeded within a few steps, so the restart draws are exercised.
MODEL = lam_support.tiny_lam_cfg(restart_after=2)


def run(out, seed=0, steps=STEPS, resume=False):
    # threads=1: runs match bit for bit only at equal thread counts, and one thread is ~7x faster than two
    # on 2 cores that other processes share (measured: 4.4 s vs 33 s a run).
    cfg = lam_support.tiny_lam_train(steps=steps, seed=seed, batch_size=16, vq_warmup=8, vq_init_batches=2,
                                     eval_every=12, eval_batches=1, ckpt_every=12, threads=1)
    result = train(MODEL, cfg, lam_support.store_template(), out, resume=resume)
    return result, load_checkpoint(out / "model", with_train_state=False).weights


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


pytestmark = pytest.mark.usefixtures("torch_settings_restored")  # tests/conftest.py


@pytest.fixture(scope="module")
def seed0_run(tmp_path_factory):
    return run(tmp_path_factory.mktemp("lam_seed0"))


@pytest.fixture
def count_restarts(monkeypatch):
    revived = []
    restart_dead = VectorQuantizer.restart_dead

    def counting(self, *args, **kwargs):
        revived.append(restart_dead(self, *args, **kwargs))
        return revived[-1]

    monkeypatch.setattr(VectorQuantizer, "restart_dead", counting)
    return revived


def test_same_seed_gives_identical_history_and_weights(seed0_run, tmp_path):
    torch.rand(17)  # whatever else drew from torch's global generator in this process must not matter
    again = run(tmp_path)
    assert again[0]["history"] == seed0_run[0]["history"]
    assert same_weights(again[1], seed0_run[1])


def test_different_seed_gives_a_different_run(seed0_run, tmp_path):
    other = run(tmp_path, seed=1)
    assert [h["loss"] for h in other[0]["history"]] != [h["loss"] for h in seed0_run[0]["history"]]
    assert not same_weights(other[1], seed0_run[1])


def test_resumed_run_reproduces_the_uninterrupted_run(seed0_run, tmp_path, count_restarts):
    """Stopped at step 12 (after the k-means init at 8), resumed to 24: the same batches and the same
    dead-code restarts as the uninterrupted run, so the same history and weights."""
    run(tmp_path, steps=12)
    count_restarts.clear()
    resumed = run(tmp_path, resume=True)
    assert sum(count_restarts) > 0, "no code was restarted after the resume: the test would prove nothing"
    assert resumed[0]["history"] == seed0_run[0]["history"]
    assert same_weights(resumed[1], seed0_run[1])
