"""vla-experiment names its runs and reports its sweep in demos per task."""

from vla.pipeline.experiment import plot_results, results_markdown, run_dir_name


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


def test_seeded_runs_get_their_own_dirs():
    assert run_dir_name("latent", 5, seed=2) == "latent_demos5pt_seed2"


def _seeded_row(arm, demos, seed, rate, n=20):
    wins = [i < round(rate * n) for i in range(n)]
    return {"arm": arm, "label": arm, "demos_per_task": demos, "seed": seed, "labelled_episodes": 2 * demos,
            "successes": sum(wins) * 2, "n": 2 * n, "success_rate": rate, "ci95": [0.0, 1.0],
            "outcomes": {"push-v3": wins, "reach-v3": wins}}


def test_study_summary_pools_seeds_and_pairs_each_arm_with_none(tmp_path):
    from vla.pipeline.experiment import study_summary

    rows = [_seeded_row("none", d, s, 0.1 * d / 3) for d in (3, 10) for s in (0, 1, 2)]
    rows += [_seeded_row("latent", d, s, 0.2 + 0.1 * d / 3) for d in (3, 10) for s in (0, 1, 2)]
    study = study_summary(rows)
    assert len(study["rows"]) == 2 * 2 * 3 * 2  # arm x demos x seed x task
    assert {"arm", "demos_per_task", "seed", "task", "successes", "n"} <= set(study["rows"][0])
    latent3 = study["arms"]["latent"]["points"]["3"]
    assert latent3["seeds"] == 3 and latent3["n"] == 3 * 40
    assert latent3["diff_vs_none"]["diff"] > 0.15 and latent3["diff_vs_none"]["ci95"][0] > 0
    assert "diff_vs_none" not in study["arms"]["none"]["points"]["3"]
    assert study["arms"]["none"]["demos_to_50pct"] is None  # none reaches 0.33 at most
    assert 3 < study["arms"]["latent"]["demos_to_50pct"] < 10
    md = results_markdown({"tasks": ["push-v3", "reach-v3"], "n_episodes_per_task": 20, "seed_start": 0,
                           "finetune_steps": 1, "pretrain_steps": 1, "rows": rows, "study": study})
    assert "paired difference to `none`" in md and "not reached in the sweep" in md
    plot_results(rows, tmp_path / "results.png")
