"""Tiny artefacts for the policy, runtime and eval tests: a backbone, a labelled frame store, a teleop dataset.

The synthetic store makes latent codes a function of the frame's colour, so a model that reads the
image can beat the most-frequent-code predictor, and one that does not cannot.
"""

from pathlib import Path

import numpy as np

from vla.core.training import TrainConfig
from vla.data.metaworld_env import MetaWorldTask
from vla.policy.backbone import build_tiny_backbone
from vla.policy.configuration_vla import VLAConfig

TASK = "reach-v3"
INSTRUCTIONS = ["push the puck to the goal", "reach the goal", "open the drawer"]
N_TOKENS, CODEBOOK = 4, 8
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                    [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230]], dtype=np.float32)


def make_backbone(directory: Path) -> Path:
    return build_tiny_backbone(directory, texts=INSTRUCTIONS + ["reach the goal position"])


def colour_codes(colour: np.ndarray) -> np.ndarray:
    """(T,) colour ids -> (T, 4) codes; every token is a different function of the colour."""
    return np.stack([colour, (colour + 3) % CODEBOOK, colour // 2, (7 - colour) % CODEBOOK], axis=1)


def make_store(url: Path, n_videos: int = 8, n_frames: int = 24, size: int = 32, seed: int = 0) -> Path:
    from vla.data.store import FrameStore

    rng = np.random.default_rng(seed)
    store = FrameStore(url, mode="a")
    for v in range(n_videos):
        vid = f"video_{v:03d}"
        colour = rng.integers(0, CODEBOOK, n_frames)
        frames = PALETTE[colour][:, None, None, :] + rng.normal(0, 20, (n_frames, size, size, 3))
        frames = frames.clip(0, 255).astype(np.uint8)
        store.add_video(vid, frames, {"instruction": INSTRUCTIONS[v % len(INSTRUCTIONS)], "fps": 80})
        gap = 4
        store.write_array(vid, "latent_actions", colour_codes(colour[:-gap]).astype(np.int64),
                          {"lam_hash": "synthetic", "gap": gap, "codebook_size": CODEBOOK, "n_tokens": N_TOKENS})
        idm = np.stack([colour[:-1] / 7.0, -colour[:-1] / 7.0, np.zeros(n_frames - 1), np.ones(n_frames - 1)], 1)
        store.write_array(vid, "idm_actions", idm.astype(np.float32))
    return url


def make_teleop(root: Path, n_episodes: int = 3, steps: int = 30, image_size: int = 64) -> Path:
    """A real LeRobot v3 dataset of scripted-expert MetaWorld episodes (images stored as PNG frames)."""
    from lerobot.datasets import LeRobotDataset

    features = {
        "observation.image": {"dtype": "image", "shape": (image_size, image_size, 3),
                              "names": ["height", "width", "channel"]},
        "observation.state": {"dtype": "float32", "shape": (4,), "names": None},
        "action": {"dtype": "float32", "shape": (4,), "names": None},
    }
    ds = LeRobotDataset.create("local/teleop", fps=80, features=features, root=root, use_videos=False)
    with MetaWorldTask(TASK, image_size=image_size) as env:
        for episode in range(n_episodes):
            obs = env.reset(seed=1000 + episode)
            for _ in range(steps):
                action = env.expert_action()
                ds.add_frame({"observation.image": obs["image"], "observation.state": obs["state"],
                              "action": action.astype(np.float32), "task": obs["instruction"]})
                obs = env.step(action).obs
            ds.save_episode()
    ds.finalize()
    return root


def tiny_policy_cfg(**kw) -> VLAConfig:
    return VLAConfig(**{"head_hidden": 64, "chunk_size": 4, "lora_r": 4, **kw})


def tiny_train_cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 40, "batch_size": 16, "lr": 1e-3, "warmup_steps": 5, "eval_every": 1000,
                          "ckpt_every": 1000, "device": "cpu", **kw})


def shared(tmp_path_factory, name: str, build) -> Path:
    """One artefact per test session, shared across test directories (policy, runtime, eval)."""
    path = tmp_path_factory.getbasetemp() / "shared" / name
    if not (path.parent / f"{name}.done").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path)
        (path.parent / f"{name}.done").touch()
    return path


def backbone_fixture(tmp_path_factory) -> Path:
    return shared(tmp_path_factory, "backbone", make_backbone)


def teleop_fixture(tmp_path_factory) -> Path:
    return shared(tmp_path_factory, "teleop", make_teleop)


def store_fixture(tmp_path_factory) -> Path:
    return shared(tmp_path_factory, "frames.zarr", make_store)


def finetuned_fixture(tmp_path_factory) -> Path:
    """A stage-3 checkpoint (from the bare backbone, a few steps): enough for runtime/eval plumbing."""
    from vla.policy.finetune import finetune

    bb, tel = backbone_fixture(tmp_path_factory), teleop_fixture(tmp_path_factory)
    run = shared(tmp_path_factory, "finetuned",
                 lambda p: finetune(tiny_policy_cfg(), tiny_train_cfg(steps=10), tel, p, bb, init="none"))
    return run / "model"
