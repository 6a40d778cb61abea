"""LeRobot v3 teleop datasets: write episodes, choose episodes per task, read a small dataset whole into memory
(episodes for the LAM probe and the IDM, action chunks for finetuning).

Feature names follow LeRobot's MetaWorld convention (`observation.image`,
`observation.state` = hand xyz + gripper, `action` = xyz delta + gripper), so our
datasets, `lerobot-eval --env.type=metaworld` and hub MetaWorld datasets interoperate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


def teleop_features(image_size: int | tuple[int, int] | dict[str, tuple[int, int]], use_video: bool = True,
                    state_names: list[str] | None = None, action_names: list[str] | None = None) -> dict:
    """The dataset schema; the defaults are MetaWorld's (one square `observation.image`, 4-d state and action).
    A robot's recording passes its own cameras ({feature name: (height, width)}, e.g.
    `observation.images.front`) and joint/command names, whose count sets the shape."""
    if isinstance(image_size, dict):
        cameras = dict(image_size)
    else:
        cameras = {"observation.image": (image_size, image_size) if isinstance(image_size, int) else image_size}
    state_names = state_names or ["x", "y", "z", "gripper"]
    action_names = action_names or ["dx", "dy", "dz", "gripper"]
    return {
        **{key: {"dtype": "video" if use_video else "image", "shape": (h, w, 3),
                 "names": ["height", "width", "channels"]} for key, (h, w) in cameras.items()},
        "observation.state": {"dtype": "float32", "shape": (len(state_names),), "names": list(state_names)},
        "action": {"dtype": "float32", "shape": (len(action_names),), "names": list(action_names)},
        "next.success": {"dtype": "bool", "shape": (1,), "names": None},
    }


class TeleopWriter:
    """Appends episodes to a new LeRobot v3 dataset; `close()` finalises it (required to reload it)."""

    def __init__(self, root: str | Path, fps: int, image_size: int | tuple[int, int] | dict[str, tuple[int, int]],
                 repo_id: str = "local/metaworld_sim", use_video: bool = True,
                 state_names: list[str] | None = None, action_names: list[str] | None = None):
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        root = Path(root)
        if root.exists():
            raise FileExistsError(f"{root} already exists; LeRobotDataset.create needs a new directory")
        features = teleop_features(image_size, use_video, state_names, action_names)
        self.cameras = [k for k, f in features.items() if f["dtype"] in ("video", "image")]
        self.dataset = LeRobotDataset.create(repo_id, fps=fps, features=features, root=root, use_videos=use_video)

    def add_episode(self, images: np.ndarray | dict[str, np.ndarray], states: np.ndarray, actions: np.ndarray,
                    successes: np.ndarray, instruction: str) -> None:
        """`images`: (T, H, W, 3) uint8 for the one camera, or {camera feature name: (T, H, W, 3)}."""
        cameras = images if isinstance(images, dict) else {self.cameras[0]: images}
        if sorted(cameras) != sorted(self.cameras):
            raise ValueError(f"episode has cameras {sorted(cameras)}, the dataset {sorted(self.cameras)}")
        lengths = {len(v) for v in cameras.values()} | {len(states), len(actions), len(successes)}
        if len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"episode arrays differ in length or are empty: images "
                             f"{ {k: len(v) for k, v in cameras.items()} }, states {len(states)}, actions "
                             f"{len(actions)}, success {len(successes)}")
        for t, (s, a, ok) in enumerate(zip(states, actions, successes)):
            self.dataset.add_frame({**{k: v[t] for k, v in cameras.items()},
                                    "observation.state": np.asarray(s, np.float32), "action": np.asarray(a, np.float32),
                                    "next.success": np.array([bool(ok)]), "task": instruction})
        self.dataset.save_episode()

    def close(self) -> None:
        self.dataset.finalize()


@dataclass
class Episode:
    episode_index: int
    instruction: str
    images: np.ndarray  # (T, H, W, 3) uint8
    states: np.ndarray  # (T, state_dim) float32
    actions: np.ndarray  # (T, action_dim) float32
    success: bool
    fps: float = 0.0  # the dataset's (0: unknown)


def _require_local_dataset(root: str | Path) -> None:
    if not (Path(root) / "meta" / "info.json").is_file():
        raise FileNotFoundError(f"no LeRobot dataset at {root} (missing meta/info.json); "
                                f"create one with `vla-data sim` or `vla-record`")


def open_dataset(root: str | Path, repo_id: str | None = None, **kwargs):
    """A LeRobotDataset from a local root (or a hub id when online and root is None)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    if root is not None:
        _require_local_dataset(root)
    repo_id = repo_id or (f"local/{Path(root).name}" if root is not None else None)
    return LeRobotDataset(repo_id, root=root, **kwargs)


def open_metadata(root: str | Path, repo_id: str = "local/teleop"):
    """A local dataset's LeRobotDatasetMetadata (episodes, tasks, fps), without decoding any frame."""
    from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata

    _require_local_dataset(root)
    return LeRobotDatasetMetadata(repo_id, root=Path(root))


def episodes_by_task(meta) -> dict[str, list[int]]:
    """Each task's episode indices in index order, from the `tasks` column of `meta.episodes`."""
    if meta.episodes is None:  # lerobot leaves it unset in a dataset with no episodes
        return {}
    columns = meta.episodes.select_columns(["episode_index", "tasks"]).to_dict()
    by_task: dict[str, list[int]] = {}
    for episode, tasks in sorted(zip(columns["episode_index"], columns["tasks"])):
        # An episode of several tasks would count towards each, and the per-task budget would not hold.
        if len(tasks) != 1:
            raise ValueError(f"episode {episode} of {meta.root} has tasks {tasks}; "
                             "per-task selection needs exactly one task per episode")
        by_task.setdefault(tasks[0], []).append(int(episode))
    return by_task


