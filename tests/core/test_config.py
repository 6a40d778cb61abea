"""Config -> dataclass, one way: every preset builds every stage's dataclass; a stray key is refused by name."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from omegaconf import OmegaConf

from vla.core.config import config_groups, load_config, to_dataclass
from vla.core.splits import held_out
from vla.core.training import TrainConfig
from vla.data.ingest import IngestConfig
from vla.data.sim import SimConfig
from vla.idm.configuration import IDMConfig
from vla.idm.train import IDMTrainConfig
from vla.lam.configuration import LAMConfig
from vla.lam.train import LAMTrainConfig
from vla.pipeline.experiment import eval_config
from vla.pipeline.stages import policy_config, train_config


@pytest.mark.parametrize("preset", [None, *config_groups()["experiment"]])
def test_every_preset_builds_every_stage_config(preset):
    cfg = load_config([f"experiment={preset}"] if preset else [])
    to_dataclass(SimConfig, cfg.data.sim, tasks=tuple(cfg.data.sim.tasks), seed=cfg.seed)
    to_dataclass(IngestConfig, cfg.data.ingest, exclude=("inputs", "store"))
    to_dataclass(LAMConfig, cfg.lam.model), to_dataclass(LAMTrainConfig, cfg.lam.train)
    to_dataclass(IDMConfig, cfg.idm.model), to_dataclass(IDMTrainConfig, cfg.idm.train)
    assert train_config(cfg.finetune.train, cfg.seed).seed == cfg.seed
    assert policy_config(cfg).image_size == cfg.policy.image_size
    assert eval_config(cfg).tasks == list(cfg.eval.tasks)


def test_a_key_the_dataclass_does_not_take_is_named():
    section = OmegaConf.create({"steps": 10, "stepz": 3})
    with pytest.raises(ValueError, match="TrainConfig takes no stepz"):
        to_dataclass(TrainConfig, section)


def test_held_out_is_a_seeded_fraction_and_keeps_a_lone_id_for_training():
    ids = [f"v{i}" for i in range(10)]
    a, b = held_out(ids, 0.2, np.random.default_rng(0)), held_out(ids, 0.2, np.random.default_rng(0))
    assert a == b and len(a) == 2 and a <= set(ids)
    assert held_out(ids, 0.2, np.random.default_rng(1)) != a or len(ids) < 3
    assert len(held_out(ids, 0.01, np.random.default_rng(0))) == 1   # at least one held out
    assert held_out(["only"], 0.5, np.random.default_rng(0)) == set()


def test_policy_defaults_are_the_configs_and_lerobots():
    """One set of policy defaults: configs/policy/tiny.yaml sets every network field to the dataclass default,
    and the config LeRobot builds for type vla_latent is that dataclass."""
    from lerobot.configs import PreTrainedConfig

    from vla.policy.configuration_vla import VLAConfig
    from vla.policy.modeling_vla import NETWORK_FIELDS

    configured = OmegaConf.to_container(load_config([]).policy, resolve=True)
    defaults = VLAConfig()
    assert set(NETWORK_FIELDS) <= set(configured) <= {f.name for f in fields(VLAConfig)}
    assert {k: getattr(defaults, k) for k in configured} == configured
    assert PreTrainedConfig.get_choice_class("vla_latent") is VLAConfig


@pytest.mark.parametrize("preset", [None, *config_groups()["experiment"]])
def test_data_models_evaluation_and_robot_agree_on_the_spec(preset):
    """The camera's image size, the camera, fps and the dims are defined once (`spec`); every stage of every
    preset reads the same values (demo_gpu once raised the data's image size but not evaluation's)."""
    cfg = load_config([f"experiment={preset}"] if preset else [])
    spec = cfg.spec
    sizes = {"data.sim": cfg.data.sim.image_size, "data.ingest": cfg.data.ingest.image_size,
             "lam.model": cfg.lam.model.image_size, "idm.model": cfg.idm.model.image_size,
             "eval": cfg.eval.image_size, "robot": cfg.robot.image_size}
    assert set(sizes.values()) == {spec.image_size}, sizes
    assert cfg.data.sim.camera == cfg.eval.camera == spec.camera and cfg.data.sim.fps == spec.fps
    assert cfg.policy.action_dim == cfg.idm.model.action_dim == spec.action_dim
    assert cfg.policy.state_dim == spec.state_dim


@pytest.mark.parametrize("preset", [None, *config_groups()["experiment"]])
def test_no_layout_is_both_trained_on_and_evaluated(preset):
    """The seed ranges are defined once (spec.seeds): the video and teleop layouts of every task, the simulated
    robot's, the reported evaluation's and the tuning evaluation's never overlap, in every preset."""
    from vla.data.sim import layout_seeds

    cfg = load_config([f"experiment={preset}"] if preset else [])
    sim = to_dataclass(SimConfig, cfg.data.sim, tasks=tuple(cfg.data.sim.tasks), seed=cfg.seed)
    data = {s for i in range(len(sim.tasks)) for kind in ("video", "teleop") for s in layout_seeds(sim, i, kind)}
    assert len(data) == len(sim.tasks) * (sim.video_episodes_per_task + sim.teleop_episodes_per_task)
    evaluated = set(range(cfg.eval.seed_start, cfg.eval.seed_start + cfg.eval.n_episodes))
    robot = set(range(cfg.robot.seed, cfg.robot.seed + cfg.robot.episodes))
    tuning = set(range(cfg.spec.seeds.tuning, cfg.spec.seeds.tuning + cfg.eval.n_episodes))
    assert cfg.eval.seed_start == cfg.spec.seeds.eval and cfg.robot.seed == cfg.spec.seeds.robot
    for name, seeds in (("evaluation", evaluated), ("robot", robot), ("tuning", tuning)):
        assert not data & seeds, f"{name} layouts are also data layouts: {sorted(data & seeds)[:5]}"
    assert not evaluated & tuning and not evaluated & robot


