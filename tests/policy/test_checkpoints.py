import shutil

import pytest
import torch

from vla.core.checkpoint import CheckpointError, save_checkpoint
from vla.policy.modeling_vla import VLAPolicy
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


def test_the_runner_refuses_a_stage2_checkpoint_naming_what_to_do(latent_pretrain):
    from vla.runtime import PolicyRunner

    with pytest.raises(CheckpointError, match="not a finetuned policy.*vla-finetune"):
        PolicyRunner(latent_pretrain[0] / "model", device="cpu")


def test_other_kind_of_checkpoint_is_refused(tmp_path):
    save_checkpoint(tmp_path / "lam", weights={"w": torch.zeros(1)}, config={"kind": "lam"})
    with pytest.raises(CheckpointError, match="'lam' checkpoint"):
        VLAPolicy.from_pretrained(tmp_path / "lam")


def test_weights_from_another_architecture_are_refused(tmp_path, finetuned_dir):
    policy = VLAPolicy.from_pretrained(finetuned_dir)
    weights = policy.checkpoint_weights()
    weights.pop(next(k for k in weights if "action_head" in k))
    policy.save_pretrained(tmp_path / "bad", state_dict=weights)
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


def _legacy_checkpoint(policy: VLAPolicy, directory, stats: dict):
    """A checkpoint as vla-finetune wrote it before the policy was a PreTrainedPolicy (stats in config.json)."""
    from dataclasses import fields

    from vla.policy.modeling_vla import _tokenizer_to_json

    keep = {"chunk_size", "action_dim", "state_dim", "image_keys", "head_hidden", "lora_r", "normalization"}
    old_policy = {f.name: getattr(policy.config, f.name) for f in fields(policy.config) if f.name in keep}
    config = {"kind": "vla_policy", "policy": old_policy, "backbone_config": policy.backbone_config.to_dict(),
              "tokenizer": _tokenizer_to_json(policy.encoder.tokenizer), "stats": stats,
              "lora_applied": policy.lora_applied}
    return save_checkpoint(directory, weights=policy.checkpoint_weights(), config=config)


def test_an_old_checkpoint_is_refused_with_the_command_that_converts_it(tmp_path, finetuned_dir, teleop_root):
    """The converted checkpoint runs with the old formula: (state - mean) / std in, chunk * std + mean out."""
    import numpy as np

    from vla.data.lerobot_io import load_chunks
    from vla.policy.legacy import main as convert
    from vla.runtime import PolicyRunner

    policy = VLAPolicy.from_pretrained(finetuned_dir)
    rng = np.random.default_rng(0)
    stats = {"state": {"mean": rng.normal(size=4).tolist(), "std": [0.5, 2.0, 0.0, 1.5]},  # a constant dimension
             "action": {"mean": rng.normal(size=4).tolist(), "std": [0.1, 0.2, 0.3, 0.4]}}
    old = _legacy_checkpoint(policy, tmp_path / "old", stats)
    with pytest.raises(CheckpointError, match="python -m vla.policy.legacy"):
        VLAPolicy.from_pretrained(old)
    convert([str(old), str(tmp_path / "new")])

    data = load_chunks(teleop_root, chunk_size=policy.config.chunk_size, demos_per_task=1)
    image, state, task = data.images["observation.image"][2], data.states[2], data.instructions[2]
    runner = PolicyRunner(tmp_path / "new", device="cpu")
    got = runner.predict_chunk({"image": image, "state": state, "instruction": task})
    std = torch.tensor(stats["state"]["std"]).clamp_min(1e-6)
    normalised = (torch.as_tensor(state) - torch.tensor(stats["state"]["mean"])) / std
    batch = {"observation.image": torch.as_tensor(image)[None], "observation.state": normalised[None], "task": [task]}
    chunk = policy.predict_action_chunk(batch)[0]
    expected = chunk * torch.tensor(stats["action"]["std"]) + torch.tensor(stats["action"]["mean"])
    torch.testing.assert_close(torch.as_tensor(got), expected, rtol=0, atol=0)  # the same arithmetic, bit for bit
    convert([str(old), str(old)])  # in place, as the experiment converts a finished stage-2 run it reuses
    converted = VLAPolicy.from_pretrained(old).state_dict()
    assert all(torch.equal(converted[k], v) for k, v in policy.state_dict().items())


def test_a_missing_checkpoint_is_one_clear_error_not_a_hub_traceback(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint directory not found: .*nowhere"):
        VLAPolicy.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="not found: someone/no-such-policy"):  # HF_HUB_OFFLINE=1, no cache
        VLAPolicy.from_pretrained("someone/no-such-policy")


def test_a_hub_id_loads_from_the_local_hub_cache(tmp_path, finetuned_dir, monkeypatch):
    """The hub path (what `lerobot-eval --policy.path=user/repo` takes), on a local copy laid out as the hub
    cache lays out a downloaded repo."""
    snapshot = tmp_path / "hub" / "models--someone--vla-policy" / "snapshots" / ("0" * 40)
    shutil.copytree(finetuned_dir, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    policy = VLAPolicy.from_pretrained("someone/vla-policy")
    saved = VLAPolicy.from_pretrained(finetuned_dir)
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in policy.state_dict().items())
    from vla.runtime import PolicyRunner  # and the runner (vla-eval, the ROS node) takes the repo id too

    assert PolicyRunner("someone/vla-policy", device="cpu").checkpoint == snapshot
