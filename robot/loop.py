"""`vla-sim-robot`: the simulated robot alone, or `loop`: sim robot + policy node in one process over real
DDS, N episodes, one JSON.

    vla-sim-robot [--ros-args -p name:=value ...]      # the node alone (robot/sim_robot_node.py)
    vla-sim-robot loop checkpoint=DIR [out=DIR episodes=N task=reach-v3 ...]

Both nodes share an rclpy Context on a private ROS_DOMAIN_ID, each in its own executor; arming goes
through the real `~/arm` service. `checkpoint=expert` swaps the model for `SimExpertPolicy`, MetaWorld's
scripted expert, which needs the privileged 39-d sim state: it therefore runs inside the sim process and
reads the task directly (the policy node never sees that state). Used to test the loop independently
of any trained model.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from robot.interfaces import (CAMERA_TOPIC, COMMAND_TOPIC, EPISODE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC,
                              POLICY_ARM_SERVICE, SUCCESS_TOPIC)
from robot.parameters import SIM_ROBOT_PARAMETERS
from vla.core.command import Command, run_main

log = logging.getLogger(__name__)
SHORTHAND = ("checkpoint", "out", "episodes", "task", "image_size", "max_steps", "seed", "rate_hz", "device",
             "refill_threshold", "output_type", "domain_id", "timeout_s")


COMMAND = Command(
    prog="vla-sim-robot",
    summary=f"a MetaWorld task behind the robot's ROS 2 topics: publishes {CAMERA_TOPIC}, {JOINT_STATES_TOPIC}, "
            f"{INSTRUCTION_TOPIC},\n{EPISODE_TOPIC} and {SUCCESS_TOPIC}; steps once per `{COMMAND_TOPIC}`. "
            "`loop` runs it with vla-policy-node in one process.",
    usage=("vla-sim-robot [--ros-args -p name:=value ...]",
           "vla-sim-robot loop checkpoint=DIR|expert [out=DIR episodes=N task=NAME ...] [key=value ...]"),
    subcommands={"loop": "this robot + vla-policy-node over DDS on a private domain for N episodes; writes "
                         "<out>/ros_loop.json (bare keys below are shorthand for robot.<key>)"},
    keys={
        "robot.checkpoint": None,
        "robot.out": "where ros_loop.json goes",
        "robot.episodes": "episodes to run",
        "robot.task": "MetaWorld v3 task",
        "robot.rate_hz": None,
        "robot.timeout_s": "give up after this many seconds",
    },
    arguments=SIM_ROBOT_PARAMETERS,
    arguments_title="node parameters (without `loop`: --ros-args -p name:=value; [low, high] is enforced)",
    examples=("vla-sim-robot loop checkpoint=data/work/finetune/model episodes=5 task=reach-v3",
              "vla-sim-robot loop checkpoint=expert episodes=2",
              "vla-sim-robot --ros-args --params-file launch/params/sim_robot.yaml"),
)


class SimExpertPolicy:
    """ChunkPolicy over the sim's scripted expert (privileged state; chunk of one action)."""
    action_dim, chunk_size, state_dim = 4, 1, 4

    def __init__(self, task):
        self.task = task

    def predict_chunk(self, obs: dict) -> np.ndarray:
        return self.task.expert_action()[None].astype(np.float32)

    def select_action(self, obs: dict) -> np.ndarray:
        return self.predict_chunk(obs)[0]

    def reset(self) -> None:
        pass


def private_domain_id() -> int:
    return 100 + os.getpid() % 100   # 100..199: valid for every DDS vendor, away from the default 0


def call_arm(executor, node, name: str, arm: bool, timeout_s: float = 10.0) -> bool:
    from std_srvs.srv import SetBool
    client = node.create_client(SetBool, name)
    if not client.wait_for_service(timeout_sec=timeout_s):
        raise TimeoutError(f"service {name} not available after {timeout_s} s")
    future = client.call_async(SetBool.Request(data=arm))
    executor.spin_until_future_complete(future, timeout_sec=timeout_s)
    node.destroy_client(client)
    return bool(future.result() and future.result().success)


def percentiles(values_ms, qs=(50, 99)) -> list[float]:
    a = np.asarray(values_ms, np.float64)
    return [float(np.percentile(a, q)) if a.size else float("nan") for q in qs]


def loop_stats(policy_node, sim_node, seconds: float, rate_hz: float) -> dict:
    ticks = np.diff(np.asarray(policy_node.tick_times))
    jitter_ms = np.abs(ticks - 1.0 / rate_hz) * 1e3
    lat_ms = np.asarray(policy_node.latencies) * 1e3
    return {
        "episodes": len(sim_node.results), "successes": sum(r["success"] for r in sim_node.results),
        "episode_results": sim_node.results, "seconds": seconds,
        "commands": policy_node.commands_sent, "ticks": len(policy_node.tick_times),
        "command_rate_hz": policy_node.commands_sent / seconds if seconds > 0 else 0.0, "target_rate_hz": rate_hz,
        "tick_jitter_ms_p50": percentiles(jitter_ms)[0], "tick_jitter_ms_p99": percentiles(jitter_ms)[1],
        "inference_ms_p50": percentiles(lat_ms)[0], "inference_ms_p99": percentiles(lat_ms)[1],
        "safety_interventions": dict(policy_node.safety.interventions),
        "safety_interventions_total": policy_node.safety.total_interventions,
        "bad_inputs": dict(policy_node.bad_inputs),
    }


