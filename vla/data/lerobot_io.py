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


def teleop_features(image_size: int | tuple[int, int], use_video: bool = True,
                    state_names: list[str] | None = None, action_names: list[str] | None = None) -> dict:
    """The dataset schema; the defaults are MetaWorld's (square image, 4-d state and action). A robot's
    recording passes its own image (height, width) and joint/command names, whose count sets the shape."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    state_names = state_names or ["x", "y", "z", "gripper"]
    action_names = action_names or ["dx", "dy", "dz", "gripper"]
    return {
        "observation.image": {"dtype": "video" if use_video else "image", "shape": (h, w, 3),
                              "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (len(state_names),), "names": list(state_names)},
        "action": {"dtype": "float32", "shape": (len(action_names),), "names": list(action_names)},
        "next.success": {"dtype": "bool", "shape": (1,), "names": None},
    }


class TeleopWriter:
    """Appends episodes to a new LeRobot v3 dataset; `close()` finalises it (required to reload it)."""

    def __init__(self, root: str | Path, fps: int, image_size: int | tuple[int, int],
                 repo_id: str = "local/metaworld_sim", use_video: bool = True,
                 state_names: list[str] | None = None, action_names: list[str] | None = None):
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        root = Path(root)
        if root.exists():
            raise FileExistsError(f"{root} already exists; LeRobotDataset.create needs a new directory")
        features = teleop_features(image_size, use_video, state_names, action_names)
        self.dataset = LeRobotDataset.create(repo_id, fps=fps, features=features, root=root, use_videos=use_video)

    def add_episode(self, images: np.ndarray, states: np.ndarray, actions: np.ndarray, successes: np.ndarray,
                    instruction: str) -> None:
        if not (len(images) == len(states) == len(actions) == len(successes)) or len(images) == 0:
            raise ValueError(f"episode arrays differ in length or are empty: images {len(images)}, "
                             f"states {len(states)}, actions {len(actions)}, success {len(successes)}")
        for img, s, a, ok in zip(images, states, actions, successes):
            self.dataset.add_frame({"observation.image": img, "observation.state": np.asarray(s, np.float32),
                                    "action": np.asarray(a, np.float32),
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
        out.append(Episode(int(ep), task, images, states[rows], actions[rows], bool(success[rows].any())))
    return out


@dataclass
class ChunkData:
    images: np.ndarray  # (N, H, W, 3) uint8
    states: np.ndarray  # (N, state_dim)
    actions: np.ndarray  # (N, chunk, action_dim)
    is_pad: np.ndarray  # (N, chunk) bool
    instructions: list[str]
    episodes: list[int]


def load_chunks(root: str | Path, chunk_size: int, demos_per_task: int | None = None,
                repo_id: str = "local/teleop") -> ChunkData:
    """Decode the first `demos_per_task` episodes of every task (all when None) once into memory, with
    action chunks from delta_timestamps."""
    import torch
    from lerobot.datasets import LeRobotDataset

    meta = open_metadata(root, repo_id)
    episodes = select_episodes(meta, demos_per_task)
    ds = LeRobotDataset(repo_id, root=Path(root), episodes=episodes,
                        delta_timestamps={"action": [i / meta.fps for i in range(chunk_size)]})
    images, states, actions, pads, instr = [], [], [], [], []
    for i in tqdm(range(len(ds)), desc=f"decoding {len(episodes)} episodes"):
        item = ds[i]
        img = item["observation.image"]
        images.append((img.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy())
        states.append(item["observation.state"].numpy())
        actions.append(item["action"].numpy())
        pads.append(item["action_is_pad"].numpy())
        instr.append(item["task"])
    return ChunkData(np.stack(images), np.stack(states).astype(np.float32), np.stack(actions).astype(np.float32),
                     np.stack(pads).astype(bool), instr, episodes)
