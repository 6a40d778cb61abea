"""Bring your own robot: LeRobot v3 datasets in the shapes of real arms, written with LeRobot's own writer, are
finetuned on with no setting but their root; the checkpoint records the mapping and the runner takes observations
keyed by the dataset's feature names and returns actions of the dataset's size."""

import numpy as np
import pytest
from policy_support import tiny_policy_cfg, tiny_train_cfg

from vla.data.lerobot_io import TeleopWriter, load_chunks
from vla.policy.finetune import finetune
from vla.policy.modeling_vla import VLAPolicy
from vla.runtime import PolicyRunner

SO100_CAMERAS = {"observation.images.front": (48, 64), "observation.images.wrist": (32, 40)}  # (height, width)
SO100_JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
FRANKA_CAMERAS = {"observation.images.main": (40, 40)}
FRANKA_STATE = [f"joint_{i}" for i in range(7)] + ["gripper_width"]
FRANKA_ACTION = [f"joint_{i}" for i in range(6)] + ["gripper"]


def write_robot_dataset(root, cameras, state_names, action_names, episodes=3, steps=24, fps=30, seed=0):
    """A robot-shaped dataset whose action is a fixed linear function of the state plus what the cameras show:
    learnable, so a finetuned policy fits it and an untrained one does not."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(len(state_names), len(action_names))) / np.sqrt(len(state_names))
    writer = TeleopWriter(root, fps=fps, image_size=cameras, repo_id="local/robot", use_video=True,
                          state_names=state_names, action_names=action_names)
    for e in range(episodes):
        states = np.cumsum(rng.normal(0, 0.1, (steps, len(state_names))), 0).astype(np.float32)
        actions = np.tanh(states @ mix).astype(np.float32)
        images = {k: np.clip(rng.normal(128 + 40 * np.tanh(states[:, :1, None, None]), 20, (steps, h, w, 3)), 0, 255)
                  .astype(np.uint8) for k, (h, w) in cameras.items()}
        writer.add_episode(images, states, actions, np.zeros(steps, bool), "pick up the cube")
    writer.close()
    return root


@pytest.fixture(scope="module")
def so100(tmp_path_factory):
    return write_robot_dataset(tmp_path_factory.mktemp("so100") / "data", SO100_CAMERAS, SO100_JOINTS, SO100_JOINTS)


@pytest.fixture(scope="module")
def franka(tmp_path_factory):
    return write_robot_dataset(tmp_path_factory.mktemp("franka") / "data", FRANKA_CAMERAS, FRANKA_STATE, FRANKA_ACTION)


def finetuned(root, out, backbone_dir, **policy):
    metrics = finetune(tiny_policy_cfg(**policy), tiny_train_cfg(steps=60, eval_every=60), root, out, backbone_dir,
                       init="none")
    return metrics, out / "model"


@pytest.mark.parametrize("robot", ["so100", "franka"])
def test_a_robot_dataset_is_finetuned_on_with_its_own_shapes(robot, request, backbone_dir, tmp_path):
    root = request.getfixturevalue(robot)
    cameras, state, action = {"so100": (SO100_CAMERAS, SO100_JOINTS, SO100_JOINTS),
                              "franka": (FRANKA_CAMERAS, FRANKA_STATE, FRANKA_ACTION)}[robot]
    metrics, model = finetuned(root, tmp_path, backbone_dir)
    untrained, trained = metrics["evals"][0]["fit_mse"], metrics["evals"][-1]["fit_mse"]
    assert trained < 0.7 * untrained, metrics["evals"]  # the untrained policy is the control
    config = VLAPolicy.from_pretrained(model).config  # the mapping travels with the checkpoint
    assert (config.image_keys, config.state_dim, config.action_dim) == (list(cameras), len(state), len(action))

    runner = PolicyRunner(model, device="cpu")
    rng = np.random.default_rng(1)
    obs = {key: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for key, (h, w) in cameras.items()}
    obs.update({"observation.state": np.zeros(len(state), np.float32), "task": "pick up the cube"})
    chunk = runner.predict_chunk(obs)
    assert chunk.shape == (config.chunk_size, len(action)) and np.all(np.isfinite(chunk))
    assert runner.select_action(obs).shape == (len(action),)


def test_the_cameras_read_are_the_datasets_and_each_keeps_its_size(so100):
    data = load_chunks(so100, chunk_size=4)
    assert data.image_keys == list(SO100_CAMERAS)
    assert {k: v.shape[1:3] for k, v in data.images.items()} == SO100_CAMERAS
    assert data.states.shape[1] == 6 and data.actions.shape[1:] == (4, 6)


def test_a_camera_the_dataset_lacks_is_one_line_naming_it_and_the_cameras_it_has(so100):
    with pytest.raises(ValueError, match=r"no camera \['observation.images.side'\].*observation.images.front"):
        load_chunks(so100, chunk_size=4, image_keys=["observation.images.side"])
    with pytest.raises(ValueError, match="no 1-D feature 'observation.joints'"):
        load_chunks(so100, chunk_size=4, state_key="observation.joints")


def test_a_mapping_override_reads_one_camera_of_two(so100, backbone_dir, tmp_path):
    _, model = finetuned(so100, tmp_path, backbone_dir, image_keys=["observation.images.wrist"])
    runner = PolicyRunner(model, device="cpu")
    assert runner.image_keys == ["observation.images.wrist"]
    obs = {"observation.images.front": np.zeros((48, 64, 3), np.uint8), "observation.state": np.zeros(6, np.float32),
           "task": "pick up the cube"}
    with pytest.raises(KeyError, match="lacks camera 'observation.images.wrist'"):
        runner.predict_chunk(obs)
