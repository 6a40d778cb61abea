"""The comparison: no pretraining vs LAM latent pretraining vs IDM pseudo-label pretraining (VPT).

Every arm is finetuned on the same labelled episodes with the same budget and evaluated on the same
seeds; optionally the number of labelled demos per task is swept (the first N episodes of every task,
so the sweep points nest). Each finished run leaves its eval_info.json and the fingerprint of the
config it ran under (arm_config.json), so re-running the command skips what is done under the same
config, redoes what was done under another, and resumes unfinished training from its checkpoints.
(The LAM arm that the main pipeline trained in place has no fingerprint: the pipeline's own stages
are rerun when their config changes.)
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vla.core.command import console_script
from vla.core.config import to_dataclass
from vla.data.labelled_frames import TARGET_ARRAY
from vla.eval.sim_eval import EvalConfig, evaluate_checkpoint

log = logging.getLogger(__name__)

ARM_TARGET = {"none": None, "latent": "latent", "latent_labels": "latent", "idm": "idm", "latent_shuffled": "latent"}
ARM_LABEL = {"none": "no pretraining", "latent": "LAM latent pretraining",
             "latent_labels": "LAM + labelled demos (LAOM)", "idm": "IDM pseudo-labels (VPT)",
             "latent_shuffled": "LAM codes shuffled (control)"}
LABELLED_LAM_ARRAY = "latent_actions_labels"  # the latent_labels arm's codes, beside the pure LAM's
SHUFFLED_LAM_ARRAY = "latent_actions_shuffled"  # the latent_shuffled control's codes, beside the pure LAM's


def eval_config(cfg: DictConfig) -> EvalConfig:
    return to_dataclass(EvalConfig, cfg.eval, exclude=("checkpoint", "out"))


STAMP = "arm_config.json"  # in each run dir: the fingerprint of the config it finished under
ARM_KEYS = ["seed", "data", "lam", "idm", "policy", "pretrain", "finetune", "eval"]  # what an arm's result depends on
PRETRAIN_KEYS = ["seed", "data", "lam", "idm", "policy", "pretrain"]  # what a LAM or stage-2 run depends on
# Policy fields only stage 3 reads (vla/policy/modeling_vla.py apply_lora): changing how arms finetune reuses stage 2.
FINETUNE_ONLY_POLICY_KEYS = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets", "full_finetune")


def config_fingerprint(cfg: DictConfig, keys: list[str] | None = None, drop_policy_keys: tuple[str, ...] = ()) -> str:
    """Hash of the resolved config, or of its top-level `keys` only (less `drop_policy_keys` of its policy)."""
    import hashlib

    full = OmegaConf.to_container(cfg, resolve=True)
    part = full if keys is None else {k: full[k] for k in keys if k in full}
    if "policy" in part and drop_policy_keys:
        part["policy"] = {k: v for k, v in part["policy"].items() if k not in drop_policy_keys}
    return hashlib.sha256(json.dumps(part, sort_keys=True, default=str).encode()).hexdigest()[:16]


def arm_fingerprint(cfg: DictConfig) -> str:
    """Fingerprint of what an arm's result depends on (not the list of arms or sweep points)."""
    return config_fingerprint(cfg, ARM_KEYS)


def pretrain_fingerprint(cfg: DictConfig) -> str:
    """Fingerprint of what the labelled LAM and stage 2 depend on: not finetuning, evaluation, or LoRA."""
    return config_fingerprint(cfg, PRETRAIN_KEYS, drop_policy_keys=FINETUNE_ONLY_POLICY_KEYS)


def _done(run_dir: Path, done_file: Path, fingerprint: str) -> bool:
    """done_file exists and was made under this config (or by the pipeline, which has no fingerprint)."""
    stamp = run_dir / STAMP
    if not done_file.is_file():
        return False
    if stamp.is_file() and json.loads(stamp.read_text())["config"] != fingerprint:
        log.info("%s was run under another config: running it again", run_dir)
        return False
    return True


