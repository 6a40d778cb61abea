"""`vla-eval [eval.checkpoint=DIR] [eval.tasks=[reach-v3,push-v3]] [eval.n_episodes=N] ...`: closed-loop MetaWorld."""

from vla.core.command import Command, run_main
from vla.core.config import cli_config, save_config, setup_logging

COMMAND = Command(
    prog="vla-eval",
    summary="run a finetuned checkpoint closed-loop in MetaWorld on unseen layouts (seeds 900000+): success rate\n"
            "with a 95% CI per task, episode videos and eval_info.json in eval.out.",
    usage=("vla-eval [key=value ...] [group=option ...]",),
    keys={
        "eval.checkpoint": "the finetuned checkpoint to run",
        "eval.tasks": "MetaWorld v3 tasks",
        "eval.n_episodes": "episodes per task",
        "eval.out": "eval_info.json and episode videos",
        "eval.device": "auto (cuda if present) | cpu | cuda:N",
    },
    examples=("vla-eval eval.checkpoint=data/work/finetune/model eval.tasks=[reach-v3,push-v3] eval.n_episodes=50",
              "vla-eval experiment=demo"),
)


def run(argv: list[str]) -> None:
    setup_logging()
    cfg = cli_config(argv)
    save_config(cfg, cfg.eval.out)
    from vla.pipeline.experiment import eval_config
    from vla.eval.sim_eval import evaluate_checkpoint

    info = evaluate_checkpoint(cfg.eval.checkpoint, eval_config(cfg), cfg.eval.out)
    for task, r in info["tasks"].items():
        print(f"vla-eval: {task}: {r['successes']}/{r['n']} success (95% CI {r['ci95'][0]:.2f}-{r['ci95'][1]:.2f}), "
              f"mean length {r['mean_length']:.1f}")
    print(f"vla-eval: wrote {cfg.eval.out}/eval_info.json")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
