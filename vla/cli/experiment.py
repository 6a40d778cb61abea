"""`vla-experiment [comparison.demos=[5,10,null]] [comparison.arms=[none,latent,idm]] ...`: the comparison
(comparison.demos counts demos per task)."""

from vla.cli.command import Command, run_main
from vla.cli.config import cli_config, save_config, setup_logging

COMMAND = Command(
    prog="vla-experiment",
    summary="the comparison: finetune and evaluate one policy per arm (none: no pretraining, latent: LAM codes,\n"
            "idm: IDM pseudo-actions) at each number of labelled demos per task, then results.md/json/png.",
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
              "vla-experiment comparison.demos=[5,10,null] comparison.seeds=[0,1,2]"),
)


def run(overrides: list[str]) -> None:
    setup_logging()
    cfg = cli_config(overrides)
    save_config(cfg, cfg.comparison.out)
    from vla.eval.experiment import results_markdown, run_experiment

    results = run_experiment(cfg)
    print(results_markdown(results))
    print(f"vla-experiment: wrote {cfg.comparison.out}/results.md, results.json, results.png")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