def _stamp(run_dir: Path, fingerprint: str) -> None:
    (run_dir / STAMP).write_text(json.dumps({"config": fingerprint}))


def missing_inputs(cfg) -> list[list[str]]:
    """The upstream commands whose outputs the comparison needs and does not find, in pipeline order: a
    fresh `vla-experiment experiment=study` makes its own data and models; a second run reuses them."""
    p, arms = cfg.paths, set(cfg.comparison.arms)
    commands = []
    if not (Path(p.teleop) / "meta" / "info.json").is_file():
        commands.append(["vla-data", "sim"])
    commands.append(["vla-data", "ingest"])  # skips the videos already in the store: a killed ingest completes
    if arms & {"latent", "latent_shuffled"} and not (Path(p.lam) / "model" / "manifest.json").is_file():
        commands.append(["vla-lam", "train"])
    if arms & {"latent", "latent_shuffled"}:
        commands.append(["vla-lam", "label"])  # skips the videos labelled by the same checkpoint
    if "idm" in arms and not (Path(p.idm) / "model" / "manifest.json").is_file():
        commands.append(["vla-idm", "train"])
    if "idm" in arms:
        commands.append(["vla-idm", "label"])
    return commands


def make_inputs(cfg, overrides: list[str]) -> None:
    for command in missing_inputs(cfg):
        # resume=true: a run killed part-way continues from its checkpoints
        argv = [console_script(command[0]), *command[1:], *overrides, "resume=true"]
        print(f"vla-experiment: $ {' '.join(argv[1:])}", flush=True)
        if subprocess.call(argv) != 0:
            raise SystemExit(f"vla-experiment: `{' '.join(command)}` failed; fix it and re-run (done work is kept)")


def labelled_lam_demos(cfg: DictConfig) -> int:
    """Labelled demos per task the latent_labels LAM reads: lam.supervised.demos_per_task, else the smallest
    sweep point, so that no point finetunes on fewer labels than the LAM saw (the points nest)."""
    n = cfg.lam.supervised.demos_per_task
    if n is not None:
        return int(n)
    counts = [d for d in cfg.comparison.demos if d is not None]
    if counts:
        return min(counts)
    from vla.data.lerobot_io import episodes_by_task, open_metadata  # a sweep of `null` only: every demo

    return min(len(e) for e in episodes_by_task(open_metadata(cfg.paths.teleop)).values())


def _labelled_lam(cfg: DictConfig, out: Path, fingerprint: str) -> str:
    """Train the latent_labels arm's LAM (the pure LAM's config plus an action head on labelled demos), label
    the store with it, and return the store array its codes are in."""
    from vla.lam.label import label_with_lam
    from vla.lam.configuration import LAMConfig
    from vla.lam.train import LAMTrainConfig, train

    run_dir = out / "lam_latent_labels"
    if not _done(run_dir, run_dir / "model" / "manifest.json", fingerprint):
        model_cfg = to_dataclass(LAMConfig, cfg.lam.model, action_dim=3,
                                 label_weight=float(cfg.lam.supervised.label_weight))
        train_cfg = to_dataclass(LAMTrainConfig, cfg.lam.train, labelled_demos_per_task=labelled_lam_demos(cfg))
        train(model_cfg, train_cfg, cfg.paths.frames, run_dir, teleop_root=cfg.paths.teleop,
              resume=not (run_dir / STAMP).is_file())
        _stamp(run_dir, fingerprint)
    label_with_lam(str(run_dir / "model"), cfg.paths.frames, cfg.lam.label_batch_size, LABELLED_LAM_ARRAY,
                   cfg.engine, cfg.lam.label_workers, cfg.ray.address)
    return LABELLED_LAM_ARRAY


