"""One MetaWorld v3 task with a fast headless camera and its scripted expert.

Shared by the sim corpus generator, closed-loop evaluation and the ROS sim robot,
so all three see the same observations: `image` (H×W×3 uint8, upright),
`state` (hand xyz + gripper, LeRobot's MetaWorld convention) and `instruction`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
import importlib.util
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

STATE_DIM = 4
ACTION_DIM = 4

# Views of our own besides MetaWorld's fixed cameras: free cameras framing the table where the objects and
# goals are drawn (x -0.1..0.1, y 0.6..0.9 m). From corner4 at 64 px the puck and the goal are 1-2 pixels
# under a large arm; these views make them 4-5 pixels (measured in docs/policy.md "The policy's floor").
FREE_CAMERAS = {
    "workspace": {"lookat": (0.0, 0.75, 0.1), "distance": 0.85, "azimuth": 120.0, "elevation": -30.0},
    "workspace_front": {"lookat": (0.0, 0.72, 0.1), "distance": 0.8, "azimuth": 180.0, "elevation": -35.0},
}

# LeRobot's MetaWorld env (what `lerobot-eval --env.type=metaworld` shows a policy) moves corner2 here, turns
# its image by 180 degrees and renders at MuJoCo's default quality. Our corner2 does the same, so a corpus
# rendered from it is, pixel for pixel, what lerobot-eval shows (tests/data/test_sim.py).
LEROBOT_CAMERA = "corner2"
LEROBOT_CAMERA_POS = (0.75, 0.075, 0.7)


@lru_cache(maxsize=1)
def lerobot_metaworld_config() -> dict:
    # LeRobot ships the task instructions and expert mapping; reusing them keeps our data hub-compatible.
    # The file is read by path: importing lerobot.envs pulls in transformers and torch._dynamo (~20 s on
    # 2 busy cores) in every sim worker, for one JSON file.
    spec = importlib.util.find_spec("lerobot")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lerobot is not installed: it provides envs/metaworld_config.json (pip install lerobot)")
    return json.loads((Path(spec.submodule_search_locations[0]) / "envs" / "metaworld_config.json").read_text())


def task_instructions() -> list[str]:
    """Every MetaWorld task's instruction: the vocabulary a tokenizer built offline must cover."""
    return list(lerobot_metaworld_config()["TASK_DESCRIPTIONS"].values())


def check_task(task: str) -> None:
    """Raise, naming the known tasks, unless `task` has an instruction and a scripted expert."""
    config = lerobot_metaworld_config()
    known = sorted(set(config["TASK_DESCRIPTIONS"]) & set(config["TASK_POLICY_MAPPING"]))
    if task not in known:
        raise ValueError(f"unknown MetaWorld task {task!r}; known: {known}")


def task_instruction(task: str) -> str:
    check_task(task)
    return lerobot_metaworld_config()["TASK_DESCRIPTIONS"][task]


def make_expert(task: str):
    import metaworld.policies as policies

    name = lerobot_metaworld_config()["TASK_POLICY_MAPPING"][task]
    return getattr(policies, name)()


@dataclass
class StepResult:
    obs: dict
    reward: float
    success: bool
    done: bool


class MetaWorldTask:
    """A MetaWorld task whose object and goal positions are re-sampled from the seed every reset."""

    def __init__(self, task: str, image_size: int = 64, camera: str = "corner4", max_steps: int = 150):
        import metaworld
        import mujoco

        self.task = task
        self.instruction = task_instruction(task)
        self.image_size = int(image_size)
        self.camera = camera
        self.max_steps = int(max_steps)
        benchmark = metaworld.MT1(task, seed=0)
        self.env = benchmark.train_classes[task](render_mode=None)
        self.env.set_task(benchmark.train_tasks[0])
        # set_task freezes one object/goal layout. Unfrozen + seeded, every reset draws a new layout
        # from env.np_random, which reset() re-seeds (MetaWorld's own reset ignores its seed argument).
        self.env._freeze_rand_vec = False
        self.env.seeded_rand_vec = True
        model = self.env.model
        cameras = [model.camera(i).name for i in range(model.ncam)]
        if camera not in cameras and camera not in FREE_CAMERAS:
            raise ValueError(f"MetaWorld has no camera {camera!r}; its cameras: {cameras}, "
                             f"and ours: {sorted(FREE_CAMERAS)}")
        self._camera = self._free_camera(FREE_CAMERAS[camera]) if camera in FREE_CAMERAS else camera
        lerobot_view = camera == LEROBOT_CAMERA  # rendered as LeRobot renders it, at MuJoCo's default quality
        # MetaWorld's fixed cameras render upside down (flip rows); LeRobot's corner2 is turned by 180 degrees
        self._flip_axes = (0, 1) if lerobot_view else (0,) if camera not in FREE_CAMERAS else ()
        if lerobot_view:
            model.cam_pos[model.camera(camera).id] = LEROBOT_CAMERA_POS
        else:
            model.vis.quality.offsamples = 0  # MSAA off: several times faster software rendering
        self._renderer = mujoco.Renderer(model, self.image_size, self.image_size)
        if not lerobot_view:  # with MSAA off, ~8x faster at 480 px
            for flag in ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX", "mjRND_FOG", "mjRND_HAZE"):
                self._renderer.scene.flags[getattr(mujoco.mjtRndFlag, flag)] = 0
        self._expert = make_expert(task)
        self._raw_obs: np.ndarray | None = None
        self.steps = 0

    @staticmethod
    def _free_camera(view: dict):
        import mujoco

        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = view["lookat"]
        cam.distance, cam.azimuth, cam.elevation = view["distance"], view["azimuth"], view["elevation"]
        return cam

    def render(self) -> np.ndarray:
        self._renderer.update_scene(self.env.data, camera=self._camera)
        return np.ascontiguousarray(np.flip(self._renderer.render(), self._flip_axes))

    def _obs(self) -> dict:
        return {
            "image": self.render(),
            "state": self._raw_obs[:STATE_DIM].astype(np.float32),
            "instruction": self.instruction,
        }

    def reset(self, seed: int) -> dict:
        import mujoco

        self.env.seed(int(seed))
        self._raw_obs, _ = self.env.reset()
        # MetaWorld's reset moves the goal marker without recomputing positions: rendered now, the first frame
        # showed the previous episode's goal, so an episode's first frame depended on which ran before it in
        # this env (a sim worker's history). mj_forward recomputes them; it changes no state.
        mujoco.mj_forward(self.env.model, self.env.data)
        self.steps = 0
        return self._obs()

    def step(self, action: np.ndarray) -> StepResult:
        action = np.asarray(action, dtype=np.float64).reshape(ACTION_DIM)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"non-finite action {action}")
        self._raw_obs, reward, _, _, info = self.env.step(np.clip(action, -1.0, 1.0))
        self.steps += 1
        success = bool(info.get("success", 0.0) > 0.5)
        return StepResult(self._obs(), float(reward), success, success or self.steps >= self.max_steps)

    def expert_action(self) -> np.ndarray:
        """The scripted expert's action for the current state (needs the raw 39-d observation), clipped to
        [-1, 1] as `step` executes it. The experts' raw outputs reach 12 (button-press y): recorded unclipped,
        that one task's spread set the action normalisation and reach's moves became ~0.1 std (docs/policy.md)."""
        return np.clip(np.asarray(self._expert.get_action(self._raw_obs), dtype=np.float32), -1.0, 1.0)

    def close(self) -> None:
        # Close the GL context explicitly; letting the finaliser do it at exit prints EGL errors.
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
