"""`vla-experiment [comparison.demos=[5,10,null]] [comparison.arms=[none,latent,idm]] ...`: the comparison
(comparison.demos counts demos per task)."""

import sys

from vla.cli.config import load_config, save_config, setup_logging


def main() -> None:
    setup_logging()
    cfg = load_config(sys.argv[1:])
    save_config(cfg, cfg.comparison.out)
    from vla.eval.experiment import results_markdown, run_experiment

    results = run_experiment(cfg)
    print(results_markdown(results))
    print(f"vla-experiment: wrote {cfg.comparison.out}/results.md, results.json, results.png")


if __name__ == "__main__":
    main()