def test_the_robot_params_files_match_the_default_spec():
    """launch/params/*.yaml are ROS parameter files (not Hydra): they must say what the default spec says."""
    import yaml

    from vla.core.config import config_dir

    spec = load_config([]).spec
    params = config_dir().parent / "launch" / "params"
    policy = yaml.safe_load((params / "policy.yaml").read_text())["/**"]["ros__parameters"]
    sim = yaml.safe_load((params / "sim_robot.yaml").read_text())["/**"]["ros__parameters"]
    assert (policy["action_dim"], policy["state_dim"]) == (spec.action_dim, spec.state_dim)
    assert (sim["image_size"], sim["camera"], sim["seed"]) == (spec.image_size, spec.camera, spec.seeds.robot)


def test_the_lerobot_metaworld_preset_makes_what_lerobot_eval_shows_the_policy():
    """`experiment=lerobot_metaworld` makes demos for `lerobot-eval --env.type=metaworld`: LeRobot's camera,
    image size, fps and feature names (the camera's pixels are checked in tests/data/test_sim.py)."""
    import inspect

    from lerobot.envs.configs import MetaworldEnv as MetaworldEnvConfig
    from lerobot.envs.metaworld import MetaworldEnv

    from vla.data.lerobot_io import teleop_features

    cfg = load_config(["experiment=lerobot_metaworld"])
    env_cfg = MetaworldEnvConfig(task="button-press-topdown-v3")
    env_defaults = {k: p.default for k, p in inspect.signature(MetaworldEnv.__init__).parameters.items()}
    assert cfg.data.sim.camera == env_defaults["camera_name"]
    assert cfg.data.sim.image_size == env_defaults["observation_width"] == env_defaults["observation_height"]
    assert cfg.data.sim.fps == env_cfg.fps
    ours = teleop_features(cfg.data.sim.image_size, cfg.data.sim.teleop_video)
    for env_key, feature in env_cfg.features.items():  # what lerobot-eval hands the policy, by dataset name
        name = env_cfg.features_map[env_key]
        assert name in ours and tuple(ours[name]["shape"]) == tuple(feature.shape), (name, ours.get(name))
