"""Session artefacts for the policy tests: a stage-2 run over the tiny backbone and the synthetic labelled store
(those, the teleop dataset and a finetuned policy come from tests/conftest.py), and for its LeRobot face a tiny
MetaWorld LeRobot dataset and one lerobot-train run of `vla_latent` on it."""

from pathlib import Path

import pytest
from lerobot_support import REPO_ROOT, run_console_script, shared_tiny_dataset
from policy_support import tiny_policy_cfg, tiny_train_cfg

PRETRAIN_STEPS = 30


@pytest.fixture(scope="session")
def latent_pretrain(tmp_path_factory, backbone_dir, store_url):
    from vla.policy.pretrain import pretrain

    out = tmp_path_factory.mktemp("pretrain_latent")
    metrics = pretrain(tiny_policy_cfg(), tiny_train_cfg(steps=PRETRAIN_STEPS, eval_every=PRETRAIN_STEPS),
                       store_url, out, backbone_dir, eval_fraction=0.25)
    return out, metrics


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return shared_tiny_dataset(tmp_path_factory)


TRAIN_STEPS = 2


@pytest.fixture(scope="session")
def lerobot_checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """`lerobot-train` of our policy type on the tiny dataset; returns its pretrained_model dir."""
    out = tmp_path_factory.mktemp("lerobot_train") / "run"
    run_console_script("lerobot-train", [
        "--policy.type=vla_latent",  # found by LeRobot's plugin discovery (plugins/lerobot_policy_vla_latent)
        "--dataset.repo_id=local/tiny_reach", f"--dataset.root={tiny_dataset}",
        f"--steps={TRAIN_STEPS}", "--batch_size=2", "--num_workers=0", "--log_freq=1", f"--save_freq={TRAIN_STEPS}",
        "--policy.push_to_hub=false", "--policy.device=cpu", "--wandb.enable=false", f"--output_dir={out}",
    ], cwd=REPO_ROOT)
    return out / "checkpoints" / "last" / "pretrained_model"
