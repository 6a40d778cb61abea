"""VLAPolicy as LeRobot policy type `vla_latent`: registration, lerobot-train, reload, lerobot-eval, and our
checkpoints and LeRobot's being one kind."""

import json
import subprocess
import sys

import pytest
import torch
from lerobot_support import REPO_ROOT, TASK, subprocess_env
from lerobot.configs import FeatureType, PolicyFeature
from lerobot.datasets import LeRobotDataset
from lerobot.policies.factory import get_policy_class, make_policy_config, make_pre_post_processors
from lerobot.utils.constants import ACTION, OBS_STATE

from vla.core.checkpoint import CheckpointError
from vla.policy import VLAPolicy  # importing vla.policy registers the policy type


def test_lerobot_resolves_policy_class_and_processors_by_type_name():
    assert get_policy_class("vla_latent") is VLAPolicy
    cfg = make_policy_config("vla_latent", device="cpu")
    assert cfg.action_delta_indices == list(range(cfg.chunk_size))


def test_config_refuses_features_without_state():
    cfg = make_policy_config("vla_latent", device="cpu")
    cfg.input_features = {"observation.image": PolicyFeature(FeatureType.VISUAL, (3, 64, 64))}
    cfg.output_features = {ACTION: PolicyFeature(FeatureType.ACTION, (4,))}
    with pytest.raises(ValueError, match=OBS_STATE):
        cfg.validate_features()


def test_every_policy_field_is_a_lerobot_option_that_reaches_the_network():
    """lerobot-train --policy.<field>: a VLAConfig field set on the LeRobot config is the network's; its
    normalisation mode is the one LeRobot's processors apply to state and action; the sizes are the dataset's."""
    from lerobot.configs import NormalizationMode

    cfg = make_policy_config("vla_latent", device="cpu", pool="attention", random_shift=2, normalization="min_max")
    cfg.input_features = {"observation.images.top": PolicyFeature(FeatureType.VISUAL, (3, 48, 64)),
                          OBS_STATE: PolicyFeature(FeatureType.STATE, (6,))}
    cfg.output_features = {ACTION: PolicyFeature(FeatureType.ACTION, (7,))}
    cfg.fields_from_features()
    net = cfg
    assert (net.pool, net.random_shift, net.state_dim, net.action_dim) == ("attention", 2, 6, 7)
    assert net.image_keys == ["observation.images.top"]
    assert cfg.normalization_mapping["STATE"] is NormalizationMode.MIN_MAX
    assert cfg.normalization_mapping["VISUAL"] is NormalizationMode.IDENTITY
    with pytest.raises(ValueError, match="pool"):
        make_policy_config("vla_latent", device="cpu", pool="max")  # VLAConfig's own validation
    with pytest.raises(ValueError, match="normalization=.mean_std"):  # one knob, not two that disagree
        make_policy_config("vla_latent", device="cpu", normalization_mapping={"STATE": NormalizationMode.MIN_MAX})


def test_config_refuses_more_action_steps_than_chunk():
    with pytest.raises(ValueError, match="n_action_steps"):
        make_policy_config("vla_latent", chunk_size=2, n_action_steps=3)


def _first_batch(dataset_root, cfg):
    ds = LeRobotDataset("local/tiny_reach", root=dataset_root)
    item = ds[0]
    return {OBS_STATE: item[OBS_STATE], **{key: item[key] for key in cfg.image_features}, "task": item["task"]}, ds


def test_lerobot_train_checkpoint_reloads_with_normalisation_stats(lerobot_checkpoint, tiny_dataset):
    policy = VLAPolicy.from_pretrained(lerobot_checkpoint)
    pre, post = make_pre_post_processors(policy.config, pretrained_path=str(lerobot_checkpoint))
    obs, ds = _first_batch(tiny_dataset, policy.config)

    # The un-normaliser saved with the checkpoint carries the dataset's action stats, not identity.
    unnorm = post.steps[0]
    assert torch.allclose(unnorm._tensor_stats[ACTION]["mean"].cpu(), torch.as_tensor(ds.meta.stats[ACTION]["mean"]).float())

    policy.reset()
    action = post(policy.select_action(pre(obs)))
    assert action.shape == (1, 4) and torch.isfinite(action).all()
    # Same weights on disk -> same action from a second load (no silently re-initialised modules).
    again = VLAPolicy.from_pretrained(lerobot_checkpoint)
    again.reset()
    assert torch.equal(post(again.select_action(pre(obs))), action)