def first_per_task(by_task: dict[str, list[int]], demos_per_task: int, where: str = "the dataset") -> list[int]:
    """The first `demos_per_task` of every task's episode indices (each list in index order), sorted.

    Taking the first N of each task, rather than the first N of the dataset (which is sorted by task),
    keeps every task in a small sweep point, and makes the points nest: 5 per task ⊂ 10 ⊂ 25.
    """
    if demos_per_task < 1:
        raise ValueError(f"demos_per_task must be at least 1 (or null for all), got {demos_per_task}")
    chosen = []
    for task, episodes in by_task.items():
        if len(episodes) < demos_per_task:
            raise ValueError(f"demos_per_task={demos_per_task} but task {task!r} has only {len(episodes)} "
                             f"episodes in {where}")
        chosen += episodes[:demos_per_task]
    return sorted(chosen)


def select_episodes(meta, demos_per_task: int | None) -> list[int]:
    """The first `demos_per_task` episodes of every task of a dataset (None = every episode)."""
    if demos_per_task is None:
        return list(range(meta.total_episodes))
    return first_per_task(episodes_by_task(meta), demos_per_task, str(meta.root))


def load_episodes(root: str | Path, episodes: list[int] | None = None, image_key: str = "observation.image") -> list[Episode]:
    """Decode a (small) teleop dataset once into memory: for the LAM probe, the IDM and tests."""
    ds = open_dataset(root, episodes=episodes)
    hf = ds.hf_dataset.with_format(None)
    episode_index = np.asarray(hf["episode_index"])
    states = np.asarray(hf["observation.state"], dtype=np.float32)
    actions = np.asarray(hf["action"], dtype=np.float32)
    success = np.asarray(hf["next.success"]).reshape(-1).astype(bool) if "next.success" in hf.column_names \
        else np.zeros(len(hf), bool)
    out = []
    for ep in np.unique(episode_index):
        rows = np.flatnonzero(episode_index == ep)
        frames = [ds[int(r)][image_key] for r in rows]  # decoded (C,H,W) float in [0,1]
        images = (np.stack([f.numpy() for f in frames]).transpose(0, 2, 3, 1) * 255.0).round().astype(np.uint8)
        task = ds[int(rows[0])]["task"]
        out.append(Episode(int(ep), task, images, states[rows], actions[rows], bool(success[rows].any()),
                           float(ds.meta.fps)))
    return out


@dataclass
class ChunkData:
    images: dict[str, np.ndarray]  # per camera feature: (N, H, W, 3) uint8, each camera its own size
    states: np.ndarray  # (N, state_dim)
    actions: np.ndarray  # (N, chunk, action_dim)
    is_pad: np.ndarray  # (N, chunk) bool
    instructions: list[str]
    episodes: list[int]

    @property
    def image_keys(self) -> list[str]:
        return list(self.images)


def feature_mapping(meta, image_keys: list[str] | None, state_key: str, action_key: str) -> list[str]:
    """The cameras to read (all of the dataset's when None), after checking that every feature the policy maps
    exists with a usable shape: one line naming the feature, the dataset and what it has instead."""
    features, where = meta.features, meta.root
    cameras = list(meta.camera_keys)
    keys = cameras if image_keys is None else list(image_keys)
    if not keys:
        raise ValueError(f"{where} has no camera feature (observation.image* of dtype image or video); "
                         f"its features: {sorted(features)}")
    missing = [k for k in keys if k not in cameras]
    if missing:
        raise ValueError(f"{where} has no camera {missing}: its cameras are {cameras} (set policy.image_keys)")
    for key, what in ((state_key, "policy.state_key"), (action_key, "policy.action_key")):
        if key not in features or len(features[key]["shape"]) != 1:
            raise ValueError(f"{where} has no 1-D feature {key!r} ({what}); its features: {sorted(features)}")
    return keys


def load_chunks(root: str | Path, chunk_size: int, demos_per_task: int | None = None,
                image_keys: list[str] | None = None, state_key: str = "observation.state", action_key: str = "action",
                repo_id: str = "local/teleop") -> ChunkData:
    """Decode the first `demos_per_task` episodes of every task (all when None) once into memory, with
    action chunks from delta_timestamps: the cameras `image_keys` (None: every camera), state and action as
    the dataset's metadata names and sizes them."""
    import torch
    from lerobot.datasets import LeRobotDataset

    meta = open_metadata(root, repo_id)
    keys = feature_mapping(meta, image_keys, state_key, action_key)
    episodes = select_episodes(meta, demos_per_task)
    ds = LeRobotDataset(repo_id, root=Path(root), episodes=episodes,
                        delta_timestamps={action_key: [i / meta.fps for i in range(chunk_size)]})
    images, states, actions, pads, instr = {k: [] for k in keys}, [], [], [], []
    for i in tqdm(range(len(ds)), desc=f"decoding {len(episodes)} episodes"):
        item = ds[i]
        for k in keys:
            images[k].append((item[k].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy())
        states.append(item[state_key].numpy())
        actions.append(item[action_key].numpy())
        pads.append(item[f"{action_key}_is_pad"].numpy())
        instr.append(item["task"])
    return ChunkData({k: np.stack(v) for k, v in images.items()}, np.stack(states).astype(np.float32),
                     np.stack(actions).astype(np.float32), np.stack(pads).astype(bool), instr, episodes)
