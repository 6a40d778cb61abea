"""vla-experiment names its runs and reports its sweep in demos per task."""

from vla.eval.experiment import plot_results, results_markdown, run_dir_name


def _row(arm, per_task, episodes, rate):
    return {"arm": arm, "label": arm, "demos_per_task": per_task, "labelled_episodes": episodes,
            "successes": round(rate * 10), "n": 10, "success_rate": rate,
            "ci95": [max(0.0, rate - 0.2), min(1.0, rate + 0.2)]}


def test_run_dirs_say_per_task_and_keep_the_demo_name():
    assert run_dir_name("none", 5) == "none_demos5pt"
    assert run_dir_name("latent", None) == "latent_demosall"  # configs/experiment/demo.yaml points here


def test_report_and_plot_are_in_demos_per_task(tmp_path):
    rows = [_row(arm, n, 2 * n, 0.1 * n) for arm in ("none", "latent") for n in (1, 3)]
    md = results_markdown({"tasks": ["a", "b"], "n_episodes_per_task": 5, "seed_start": 0, "finetune_steps": 1,
                           "pretrain_steps": 1, "rows": rows})
    assert "| arm | demos per task | labelled episodes |" in md and "| latent | 3 | 6 |" in md
    plot_results(rows, tmp_path / "results.png")
    assert (tmp_path / "results.png").stat().st_size > 1000
