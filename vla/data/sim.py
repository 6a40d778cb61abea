"""`vla-data sim`: the offline corpus, rendered from MetaWorld with its scripted experts.

Two disjoint sets of seeded episodes per task:
  - action-free video: <videos>/<task>_<seed>.mp4 + a JSON sidecar each, and manifest.jsonl
    (task, instruction, fps, resolution, seed, success, frames) — no actions anywhere;
  - teleop: a LeRobot v3 dataset with image, state, action, task and per-frame success.
Episodes render in parallel worker processes (one MuJoCo renderer each); a re-run
skips videos already written and a teleop dataset already finalised.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vla.data.lerobot_io import TeleopWriter
from vla.data.video import PIX_FMT, write_mp4
from vla.data.workers import spawn_pool, unordered

log = logging.getLogger(__name__)

TELEOP_SETTINGS = "sim_settings.json"  # beside LeRobot's meta/: the settings the teleop dataset was made with


@dataclass
class SimConfig:
    tasks: tuple[str, ...] = ("push-v3", "reach-v3", "button-press-topdown-v3")
    video_episodes_per_task: int = 30
    teleop_episodes_per_task: int = 10
    image_size: int = 64
    camera: str = "corner4"
    fps: int = 80  # MetaWorld's control rate (frame_skip 5 × 2.5 ms): one frame per env step
    max_steps: int = 150
    teleop_seed_offset: int = 500_000  # spec.seeds.teleop_offset: teleop layouts apart from the video ones
    tail_steps: int = 8  # frames kept after success so the outcome is visible
    # Teleop frames as lossless images (False) or LeRobot's default video (AV1, 4:2:0). At 64 px the video's
    # chroma subsampling turns push's 1-2 px green goal brown (measured: max pixel error 117 of 255, at the
    # goal), so a policy trained on decoded video meets a goal at evaluation it barely saw in training.
    teleop_video: bool = False
    workers: int = 2
    seed: int = 0

    def __post_init__(self):
        # Checked here, in the main process, so a bad value is one message before any worker starts.
        from vla.data.metaworld_env import check_task

        if not self.tasks:
            raise ValueError("data.sim.tasks is empty: name at least one MetaWorld task, e.g. [push-v3]")
        for task in self.tasks:
            check_task(task)
        # image_size >= 32: LeRobot encodes the teleop video with SVT-AV1, which kills the process
        # (SIGFPE) at 24 px and below here; 30 px and up encode.
        for name, low in (("video_episodes_per_task", 0), ("teleop_episodes_per_task", 0), ("image_size", 32),
                          ("fps", 1), ("max_steps", 1), ("tail_steps", 0), ("workers", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ValueError(f"data.sim.{name} must be an integer >= {low}, got {getattr(self, name)!r}")


def rollout(task_env, seed: int, max_steps: int, tail_steps: int) -> dict:
    obs = task_env.reset(seed)
    images, states, actions, successes = [], [], [], []
    success_at = None
    for step in range(max_steps):
        action = task_env.expert_action()
        images.append(obs["image"])
        states.append(obs["state"])
        actions.append(action)
        result = task_env.step(action)
        successes.append(result.success)
        obs = result.obs
        if result.success and success_at is None:
            success_at = step
        if success_at is not None and step >= success_at + tail_steps:
            break
    return {"images": np.stack(images), "states": np.stack(states), "actions": np.stack(actions),
            "successes": np.array(successes), "success": success_at is not None}


_ENVS: dict = {}


def _worker_episode(job: tuple) -> tuple:
    from vla.data.metaworld_env import MetaWorldTask

    kind, task, seed, cfg, video_dir = job
    if task not in _ENVS:  # one env (and one GL context) per task per worker process
        _ENVS[task] = MetaWorldTask(task, cfg.image_size, cfg.camera, cfg.max_steps)
    ep = rollout(_ENVS[task], seed, cfg.max_steps, cfg.tail_steps)
    if kind == "teleop":
        return kind, task, seed, ep
    vid = f"{task}_{seed:07d}"
    write_mp4(Path(video_dir) / f"{vid}.mp4", ep["images"], cfg.fps)
    meta = {"video_id": vid, "file": f"{vid}.mp4", "task": task, "instruction": _ENVS[task].instruction,
            **render_settings(cfg), "seed": seed, "success": ep["success"], "n_frames": len(ep["images"])}
    (Path(video_dir) / f"{vid}.json").write_text(json.dumps(meta))  # written last: marks the video done
    return kind, task, seed, meta


def render_settings(cfg: SimConfig) -> dict:
    """What a rendered episode depends on besides task and seed: recorded with each video (and the teleop
    dataset), so a re-run under other settings renders again instead of mixing the two."""
    return {"fps": cfg.fps, "height": cfg.image_size, "width": cfg.image_size, "camera": cfg.camera,
            "max_steps": cfg.max_steps, "tail_steps": cfg.tail_steps, "pix_fmt": PIX_FMT}


def _made_with(meta: dict, settings: dict) -> bool:
    return {k: meta.get(k) for k in settings} == settings


def _video_done(sidecar: Path, settings: dict) -> bool:
    return sidecar.is_file() and _made_with(json.loads(sidecar.read_text()), settings)


def layout_seeds(cfg: SimConfig, task_index: int, kind: str) -> range:
    """The MetaWorld layout seeds of one task's video or teleop episodes. Evaluation and the simulated robot
    draw theirs from their own ranges (spec.seeds); tests/core/test_config.py checks no preset overlaps them."""
    base = cfg.seed * 1_000_000 + task_index * 10_000 + (cfg.teleop_seed_offset if kind == "teleop" else 0)
    return range(base, base + (cfg.teleop_episodes_per_task if kind == "teleop" else cfg.video_episodes_per_task))


def _jobs(cfg: SimConfig, video_dir: Path, teleop_needed: bool) -> list[tuple]:
    jobs, settings, redo = [], render_settings(cfg), 0
    for ti, task in enumerate(cfg.tasks):
        for seed in layout_seeds(cfg, ti, "video"):
            sidecar = video_dir / f"{task}_{seed:07d}.json"
            if not _video_done(sidecar, settings):
                redo += sidecar.is_file()
                jobs.append(("video", task, seed, cfg, str(video_dir)))
        if teleop_needed:
            for seed in layout_seeds(cfg, ti, "teleop"):
                jobs.append(("teleop", task, seed, cfg, str(video_dir)))
    if redo:
        log.warning("rendering %d videos again: they were made with other settings than %s", redo, settings)
    return jobs


def _teleop_settings(cfg: SimConfig) -> dict:
    return {**render_settings(cfg), "tasks": list(cfg.tasks), "episodes_per_task": cfg.teleop_episodes_per_task,
            "seed": cfg.seed, "teleop_seed_offset": cfg.teleop_seed_offset, "actions": "clipped", "video": cfg.teleop_video}  # datasets of earlier versions recorded the raw expert output


def _teleop_done(root: Path, cfg: SimConfig) -> bool:
    """Finalised, and made by this configuration (its settings file is written after finalize)."""
    marker = root / TELEOP_SETTINGS
    return (root / "meta" / "info.json").is_file() and marker.is_file() and \
        json.loads(marker.read_text()) == _teleop_settings(cfg)


def write_manifest(video_dir: Path) -> Path:
    metas = sorted((json.loads(p.read_text()) for p in video_dir.glob("*.json")), key=lambda m: m["video_id"])
    path = video_dir / "manifest.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in metas))
    return path


def generate(cfg: SimConfig, video_dir: str | Path, teleop_root: str | Path) -> dict:
    video_dir, teleop_root = Path(video_dir), Path(teleop_root)
    video_dir.mkdir(parents=True, exist_ok=True)
    n_teleop = cfg.teleop_episodes_per_task * len(cfg.tasks)
    teleop_needed = n_teleop > 0 and not _teleop_done(teleop_root, cfg)
    if teleop_needed and teleop_root.exists():
        log.warning("discarding teleop dataset %s: unfinished (interrupted run) or made with other settings",
                    teleop_root)
        shutil.rmtree(teleop_root)
    jobs = _jobs(cfg, video_dir, teleop_needed)
    teleop: dict[tuple, dict] = {}
    if jobs:
        with spawn_pool(max(1, min(cfg.workers, len(jobs)))) as pool:
            for kind, task, seed, result in tqdm(unordered(pool, _worker_episode, jobs, "sim"), total=len(jobs),
                                                 desc="sim episodes", unit="ep"):
                if kind == "teleop":
                    teleop[(task, seed)] = result
    if teleop_needed:
        from vla.data.metaworld_env import task_instruction

        writer = TeleopWriter(teleop_root, cfg.fps, cfg.image_size, use_video=cfg.teleop_video)
        for (task, seed) in sorted(teleop, key=lambda k: (cfg.tasks.index(k[0]), k[1])):
            ep = teleop[(task, seed)]
            writer.add_episode(ep["images"], ep["states"], ep["actions"], ep["successes"], task_instruction(task))
        writer.close()
        (teleop_root / TELEOP_SETTINGS).write_text(json.dumps(_teleop_settings(cfg)))
    manifest = write_manifest(video_dir)
    metas = [json.loads(line) for line in manifest.read_text().splitlines()]
    settings = render_settings(cfg)
    others = [m["video_id"] for m in metas if not _made_with(m, settings)]
    if others:  # outside this run's tasks/counts, so not rendered again: the folder mixes settings
        log.warning("%d videos in %s were made with other settings and are not part of this run (e.g. %s); "
                    "remove them, or use another paths.root, before ingesting the folder",
                    len(others), video_dir, ", ".join(others[:3]))
    return {"videos": len(metas), "video_success_rate": float(np.mean([m["success"] for m in metas])) if metas else 0.0,
            "teleop_episodes": n_teleop, "manifest": str(manifest), "teleop": str(teleop_root)}
