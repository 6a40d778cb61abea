"""`vla-idm train|label [key=value ...]`: the supervised inverse-dynamics baseline (VPT route)."""

from __future__ import annotations

import sys

from vla.cli.config import load_config, save_config, setup_logging

USAGE = "usage: vla-idm {train,label} [key=value ...]"


def train(cfg) -> None:
    from omegaconf import OmegaConf

    from vla.idm.model import IDMConfig
    from vla.idm.train import IDMTrainConfig, train as run

    save_config(cfg, cfg.idm.out)
    m = run(IDMConfig(**OmegaConf.to_container(cfg.idm.model, resolve=True)),
            IDMTrainConfig(**OmegaConf.to_container(cfg.idm.train, resolve=True)),
            cfg.idm.teleop, cfg.idm.out, resume=cfg.get("resume", False), lam_diagnostics=cfg.idm.lam_diagnostics)
    print(f"vla-idm train: {m['model']}  held-out R2={m['eval_r2']:.3f} (untrained {m['untrained_eval_r2']:.3f})"
          + (f"  LAM probe {m['lam_probe']}" if "lam_probe" in m else ""))


def label(cfg) -> None:
    from vla.idm.train import label_with_idm

    counts = label_with_idm(cfg.idm.checkpoint, cfg.idm.store, cfg.idm.label_batch_size)
    print(f"vla-idm label: {cfg.idm.store}  {counts}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("train", "label"):
        raise SystemExit(USAGE)
    setup_logging()
    cfg = load_config(argv[1:])
    {"train": train, "label": label}[argv[0]](cfg)


if __name__ == "__main__":
    main()
