"""Helpers for the tests of the policy as a LeRobot policy: a tiny real LeRobot v3 dataset and console-script runs."""

import os
import subprocess
import sys
from pathlib import Path

from vla.data.metaworld_env import ACTION_DIM, STATE_DIM, MetaWorldTask

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK = "reach-v3"
IMAGE_SIZE = 64


def build_tiny_dataset(root: Path, n_episodes: int = 2, steps: int = 24):
    from lerobot.datasets import LeRobotDataset

    features = {
        "observation.image": {"dtype": "image", "shape": (IMAGE_SIZE, IMAGE_SIZE, 3), "names": ["height", "width", "channel"]},
        "observation.state": {"dtype": "float32", "shape": (STATE_DIM,), "names": None},
        "action": {"dtype": "float32", "shape": (ACTION_DIM,), "names": None},
    }
    ds = LeRobotDataset.create("local/tiny_reach", fps=80, features=features, root=root, use_videos=False)
    with MetaWorldTask(TASK, image_size=IMAGE_SIZE) as env:
        for episode in range(n_episodes):
            obs = env.reset(seed=episode)
            for _ in range(steps):
                action = env.expert_action()
                ds.add_frame({"observation.image": obs["image"], "observation.state": obs["state"],
                              "action": action, "task": obs["instruction"]})
                obs = env.step(action).obs
            ds.save_episode()
    ds.finalize()
    return ds



def shared_tiny_dataset(tmp_path_factory) -> Path:
    """The tiny dataset under the session's base temp dir, built by whichever test directory asks first."""
    root = tmp_path_factory.getbasetemp() / "shared_tiny_reach"
    if not (root / "meta" / "info.json").is_file():
        build_tiny_dataset(root)
    return root


def subprocess_env() -> dict:
    """Offline, headless, no wandb, small thread pools: the child sees what a user's shell would set."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_MODE="disabled",
               MUJOCO_GL=env.get("MUJOCO_GL", "egl"), PYOPENGL_PLATFORM=env.get("PYOPENGL_PLATFORM", "egl"),
               OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


def run_console_script(name: str, args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a console script of this venv (bin dir next to sys.executable) and fail with its output."""
    exe = Path(sys.executable).parent / name
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    return proc
