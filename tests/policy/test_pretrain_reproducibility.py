"""Stage-2 pretraining is a function of (seed, config): same seed, same history, evals and weights."""

import pytest
import torch

from vla.core.checkpoint import load_checkpoint
from vla.policy.pretrain import pretrain
from policy_support import tiny_policy_cfg, tiny_train_cfg

STEPS = 8


pytestmark = pytest.mark.usefixtures("torch_settings_restored")  # tests/conftest.py


def run(out, store_url, backbone_dir, seed=0):
    # threads=1: runs match bit for bit only at equal thread counts (and 2 threads crawl on shared cores).
    metrics = pretrain(tiny_policy_cfg(), tiny_train_cfg(steps=STEPS, eval_every=STEPS, seed=seed, threads=1),
                       store_url, out, backbone_dir, eval_fraction=0.25)
    return metrics, load_checkpoint(out / "model", with_train_state=False).weights


@pytest.fixture(scope="module")
def seed0_run(tmp_path_factory, store_url, backbone_dir):
    return run(tmp_path_factory.mktemp("pretrain_seed0"), store_url, backbone_dir)


def test_same_seed_gives_identical_history_evals_and_weights(seed0_run, tmp_path, store_url, backbone_dir):
    torch.rand(17)  # whatever else drew from torch's global generator in this process must not matter
    again = run(tmp_path, store_url, backbone_dir)
    assert again[0]["history"] == seed0_run[0]["history"]
    assert again[0]["evals"] == seed0_run[0]["evals"]
    a, b = again[1], seed0_run[1]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_different_seed_gives_a_different_history(seed0_run, tmp_path, store_url, backbone_dir):
    other = run(tmp_path, store_url, backbone_dir, seed=1)
    assert [h["loss"] for h in other[0]["history"]] != [h["loss"] for h in seed0_run[0]["history"]]
