import shutil

import pytest
import torch

from vla.core.checkpoint import CheckpointError, save_checkpoint
from vla.policy.modeling import VLAPolicy
from vla.policy.pretrain import pretrain
from policy_support import tiny_policy_cfg, tiny_train_cfg


@pytest.fixture
def ckpt_copy(tmp_path, finetuned_dir):
    dst = tmp_path / "model"
    shutil.copytree(finetuned_dir, dst)
    return dst


def test_corrupt_weights_are_refused_naming_the_file(ckpt_copy):
    path = ckpt_copy / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        VLAPolicy.from_pretrained(ckpt_copy)


def test_missing_config_is_refused_naming_the_file(ckpt_copy):
    (ckpt_copy / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        VLAPolicy.from_pretrained(ckpt_copy)


def test_mismatched_config_is_refused(finetuned_dir):
    with pytest.raises(CheckpointError, match="chunk_size"):
        VLAPolicy.from_pretrained(finetuned_dir, expected={"chunk_size": 99})


def test_other_kind_of_checkpoint_is_refused(tmp_path):
    save_checkpoint(tmp_path / "lam", weights={"w": torch.zeros(1)}, config={"kind": "lam"})
    with pytest.raises(CheckpointError, match="'lam' checkpoint"):
        VLAPolicy.from_pretrained(tmp_path / "lam")


def test_weights_from_another_architecture_are_refused(tmp_path, finetuned_dir):
    policy = VLAPolicy.from_pretrained(finetuned_dir)
    weights = policy.checkpoint_weights()
    weights.pop(next(k for k in weights if "action_head" in k))
    save_checkpoint(tmp_path / "bad", weights=weights, config=policy.checkpoint_config())
    with pytest.raises(CheckpointError, match="model.safetensors"):
        VLAPolicy.from_pretrained(tmp_path / "bad")


def test_resume_reproduces_the_uninterrupted_run(tmp_path, backbone_dir, store_url):
    kw = dict(batch_size=8, ckpt_every=3, eval_every=100)
    straight = tmp_path / "straight"
    pretrain(tiny_policy_cfg(), tiny_train_cfg(steps=6, **kw), store_url, straight, backbone_dir, max_videos=3)
    split = tmp_path / "split"
    pretrain(tiny_policy_cfg(), tiny_train_cfg(steps=3, **kw), store_url, split, backbone_dir, max_videos=3)
    m = pretrain(tiny_policy_cfg(), tiny_train_cfg(steps=6, **kw), store_url, split, backbone_dir, max_videos=3,
                 resume=True)
    assert m["resumed_from"] == 3 and [h["step"] for h in m["history"]] == list(range(1, 7))
    a = VLAPolicy.from_pretrained(straight / "model").state_dict()
    b = VLAPolicy.from_pretrained(split / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
