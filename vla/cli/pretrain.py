"""`vla-pretrain [key=value ...]`: stage 2, latent-action (or IDM pseudo-action) pretraining."""

from vla.core.command import Command, run_main
from vla.core.config import cli_config, save_config, setup_logging

COMMAND = Command(
    prog="vla-pretrain",
    summary="stage 2: train the VLA policy on action-free video (the frame store) to predict the LAM's latent\n"
            "codes (pretrain.target=latent) or the IDM's pseudo-actions (pretrain.target=idm).",
    usage=("vla-pretrain [key=value ...] [group=option ...]",),
    keys={
        "pretrain.target": None,
        "pretrain.train.steps": "optimiser steps",
        "pretrain.train.batch_size": "samples per step",
        "pretrain.train.device": "auto (cuda if present) | cpu | cuda:N",
        "paths.frames": "the frame store with the labels (vla-lam label / vla-idm label)",
        "paths.pretrain": "where the checkpoint goes (<dir>/model)",
        "resume": None,
    },
    examples=("vla-pretrain pretrain.train.steps=200",
              "vla-pretrain pretrain.target=idm paths.pretrain=data/work/pretrain_idm",
              "vla-pretrain policy=smolvlm2 pretrain.train.device=cuda"),
)


def run(argv: list[str]) -> None:
    setup_logging()
    cfg = cli_config(argv)
    save_config(cfg, cfg.paths.pretrain)
    from vla.pipeline.stages import run_pretrain

    metrics = run_pretrain(cfg)
    last = metrics["evals"][-1] if metrics["evals"] else {}
    print(f"vla-pretrain: {cfg.paths.pretrain}/model  target={metrics['target']}  "
          + "  ".join(f"{k}={v:.3f}" for k, v in last.items() if isinstance(v, float)))


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
