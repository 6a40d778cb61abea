"""Ingest and pair-sampling throughput, measured side by side on the same files.

1. ingest (decode + resize + compress + write zarr) frames/s vs decode-only frames/s, both
   single-process over the same videos, with the decoder's default settings. The two alternate for
   several rounds and the median of the per-round ratios is reported (one round is ~0.1 s, and this
   shared machine's speed swings by tens of percent between seconds). Goal: ingest >= 0.8x decode-only.
   Measured twice: on the 64 px sim clips (the hardest case: decoding a small frame costs least next
   to compressing and writing it, and each short clip pays a store group's folders and documents),
   and on the same task rendered at 480x480, a camera-like source resized to the store's 64 px.
2. random frame pairs from the zarr store (PairDataset, one pass, its chunk cache starting cold)
   vs the same pairs decoded from the LeRobot dataset's videos (delta_timestamps). Goal: zarr >= 5x
   the decode path. The same pass without the chunk cache is reported too (not a goal).
3. the engines: ingest with engine=local and engine=ray (Ray Data actors on a local Ray, started once
   before the rounds), 1 and 2 workers, over the same videos, alternating per round; frames/s (medians)
   and the ray / local ratio at equal workers (median of per-round ratios), on 40 copies of the videos
   of 1 (5 in --quick). Each run includes starting its workers (Ray actors or spawned processes; 1 local
   worker runs in this process). Goal: ray >= 0.7x local on one machine (Ray is for many machines).
Writes bench/results/ingest.json and ingest.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def corpus(work: Path, episodes: int, image_size: int = 64, teleop: bool = True):
    from vla.data.sim import SimConfig, generate

    cfg = SimConfig(tasks=("push-v3",), video_episodes_per_task=episodes,
                    teleop_episodes_per_task=episodes if teleop else 0, image_size=image_size, max_steps=150,
                    workers=2)
    generate(cfg, work / "videos", work / "teleop")
    return cfg


def decode_only(files: list[Path]) -> tuple[int, float]:
    from vla.data.video import iter_frames

    t0, n = time.perf_counter(), 0
    for f in files:
        for _ in iter_frames(str(f), 64):
            n += 1
    return n, time.perf_counter() - t0


def ingest_run(videos: Path, store: Path) -> tuple[int, float]:
    """Single-process ingest of a folder (or one file) into a fresh store: (frames, seconds)."""
    from vla.data.ingest import IngestConfig, ingest

    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    report = ingest(str(videos), str(store), IngestConfig(image_size=64, workers=1))
    return report["frames"], time.perf_counter() - t0


def ingest_vs_decode(videos: Path, work: Path, n_rounds: int) -> dict:
    """Alternate decode-only and ingest over the same files for n_rounds; medians and per-round ratios."""
    files = sorted(videos.glob("*.mp4"))
    # Warm both sides once: the codec and the page cache, and zarr's event loop, thread pool and codec
    # registry, which start on a process's first store operation (~75 ms here, not throughput).
    decode_only(files[:1])
    ingest_run(files[0], work / "warm.zarr")
    rounds = [(decode_only(files), ingest_run(videos, work / "frames.zarr")) for _ in range(n_rounds)]
    assert all(n_dec == n_ing for (n_dec, _), (n_ing, _) in rounds), rounds
    frames = rounds[0][0][0]
    ratios = [t_dec / t_ing for (_, t_dec), (_, t_ing) in rounds]
    return {"videos": len(files), "frames": frames, "rounds": n_rounds,
            "decode_fps": frames / float(np.median([t for (_, t), _ in rounds])),
            "ingest_fps": frames / float(np.median([t for _, (_, t) in rounds])),
            "ingest_vs_decode": float(np.median(ratios)), "ingest_vs_decode_per_round": ratios}


def copies(videos: Path, out: Path, n: int) -> Path:
    """n copies of every video (ingest's cost is per file: copies cost what new videos of that size would)."""
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        for f in videos.glob("*.mp4"):
            shutil.copy(f, out / f"{f.stem}_{i}.mp4")
    return out


def engine_run(videos: Path, store: Path, engine: str, workers: int) -> tuple[int, float]:
    from vla.data.ingest import IngestConfig, ingest

    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    report = ingest(str(videos), str(store), IngestConfig(image_size=64, workers=workers, engine=engine))
    return report["frames"], time.perf_counter() - t0


def engines(videos: Path, work: Path, n_rounds: int) -> dict:
    """engine=local vs engine=ray, 1 and 2 workers, alternating over n_rounds on the same files."""
    from vla.data.workers import ray_session

    runs = [(engine, workers) for workers in (1, 2) for engine in ("local", "ray")]
    times: dict[str, list[float]] = {f"{e}_{w}": [] for e, w in runs}
    with ray_session():  # a local Ray, started once: its start-up (~10 s) is not ingest throughput
        engine_run(videos, work / "warm_ray.zarr", "ray", 1)
        for _ in range(n_rounds):
            for engine, workers in runs:
                frames, seconds = engine_run(videos, work / f"{engine}_{workers}.zarr", engine, workers)
                times[f"{engine}_{workers}"].append(seconds)
    out = {"videos": len(list(videos.glob("*.mp4"))), "frames": frames, "rounds": n_rounds}
    for key, ts in times.items():
        out[f"{key}_fps"] = frames / float(np.median(ts))
    for workers in (1, 2):
        ratios = [t_local / t_ray for t_local, t_ray in zip(times[f"local_{workers}"], times[f"ray_{workers}"])]
        out[f"ray_vs_local_{workers}_workers"] = float(np.median(ratios))
        out[f"ray_vs_local_{workers}_workers_per_round"] = ratios
    return out


def zarr_pairs(store: Path, n: int, cache: bool = True) -> float:
    """One pass over n random pairs; cache=False: no chunk cache (every pair costs a zarr read)."""
    from vla.data.pairs import DEFAULT_CACHE_BYTES, PairDataset

    ds = PairDataset(str(store), 4, 4, seed=0, cache_bytes=DEFAULT_CACHE_BYTES if cache else 0)
    t0 = time.perf_counter()
    for i in range(n):
        ds[i % len(ds)]
    return n / (time.perf_counter() - t0)


def lerobot_pairs(teleop: Path, fps: int, n: int) -> float:
    from vla.data.lerobot_io import open_dataset

    ds = open_dataset(teleop, delta_timestamps={"observation.image": [0.0, 4 / fps]})
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(ds), n)
    t0 = time.perf_counter()
    for i in idx:
        ds[int(i)]["observation.image"]
    return n / (time.perf_counter() - t0)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.5))
    for ax, (label, m) in zip(axes, (("64 px sim clips", results), ("480 px source -> 64 px", results["camera_480px"]))):
        rounds = m["ingest_vs_decode_per_round"]
        ax.bar(["decode only", "ingest"], [m["decode_fps"], m["ingest_fps"]], color=["grey", "tab:blue"])
        ax.set_ylabel("frames / s (median of rounds)")
        ax.set_title(f"{label}: {m['ingest_vs_decode']:.2f}x ({min(rounds):.2f}-{max(rounds):.2f})")
    axes[2].bar(["LeRobot video decode", "zarr store"], [results["lerobot_pairs_per_s"], results["zarr_pairs_per_s"]],
                color=["grey", "tab:green"])
    axes[2].set_ylabel("pairs / s"), axes[2].set_title(f"zarr = {results['zarr_vs_lerobot']:.1f}x decode path")
    e = results["engines"]
    x = np.arange(2)
    for k, engine in enumerate(("local", "ray")):
        axes[3].bar(x + 0.4 * k, [e[f"{engine}_{w}_fps"] for w in (1, 2)], 0.4, label=f"engine={engine}")
    axes[3].set_xticks(x + 0.2, ["1 worker", "2 workers"]), axes[3].legend(), axes[3].set_ylabel("frames / s")
    axes[3].set_title(f"ray / local: {e['ray_vs_local_1_workers']:.2f}x, {e['ray_vs_local_2_workers']:.2f}x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    episodes, n_pairs, n_rounds, n_copies = (3, 200, 3, 5) if args.quick else (12, 1000, 9, 40)
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        cfg = corpus(work, episodes)
        small = ingest_vs_decode(work / "videos", work, n_rounds)
        corpus(work / "camera", episodes // 2, image_size=480, teleop=False)
        camera = ingest_vs_decode(work / "camera" / "videos", work / "camera", n_rounds)
        z = zarr_pairs(work / "frames.zarr", n_pairs)
        z_cold = zarr_pairs(work / "frames.zarr", n_pairs, cache=False)
        lr = lerobot_pairs(work / "teleop", cfg.fps, max(50, n_pairs // 5))
        eng = engines(copies(work / "videos", work / "many", n_copies), work, max(1, n_rounds // 3))
        r = {**small, "camera_480px": camera, "engines": eng,
             "zarr_pairs_per_s": z, "zarr_pairs_per_s_uncached": z_cold, "lerobot_pairs_per_s": lr}
        r["zarr_vs_lerobot"] = z / lr
        r["date"] = time.strftime("%Y-%m-%d")
        r["goals"] = [
            {"name": "ingest / decode-only throughput", "value": r["ingest_vs_decode"], "goal": 0.8, "op": ">=", "unit": "x"},
            {"name": "ingest / decode-only, 480 px source", "value": camera["ingest_vs_decode"], "goal": 0.8,
             "op": ">=", "unit": "x"},
            {"name": "zarr / LeRobot-video pair sampling", "value": r["zarr_vs_lerobot"], "goal": 5.0, "op": ">=", "unit": "x"},
        ] + [{"name": f"engine=ray / engine=local ingest, {w} worker(s), {eng['videos']} videos",
              "value": eng[f"ray_vs_local_{w}_workers"], "goal": 0.7, "op": ">=", "unit": "x"} for w in (1, 2)]
        (RESULTS / "ingest.json").write_text(json.dumps(r, indent=2))
        plot(r, RESULTS / "ingest.png")
        for label, m in (("64 px clips", small), ("480 px source", camera)):
            ratios = m["ingest_vs_decode_per_round"]
            print(f"{label}: ingest {m['ingest_fps']:.0f} frames/s vs decode-only {m['decode_fps']:.0f} frames/s "
                  f"(medians): {m['ingest_vs_decode']:.2f}x, rounds {min(ratios):.2f}-{max(ratios):.2f} (goal >= 0.8)")
        print(f"pairs: zarr {z:.0f}/s vs LeRobot video decode {lr:.0f}/s: {r['zarr_vs_lerobot']:.1f}x (goal >= 5); "
              f"without the chunk cache {z_cold:.0f}/s ({z_cold / lr:.1f}x)")
        for w in (1, 2):
            print(f"engines, {w} worker(s): local {eng[f'local_{w}_fps']:.0f} frames/s, ray {eng[f'ray_{w}_fps']:.0f} "
                  f"frames/s: ray / local {eng[f'ray_vs_local_{w}_workers']:.2f}x (actor start-up included)")
        print(f"wrote {RESULTS / 'ingest.json'} and {RESULTS / 'ingest.png'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
