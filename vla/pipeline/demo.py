"""The demo pipeline: every stage is the real console script, run as a subprocess with the demo
experiment's overrides, so the demo exercises exactly what a user would run.

A stage that finished is recorded in <work>/.demo_stages/<name>.json (with a hash of the resolved
config) and skipped when the demo is re-run under the same config; a stage that was killed runs again
with resume=true, so training continues from its last checkpoint. A stage done under another config
runs again from scratch, and so does every stage after it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from vla.core.command import console_script
from vla.core.config import save_config
from vla.pipeline.experiment import config_fingerprint
from vla.pipeline.report import stage_metrics, write_report

log = logging.getLogger("vla.demo")


@dataclass
class Stage:
    name: str
    commands: list[list[str]]
    metric: callable = field(default=lambda cfg: "")  # one line for the console once the stage ends
    hydra: bool = True  # False: the command takes its own arguments, not the demo's overrides


def stages(cfg) -> list[Stage]:
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
        argv = [console_script(command[0]), *args]
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


def run_demo(cfg, overrides: list[str]) -> tuple[Path, Path, list[str]]:
    """Every stage in order (reusing what is done), then the report: (report path, plot dir, headline lines)."""
    work = Path(cfg.paths.root)
    done_dir = work / ".demo_stages"
    done_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, work, "demo_config.yaml")
    records = []
    for stage in stages(cfg):  # once a stage runs again, every later stage depends on new outputs
        reuse = all(r.get("reused", True) for r in records)
        records.append(run_stage(stage, overrides, done_dir, cfg, reuse))
    out_dir = Path(cfg.demo.report_dir) / time.strftime("%Y%m%d-%H%M%S")
    report, headline = write_report(cfg, records, out_dir)
    return report, out_dir, headline
