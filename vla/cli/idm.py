"""`vla-idm train|label [key=value ...]`: the supervised inverse-dynamics baseline (VPT route)."""

from __future__ import annotations

from vla.core.command import Command, run_main, split_subcommand
from vla.core.config import cli_config, save_config, setup_logging

COMMAND = Command(
    prog="vla-idm",
    summary="the supervised inverse-dynamics baseline (the VPT route): learn (frame, next frame) -> action on\n"
            "the labelled teleop set, then write its pseudo-actions for every frame pair into the store.",
    usage=("vla-idm train [key=value ...]", "vla-idm label [key=value ...]"),
    subcommands={"train": "train the IDM on the teleop dataset (idm.teleop) into idm.out",
                 "label": "write the checkpoint's pseudo-actions into the frame store (idm.store)"},
    keys={
        "idm.train.steps": "optimiser steps",
        "idm.train.batch_size": "frame pairs per step",
        "idm.model.gap": "frames between the two of a pair",
        "idm.teleop": "the labelled LeRobot dataset it learns from",
        "idm.store": "the frame store it labels",
        "idm.checkpoint": "what label uses",
        "resume": None,
    },
    examples=("vla-idm train idm.train.steps=200", "vla-idm label idm.checkpoint=data/work/idm/model"),
)


def train(cfg) -> None:
    from vla.pipeline.stages import run_idm

    save_config(cfg, cfg.idm.out)
    m = run_idm(cfg)
    print(f"vla-idm train: {m['model']}  held-out R2={m['eval_r2']:.3f} (untrained {m['untrained_eval_r2']:.3f})"
          + (f"  LAM probe {m['lam_probe']}" if "lam_probe" in m else ""))


def label(cfg) -> None:
    from vla.idm.train import label_with_idm

    counts = label_with_idm(cfg.idm.checkpoint, cfg.idm.store, cfg.idm.label_batch_size, cfg.engine,
                            cfg.idm.label_workers, cfg.ray.address)
    print(f"vla-idm label: {cfg.idm.store}  {counts}")


def run(argv: list[str]) -> None:
    command, rest = split_subcommand(COMMAND, argv)
    setup_logging()
    cfg = cli_config(rest)
    {"train": train, "label": label}[command](cfg)


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