def shuffle_codes(store_url: str, source: str, name: str, seed: int) -> str:
    """The latent_shuffled control's labels: the pure LAM's codes permuted across every frame of the corpus
    (seeded), written beside them as `name`. The same codes, as often, with nothing to do with the frame they
    label: stage 2 on them is pretraining on the same targets minus what they say about the video. Written
    whenever that stage 2 runs, from the LAM's codes of the time (the same seed gives the same permutation)."""
    import numpy as np

    from vla.data.store import FrameStore

    store = FrameStore(store_url, mode="a")
    vids = [v for v in store.video_ids() if store.has_array(v, source)]
    if not vids:
        raise FileNotFoundError(f"no video in {store_url} has {source!r}: run `vla-lam label` first")
    codes = [store.read_array(v, source) for v in vids]
    shuffled = np.random.default_rng(seed).permutation(np.concatenate(codes))
    for vid, part in zip(vids, np.split(shuffled, np.cumsum([len(c) for c in codes])[:-1])):
        store.write_array(vid, name, part, {**store.array_attrs(vid, source), "shuffled_from": source})
    return name


def _pretrain_arm(cfg: DictConfig, arm: str, out: Path, fingerprint: str) -> Path:
    from vla.pipeline.stages import run_pretrain
    from vla.policy.legacy import convert as convert_legacy, is_legacy

    run_dir = out / f"pretrain_{arm}"
    labels = _labelled_lam(cfg, out, fingerprint) if arm == "latent_labels" else None
    if is_legacy(run_dir / "model"):  # from before the policy was a PreTrainedPolicy: same weights, today's files
        convert_legacy(run_dir / "model", run_dir / "model")
        log.info("converted %s to today's checkpoint layout", run_dir / "model")
    if not _done(run_dir, run_dir / "model" / "manifest.json", fingerprint):
        if arm == "latent_shuffled":  # only this stage 2 reads them
            labels = shuffle_codes(cfg.paths.frames, TARGET_ARRAY["latent"], SHUFFLED_LAM_ARRAY, cfg.seed)
        fresh = (run_dir / STAMP).is_file()  # a finished run under another config: start over
        sub = cfg.copy()
        OmegaConf.update(sub, "pretrain.target", ARM_TARGET[arm])
        OmegaConf.update(sub, "pretrain.labels", labels)
        OmegaConf.update(sub, "paths.pretrain", str(run_dir))
        OmegaConf.update(sub, "resume", not fresh)  # a killed comparison picks up where it stopped
        run_pretrain(sub)
        _stamp(run_dir, fingerprint)
    return run_dir / "model"


def run_dir_name(arm: str, demos_per_task: int | None, seed: int | None = None) -> str:
    """`latent_demos5pt` for 5 demos per task; `latent_demosall` (the name configs/experiment/demo.yaml
    points at) for every demo; `_seed1` after it for training seed 1 of a `comparison.seeds` sweep. The `pt`
    keeps runs made by the old first-N-episodes sweep from being reused."""
    name = f"{arm}_demos{demos_per_task}pt" if demos_per_task is not None else f"{arm}_demosall"
    return name if seed is None else f"{name}_seed{seed}"


def per_task_count(demos: int | None, n_episodes: int, teleop_root: str | Path) -> int | float:
    """A sweep point's demos per task. For `null` (all) it is the dataset's episodes over its tasks: the
    per-task count when every task has as many episodes (as `vla-data sim` makes them), else their mean."""
    if demos is not None:
        return demos
    from vla.data.lerobot_io import open_metadata

    per_task = n_episodes / open_metadata(teleop_root).total_tasks
    return int(per_task) if per_task.is_integer() else round(per_task, 1)


