"""`vla-pretrain [key=value ...]`: stage 2, latent-action (or IDM pseudo-action) pretraining."""

import sys

from vla.cli.config import load_config, save_config, setup_logging


def main() -> None:
    setup_logging()
    cfg = load_config(sys.argv[1:])
    save_config(cfg, cfg.paths.pretrain)
    from vla.policy.stages import run_pretrain

    metrics = run_pretrain(cfg)
    last = metrics["evals"][-1] if metrics["evals"] else {}
    print(f"vla-pretrain: {cfg.paths.pretrain}/model  target={metrics['target']}  "
          + "  ".join(f"{k}={v:.3f}" for k, v in last.items() if isinstance(v, float)))


if __name__ == "__main__":
    main()
