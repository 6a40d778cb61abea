import numpy as np
import pytest
import torch

from vla.policy.finetune import finetune, load_chunks, make_batch
from vla.policy.modeling import VLAPolicy
from policy_support import tiny_policy_cfg, tiny_train_cfg


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, latent_pretrain, backbone_dir, teleop_root):
    out = tmp_path_factory.mktemp("finetune")
    m = finetune(tiny_policy_cfg(), tiny_train_cfg(steps=45, lr=3e-3), teleop_root, out, backbone_dir,
                 init="pretrained", pretrain_dir=latent_pretrain[0] / "model")
    return out, m


def test_finetune_loss_decreases(lora_run):
    evals = lora_run[1]["evals"]  # action MSE on fixed frames: before training (step 0) vs after
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 45
    assert evals[-1]["fit_mse"] < 0.75 * evals[0]["fit_mse"], evals


def test_lora_trains_a_small_fraction(lora_run):
    m = lora_run[1]
    assert 0 < m["trainable_params"] < 0.25 * m["total_params"]


def test_lora_adapter_reload_gives_identical_actions(lora_run, teleop_root):
    out, _ = lora_run
    assert (out / "model" / "adapter" / "adapter_model.safetensors").is_file()
    data = load_chunks(teleop_root, chunk_size=4, max_episodes=1)
    batch = make_batch(data, np.arange(0, 20, 5))
    a = VLAPolicy.from_pretrained(out / "model").eval().predict_action_chunk(batch)
    b = VLAPolicy.from_pretrained(out / "model").eval().predict_action_chunk(batch)
    assert a.shape == (4, 4, 4)
    assert torch.equal(a, b)


def test_peft_adapter_directory_loads_with_peft(lora_run, backbone_dir):
    from peft import PeftModel

    from vla.policy.backbone import load_backbone

    out, _ = lora_run
    base, _ = load_backbone(backbone_dir)
    model = PeftModel.from_pretrained(base, str(out / "model" / "adapter"))
    assert any("lora_A" in n for n, _ in model.named_parameters())


def test_stats_come_from_the_selected_episodes(teleop_root):
    one, all_ = load_chunks(teleop_root, 4, max_episodes=1), load_chunks(teleop_root, 4)
    assert one.episodes == [0] and len(all_.episodes) == 3
    assert len(one.states) < len(all_.states)


def test_too_many_episodes_is_refused(teleop_root):
    with pytest.raises(ValueError, match="max_episodes=99"):
        load_chunks(teleop_root, 4, max_episodes=99)


def test_finetune_resume_reproduces_the_uninterrupted_run(tmp_path, latent_pretrain, backbone_dir, teleop_root):
    """LoRA adapter, action head and optimizer state all come back from the step-3 checkpoint."""
    kw = dict(ckpt_every=3, eval_every=100, lr=3e-3)
    run = lambda out, steps, **extra: finetune(  # noqa: E731
        tiny_policy_cfg(), tiny_train_cfg(steps=steps, **kw), teleop_root, out, backbone_dir,
        init="pretrained", pretrain_dir=latent_pretrain[0] / "model", **extra)
    run(tmp_path / "straight", 6)
    run(tmp_path / "split", 3)
    m = run(tmp_path / "split", 6, resume=True)
    assert m["resumed_from"] == 3 and [h["step"] for h in m["history"]] == list(range(1, 7))
    a = VLAPolicy.from_pretrained(tmp_path / "straight" / "model").state_dict()
    b = VLAPolicy.from_pretrained(tmp_path / "split" / "model").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