def test_select_action_runs_the_network_once_per_chunk(lerobot_checkpoint, tiny_dataset):
    policy = VLAPolicy.from_pretrained(lerobot_checkpoint)
    pre, _ = make_pre_post_processors(policy.config, pretrained_path=str(lerobot_checkpoint))
    obs, _ = _first_batch(tiny_dataset, policy.config)
    batch = pre(obs)
    calls = []
    original = policy.predict_action_chunk
    policy.predict_action_chunk = lambda b, **kw: calls.append(1) or original(b)
    policy.reset()
    chunk = original(batch)
    popped = [policy.select_action(batch) for _ in range(policy.config.n_action_steps)]
    assert len(calls) == 1
    assert torch.allclose(torch.stack(popped, 1), chunk[:, : policy.config.n_action_steps])
    policy.select_action(batch)
    assert len(calls) == 2


# lerobot's MetaWorld env hard-codes 500-step episodes rendered at 480x480 (~2 min on 2 cores). The test
# shortens episodes to 12 steps before calling the real `lerobot-eval` entry point; nothing else changes.
EVAL_LAUNCHER = """
import sys
import lerobot.envs.metaworld as mw
_init = mw.MetaworldEnv.__init__
def _short(self, *a, **k):
    _init(self, *a, **k)
    self._max_episode_steps = 12
mw.MetaworldEnv.__init__ = _short
from lerobot.scripts.lerobot_eval import main
sys.exit(main())
"""