def finetune_and_evaluate(job: dict) -> str:
    """One run of the sweep: finetune an arm on its demos, evaluate it, stamp it done. Runs in the calling
    process (sharing `data`, the decoded demos) or, with comparison.workers > 1, in a worker process."""
    from vla.pipeline.stages import run_finetune

    if job.get("threads"):
        import torch

        torch.set_num_threads(job["threads"])
    cfg, run_dir = job["cfg"], Path(job["run_dir"])
    cfg = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg.copy()
    OmegaConf.update(cfg, "resume", not (run_dir / STAMP).is_file())
    if job["seed"] is not None:
        OmegaConf.update(cfg, "seed", job["seed"])
    run_finetune(cfg, out_dir=run_dir, init="none" if job["arm"] == "none" else "pretrained",
                 pretrain_dir=job["pretrained"], demos_per_task=job["demos"], data=job.get("data"))
    evaluate_checkpoint(run_dir / "model", eval_config(cfg), run_dir / "eval")
    _stamp(run_dir, job["fingerprint"])
    return str(run_dir)


def run_sweep(cfg: DictConfig, jobs: list[dict]) -> None:
    """Every job not done yet: in this process (one decode of the demos per sweep point), or
    comparison.workers at a time in worker processes with one torch thread each (2 cores: ~1.5x)."""
    from vla.data.lerobot_io import load_chunks

    workers = int(cfg.comparison.get("workers") or 1)
    if workers <= 1:
        data = {}
        for job in jobs:
            if job["demos"] not in data:  # decoded once, shared by every arm: the same finetuning data
                data = {job["demos"]: load_chunks(cfg.paths.teleop, cfg.policy.chunk_size, job["demos"],
                                                  cfg.policy.image_keys, cfg.policy.state_key, cfg.policy.action_key)}
            finetune_and_evaluate({**job, "data": data[job["demos"]]})
        return
    from vla.data.workers import spawn_pool, unordered

    container = OmegaConf.to_container(cfg, resolve=True)
    with spawn_pool(workers) as pool:
        for done, run_dir in enumerate(unordered(pool, finetune_and_evaluate,
                                                 [{**j, "cfg": container, "threads": 1} for j in jobs],
                                                 "comparison"), 1):
            log.info("[%d/%d] %s done", done, len(jobs), run_dir)


def lam_probes(cfg: DictConfig, out: Path) -> dict:
    """Each LAM's final held-out diagnostics (probe R^2 of the action from its codes vs shuffled codes)."""
    paths = {"latent": Path(cfg.paths.lam) / "diagnostics.json",
             "latent_labels": out / "lam_latent_labels" / "diagnostics.json"}
    keys = ("probe_r2", "probe_r2_shuffled", "probe_pairs_test", "recon_vs_copy", "eval_perplexity")
    return {arm: {k: json.loads(p.read_text())["final"].get(k) for k in keys}
            for arm, p in paths.items() if arm in cfg.comparison.arms and p.is_file()}


