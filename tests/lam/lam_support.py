"""Tiny MetaWorld data for the LAM and IDM tests, built once per pytest process (lru_cache).

Rollouts of the scripted reach-v3 expert at 32 px: action-free videos go into a real zarr
FrameStore; disjoint seeds become labelled `Episode`s (the same dataclass `load_episodes` returns).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

from vla.data.lerobot_io import Episode
from vla.data.store import FrameStore
from vla.idm.configuration import IDMConfig
from vla.idm.train import IDMTrainConfig
from vla.lam.configuration import LAMConfig
from vla.lam.train import LAMTrainConfig

TASK, SIZE = "square", 32


def square_video(seed: int, n: int = 40) -> dict:
    """A white square moving over black with piecewise-constant velocity; action_t = its (dx, dy) at t.

    Synthetic on purpose: the test suite shares 2 busy cores, and a MetaWorld env takes ~1 min to build
    there. The motion is fully explained by the action, so a working LAM must encode it."""
    rng = np.random.default_rng(seed)
    pos = rng.integers(6, SIZE - 12, size=2).astype(float)
    images, actions = [], []
    vel = rng.integers(-2, 3, size=2)
    for t in range(n):
        if t % 8 == 0:
            vel = rng.integers(-2, 3, size=2)
        img = np.zeros((SIZE, SIZE, 3), np.uint8)
        x, y = pos.astype(int)
        img[y:y + 6, x:x + 6] = 255
        images.append(img)
        new = np.clip(pos + vel, 0, SIZE - 6)
        actions.append([*(new - pos), 0.0, 0.0])
        pos = new
    return {"images": np.stack(images), "actions": np.asarray(actions, np.float32),
            "states": np.zeros((n, 4), np.float32), "success": True}


@functools.lru_cache(maxsize=None)
def rollouts() -> tuple[list[dict], list[dict]]:
    return [square_video(s) for s in range(96)], [square_video(s) for s in range(100, 112)]


def write_store(url: str | Path, videos: list[dict]) -> str:
    store = FrameStore(url, mode="w")
    for i, v in enumerate(videos):
        vid = f"{TASK}_{i:03d}"
        store.add_video(vid, np.asarray(v["images"]), {"n_frames": len(v["images"]), "instruction": "reach the goal", "task": TASK})
    return str(url)


@functools.lru_cache(maxsize=None)
def store_template() -> str:
    """A filled store on disk; tests that write labels copy it first (copy_store)."""
    return write_store(Path(tempfile.mkdtemp(prefix="lam_store_")) / "frames.zarr", rollouts()[0])


def copy_store(dst: Path) -> str:
    import shutil

    shutil.copytree(store_template(), dst)
    return str(dst)


def episodes() -> list[Episode]:
    return [Episode(i, "reach the goal", r["images"], r["states"], r["actions"], r["success"])
            for i, r in enumerate(rollouts()[1])]


def tiny_lam_cfg(**kw) -> LAMConfig:
    return LAMConfig(**{"image_size": SIZE, "width": 16, "code_dim": 16, "k_min": 4, "k_max": 4,
                        "restart_after": 20, **kw})


def tiny_lam_train(**kw) -> LAMTrainConfig:
    return LAMTrainConfig(**{"steps": 300, "batch_size": 32, "lr": 2e-3, "eval_every": 300, "eval_batches": 4,
                             "ckpt_every": 100, "eval_fraction": 0.2, **kw})


def tiny_idm_cfg(**kw) -> IDMConfig:
    return IDMConfig(**{"image_size": SIZE, "width": 16, **kw})


def tiny_idm_train(**kw) -> IDMTrainConfig:
    return IDMTrainConfig(**{"steps": 200, "batch_size": 32, "eval_every": 100, "ckpt_every": 100, **kw})
