"""ROS 2 overhead: image publish -> command receipt over real DDS vs the bare policy call, and tick jitter.

    python bench/ros_loop.py [--quick] [--checkpoint DIR]

The issue's measure, kept as the goal: end-to-end latency from publishing an image to receiving the
command it produced, minus the bare policy call on the same observation (overhead = the difference;
median <= 2 ms, p99 <= 5 ms), and control-tick jitter |tick interval - period| (p99 <= 2 ms at 30 Hz).

The node publishes from a control timer that never waits on the model, so every command also waits for
the next tick. The goals are measured with a steady camera at the control rate (at an arbitrary phase)
and the node's defaults, which phase-lock the timer to the chunks (robot/phase.py): ticks are nudged by
at most 1 ms per interval until they fall 1 ms (the lead) after each chunk lands, and a chunk landing
within twice the lead of its tick publishes that tick at once. Side by side in the same run: the lock
without early publish (each command waits the lead), the lock off (a fixed period: the wait is wherever
the camera's phase puts it, up to a period), an
unsynchronised camera (each image at a random phase, ~period/2 of wait on average, which no timer can
remove), and rclpy's MultiThreadedExecutor (on the unsynchronised camera: it cannot keep up with a
steady one here). Each sample is split into stages, timed in the same run:

    image transport  publish -> inference starts in the node (DDS, callback, wake of the inference thread)
    inference        the policy call inside the node
    tick wait        inference done -> the control tick publishes the command
    command transport  tick publish -> the command arrives at the peer (DDS)

and "overhead without tick wait" = image transport + command transport (+ any slowdown of the in-node
call over the bare one) is reported too.

Without --checkpoint the policy is a tiny numpy stand-in (microseconds, so the figure isolates the ROS
path); with one it is `vla.runtime.PolicyRunner` (then inference noise enters the difference). The policy
writes a pixel of the image into the action, so each command is matched to the image that produced it.
The node spins in `vla-policy-node`'s executor (robot.policy_node.make_executor), the peer in its own. Writes bench/results/ros_loop.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
RESULTS = Path(__file__).resolve().parent / "results"


class PixelPolicy:
    """action[0] = image[0, 0, 0] / 255 (the image's marker); records when each marker's call ran."""
    action_dim, chunk_size, state_dim = 4, 1, 4

    def __init__(self, inner=None):
        self.inner = inner
        self.calls: dict[int, tuple[float, float]] = {}   # marker -> (start, end) perf_counter

    def predict_chunk(self, obs):
        t0 = time.perf_counter()
        if self.inner is not None:
            self.inner.predict_chunk(obs)
        a = np.zeros((1, 4), np.float32)
        a[0, 0] = obs["image"][0, 0, 0] / 255.0
        self.calls[int(obs["image"][0, 0, 0])] = (t0, time.perf_counter())
        return a

    def select_action(self, obs):
        return self.predict_chunk(obs)[0]

    def reset(self):
        pass


def marker_of(value: float) -> int:
    return int(round(value * 255))


def run(n_images: int, rate_hz: float, checkpoint: str | None, seed: int = 0, multi_threaded: bool = False,
        camera: str = "steady", phase_lock_s: float | None = None, lead_s: float | None = None,
        early_publish: bool | None = None) -> dict:
    """One measured loop. camera="steady": images at exactly rate_hz (a camera at the control rate, at an
    arbitrary phase of the node's timer); "random": each image at a random phase of the tick, after the
    previous command came back (an unsynchronised camera). multi_threaded: the node spins in rclpy's
    MultiThreadedExecutor instead (comparison). phase_lock_s, lead_s, early_publish: the node's
    phase_lock_max_shift_s, phase_lock_lead_s and phase_lock_early_publish (None: its defaults)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray, String

    from robot.convert import numpy_to_image
    from robot.interfaces import (CAMERA_TOPIC, COMMAND_QOS, COMMAND_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC,
                                  LATCHED_QOS, POLICY_ARM_SERVICE, SENSOR_QOS, SIM_JOINT_NAMES)
    from robot.loop import call_arm
    from robot.policy_node import PolicyNode, make_executor

    inner = None
    if checkpoint:
        from vla.runtime import PolicyRunner
        inner = PolicyRunner(checkpoint, device="auto")
        inner.warmup(3, image_size=64)
    policy = PixelPolicy(inner)
    size, period = 64, 1.0 / rate_hz
    rng = np.random.default_rng(seed)
    n_warmup = 90 if camera == "steady" else 3   # DDS matching, and the phase lock settling (~2 s at 30 Hz)
    markers = [i % 250 + 1 for i in range(n_warmup + n_images)]   # 1..250: 0 is the safe zero command
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    state = np.zeros(4, np.float32)

    def observation(k: int) -> dict:
        image = base.copy()
        image[0, 0, 0] = k
        return {"image": image, "state": state, "instruction": "bench"}

    # The bare call on the same observations, outside ROS.
    bare = []
    for k in markers[n_warmup:]:
        obs = observation(k)
        t0 = time.perf_counter()
        policy.predict_chunk(obs)
        bare.append(time.perf_counter() - t0)

    ctx = Context()
    rclpy.init(context=ctx, domain_id=150 + os.getpid() % 50)
    node = PolicyNode(policy=policy, context=ctx, parameter_overrides=[
        Parameter("control_rate_hz", value=rate_hz), Parameter("warmup", value=False),
        Parameter("refill_threshold", value=1), Parameter("stale_timeout_s", value=5.0),
        Parameter("max_delta", value=10.0)]
        + [Parameter(name, value=v) for name, v in (("phase_lock_max_shift_s", phase_lock_s),
                                                    ("phase_lock_lead_s", lead_s),
                                                    ("phase_lock_early_publish", early_publish)) if v is not None])
    published: dict[int, float] = {}   # marker -> when the tick published its command
    node_publish = node.publish_command

    def timed_publish(command):
        if command[0] != 0.0:
            published[marker_of(command[0])] = time.perf_counter()
        node_publish(command)
    node.publish_command = timed_publish

    peer = rclpy.create_node("bench_peer", context=ctx)
    image_pub = peer.create_publisher(Image, CAMERA_TOPIC, SENSOR_QOS)
    joint_pub = peer.create_publisher(JointState, JOINT_STATES_TOPIC, SENSOR_QOS)
    peer.create_publisher(String, INSTRUCTION_TOPIC, LATCHED_QOS).publish(String(data="bench"))
    received: dict[int, float] = {}
    arrived = threading.Condition()

    def on_command(msg):
        k = marker_of(msg.data[0])
        if k:
            with arrived:
                received.setdefault(k, time.perf_counter())
                arrived.notify_all()
    peer.create_subscription(Float64MultiArray, COMMAND_TOPIC, on_command, COMMAND_QOS)
    # The node spins in the executor `vla-policy-node` uses, on its own thread; the peer (camera, robot)
    # in its own executor and thread, as a separate process would.
    executor = MultiThreadedExecutor(num_threads=3, context=ctx) if multi_threaded else make_executor(ctx)
    executor.add_node(node)
    peer_executor = SingleThreadedExecutor(context=ctx)
    peer_executor.add_node(peer)
    spinners = [threading.Thread(target=e.spin, name=f"bench-{n}", daemon=True)
                for e, n in ((executor, "node"), (peer_executor, "peer"))]
    spinners[0].start()
    if not call_arm(peer_executor, peer, POLICY_ARM_SERVICE, True):
        raise RuntimeError("the policy node refused ~/arm")
    spinners[1].start()

    joints = JointState(name=list(SIM_JOINT_NAMES), position=[0.0] * 4)
    rows = []   # per matched image: sent, inference start, inference end, tick publish, receipt; bare
    lost = 0
    from tqdm import tqdm
    pending = []   # (frame index, marker, sent): matched with its command once that has had time to come back

    def harvest(older_than: float) -> None:
        nonlocal lost
        while pending and pending[0][2] < older_than:
            i, k, sent = pending.pop(0)
            if i < 0:
                continue
            if k not in received or k not in published:
                lost += 1
                continue
            start_k, end_k = policy.calls[k]
            rows.append((sent, start_k, end_k, published[k], received[k], bare[i]))

    start = time.perf_counter() + rng.uniform(0.0, period)   # the steady camera's phase: arbitrary
    for i, k in enumerate(tqdm(markers, desc=f"ros loop bench ({camera} camera)"), start=-n_warmup):
        harvest(time.perf_counter() - 4 * period)
        for table in (received, published, policy.calls):
            table.pop(k, None)
        msg = numpy_to_image(observation(k)["image"])
        if camera == "steady":
            time.sleep(max(0.0, start + (i + n_warmup) * period - time.perf_counter()))
        else:
            time.sleep(rng.uniform(0.0, period))   # a camera that is not phase-locked to the control timer
        joint_pub.publish(joints)
        sent = time.perf_counter()
        image_pub.publish(msg)
        pending.append((i, k, sent))
        if camera == "random":   # the next image only after this one's command came back
            with arrived:
                arrived.wait_for(lambda: k in received, timeout=2.0)
    time.sleep(4 * period)
    harvest(float("inf"))
    ticks = np.diff(np.asarray(node.tick_times))
    node.stop()
    for e in (executor, peer_executor):
        e.shutdown()
    for t in spinners:
        t.join(timeout=5.0)
    node.destroy_node()
    peer.destroy_node()
    rclpy.try_shutdown(context=ctx)

    t = np.asarray(rows, np.float64).reshape(-1, 6) * 1e3   # ms
    sent, start, end, pub, recv, bare_ms = t.T
    e2e = recv - sent
    stages = {"image_transport": start - sent, "inference": end - start, "tick_wait": pub - end,
              "command_transport": recv - pub}
    overhead = e2e - bare_ms
    overhead_no_wait = overhead - stages["tick_wait"]
    jitter = np.abs(ticks - period) * 1e3
    pct = lambda a, q: float(np.percentile(a, q)) if len(a) else float("nan")  # noqa: E731
    r = {"n_images": n_images, "camera": camera, "phase_lock_max_shift_s": node.p["phase_lock_max_shift_s"],
         "phase_lock_lead_s": node.p["phase_lock_lead_s"], "phase_lock_early_publish": node.p["phase_lock_early_publish"],
         "early_ticks": node.early_ticks,
         "matched": len(rows), "lost": lost, "rate_hz": rate_hz, "period_ms": period * 1e3,
         "policy": f"PolicyRunner({checkpoint})" if checkpoint else "numpy stand-in (isolates the ROS path)",
         "bare_ms_p50": pct(np.asarray(bare) * 1e3, 50), "bare_ms_p99": pct(np.asarray(bare) * 1e3, 99),
         "e2e_ms_p50": pct(e2e, 50), "e2e_ms_p99": pct(e2e, 99),
         "overhead_ms_p50": pct(overhead, 50), "overhead_ms_p99": pct(overhead, 99),
         "overhead_without_tick_wait_ms_p50": pct(overhead_no_wait, 50),
         "overhead_without_tick_wait_ms_p99": pct(overhead_no_wait, 99),
         "publish_to_inference_done_ms_p50": pct(end - sent, 50),
         "publish_to_inference_done_ms_p99": pct(end - sent, 99),
         "jitter_ms_p50": pct(jitter, 50), "jitter_ms_p99": pct(jitter, 99), "ticks": int(len(ticks) + 1)}
    for name, values in stages.items():
        r[f"{name}_ms_p50"], r[f"{name}_ms_p99"] = pct(values, 50), pct(values, 99)
    r.update(_e2e=e2e.tolist(), _bare=(np.asarray(bare) * 1e3).tolist(), _overhead_no_wait=overhead_no_wait.tolist(),
             _tick_wait=stages["tick_wait"].tolist(), _jitter=jitter.tolist())
    return r


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    top = max(max(r["_e2e"], default=1.0), max(r.get("_fixed_e2e", [0.0]), default=0.0))
    bins = np.linspace(0.0, top * 1.05, 90)   # one set of bins, so the distributions compare by eye
    ax[0].hist(r["_bare"], bins=bins, alpha=0.7, label="bare policy call")
    ax[0].hist(r["_e2e"], bins=bins, alpha=0.7, label="image publish -> command receipt (DDS), phase lock on")
    if "_fixed_e2e" in r:
        ax[0].hist(r["_fixed_e2e"], bins=bins, alpha=0.7, label="the same, phase lock off (fixed period)")
    ax[0].axvline(2.0, ls="--", color="k", label="overhead goal (2 ms)")
    ax[0].set_xlabel("ms"), ax[0].legend(fontsize=8), ax[0].set_title("end-to-end latency, steady 30 Hz camera")
    ax[1].hist(r["_tick_wait"], bins=30, alpha=0.7, label="tick wait (lock on)")
    ax[1].hist(r["_overhead_no_wait"], bins=30, alpha=0.7, label="overhead without tick wait")
    ax[1].set_xlabel("ms"), ax[1].legend(fontsize=8), ax[1].set_title("where the overhead goes (lock on)")
    ax[2].hist(r["_jitter"], bins=30)
    ax[2].axvline(2.0, ls="--", color="k")
    ax[2].set_xlabel("|tick interval - period| ms"), ax[2].set_title(f"control tick jitter at {r['rate_hz']:.0f} Hz")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--rate", type=float, default=30.0)
    a = ap.parse_args()
    n = 40 if a.quick else 300
    r = run(n, a.rate, a.checkpoint)   # steady camera, node as configured by default (phase lock on)
    # Side by side, same run: the lock off (a fixed-period timer), an unsynchronised camera, and the node
    # in rclpy's MultiThreadedExecutor (why it uses a single-threaded one; robot.policy_node.make_executor).
    no_early = run(n, a.rate, a.checkpoint, seed=4, early_publish=False)
    fixed = run(n, a.rate, a.checkpoint, seed=1, phase_lock_s=0.0)
    unsync = run(n, a.rate, a.checkpoint, seed=2, camera="random")
    # The MultiThreadedExecutor cannot keep up with a steady 30 Hz camera and timer here (it matched 3 of
    # 60 images), so it is compared on the unsynchronised camera, which waits for each command.
    mt = run(n, a.rate, a.checkpoint, seed=3, multi_threaded=True, camera="random")
    r["quick"] = a.quick
    keys = ("overhead_ms_p50", "overhead_ms_p99", "tick_wait_ms_p50", "overhead_without_tick_wait_ms_p50",
            "overhead_without_tick_wait_ms_p99", "jitter_ms_p50", "jitter_ms_p99", "matched")
    r["locked_without_early_publish"] = {k: no_early[k] for k in keys}
    r["fixed_period_timer"] = {k: fixed[k] for k in keys}
    r["_fixed_e2e"] = fixed["_e2e"]
    r["unsynchronised_camera"] = {k: unsync[k] for k in keys}
    r["multi_threaded_executor"] = {k: mt[k] for k in keys}
    r["overhead_p50_fixed_over_locked"] = fixed["overhead_ms_p50"] / max(r["overhead_ms_p50"], 1e-9)
    r["jitter_p99_multi_over_single"] = mt["jitter_ms_p99"] / max(r["jitter_ms_p99"], 1e-9)
    # Issue #6's goals, on the issue's quantities, for a camera at the control rate with the node's defaults.
    r["goals"] = [
        {"name": "ros overhead p50 (e2e - bare call)", "value": r["overhead_ms_p50"], "goal": 2.0, "op": "<=",
         "unit": "ms"},
        {"name": "ros overhead p99 (e2e - bare call)", "value": r["overhead_ms_p99"], "goal": 5.0, "op": "<=",
         "unit": "ms"},
        {"name": f"tick jitter p99 at {a.rate:.0f} Hz", "value": r["jitter_ms_p99"], "goal": 2.0, "op": "<=",
         "unit": "ms"},
        {"name": "commands matched to images", "value": r["matched"] / r["n_images"], "goal": 0.95, "op": ">=",
         "unit": "fraction"},
    ]
    RESULTS.mkdir(exist_ok=True)
    plot(r, RESULTS / "ros_loop.png")
    public = {k: v for k, v in r.items() if not k.startswith("_")}
    (RESULTS / "ros_loop.json").write_text(json.dumps(public, indent=2))
    print(json.dumps(public, indent=2))
    print(f"ros_loop (steady {a.rate:.0f} Hz camera, phase lock on): overhead p50 {r['overhead_ms_p50']:.2f} ms, "
          f"p99 {r['overhead_ms_p99']:.2f} ms (tick wait p50 {r['tick_wait_ms_p50']:.2f} ms); "
          f"jitter p99 {r['jitter_ms_p99']:.2f} ms")
    for name, other in (("phase lock without early publish", no_early), ("phase lock off (fixed period)", fixed),
                        ("unsynchronised camera", unsync),
                        ("MultiThreadedExecutor", mt)):
        print(f"  {name}: overhead p50 {other['overhead_ms_p50']:.2f} ms, p99 {other['overhead_ms_p99']:.2f} ms "
              f"(without tick wait p50 {other['overhead_without_tick_wait_ms_p50']:.2f} ms), "
              f"jitter p99 {other['jitter_ms_p99']:.2f} ms")

if __name__ == "__main__":
    main()
