"""Compose the Hydra config in configs/ for every console script.

The compose API (not @hydra.main) is used so each CLI can take a subcommand
(`vla-data sim ...`) and so nothing changes the working directory.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf


def config_dir() -> Path:
    """configs/ of a source checkout (editable install), else the copy packaged in the wheel."""
    env = os.environ.get("VLA_CONFIG_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parents[2]
    candidates += [here / "configs", Path(__file__).resolve().parents[1] / "_configs"]
    for c in candidates:
        if (c / "config.yaml").is_file():
            return c
    raise FileNotFoundError(f"no Hydra config directory found (looked in {[str(c) for c in candidates]})")


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    """The composed config with `overrides` (Hydra's key=value / group=option / +experiment=x syntax)."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides or []))
    return cfg


def save_config(cfg: DictConfig, out_dir: str | Path, name: str = "config.yaml") -> Path:
    """Every run keeps its resolved config next to its results."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # MuJoCo needs a GL backend chosen before it is imported; EGL renders headless.
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
