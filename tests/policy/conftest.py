"""Session artefacts for the policy tests: a stage-2 run over the tiny backbone and the synthetic labelled store
(those, the teleop dataset and a finetuned policy come from tests/conftest.py)."""

import pytest
from policy_support import tiny_policy_cfg, tiny_train_cfg

PRETRAIN_STEPS = 30


@pytest.fixture(scope="session")
def latent_pretrain(tmp_path_factory, backbone_dir, store_url):
    from vla.policy.pretrain import pretrain

    out = tmp_path_factory.mktemp("pretrain_latent")
    metrics = pretrain(tiny_policy_cfg(), tiny_train_cfg(steps=PRETRAIN_STEPS, eval_every=PRETRAIN_STEPS),
                       store_url, out, backbone_dir, eval_fraction=0.25)
    return out, metrics