def run_experiment(cfg: DictConfig) -> dict:
    out = Path(cfg.comparison.out)
    out.mkdir(parents=True, exist_ok=True)
    arms = list(cfg.comparison.arms)
    unknown = [a for a in arms if a not in ARM_TARGET]
    if unknown:
        raise ValueError(f"comparison.arms: unknown {unknown}; choose from {sorted(ARM_TARGET)}")
    stage_two = pretrain_fingerprint(cfg)
    pretrained = {arm: _pretrain_arm(cfg, arm, out, stage_two) for arm in arms if ARM_TARGET[arm]}
    fingerprint = arm_fingerprint(cfg)
    ecfg = eval_config(cfg)
    # comparison.seeds: finetuning seeds, each arm trained once per seed (pretraining is shared); null = cfg.seed
    seeds = list(cfg.comparison.get("seeds") or [None])
    points = [(d, s, a) for d in cfg.comparison.demos for s in seeds for a in arms]
    run_sweep(cfg, [{"cfg": cfg, "arm": a, "demos": d, "seed": s, "run_dir": str(out / run_dir_name(a, d, s)),
                     "pretrained": None if pretrained.get(a) is None else str(pretrained[a]),
                     "fingerprint": fingerprint} for d, s, a in points
                    if not _done(out / run_dir_name(a, d, s), out / run_dir_name(a, d, s) / "eval" / "eval_info.json",
                                 fingerprint)])
    rows = []
    for demos, seed, arm in points:
        run_dir = out / run_dir_name(arm, demos, seed)
        n_episodes = len(json.loads((run_dir / "metrics.json").read_text())["episodes"])
        info = json.loads((run_dir / "eval" / "eval_info.json").read_text())
        per_task = per_task_count(demos, n_episodes, cfg.paths.teleop)
        rows.append({"arm": arm, "label": ARM_LABEL[arm], "demos_per_task": per_task,
                     "seed": cfg.seed if seed is None else seed,
                     "outcomes": {t: [bool(e["success"]) for e in r["episodes"]] for t, r in info["tasks"].items()},
                     "labelled_episodes": n_episodes, **info["overall"],
                     "per_task": {t: {k: v for k, v in r.items() if k != "episodes"}
                                  for t, r in info["tasks"].items()},
                     "run_dir": str(run_dir)})
        log.info("%s, %s demos per task (%d episodes): %d/%d", arm, per_task, n_episodes,
                 info["overall"]["successes"], info["overall"]["n"])
    results = {"tasks": ecfg.tasks, "n_episodes_per_task": ecfg.n_episodes, "seed_start": ecfg.seed_start,
               "finetune_steps": int(cfg.finetune.train.steps), "pretrain_steps": int(cfg.pretrain.train.steps),
               "rows": rows, "study": study_summary(rows), "lam": lam_probes(cfg, out)}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(results_markdown(results))
    plot_results(rows, out / "results.png")
    return results


def study_summary(rows: list[dict], baseline: str = "none", target: float = 0.5) -> dict:
    """Per arm and demo count: success pooled over seeds and tasks (Wilson 95% CI), the paired difference to
    `baseline` (bootstrap over training seeds and evaluation episodes), and the demos per task each arm needs
    to reach `target` success. Plus the flat rows {arm, demos_per_task, seed, task, successes, n}."""
    import numpy as np

    from vla.eval.sim_eval import wilson_interval
    from vla.eval.stats import demos_to_reach, paired_bootstrap

    flat = [{"arm": r["arm"], "demos_per_task": r["demos_per_task"], "seed": r["seed"], "task": t,
             "successes": int(sum(o)), "n": len(o)} for r in rows for t, o in r["outcomes"].items()]

    def outcomes(arm, demos):  # (seeds, episodes of every task) in seed order: paired across arms
        runs = sorted((r for r in rows if r["arm"] == arm and r["demos_per_task"] == demos), key=lambda r: r["seed"])
        return np.array([[x for t in sorted(r["outcomes"]) for x in r["outcomes"][t]] for r in runs], dtype=float)

    arms = list(dict.fromkeys(r["arm"] for r in rows))
    demo_counts = sorted({r["demos_per_task"] for r in rows})
    per_arm = {}
    for arm in arms:
        points = {}
        for demos in demo_counts:
            o = outcomes(arm, demos)
            if o.size == 0:
                continue
            k, n = int(o.sum()), int(o.size)
            p = {"success": k / n, "ci95": list(wilson_interval(k, n)), "successes": k, "n": n, "seeds": len(o)}
            base = outcomes(baseline, demos)
            if arm != baseline and base.shape == o.shape:
                p["diff_vs_" + baseline] = paired_bootstrap(o, base)
            points[str(demos)] = p
        per_arm[arm] = {"points": points, f"demos_to_{int(target * 100)}pct": demos_to_reach(
            [(float(d), p["success"]) for d, p in points.items()], target)}
    return {"rows": flat, "arms": per_arm, "baseline": baseline}


