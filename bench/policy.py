"""PolicyRunner benchmark: chunk inference latency (p50/p99), the share of it spent in LeRobot's pre/post
processors, and the control rate it sustains with action chunking (one inference per H steps) vs one
inference per step, side by side; and the latency under each autocast dtype (float32, bfloat16, float16: the
node's `dtype` parameter), side by side.

    python bench/policy.py [--quick] [--checkpoint DIR]   (default: a tiny untrained policy, built here)

Writes bench/results/policy.json and bench/results/policy.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


def tiny_checkpoint(directory: Path) -> Path:
    """An untrained tiny VLAPolicy: latency does not depend on the weights' values."""
    from vla.policy.backbone import build_tiny_backbone
    from vla.policy.configuration_vla import VLAConfig
    from vla.policy.modeling_vla import VLAPolicy
    from vla.policy.processor_vla import compute_stats, make_vla_latent_pre_post_processors

    bb = build_tiny_backbone(directory / "backbone", texts=["reach the goal position"])
    config = VLAConfig(chunk_size=8)
    config.set_features({"observation.image": (3, 64, 64)}, state_dim=4, action_dim=4)
    policy = VLAPolicy.from_backbone(config, bb)
    rng = np.random.default_rng(0)
    stats = {"observation.state": compute_stats(rng.normal(size=(64, 4))),
             "action": compute_stats(rng.normal(size=(64, 4)))}
    processors = make_vla_latent_pre_post_processors(config, stats)
    policy.apply_lora()
    return policy.save_pretrained(directory / "model", processors=processors)


def observation(rng, size: int) -> dict:
    return {"image": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
            "state": rng.normal(size=4).astype(np.float32), "instruction": "reach the goal position"}


def latency_ms(runner, rng, n: int) -> list[float]:
    lat = []
    for _ in range(n):
        runner.predict_chunk(observation(rng, 64))
        lat.append(runner.last_latency_s * 1e3)
    return lat


def summary(lat: list[float]) -> dict:
    return {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "mean": float(np.mean(lat)),
            "n": len(lat)}


def latency_by_dtype(checkpoint, device: str, n: int) -> dict:
    """Chunk latency of a runner per autocast dtype (the policy node's `dtype` values), each warmed up, on
    the same observations."""
    from robot.parameters import DTYPES
    from vla.runtime import PolicyRunner

    out = {}
    for dtype in DTYPES:
        runner = PolicyRunner(checkpoint, device=device, dtype=dtype)
        runner.warmup(3)
        out[dtype] = summary(latency_ms(runner, np.random.default_rng(0), n))
    return out


def processor_ms(runner, rng, n: int) -> dict:
    """Per chunk, the time in LeRobot's pre/post processors (normalisation, device moves) and in the network,
    measured on the same calls: what running every policy through LeRobot's processors costs."""
    import torch

    pre_post, network = [], []
    with torch.inference_mode():
        for _ in range(n):
            batch = runner._batch(observation(rng, 64))
            t0 = time.perf_counter()
            batch = runner.preprocess(batch)
            t1 = time.perf_counter()
            chunk = runner.policy.predict_action_chunk(batch)
            t2 = time.perf_counter()
            runner.postprocess(chunk)
            t3 = time.perf_counter()
            pre_post.append((t1 - t0 + t3 - t2) * 1e3)
            network.append((t2 - t1) * 1e3)
    return {"processors": summary(pre_post), "network": summary(network)}


