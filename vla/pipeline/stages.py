"""Stage entry points from a composed Hydra config (the console scripts and `accelerate launch` drivers call these)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from vla.core.config import to_dataclass
from vla.core.training import TrainConfig
from vla.policy.backbone import resolve_backbone
from vla.policy.configuration_vla import VLAConfig


def policy_config(cfg: DictConfig) -> VLAConfig:
    return to_dataclass(VLAConfig, cfg.policy)


def train_config(section: DictConfig, seed: int) -> TrainConfig:
    return to_dataclass(TrainConfig, section, seed=seed)


def run_lam(cfg: DictConfig) -> dict:
    from vla.lam.configuration import LAMConfig
    from vla.lam.train import LAMTrainConfig, train

    return train(to_dataclass(LAMConfig, cfg.lam.model), to_dataclass(LAMTrainConfig, cfg.lam.train), cfg.lam.store,
                 cfg.lam.out, teleop_root=cfg.lam.teleop, resume=bool(cfg.get("resume", False)))


def run_idm(cfg: DictConfig) -> dict:
    from vla.idm.configuration import IDMConfig
    from vla.idm.train import IDMTrainConfig, train

    return train(to_dataclass(IDMConfig, cfg.idm.model), to_dataclass(IDMTrainConfig, cfg.idm.train), cfg.idm.teleop,
                 cfg.idm.out, resume=bool(cfg.get("resume", False)), lam_diagnostics=cfg.idm.lam_diagnostics)


def run_pretrain(cfg: DictConfig) -> dict:
    from vla.policy.pretrain import pretrain

    pcfg = policy_config(cfg)
    pcfg.pretrain_target = cfg.pretrain.target
    return pretrain(pcfg, train_config(cfg.pretrain.train, cfg.seed), cfg.paths.frames, cfg.paths.pretrain,
                    resolve_backbone(pcfg.backbone, cfg.paths.backbone), resume=bool(cfg.resume),
                    eval_fraction=cfg.pretrain.eval_fraction, max_videos=cfg.pretrain.max_videos,
                    labels_array=cfg.pretrain.get("labels"))


def run_finetune(cfg: DictConfig, out_dir: str | Path | None = None, init: str | None = None,
                 pretrain_dir: str | Path | None = None, demos_per_task: int | None = None, data=None) -> dict:
    from vla.policy.finetune import finetune

    pcfg = policy_config(cfg)
    init = init or cfg.finetune.init
    if cfg.finetune.scratch not in ("full", "lora"):
        raise ValueError(f"finetune.scratch must be 'full' or 'lora', got {cfg.finetune.scratch!r}")
    if init == "none" and cfg.finetune.scratch == "full":
        # With nothing pretrained, every weight trains (LAPA's from-scratch baseline): the pretrained arms'
        # backbones were trained in full in stage 2, so LoRA over a frozen random backbone would be a strawman.
        pcfg.full_finetune = True
    return finetune(pcfg, train_config(cfg.finetune.train, cfg.seed), cfg.paths.teleop,
                    out_dir or cfg.paths.finetune, resolve_backbone(pcfg.backbone, cfg.paths.backbone),
                    init=init, pretrain_dir=pretrain_dir or cfg.finetune.pretrained,
                    demos_per_task=demos_per_task if demos_per_task is not None else cfg.finetune.demos_per_task,
                    resume=bool(cfg.resume), data=data)
