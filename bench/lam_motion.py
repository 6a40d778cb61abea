"""Do the latent codes carry the motion? LAM variants side by side on the same store, episodes and seeds.

Every variant trains on the same action-free sim video (push, reach, button-press-topdown) with the
same budget and seeds; the first `--labelled` teleop episodes of every task are the only labels any
variant may read (only the `labels_*` variants do), and every probe is fitted and scored on the OTHER
teleop episodes (ridge of the mean xyz action over the gap from one-hot codes; half the episodes fit,
the other half score), beside the same probe on shuffled codes and on an untrained LAM (the controls).

Variants (one change each from `pure`, the LAPA arm's LAM = configs/lam/small.yaml at the demo budget):
    pure        pixels target, 4 tokens x 8 codes, gap 4
    gap8        frame gap 8 (twice the motion per pair)
    narrow      1 token x 16 codes: a bottleneck with less room for appearance
    features    predict the change of frozen image features instead of pixels (random_conv: offline, a toy)
    labels      action head on the code, trained on the labelled pairs (the latent_labels arm, LAOM-style)
    labels_w01  the same at a tenth of the label weight

Writes bench/results/lam_motion.json ({"rows": [{"variant", "seed", "probe_r2", "probe_r2_shuffled", ...}]},
with the goal: held-out probe R^2 >= 0.5 for the best variant) and lam_motion.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TASKS = ("push-v3", "reach-v3", "button-press-topdown-v3")
VARIANTS = {
    "pure": {},
    "gap8": {"gap_s": 0.1},  # 8 frames at the sim's 80 fps
    "narrow": {"n_tokens": 1, "codebook_size": 16},
    "features": {"target": "features"},
    "labels": {"action_dim": 3, "label_weight": 1.0},
    "labels_w01": {"action_dim": 3, "label_weight": 0.1},
}


def make_data(work: Path, videos: int, teleop: int) -> tuple[str, str]:
    from vla.data.ingest import IngestConfig, ingest
    from vla.data.sim import SimConfig, generate

    store = work / "frames.zarr"
    if not (work / "teleop" / "meta" / "info.json").is_file():
        generate(SimConfig(tasks=TASKS, video_episodes_per_task=videos, teleop_episodes_per_task=teleop, workers=2),
                 work / "videos", work / "teleop")
    if not store.exists():
        ingest(str(work / "videos"), str(store), IngestConfig(image_size=64, workers=2))
    return str(store), str(work / "teleop")


def run_one(job: tuple) -> dict:
    """Train one (variant, seed) LAM and return its final held-out diagnostics (cached in the run dir)."""
    variant, seed, store, teleop, run_dir, steps, labelled = job
    import torch

    torch.set_num_threads(1)
    from vla.core.config import load_config
    from vla.lam.configuration import LAMConfig
    from vla.lam.train import LAMTrainConfig, train

    done = Path(run_dir) / "row.json"
    if done.is_file():
        return json.loads(done.read_text())
    cfg = load_config(["experiment=demo"])  # the demo's LAM budget: batch 32
    model = {**cfg.lam.model, **VARIANTS[variant]}
    tcfg = {**cfg.lam.train, "seed": seed, "steps": steps, "eval_every": steps, "ckpt_every": steps,
            "labelled_demos_per_task": labelled, "threads": 1}
    t0 = time.perf_counter()
    result = train(LAMConfig.from_dict(model), LAMTrainConfig(**tcfg), store, run_dir, teleop_root=teleop)
    keys = ("probe_r2", "probe_r2_shuffled", "recon_vs_copy", "eval_perplexity", "probe_pairs_test")
    row = {"variant": variant, "seed": seed, **{k: result["final"][k] for k in keys},
           "minutes": (time.perf_counter() - t0) / 60}
    done.write_text(json.dumps(row))
    return row


def untrained_probe(store: str, teleop: str, labelled: int, seed: int) -> dict:
    """The control: the same probe on the codes of a randomly initialised LAM (codebook from its latents)."""
    import torch

    from vla.data.lerobot_io import load_episodes
    from vla.data.pairs import PairDataset
    from vla.lam.configuration import LAMConfig
    from vla.lam.modeling import LatentActionModel
    from vla.lam.probe import probe
    from vla.lam.train import split_labelled

    torch.manual_seed(seed)
    model = LatentActionModel(LAMConfig()).eval()
    pairs = PairDataset(store, 4, 4, seed=seed)
    items = [pairs[i] for i in np.random.default_rng(seed).choice(len(pairs), 256, replace=False)]
    with torch.no_grad():
        model.vq.init_from(model._latents(torch.stack([b["frame_t"] for b in items]),
                                          torch.stack([b["frame_tk"] for b in items])), seed=seed)
    episodes = split_labelled(load_episodes(teleop), labelled)[1]
    return {"variant": "untrained", "seed": seed, **probe(model, episodes, seed=seed)}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, name in enumerate(names):
        sel = [r for r in rows if r["variant"] == name]
        ax.scatter([i - 0.1] * len(sel), [r["probe_r2"] for r in sel], color="C0", label="codes" if i == 0 else None)
        ax.scatter([i + 0.1] * len(sel), [r["probe_r2_shuffled"] for r in sel], color="C3", marker="x",
                   label="shuffled codes" if i == 0 else None)
    ax.axhline(0.5, color="grey", ls="--", lw=1, label="goal 0.5")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("held-out probe R² (mean xyz action)"), ax.legend(fontsize=8)
    ax.set_title("do the latent codes carry the motion? (one point per seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 variants, 1 seed, 60 steps (smoke test)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=600, help="LAM training steps (the demo's budget)")
    parser.add_argument("--videos", type=int, default=30, help="action-free videos per task")
    parser.add_argument("--teleop", type=int, default=10, help="teleop episodes per task (labelled + probed)")
    parser.add_argument("--labelled", type=int, default=3, help="of those, labelled episodes per task")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one torch thread each")
    parser.add_argument("--work", type=Path, default=Path("outputs/bench/lam_motion"))
    args = parser.parse_args()
    if args.quick:
        args.variants, args.seeds, args.steps, args.videos = ["pure", "labels"], 1, 60, 4

    from vla.core.config import setup_logging
    from vla.data.workers import spawn_pool, unordered

    setup_logging()
    t0 = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    store, teleop = make_data(args.work, args.videos, args.teleop)
    jobs = [(v, s, store, teleop, str(args.work / f"{v}_seed{s}"), args.steps, args.labelled)
            for s in range(args.seeds) for v in args.variants]
    rows = [untrained_probe(store, teleop, args.labelled, s) for s in range(args.seeds)]
    with spawn_pool(args.workers) as pool:
        for row in unordered(pool, run_one, jobs, "lam_motion"):
            rows.append(row)
            print(f"{row['variant']} seed {row['seed']}: probe R2 {row['probe_r2']:.3f} "
                  f"(shuffled {row['probe_r2_shuffled']:.3f})", flush=True)
    order = ["untrained", *args.variants]
    rows.sort(key=lambda r: (order.index(r["variant"]), r["seed"]))
    mean = {v: float(np.mean([r["probe_r2"] for r in rows if r["variant"] == v])) for v in order}
    best = max(args.variants, key=mean.get)
    out = {"rows": rows, "mean_probe_r2": mean, "best": best, "steps": args.steps, "seeds": args.seeds,
           "videos_per_task": args.videos, "labelled_per_task": args.labelled,
           "probed_per_task": args.teleop - args.labelled, "quick": args.quick,
           "goals": [{"name": f"held-out probe R2, best variant ({best}, mean over seeds)", "value": mean[best],
                      "goal": 0.5, "op": ">=", "unit": ""}],
           "minutes": (time.perf_counter() - t0) / 60, "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lam_motion.json").write_text(json.dumps(out, indent=2))
    plot(rows, RESULTS / "lam_motion.png")
    for v in order:
        print(f"{v:<12} mean probe R2 {mean[v]:.3f}")
    print(f"wrote {RESULTS / 'lam_motion.json'} and lam_motion.png in {out['minutes']:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
