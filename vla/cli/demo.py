"""`vla-demo`: the whole pipeline end to end on embedded defaults, then a report.

Every stage is the real console script run as a subprocess with the demo
experiment's overrides, so the demo exercises exactly what a user would run.
A stage that finished is recorded in <work>/.demo_stages/<name>.json (with a hash of
the resolved config) and skipped when the demo is re-run under the same config; a
stage that was killed runs again with resume=true, so training continues from its
last checkpoint. A stage done under another config runs again from scratch, and so
does every stage after it.

    vla-demo                       # CPU scale (~20 min on 2 cores)
    vla-demo scale=tiny            # the smallest pipeline (the test suite runs this)
    vla-demo scale=gpu             # sizes worth a GPU machine (docs/demo.md)
    vla-demo scale=cpu seed=1      # any other key=value goes to every stage
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from vla.core.command import Command, run_main
from vla.core.config import UsageError, cli_config, save_config, setup_logging

log = logging.getLogger("vla.demo")
SCALES = ("tiny", "cpu", "gpu")
COMMAND = Command(
    prog="vla-demo",
    summary="the whole pipeline end to end on simulated data (sim, ingest, lam, idm, pretrain, finetune, eval,\n"
            "ros, experiment), each stage the real console script, then a report. Finished stages are reused.",
    usage=("vla-demo [scale=tiny|cpu|gpu] [key=value ...]   (any key=value or group=option goes to every stage)",),
    arguments={"scale": ("cpu", "tiny: the smallest pipeline (what the tests run); cpu: ~20 min on 2 cores "
                                "(experiment=demo); gpu: sizes worth a GPU (experiment=demo_gpu)", None)},
    arguments_title="demo options",
    examples=("vla-demo", "vla-demo scale=tiny", "vla-demo scale=cpu seed=1 policy=smolvlm2"),
)


@dataclass
class Stage:
    name: str
    commands: list[list[str]]
    metric: callable = field(default=lambda cfg: "")  # one line for the console once the stage ends
    hydra: bool = True  # False: the command takes its own arguments, not the demo's overrides


def _script(name: str) -> str:
    """The console script installed next to this interpreter (works inside and outside the venv)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def stages(cfg) -> list[Stage]:
    from vla.eval.demo_report import stage_metrics

    p = cfg.paths
    return [
        Stage("sim", [["vla-data", "sim"]], stage_metrics.sim),
        Stage("ingest", [["vla-data", "ingest"]], stage_metrics.ingest),
        Stage("lam", [["vla-lam", "train"], ["vla-lam", "label"], ["vla-lam", "viz"]], stage_metrics.lam),
        Stage("idm", [["vla-idm", "train"], ["vla-idm", "label"]], stage_metrics.idm),
        Stage("pretrain", [["vla-pretrain"]], stage_metrics.pretrain),
        Stage("finetune", [["vla-finetune"]], stage_metrics.finetune),
        Stage("eval", [["vla-eval"]], stage_metrics.eval),
        Stage("ros", [["vla-sim-robot", "loop", f"checkpoint={p.finetune}/model", f"out={p.root}/ros",
                       f"episodes={cfg.demo.ros_episodes}", f"task={cfg.demo.ros_task}"]], stage_metrics.ros,
              hydra=False),
        Stage("experiment", [["vla-experiment"]], stage_metrics.experiment),
    ]


def run_stage(stage: Stage, overrides: list[str], done_dir: Path, cfg, reuse: bool = True) -> dict:
    from vla.eval.experiment import config_fingerprint

    marker = done_dir / f"{stage.name}.json"
    fingerprint = config_fingerprint(cfg)
    resume = not marker.is_file()  # no marker: first run, or killed part-way (training resumes)
    if reuse and marker.is_file():
        record = json.loads(marker.read_text())
        if record.get("config") == fingerprint:
            log.info("stage %-10s already done (%.0f s) — reused", stage.name, record["seconds"])
            return {**record, "reused": True}
        log.info("stage %-10s was done under another config — running it again", stage.name)
    t0 = time.perf_counter()
    for command in stage.commands:
        args = [*command[1:], *([*overrides, f"resume={str(resume).lower()}"] if stage.hydra else [])]
        argv = [_script(command[0]), *args]
        log.info("stage %-10s $ %s", stage.name, " ".join([command[0], *args]))
        rc = subprocess.call(argv)
        if rc != 0:
            raise SystemExit(f"demo: stage {stage.name!r} failed (exit {rc}) running: {' '.join(argv)}\n"
                             "Fix the cause and re-run `make demo`: finished stages are reused.")
    record = {"stage": stage.name, "seconds": time.perf_counter() - t0, "metric": stage.metric(cfg),
              "config": fingerprint, "reused": False}
    marker.write_text(json.dumps(record, indent=2))
    print(f"[demo] {stage.name:<10} done in {record['seconds']:6.1f} s  {record['metric']}", flush=True)
    return record


def parse_args(argv: list[str]) -> tuple[str, list[str]]:
    scale, overrides = "cpu", []
    for arg in argv:
        if arg.startswith(("scale=", "demo.scale=")):
            scale = arg.split("=", 1)[1]
            if scale not in SCALES:
                raise UsageError(f"scale must be one of {'|'.join(SCALES)}, got {scale!r}")
        else:
            overrides.append(arg)
    return scale, overrides


def run(argv: list[str]) -> None:
    setup_logging()
    scale, extra = parse_args(argv)
    overrides = [f"experiment={'demo' if scale == 'cpu' else 'demo_' + scale}", *extra]
    cfg = cli_config(overrides)
    work = Path(cfg.paths.root)
    done_dir = work / ".demo_stages"
    done_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, work, "demo_config.yaml")
    t0 = time.perf_counter()
    records = []
    for stage in stages(cfg):  # once a stage runs again, every later stage depends on new outputs
        reuse = all(r.get("reused", True) for r in records)
        records.append(run_stage(stage, overrides, done_dir, cfg, reuse))

    from vla.eval.demo_report import write_report

    out_dir = Path(cfg.demo.report_dir) / time.strftime("%Y%m%d-%H%M%S")
    report, headline = write_report(cfg, records, out_dir)
    print(f"\n[demo] finished in {(time.perf_counter() - t0) / 60:.1f} min")
    print(f"[demo] report:     {report}")
    print(f"[demo] plots:      {out_dir}")
    print(f"[demo] checkpoint: {Path(cfg.paths.finetune) / 'model'}")
    for line in headline:
        print(f"[demo] {line}")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
