"""`vla-finetune [key=value ...]`: stage 3, LoRA action finetuning on the LeRobot teleop dataset."""

from vla.core.command import Command, run_main
from vla.core.config import cli_config, save_config, setup_logging

COMMAND = Command(
    prog="vla-finetune",
    summary="stage 3: finetune the policy's action head (LoRA on the backbone) on a labelled LeRobot dataset,\n"
            "starting from the stage-2 checkpoint (finetune.init=pretrained) or the bare backbone (none).",
    usage=("vla-finetune [key=value ...] [group=option ...]",),
    keys={
        "finetune.init": None,
        "finetune.pretrained": "the stage-2 checkpoint (init=pretrained)",
        "finetune.demos_per_task": None,
        "finetune.train.steps": "optimiser steps",
        "paths.teleop": "the LeRobot dataset (vla-data sim, vla-record, or yours)",
        "paths.finetune": "where the checkpoint goes (<dir>/model)",
        "resume": None,
    },
    examples=("vla-finetune finetune.init=none finetune.train.steps=500",
              "vla-finetune paths.teleop=/data/my_lerobot_dataset finetune.demos_per_task=10"),
)


def run(argv: list[str]) -> None:
    setup_logging()
    cfg = cli_config(argv)
    save_config(cfg, cfg.paths.finetune)
    from vla.pipeline.stages import run_finetune

    m = run_finetune(cfg)
    print(f"vla-finetune: {cfg.paths.finetune}/model  init={m['init']}  episodes={len(m['episodes'])}  "
          f"final loss={m['history'][-1]['loss']:.4f}  trainable={m['trainable_params']}/{m['total_params']}")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
