"""`vla-eval [eval.checkpoint=DIR] [eval.tasks=[reach-v3,push-v3]] [eval.n_episodes=N] ...`: closed-loop MetaWorld."""

import sys

from vla.cli.config import load_config, save_config, setup_logging


def main() -> None:
    setup_logging()
    cfg = load_config(sys.argv[1:])
    save_config(cfg, cfg.eval.out)
    from vla.eval.experiment import eval_config
    from vla.eval.sim_eval import evaluate_checkpoint

    info = evaluate_checkpoint(cfg.eval.checkpoint, eval_config(cfg), cfg.eval.out)
    for task, r in info["tasks"].items():
        print(f"vla-eval: {task}: {r['successes']}/{r['n']} success (95% CI {r['ci95'][0]:.2f}-{r['ci95'][1]:.2f}), "
              f"mean length {r['mean_length']:.1f}")
    print(f"vla-eval: wrote {cfg.eval.out}/eval_info.json")


if __name__ == "__main__":
    main()
