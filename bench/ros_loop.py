"""ROS 2 overhead: image publish -> command receipt over real DDS vs the bare policy call, and tick jitter.

    python bench/ros_loop.py [--quick] [--checkpoint DIR]

Without --checkpoint the policy is a tiny numpy model (so the number isolates the ROS path); with one it
is `vla.runtime.PolicyRunner`. The policy copies a pixel of the image into the action, so each command is
matched to the image that produced it. The end-to-end figure includes waiting for the next control tick
(up to one period), which is the point: that is what the robot sees. Writes bench/results/ros_loop.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
RESULTS = Path(__file__).resolve().parent / "results"


class PixelPolicy:
    """action[0] = image[0, 0, 0] / 255: lets the bench tell which image a command came from."""
    action_dim, chunk_size, state_dim = 4, 1, 4

    def __init__(self, inner=None):
        self.inner = inner

    def predict_chunk(self, obs):
        if self.inner is not None:
            self.inner.predict_chunk(obs)
        a = np.zeros((1, 4), np.float32)
        a[0, 0] = obs["image"][0, 0, 0] / 255.0
        return a

    def select_action(self, obs):
        return self.predict_chunk(obs)[0]

    def reset(self):
        pass


def run(n_images: int, rate_hz: float, checkpoint: str | None) -> dict:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray, String

    from robot.convert import numpy_to_image
    from robot.loop import call_arm
    from robot.policy_node import COMMAND_QOS, LATCHED_QOS, PolicyNode

    inner = None
    if checkpoint:
        from vla.runtime import PolicyRunner
        inner = PolicyRunner(checkpoint, device="auto")
    policy = PixelPolicy(inner)
    size = 64
    obs = {"image": np.zeros((size, size, 3), np.uint8), "state": np.zeros(4, np.float32), "instruction": "bench"}
    bare = []
    for i in range(n_images):
        obs["image"][0, 0, 0] = i % 250 + 1
        t0 = time.perf_counter()
        policy.predict_chunk(obs)
        bare.append(time.perf_counter() - t0)

    ctx = Context()
    rclpy.init(context=ctx, domain_id=150 + os.getpid() % 50)
    node = PolicyNode(policy=policy, context=ctx, parameter_overrides=[
        Parameter("control_rate_hz", value=rate_hz), Parameter("warmup", value=False),
        Parameter("refill_threshold", value=0), Parameter("stale_timeout_s", value=5.0),
        Parameter("max_delta", value=10.0)])
    peer = rclpy.create_node("bench_peer", context=ctx)
    image_pub = peer.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    joint_pub = peer.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
    peer.create_publisher(String, "instruction", LATCHED_QOS).publish(String(data="bench"))
    received: dict[int, float] = {}
    peer.create_subscription(Float64MultiArray, "command",
                             lambda m: received.setdefault(int(round(m.data[0] * 255)), time.perf_counter()),
                             COMMAND_QOS)
    executor = MultiThreadedExecutor(num_threads=4, context=ctx)
    executor.add_node(node)
    executor.add_node(peer)
    call_arm(executor, peer, "/vla_policy/arm", True)
    sent: dict[int, float] = {}
    joints = JointState(name=["hand_x", "hand_y", "hand_z", "gripper"], position=[0.0] * 4)
    from tqdm import tqdm
    for i in tqdm(range(n_images), desc="ros loop bench"):
        k = i % 250 + 1
        received.pop(k, None)
        obs["image"][0, 0, 0] = k
        joint_pub.publish(joints)
        sent[k] = time.perf_counter()
        image_pub.publish(numpy_to_image(obs["image"]))
        end = time.perf_counter() + 1.0
        while k not in received and time.perf_counter() < end:
            executor.spin_once(timeout_sec=0.002)
    e2e = [received[k] - sent[k] for k in sent if k in received]
    ticks = np.diff(np.asarray(node.tick_times))
    node.stop()
    executor.shutdown()
    node.destroy_node()
    peer.destroy_node()
    rclpy.try_shutdown(context=ctx)
    ms = lambda a, q: float(np.percentile(np.asarray(a) * 1e3, q))  # noqa: E731
    jitter = np.abs(ticks - 1.0 / rate_hz)
    return {"n_images": n_images, "matched": len(e2e), "rate_hz": rate_hz, "checkpoint": checkpoint,
            "bare_ms_p50": ms(bare, 50), "bare_ms_p99": ms(bare, 99), "e2e_ms_p50": ms(e2e, 50),
            "e2e_ms_p99": ms(e2e, 99), "overhead_ms_p50": ms(e2e, 50) - ms(bare, 50),
            "overhead_ms_p99": ms(e2e, 99) - ms(bare, 99), "jitter_ms_p50": ms(jitter, 50),
            "jitter_ms_p99": ms(jitter, 99), "_e2e": e2e, "_bare": bare, "_jitter": jitter.tolist()}


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].hist(np.asarray(r["_bare"]) * 1e3, bins=30, alpha=0.7, label="bare policy call")
    ax[0].hist(np.asarray(r["_e2e"]) * 1e3, bins=30, alpha=0.7, label="image publish -> command (DDS)")
    ax[0].set_xlabel("ms"), ax[0].legend(), ax[0].set_title("latency")
    ax[1].hist(np.asarray(r["_jitter"]) * 1e3, bins=30)
    ax[1].set_xlabel("|tick interval - period| ms"), ax[1].set_title(f"control tick jitter at {r['rate_hz']:.0f} Hz")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--rate", type=float, default=30.0)
    a = ap.parse_args()
    r = run(40 if a.quick else 300, a.rate, a.checkpoint)
    period_ms = 1e3 / a.rate
    r["goals"] = [
        {"name": "ros overhead p50 (incl. wait for next tick)", "value": r["overhead_ms_p50"], "goal": period_ms,
         "op": "<=", "unit": "ms"},
        {"name": "ros overhead p99", "value": r["overhead_ms_p99"], "goal": 2 * period_ms, "op": "<=", "unit": "ms"},
        {"name": f"tick jitter p99 at {a.rate:.0f} Hz", "value": r["jitter_ms_p99"], "goal": 0.5 * period_ms,
         "op": "<=", "unit": "ms"},
        {"name": "commands matched to images", "value": r["matched"] / r["n_images"], "goal": 0.95, "op": ">=",
         "unit": "fraction"},
    ]
    RESULTS.mkdir(exist_ok=True)
    plot(r, RESULTS / "ros_loop.png")
    public = {k: v for k, v in r.items() if not k.startswith("_")}
    (RESULTS / "ros_loop.json").write_text(json.dumps(public, indent=2))
    print(json.dumps(public, indent=2))
    print(f"ros_loop: e2e/bare p50 ratio {r['e2e_ms_p50'] / max(r['bare_ms_p50'], 1e-9):.1f}x; "
          f"overhead p50 {r['overhead_ms_p50']:.1f} ms, p99 {r['overhead_ms_p99']:.1f} ms; "
          f"jitter p99 {r['jitter_ms_p99']:.2f} ms")


if __name__ == "__main__":
    main()
