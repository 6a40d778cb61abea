"""`vla-lam train|label|viz [key=value ...]`: train the latent action model, label the store, draw its codes."""

from __future__ import annotations

import json
import sys

from vla.cli.config import load_config, save_config, setup_logging

USAGE = "usage: vla-lam {train,label,viz} [key=value ...]"


def model_config(cfg):
    from omegaconf import OmegaConf

    from vla.lam.model import LAMConfig

    return LAMConfig(**OmegaConf.to_container(cfg.lam.model, resolve=True))


def train(cfg) -> None:
    from omegaconf import OmegaConf

    from vla.lam.train import LAMTrainConfig, train as run

    save_config(cfg, cfg.lam.out)
    result = run(model_config(cfg), LAMTrainConfig(**OmegaConf.to_container(cfg.lam.train, resolve=True)),
                 cfg.lam.store, cfg.lam.out, teleop_root=cfg.lam.teleop, resume=cfg.get("resume", False))
    final = {k: round(v, 4) for k, v in result["final"].items() if isinstance(v, float)}
    print(f"vla-lam train: {result['model']}  steps={result['steps']}  {json.dumps(final)}")


def label(cfg) -> None:
    from vla.lam.label import label_with_lam

    counts = label_with_lam(cfg.lam.checkpoint, cfg.lam.store, cfg.lam.label_batch_size)
    print(f"vla-lam label: {cfg.lam.store}  {counts}")


def viz(cfg) -> None:
    from vla.lam.probe import viz_from_store

    path = viz_from_store(cfg.lam.checkpoint, cfg.lam.store, cfg.lam.viz.out, cfg.lam.viz.rows, cfg.seed)
    print(f"vla-lam viz: {path}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("train", "label", "viz"):
        raise SystemExit(USAGE)
    setup_logging()
    cfg = load_config(argv[1:])
    {"train": train, "label": label, "viz": viz}[argv[0]](cfg)


if __name__ == "__main__":
    main()
