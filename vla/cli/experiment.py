"""`vla-experiment [comparison.demos=[5,10,null]] [comparison.arms=[none,latent,idm]] ...`: the comparison
(comparison.demos counts demos per task)."""

import subprocess
from pathlib import Path

from vla.core.command import Command, run_main
from vla.core.config import cli_config, save_config, setup_logging

COMMAND = Command(
    prog="vla-experiment",
    summary="the comparison: finetune and evaluate one policy per arm (none: no pretraining, latent: LAM codes,\n"
            "latent_labels: codes of a LAM whose latent the labelled demos also supervise, idm: IDM pseudo-actions)\n"
            "at each number of labelled demos per task, then results.md/json/png. Makes the data and models it\n"
            "needs and does not find (vla-data sim/ingest, vla-lam and vla-idm train/label), resumably.",
    usage=("vla-experiment [key=value ...] [group=option ...]",),
    keys={
        "comparison.arms": None,
        "comparison.demos": None,
        "comparison.seeds": None,
        "comparison.out": "results.md/json/png and a run directory per arm",
        "eval.tasks": "MetaWorld v3 tasks each arm is evaluated on",
        "eval.n_episodes": "episodes per task",
    },
    examples=("vla-experiment experiment=demo",
              "vla-experiment experiment=study        # the study behind bench/results/study.json",
              "vla-experiment comparison.demos=[5,10,null] comparison.seeds=[0,1,2]"),
)


def missing_inputs(cfg) -> list[list[str]]:
    """The upstream commands whose outputs the comparison needs and does not find, in pipeline order: a
    fresh `vla-experiment experiment=study` makes its own data and models; a second run reuses them."""
    p, arms = cfg.paths, set(cfg.comparison.arms)
    commands = []
    if not (Path(p.teleop) / "meta" / "info.json").is_file():
        commands.append(["vla-data", "sim"])
    commands.append(["vla-data", "ingest"])  # skips the videos already in the store: a killed ingest completes
    if arms & {"latent"} and not (Path(p.lam) / "model" / "manifest.json").is_file():
        commands.append(["vla-lam", "train"])
    if arms & {"latent"}:
        commands.append(["vla-lam", "label"])  # skips the videos labelled by the same checkpoint
    if "idm" in arms and not (Path(p.idm) / "model" / "manifest.json").is_file():
        commands.append(["vla-idm", "train"])
    if "idm" in arms:
        commands.append(["vla-idm", "label"])
    return commands


def make_inputs(cfg, overrides: list[str]) -> None:
    from vla.cli.demo import _script

    for command in missing_inputs(cfg):
        # resume=true: a run killed part-way continues from its checkpoints
        argv = [_script(command[0]), *command[1:], *overrides, "resume=true"]
        print(f"vla-experiment: $ {' '.join(argv[1:])}", flush=True)
        if subprocess.call(argv) != 0:
            raise SystemExit(f"vla-experiment: `{' '.join(command)}` failed; fix it and re-run (done work is kept)")


def run(overrides: list[str]) -> None:
    setup_logging()
    cfg = cli_config(overrides)
    make_inputs(cfg, [o for o in overrides if not o.startswith("resume=")])
    save_config(cfg, cfg.comparison.out)
    from vla.eval.experiment import results_markdown, run_experiment

    results = run_experiment(cfg)
    print(results_markdown(results))
    print(f"vla-experiment: wrote {cfg.comparison.out}/results.md, results.json, results.png")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
