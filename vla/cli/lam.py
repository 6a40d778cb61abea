"""`vla-lam train|label|viz [key=value ...]`: train the latent action model, label the store, draw its codes."""

from __future__ import annotations

import json

from vla.core.command import Command, run_main, split_subcommand
from vla.core.config import cli_config, save_config, setup_logging

COMMAND = Command(
    prog="vla-lam",
    summary="the latent action model (a VQ code for what changes between two frames, learned from video alone):\n"
            "train it on the frame store, write its codes into the store as stage-2 labels, draw what each code does.",
    usage=("vla-lam train [key=value ...]", "vla-lam label [key=value ...]", "vla-lam viz [key=value ...]"),
    subcommands={"train": "train the LAM on the frame store (lam.store) into lam.out",
                 "label": "write the checkpoint's codes for every frame pair into the frame store (lam.store)",
                 "viz": "draw frame pairs grouped by code (lam.viz.out)"},
    keys={
        "lam.train.steps": "optimiser steps",
        "lam.train.batch_size": "frame pairs per step",
        "lam.model.n_tokens": "latent tokens per frame pair",
        "lam.model.codebook_size": "codes per token (the latent action vocabulary)",
        "lam.model.target": None,
        "lam.store": "the frame store it trains on and labels",
        "lam.checkpoint": None,
        "resume": None,
    },
    examples=("vla-lam train lam.train.steps=300 lam.model.codebook_size=16", "vla-lam label",
              "vla-lam train experiment=demo --cfg job"),
)


def train(cfg) -> None:
    from vla.pipeline.stages import run_lam

    save_config(cfg, cfg.lam.out)
    result = run_lam(cfg)
    final = {k: round(v, 4) for k, v in result["final"].items() if isinstance(v, float)}
    print(f"vla-lam train: {result['model']}  steps={result['steps']}  {json.dumps(final)}")


def label(cfg) -> None:
    from vla.lam.label import label_with_lam

    counts = label_with_lam(cfg.lam.checkpoint, cfg.lam.store, cfg.lam.label_batch_size, cfg.lam.labels,
                            cfg.engine, cfg.lam.label_workers, cfg.ray.address)
    print(f"vla-lam label: {cfg.lam.store}  {counts}")


def viz(cfg) -> None:
    from vla.lam.probe import viz_from_store

    path = viz_from_store(cfg.lam.checkpoint, cfg.lam.store, cfg.lam.viz.out, cfg.lam.viz.rows, cfg.seed)
    print(f"vla-lam viz: {path}")


def run(argv: list[str]) -> None:
    command, rest = split_subcommand(COMMAND, argv)
    setup_logging()
    cfg = cli_config(rest)
    {"train": train, "label": label, "viz": viz}[command](cfg)


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
