"""`vla-policy-node` as its own process (the console script, a checkpoint, the shipped params file, real
DDS on the test's domain): SIGTERM or SIGINT while it is commanding ends it cleanly — status 0, promptly,
no traceback, and the last command on the wire is the safe zero."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String

from robot.convert import numpy_to_image
from robot.interfaces import (CAMERA_TOPIC, COMMAND_QOS, COMMAND_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC,
                              LATCHED_QOS, POLICY_ARM_SERVICE, SENSOR_QOS, SIM_JOINT_NAMES)
from robot.loop import call_arm

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_sends_safe_zero_and_exits_zero(ros_context, finetuned_dir, tmp_path, sig):
    checkpoint = finetuned_dir   # one session artefact (tests/conftest.py), shared with test_closed_loop
    log_path = tmp_path / "policy_node.log"
    cmd = [str(Path(sys.executable).parent / "vla-policy-node"), "--ros-args",
           "--params-file", str(ROOT / "launch/params/policy.yaml"),
           "-p", f"checkpoint:={checkpoint}", "-p", "device:=cpu", "-p", "warmup:=false"]
    env = {**os.environ, "ROS_DOMAIN_ID": str(ros_context.get_domain_id())}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    robot = rclpy.create_node("robot_peer", context=ros_context)
    image_pub = robot.create_publisher(Image, CAMERA_TOPIC, SENSOR_QOS)
    joint_pub = robot.create_publisher(JointState, JOINT_STATES_TOPIC, SENSOR_QOS)
    robot.create_publisher(String, INSTRUCTION_TOPIC, LATCHED_QOS).publish(String(data="reach the goal position"))
    commands = []
    robot.create_subscription(Float64MultiArray, COMMAND_TOPIC, lambda m: commands.append(list(m.data)), COMMAND_QOS)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(robot)
    image = numpy_to_image(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    joints = JointState(name=list(SIM_JOINT_NAMES), position=[0.0, 0.6, 0.2, 1.0])

    def spin_until(cond, seconds):
        """The robot keeps its sensors live at 30 Hz (no watchdog stop) while waiting on `cond`."""
        end, next_pub = time.monotonic() + seconds, 0.0
        while time.monotonic() < end and not cond():
            if time.monotonic() >= next_pub:
                image_pub.publish(image)
                joint_pub.publish(joints)
                next_pub = time.monotonic() + 1 / 30
            executor.spin_once(timeout_sec=0.005)
        return cond()

    def report():
        return f"exit {proc.poll()}; log:\n{log_path.read_text()[-3000:]}"

    try:
        assert call_arm(executor, robot, POLICY_ARM_SERVICE, True, timeout_s=60), report()
        # Policy commands (not the zeros ticks send before the first inference) are flowing.
        assert spin_until(lambda: sum(any(c) for c in commands) >= 5, 60), report()
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        assert spin_until(lambda: proc.poll() is not None, 15), f"still running 15 s after {sig.name}; " + report()
        exit_s = time.monotonic() - t0
        n = [len(commands), time.monotonic()]

        def quiet():   # the final command may still be in flight when the process is gone
            if len(commands) != n[0]:
                n[:] = [len(commands), time.monotonic()]
            return time.monotonic() - n[1] > 0.3
        spin_until(quiet, 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        executor.shutdown()
        robot.destroy_node()
    assert proc.returncode == 0 and "Traceback" not in log_path.read_text(), report()
    assert exit_s < 8.0, f"took {exit_s:.1f} s to exit after {sig.name}"
    assert commands[-1] == [0.0] * 4, f"last command {commands[-1]} is not the safe zero"
