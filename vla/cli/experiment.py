"""`vla-experiment [comparison.demos=[5,10,null]] [comparison.arms=[none,latent,idm]] ...`: the comparison
(comparison.demos counts demos per task)."""

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


def run(overrides: list[str]) -> None:
    setup_logging()
    cfg = cli_config(overrides)
    from vla.pipeline.experiment import make_inputs, results_markdown, run_experiment

    make_inputs(cfg, [o for o in overrides if not o.startswith("resume=")])
    save_config(cfg, cfg.comparison.out)

    results = run_experiment(cfg)
    print(results_markdown(results))
    print(f"vla-experiment: wrote {cfg.comparison.out}/results.md, results.json, results.png")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
