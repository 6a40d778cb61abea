import numpy as np
import pytest
import torch

from vla.data.lerobot_io import TeleopWriter, open_metadata, select_episodes
from vla.data.lerobot_io import load_chunks
from vla.policy.finetune import finetune, make_batch
from vla.policy.modeling_vla import VLAPolicy
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
    data = load_chunks(teleop_root, chunk_size=4, demos_per_task=1)
    batch = make_batch(data, np.arange(0, 20, 5))
    a = VLAPolicy.from_pretrained(out / "model").eval().predict_action_chunk(batch)
    b = VLAPolicy.from_pretrained(out / "model").eval().predict_action_chunk(batch)
    assert a.shape == (4, 4, 4)
    assert torch.equal(a, b)


def test_a_periodic_checkpoint_runs_like_the_final_model(lora_run, teleop_root):
    """Every checkpoint under checkpoints/ holds the processors and backbone description too: a killed run's
    latest one can be evaluated or deployed as it is."""
    from vla.runtime import PolicyRunner

    out, _ = lora_run
    data = load_chunks(teleop_root, chunk_size=4, demos_per_task=1)
    obs = {"image": data.images["observation.image"][7], "state": data.states[7], "instruction": data.instructions[7]}
    last = PolicyRunner(out / "checkpoints" / "step_0000045", device="cpu").predict_chunk(obs)
    np.testing.assert_array_equal(last, PolicyRunner(out / "model", device="cpu").predict_chunk(obs))


def test_peft_adapter_directory_loads_with_peft(lora_run, backbone_dir):
    from peft import PeftModel

    from vla.policy.backbone import load_backbone

    out, _ = lora_run
    base, _ = load_backbone(backbone_dir)
    model = PeftModel.from_pretrained(base, str(out / "model" / "adapter"))
    assert any("lora_A" in n for n, _ in model.named_parameters())


def test_stats_come_from_the_selected_episodes(teleop_root):
    one, all_ = load_chunks(teleop_root, 4, demos_per_task=1), load_chunks(teleop_root, 4)
    assert one.episodes == [0] and len(all_.episodes) == 3
    assert len(one.states) < len(all_.states)


TWO_TASKS = ["reach the goal", "open the drawer"]


@pytest.fixture(scope="module")
def two_task_root(tmp_path_factory):
    """Three episodes of one task then two of another: sorted by task, as `vla-data sim` writes them."""
    root = tmp_path_factory.mktemp("two_tasks") / "teleop"
    rng = np.random.default_rng(0)
    writer = TeleopWriter(root, fps=10, image_size=32, use_video=False)
    for task in [TWO_TASKS[0]] * 3 + [TWO_TASKS[1]] * 2:
        n = 6
        writer.add_episode(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                           rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32),
                           np.zeros(n, bool), task)
    writer.close()
    return root


def test_demos_per_task_takes_the_first_of_every_task(two_task_root):
    data = load_chunks(two_task_root, 4, demos_per_task=1)
    assert data.episodes == [0, 3]  # not [0, 1], the first two of the first task
    assert set(data.instructions) == set(TWO_TASKS)


def test_selection_is_reproducible_and_nests(two_task_root):
    picks = [select_episodes(open_metadata(two_task_root), n) for n in (1, 1, 2, None)]
    assert picks[0] == picks[1] == [0, 3]
    assert picks[2] == [0, 1, 3, 4] and set(picks[0]) < set(picks[2]) < set(picks[3])
    assert picks[3] == [0, 1, 2, 3, 4]


def test_a_task_with_too_few_episodes_is_refused(two_task_root):
    with pytest.raises(ValueError, match=r"demos_per_task=3 but task 'open the drawer' has only 2 episodes") as err:
        load_chunks(two_task_root, 4, demos_per_task=3)
    assert str(two_task_root) in str(err.value)


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


def test_the_no_pretraining_arm_trains_every_weight_unless_told_lora(tmp_path, backbone_dir, teleop_root):
    from vla.core.config import load_config
    from vla.pipeline.stages import run_finetune

    trainable = {}
    for scratch in ("full", "lora"):
        cfg = load_config([f"paths.teleop={teleop_root}", f"paths.root={tmp_path}", "finetune.train.steps=1",
                           f"finetune.scratch={scratch}", "finetune.demos_per_task=1",
                           f"policy.backbone={backbone_dir}", "policy.max_text_tokens=8"])
        trainable[scratch] = run_finetune(cfg, out_dir=tmp_path / scratch, init="none")["trainable_params"]
    policy = VLAPolicy.from_pretrained(tmp_path / "full" / "model")
    backbone = sum(p.numel() for p in policy.backbone.parameters())
    head = sum(p.numel() for p in policy.action_head.parameters())
    assert trainable["full"] >= backbone + head  # every backbone weight, not adapters
    assert trainable["lora"] - head < 0.5 * backbone  # the adapters (and the pool), the backbone frozen


def test_a_bad_scratch_recipe_is_refused_by_name(tmp_path):
    from vla.core.config import load_config
    from vla.pipeline.stages import run_finetune

    with pytest.raises(ValueError, match="finetune.scratch must be 'full' or 'lora', got 'half'"):
        run_finetune(load_config([f"paths.root={tmp_path}", "finetune.scratch=half"]), init="none")