def run_loop(r, policy=None) -> dict:
    """Run `r.episodes` episodes (r: the `robot` config) and return the loop statistics."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from robot.policy_node import PolicyNode, make_executor
    from robot.sim_robot_node import SimRobotNode

    domain_id = int(r.domain_id) if r.domain_id is not None else private_domain_id()
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id)
    nodes = []
    try:
        sim = SimRobotNode(context=ctx, parameter_overrides=[
            Parameter("task", value=str(r.task)), Parameter("image_size", value=int(r.image_size)),
            Parameter("max_steps", value=int(r.max_steps)), Parameter("episodes", value=int(r.episodes)),
            Parameter("seed", value=int(r.seed)), Parameter("rate_hz", value=float(r.rate_hz))])
        nodes.append(sim)
        if policy is None and str(r.checkpoint) == "expert":
            policy = SimExpertPolicy(sim.task)
        node = PolicyNode(policy=policy, context=ctx, parameter_overrides=[
            Parameter("checkpoint", value=str(r.checkpoint)), Parameter("device", value=str(r.device)),
            Parameter("control_rate_hz", value=float(r.rate_hz)), Parameter("output_type", value=str(r.output_type)),
            Parameter("refill_threshold", value=int(r.refill_threshold))])
        nodes.append(node)
        client = rclpy.create_node("vla_loop", context=ctx)
        nodes.append(client)
        # The policy node spins in its own executor and thread, as in its own process; the simulated
        # robot (physics + rendering in its timer) must not delay the node's control ticks.
        node_executor = make_executor(ctx)
        node_executor.add_node(node)
        spinner = threading.Thread(target=node_executor.spin, name="policy-node", daemon=True)
        spinner.start()
        executor = SingleThreadedExecutor(context=ctx)
        for n in (sim, client):
            executor.add_node(n)
        if not call_arm(executor, client, POLICY_ARM_SERVICE, True):
            raise RuntimeError("the policy node refused ~/arm")
        t0 = time.monotonic()
        deadline = t0 + float(r.timeout_s)
        from tqdm import tqdm
        with tqdm(total=int(r.episodes), desc=f"ros loop (domain {domain_id})", unit="episode") as bar:
            while not sim.finished.is_set() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
                if len(sim.results) > bar.n:
                    bar.update(len(sim.results) - bar.n)
        seconds = time.monotonic() - t0
        node.stop()
        node_executor.shutdown()
        spinner.join(timeout=5.0)
        stats = loop_stats(node, sim, seconds, float(r.rate_hz))
        stats.update(domain_id=domain_id, task=str(r.task), checkpoint=str(r.checkpoint),
                     timed_out=not sim.finished.is_set())
        sim.close()
        return stats
    finally:
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown(context=ctx)


def expand_shorthand(args: list[str]) -> list[str]:
    """`checkpoint=X` -> `robot.checkpoint=X`, so the demo's short form works next to full Hydra overrides."""
    return [f"robot.{a}" if a.split("=", 1)[0] in SHORTHAND else a for a in args]


def run_loop_command(args: list[str]) -> None:
    """`vla-sim-robot loop ...`: compose the config, run the loop, write <out>/ros_loop.json."""
    from vla.core.config import cli_config, save_config, setup_logging

    setup_logging()
    cfg = cli_config(expand_shorthand(args))
    out = Path(cfg.robot.out)
    save_config(cfg, out)
    stats = run_loop(cfg.robot)
    (out / "ros_loop.json").write_text(json.dumps(stats, indent=2))
    summary = {k: v for k, v in stats.items() if k != "episode_results"}
    print(json.dumps(summary, indent=2))
    print(f"vla-sim-robot loop: {stats['successes']}/{stats['episodes']} success at "
          f"{stats['command_rate_hz']:.1f} Hz; wrote {out}/ros_loop.json")
    if stats["timed_out"]:
        sys.exit(f"vla-sim-robot loop: timed out after {cfg.robot.timeout_s} s")


def run(args: list[str]) -> None:
    if args[1:2] == ["loop"]:
        return run_loop_command(args[2:])
    from robot.sim_robot_node import spin

    spin(args)


def main(args: list[str] | None = None) -> None:
    """`vla-sim-robot`: `args` as rclpy takes them, the program name first (sys.argv by default)."""
    args = list(sys.argv if args is None else args)
    run_main(COMMAND, lambda rest: run([args[0], *rest]), args[1:])


if __name__ == "__main__":
    main()