def control_rate(runner, rng, steps: int, per_step_inference: bool) -> float:
    runner.reset()
    obs = observation(rng, 64)
    t0 = time.perf_counter()
    for _ in range(steps):
        if per_step_inference:
            runner.predict_chunk(obs)[0]
        else:
            runner.select_action(obs)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (fewer repetitions)")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from vla.runtime import PolicyRunner

    n_latency, n_steps = (30, 48) if args.quick else (200, 400)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or tiny_checkpoint(Path(tmp))
        runner = PolicyRunner(ckpt, device=args.device)
        runner.warmup(3)
        rng = np.random.default_rng(0)
        lat = latency_ms(runner, rng, n_latency)
        split = processor_ms(runner, rng, n_latency)
        chunked = control_rate(runner, rng, n_steps, per_step_inference=False)
        per_step = control_rate(runner, rng, n_steps, per_step_inference=True)
        by_dtype = latency_by_dtype(ckpt, args.device, n_latency)
    result = {
        "device": str(runner.device), "chunk_size": runner.chunk_size, "quick": args.quick,
        "date": time.strftime("%Y-%m-%d"),
        "latency_ms": summary(lat),
        "latency_ms_split": split,
        "processor_share": split["processors"]["p50"] / (split["processors"]["p50"] + split["network"]["p50"]),
        # bfloat16/float16 autocast pays off on a GPU's tensor cores; on a CPU it may well be slower.
        "latency_ms_by_dtype": by_dtype,
        "control_rate_hz": {"chunked": chunked, "per_step_inference": per_step},
        "ratio_chunked_vs_per_step": chunked / per_step,
    }
    # Chunking should buy at least half its ideal H-fold speed-up, and sustain the robot's 30 Hz loop.
    result["goals"] = [
        {"name": "control rate, chunked / per-step inference", "value": result["ratio_chunked_vs_per_step"],
         "goal": 0.5 * runner.chunk_size, "op": ">=", "unit": "x"},
        {"name": "control rate sustained with chunking", "value": chunked, "goal": 30.0, "op": ">=", "unit": "Hz"},
        # LeRobot's processors around the network should stay a small part of a chunk's latency.
        {"name": "pre/post processors' share of chunk latency (p50)", "value": result["processor_share"],
         "goal": 0.25, "op": "<=", "unit": ""},
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "policy.json").write_text(json.dumps(result, indent=2))
    plot(result, lat, RESULTS / "policy.png")
    print(f"chunk latency p50 {result['latency_ms']['p50']:.1f} ms, p99 {result['latency_ms']['p99']:.1f} ms "
          f"({result['device']})")
    print(f"of it, LeRobot's pre/post processors p50 {split['processors']['p50']:.2f} ms vs the network "
          f"{split['network']['p50']:.2f} ms ({result['processor_share']:.0%})")
    print("chunk latency p50 by dtype: " + ", ".join(f"{d} {v['p50']:.1f} ms" for d, v in by_dtype.items()))
    print(f"control rate: chunked (H={runner.chunk_size}) {chunked:.0f} Hz vs per-step inference {per_step:.0f} Hz "
          f"-> {result['ratio_chunked_vs_per_step']:.2f}x")


def plot(result: dict, latencies: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.5))
    a.hist(latencies, bins=30, color="tab:blue")
    for q in ("p50", "p99"):
        a.axvline(result["latency_ms"][q], ls="--", color="k")
        a.text(result["latency_ms"][q], a.get_ylim()[1] * 0.9, q)
    a.set_xlabel("chunk inference latency (ms)"), a.set_title(f"PolicyRunner on {result['device']}")
    rates = result["control_rate_hz"]
    b.bar(["chunked", "per-step"], [rates["chunked"], rates["per_step_inference"]], color=["tab:green", "tab:gray"])
    b.set_ylabel("sustained control rate (Hz)"), b.set_title(f"{result['ratio_chunked_vs_per_step']:.1f}x with chunking")
    by_dtype = result["latency_ms_by_dtype"]
    c.bar(list(by_dtype), [v["p50"] for v in by_dtype.values()], yerr=[[0] * len(by_dtype),
          [v["p99"] - v["p50"] for v in by_dtype.values()]], color="tab:purple", capsize=4)
    c.set_ylabel("chunk latency p50 (bar) to p99 (ms)"), c.set_title(f"autocast dtype on {result['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
