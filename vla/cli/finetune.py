"""`vla-finetune [key=value ...]`: stage 3, LoRA action finetuning on the LeRobot teleop dataset."""

import sys

from vla.cli.config import load_config, save_config, setup_logging


def main() -> None:
    setup_logging()
    cfg = load_config(sys.argv[1:])
    save_config(cfg, cfg.paths.finetune)
    from vla.policy.stages import run_finetune

    m = run_finetune(cfg)
    print(f"vla-finetune: {cfg.paths.finetune}/model  init={m['init']}  episodes={len(m['episodes'])}  "
          f"final loss={m['history'][-1]['loss']:.4f}  trainable={m['trainable_params']}/{m['total_params']}")


if __name__ == "__main__":
    main()
