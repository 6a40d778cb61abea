"""Session artefacts for the policy tests: tiny backbone, synthetic labelled store, tiny teleop dataset, runs."""

import pytest
from policy_support import (backbone_fixture, finetuned_fixture, store_fixture, teleop_fixture, tiny_policy_cfg,
                            tiny_train_cfg)

PRETRAIN_STEPS = 30


@pytest.fixture(scope="session")
def backbone_dir(tmp_path_factory):
    return backbone_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def store_url(tmp_path_factory):
    return store_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def teleop_root(tmp_path_factory):
    return teleop_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def finetuned_dir(tmp_path_factory):
    return finetuned_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def latent_pretrain(tmp_path_factory, backbone_dir, store_url):
    from vla.policy.pretrain import pretrain

    out = tmp_path_factory.mktemp("pretrain_latent")
    metrics = pretrain(tiny_policy_cfg(), tiny_train_cfg(steps=PRETRAIN_STEPS, eval_every=PRETRAIN_STEPS),
                       store_url, out, backbone_dir, eval_fraction=0.25)
    return out, metrics