@pytest.mark.parametrize("which", ["lerobot_checkpoint", "finetuned_dir"])
def test_lerobot_eval_runs_checkpoint_in_metaworld(which, request, tmp_path):
    """lerobot-eval runs lerobot-train's checkpoint and vla-finetune's alike: one kind of checkpoint."""
    checkpoint = request.getfixturevalue(which)
    out = tmp_path / "eval"
    args = [
        f"--policy.path={checkpoint}",
        # no discovery flag: LeRobot imports the installed lerobot_policy_vla_latent distribution itself
        "--env.type=metaworld", f"--env.task={TASK}", "--eval.n_episodes=1", "--eval.batch_size=1",
        "--policy.device=cpu", f"--output_dir={out}",
    ]
    proc = subprocess.run([sys.executable, "-c", EVAL_LAUNCHER, *args], cwd=REPO_ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    info = json.loads((out / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 1
    assert 0.0 <= info["overall"]["pc_success"] <= 100.0


def test_our_finetuned_checkpoint_is_a_lerobot_checkpoint(finetuned_dir, teleop_root):
    """vla-finetune's output loads through LeRobot's own factory (the class found by type name, its saved
    processors) and gives the chunk our runner gives: one policy, one kind of checkpoint."""
    import numpy as np
    from lerobot.configs import PreTrainedConfig

    from vla.data.lerobot_io import load_chunks
    from vla.runtime import PolicyRunner

    config = PreTrainedConfig.from_pretrained(finetuned_dir)  # what lerobot-eval --policy.path reads
    policy = get_policy_class(config.type).from_pretrained(finetuned_dir, config=config)
    pre, post = make_pre_post_processors(config, pretrained_path=str(finetuned_dir))
    data = load_chunks(teleop_root, chunk_size=config.chunk_size, demos_per_task=1)
    image, state, task = data.images["observation.image"][3], data.states[3], data.instructions[3]
    obs = {"observation.image": torch.as_tensor(image)[None], OBS_STATE: torch.as_tensor(state)[None], "task": [task]}
    expected = post(policy.predict_action_chunk(pre(obs)))[0].numpy()
    got = PolicyRunner(finetuned_dir, device="cpu").predict_chunk({"image": image, "state": state, "instruction": task})
    np.testing.assert_array_equal(got, expected)


def test_our_runtime_runs_a_lerobot_train_checkpoint_as_lerobot_does(lerobot_checkpoint, tiny_dataset):
    """PolicyRunner (the ROS node's and vla-eval's) on a lerobot-train checkpoint: the chunk LeRobot's own
    path gives (its saved processors around the policy), in robot units, from a plain observation."""
    import numpy as np

    from vla.runtime import PolicyRunner

    policy = VLAPolicy.from_pretrained(lerobot_checkpoint)
    pre, post = make_pre_post_processors(policy.config, pretrained_path=str(lerobot_checkpoint))
    obs, ds = _first_batch(tiny_dataset, policy.config)
    expected = post(policy.predict_action_chunk(pre(obs)))[0].numpy()

    runner = PolicyRunner(lerobot_checkpoint, device="cpu")
    image = (obs["observation.image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # as a camera gives it
    got = runner.predict_chunk({"observation.image": image, "observation.state": obs[OBS_STATE].numpy(),
                                "task": obs["task"]})
    assert (runner.state_dim, runner.action_dim, runner.image_keys) == (4, 4, ["observation.image"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # robot units: the saved action stats were applied (identity stats would leave it normalised)
    identity = policy.predict_action_chunk(pre(obs))[0].numpy()
    assert not np.allclose(got, identity, atol=1e-3)


def test_vla_eval_evaluates_a_lerobot_train_checkpoint(lerobot_checkpoint, tmp_path):
    from vla.eval.sim_eval import EvalConfig, evaluate_checkpoint

    cfg = EvalConfig(tasks=[TASK], n_episodes=1, max_steps=5, n_videos=0, device="cpu")
    info = evaluate_checkpoint(lerobot_checkpoint, cfg, tmp_path / "eval")
    assert info["overall"]["n"] == 1 and len(info["tasks"][TASK]["episodes"]) == 1
    again = evaluate_checkpoint(lerobot_checkpoint, cfg, tmp_path / "again")  # the same model: the same identity
    assert len(info["checkpoint_hash"]) == 16 and again["checkpoint_hash"] == info["checkpoint_hash"]


def test_reload_refuses_a_directory_without_the_backbone_description(lerobot_checkpoint, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(lerobot_checkpoint, broken)
    (broken / "backbone.json").unlink()
    with pytest.raises(CheckpointError, match="backbone.json"):
        VLAPolicy.from_pretrained(broken)


def _config_with_features(**kw):
    cfg = make_policy_config("vla_latent", device="cpu", **kw)
    cfg.input_features = {"observation.image": PolicyFeature(FeatureType.VISUAL, (3, 64, 64)),
                          OBS_STATE: PolicyFeature(FeatureType.STATE, (4,))}
    cfg.output_features = {ACTION: PolicyFeature(FeatureType.ACTION, (4,))}
    return cfg


@pytest.fixture(scope="module")
def saved_vla_policy(tmp_path_factory):
    """A VLAPolicy checkpoint as vla-pretrain writes it (tiny backbone, no LoRA yet)."""
    from vla.data.metaworld_env import task_instruction
    from vla.policy.backbone import build_tiny_backbone
    from vla.policy.configuration_vla import VLAConfig
    from vla.policy.modeling_vla import VLAPolicy

    base = tmp_path_factory.mktemp("init_from")
    backbone = build_tiny_backbone(base / "backbone", texts=[task_instruction(TASK)], seed=123)
    net = VLAPolicy.from_backbone(VLAConfig(), backbone)
    return net.save_pretrained(base / "model"), net


def test_init_from_starts_from_our_checkpoint_weights(saved_vla_policy):
    directory, net = saved_vla_policy
    policy = VLAPolicy(_config_with_features(init_from=str(directory)))
    fresh = VLAPolicy(_config_with_features())
    embed = "embed_tokens.weight"
    ours = next(v for k, v in policy.state_dict().items() if k.endswith(embed))
    saved = next(v for k, v in net.state_dict().items() if k.endswith(embed))
    other = next(v for k, v in fresh.state_dict().items() if k.endswith(embed))
    assert torch.equal(ours, saved)
    assert not (ours.shape == other.shape and torch.equal(ours, other))  # the control: a fresh tiny backbone


def test_init_from_refuses_a_checkpoint_with_another_chunk_size(saved_vla_policy):
    directory, _ = saved_vla_policy
    with pytest.raises(ValueError, match="chunk_size"):
        VLAPolicy(_config_with_features(init_from=str(directory), chunk_size=8, n_action_steps=8))


def test_a_two_camera_six_joint_robot_trains_and_predicts_through_the_plugin():
    """An SO-100's features as LeRobot hands them to a policy (front and wrist cameras of their own sizes, 6-D
    state and action): the plugin's policy reads both cameras, its loss has a gradient, and its chunks are 6-D."""
    cfg = make_policy_config("vla_latent", device="cpu", chunk_size=3, n_action_steps=3)
    cfg.input_features = {"observation.images.front": PolicyFeature(FeatureType.VISUAL, (3, 48, 64)),
                          "observation.images.wrist": PolicyFeature(FeatureType.VISUAL, (3, 32, 40)),
                          OBS_STATE: PolicyFeature(FeatureType.STATE, (6,))}
    cfg.output_features = {ACTION: PolicyFeature(FeatureType.ACTION, (6,))}
    policy = VLAPolicy(cfg)
    assert policy.config.image_keys == ["observation.images.front", "observation.images.wrist"]
    g = torch.Generator().manual_seed(0)
    batch = {"observation.images.front": torch.rand(2, 3, 48, 64, generator=g),
             "observation.images.wrist": torch.rand(2, 3, 32, 40, generator=g),
             OBS_STATE: torch.randn(2, 6, generator=g), ACTION: torch.randn(2, 3, 6, generator=g),
             "task": ["pick up the cube", "pick up the cube"]}
    loss, _ = policy.forward(batch)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None and p.grad.abs().sum() > 0
                                        for p in policy.action_head.parameters())
    wrist_blind = dict(batch, **{"observation.images.wrist": torch.zeros(2, 3, 32, 40)})
    chunk = policy.predict_action_chunk(batch)
    assert chunk.shape == (2, 3, 6) and torch.isfinite(chunk).all()
    assert not torch.equal(chunk, policy.predict_action_chunk(wrist_blind))  # the wrist camera is read
