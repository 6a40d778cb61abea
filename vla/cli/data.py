"""`vla-data sim | ingest | info [STORE]` — the data stages (Hydra overrides: data.sim.tasks=[reach-v3] ...)."""

from __future__ import annotations

import json
from pathlib import Path

from vla.core.command import Command, run_main, split_subcommand
from vla.core.config import cli_config, save_config, setup_logging, to_dataclass

COMMAND = Command(
    prog="vla-data",
    summary="the data stages: render MetaWorld episodes with scripted experts, decode videos into the zarr\n"
            "frame store.",
    usage=("vla-data sim [key=value ...]", "vla-data ingest [key=value ...]", "vla-data info [STORE | key=value ...]"),
    subcommands={"sim": "render action-free videos (paths.videos) and a labelled LeRobot teleop set (paths.teleop)",
                 "ingest": "decode videos (a folder, a glob or a LeRobot dataset) into the frame store (paths.frames)",
                 "info": "summarise a frame store (STORE, else data.ingest.store)"},
    keys={
        "data.sim.tasks": "MetaWorld v3 tasks",
        "data.sim.video_episodes_per_task": None,
        "data.sim.teleop_episodes_per_task": None,
        "data.sim.image_size": "rendered image side in pixels (>= 32)",
        "data.ingest.inputs": None,
        "data.ingest.store": None,
        "data.ingest.workers": None,
        "paths.root": "everything generated lives under here",
    },
    examples=("vla-data sim data.sim.tasks=[reach-v3] data.sim.video_episodes_per_task=5",
              "vla-data ingest data.ingest.inputs=/path/to/videos data.ingest.store=/tmp/frames.zarr",
              "vla-data info data/work/frames.zarr"),
)


def sim(cfg) -> None:
    from vla.data.sim import SimConfig, generate

    s = cfg.data.sim
    # SimConfig refuses a bad task, camera or count (ValueError naming the key) before anything is written
    sim_cfg = to_dataclass(SimConfig, s, tasks=tuple(s.tasks), seed=cfg.seed)
    save_config(cfg, cfg.paths.sim, "sim_config.yaml")
    result = generate(sim_cfg, cfg.paths.videos, cfg.paths.teleop)
    (Path(cfg.paths.sim) / "summary.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def ingest(cfg) -> None:
    from vla.data.ingest import IngestConfig, format_summary, ingest as run_ingest

    i = cfg.data.ingest
    ingest_cfg = to_dataclass(IngestConfig, i, exclude=("inputs", "store"))
    report = run_ingest(list(i.inputs) if not isinstance(i.inputs, str) else i.inputs, i.store, ingest_cfg)
    print(format_summary(report))
    print(f"report:       {report['report']}")


def info(store: str) -> None:
    from vla.data.ingest import format_summary
    from vla.data.store import FrameStore

    print(format_summary(FrameStore(store).summary()))


def run(argv: list[str]) -> None:
    command, rest = split_subcommand(COMMAND, argv)
    setup_logging()
    if command == "info" and rest and "=" not in rest[0] and not rest[0].startswith("-"):
        return info(rest[0])
    cfg = cli_config(rest)
    {"sim": sim, "ingest": ingest, "info": lambda c: info(c.data.ingest.store)}[command](cfg)


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