def results_markdown(results: dict) -> str:
    lines = ["# Pretraining comparison\n",
             f"Tasks: {', '.join(results['tasks'])}; {results['n_episodes_per_task']} evaluation episodes per task "
             f"(seeds from {results['seed_start']}); finetuning {results['finetune_steps']} steps per run, "
             f"pretraining {results['pretrain_steps']} steps.\n",
             "| arm | demos per task | labelled episodes | success | rate | 95% CI (Wilson) |",
             "|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['label']} | {r['demos_per_task']} | {r['labelled_episodes']} | {r['successes']}/{r['n']} | "
                     f"{r['success_rate']:.2f} | {r['ci95'][0]:.2f}–{r['ci95'][1]:.2f} |")
    lines.append("\nOverlapping intervals mean the runs do not distinguish the arms at this sample size.\n")
    for arm, d in results.get("lam", {}).items():
        if d.get("probe_r2") is not None:
            lines.append(f"- LAM of `{arm}`: held-out probe R² {d['probe_r2']:.3f} (shuffled codes "
                         f"{d['probe_r2_shuffled']:.3f}), reconstruction / copy {d['recon_vs_copy']:.3f}")
    lines.append("")
    study = results.get("study")
    if study and len({r["seed"] for r in results["rows"]}) > 1:
        base = study["baseline"]
        lines += [f"\n## Pooled over training seeds, paired difference to `{base}`\n",
                  f"| arm | demos per task | seeds | success (95% CI) | difference to {base} (95% bootstrap CI) |",
                  "|---|---|---|---|---|"]
        for arm, a in study["arms"].items():
            for demos, p in a["points"].items():
                d = p.get(f"diff_vs_{base}")
                diff = f"{d['diff']:+.2f} ({d['ci95'][0]:+.2f} to {d['ci95'][1]:+.2f})" if d else "–"
                lines.append(f"| {arm} | {demos} | {p['seeds']} | {p['success']:.2f} ({p['ci95'][0]:.2f}–{p['ci95'][1]:.2f}) "
                             f"| {diff} |")
        lines.append("")
        lines += [f"- {arm}: demos per task to reach 50% success: "
                  + (f"{a['demos_to_50pct']:.1f}" if a["demos_to_50pct"] is not None else "not reached in the sweep")
                  for arm, a in study["arms"].items()]
        lines.append("")
    return "\n".join(lines)


def plot_results(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vla.eval.sim_eval import wilson_interval

    pooled = {}  # (arm, demos) -> one point, pooled over training seeds
    for r in rows:
        p = pooled.setdefault((r["arm"], r["demos_per_task"]), {**r, "successes": 0, "n": 0})
        p["successes"] += r["successes"]
        p["n"] += r["n"]
    for p in pooled.values():
        p["success_rate"], p["ci95"] = p["successes"] / max(1, p["n"]), wilson_interval(p["successes"], p["n"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, arm in enumerate(dict.fromkeys(r["arm"] for r in rows)):
        pts = sorted((p for (a, _), p in pooled.items() if a == arm), key=lambda r: r["demos_per_task"])
        # A small offset per arm so the intervals do not hide each other.
        x = [r["demos_per_task"] * (1 + 0.03 * (i - 1)) for r in pts]
        y = [r["success_rate"] for r in pts]
        err = [[r["success_rate"] - r["ci95"][0] for r in pts], [r["ci95"][1] - r["success_rate"] for r in pts]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=4, label=pts[0]["label"])
    # Ticks only at the swept demo counts: the offsets above would otherwise read as fractional demos.
    demos = sorted({r["demos_per_task"] for r in rows})
    ax.set_xticks(demos, [str(d) for d in demos])
    if len(demos) == 1:
        ax.set_xlim(demos[0] * 0.9, demos[0] * 1.1)
    ax.set_xlabel("labelled demos per task"), ax.set_ylabel("success rate (95% Wilson CI)")
    ax.set_ylim(-0.02, 1.02), ax.legend(), ax.set_title("closed-loop success vs labelled demos per task")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
