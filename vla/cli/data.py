"""`vla-data sim | ingest | info [STORE]` — the data stages (Hydra overrides: data.sim.tasks=[reach-v3] ...)."""

from __future__ import annotations

import json
import sys

from vla.cli.config import load_config, save_config, setup_logging

USAGE = "usage: vla-data {sim,ingest,info} [key=value ...]   (vla-data info [STORE])"


def sim(cfg) -> None:
    from vla.data.sim import SimConfig, generate

    s = cfg.data.sim
    try:  # a bad key=value (task, camera, a count) is a one-line message naming it
        sim_cfg = SimConfig(tasks=tuple(s.tasks), video_episodes_per_task=s.video_episodes_per_task,
                            teleop_episodes_per_task=s.teleop_episodes_per_task, image_size=s.image_size,
                            camera=s.camera, fps=s.fps, max_steps=s.max_steps, tail_steps=s.tail_steps,
                            teleop_video=s.teleop_video, workers=s.workers, seed=cfg.seed)
        save_config(cfg, cfg.paths.sim, "sim_config.yaml")
        result = generate(sim_cfg, cfg.paths.videos, cfg.paths.teleop)
    except ValueError as e:
        raise SystemExit(f"vla-data sim: {e}") from None
    (__import__("pathlib").Path(cfg.paths.sim) / "summary.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def ingest(cfg) -> None:
    from vla.data.ingest import IngestConfig, format_summary, ingest as run_ingest

    i = cfg.data.ingest
    try:
        ingest_cfg = IngestConfig(image_size=i.image_size, chunk_frames=i.chunk_frames, min_frames=i.min_frames,
                                  workers=i.workers, decode_threads=i.decode_threads, fail_fast=i.fail_fast)
    except ValueError as e:  # a bad key=value: the message names it
        raise SystemExit(f"vla-data ingest: {e}") from None
    report = run_ingest(list(i.inputs) if not isinstance(i.inputs, str) else i.inputs, i.store, ingest_cfg)
    print(format_summary(report))
    print(f"report:       {report['report']}")


def info(store: str) -> None:
    from vla.data.ingest import format_summary
    from vla.data.store import FrameStore

    print(format_summary(FrameStore(store).summary()))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("sim", "ingest", "info"):
        raise SystemExit(USAGE)
    setup_logging()
    command, rest = argv[0], argv[1:]
    if command == "info" and rest and "=" not in rest[0]:
        from vla.data.store import StoreError

        try:
            return info(rest[0])
        except StoreError as e:
            raise SystemExit(f"vla-data info: {e}") from None
    cfg = load_config(rest)
    from vla.data.ingest import IngestError
    from vla.data.store import StoreError
    from vla.data.workers import WorkerDied

    try:
        {"sim": sim, "ingest": ingest, "info": lambda c: info(c.data.ingest.store)}[command](cfg)
    except (IngestError, StoreError, WorkerDied) as e:  # a message, not a traceback: the cause is in the input or the run
        raise SystemExit(f"vla-data {command}: {e}") from None


if __name__ == "__main__":
    main()
