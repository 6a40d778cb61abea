"""Real rclpy over DDS, each test on its own domain id (an rclpy Context), so parallel runs never cross-talk."""

import itertools
import os
import time

import numpy as np
import pytest

import rclpy  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from robot_support import ConstantPolicy  # noqa: E402,F401  (a unique module name: every tests/ dir has a conftest)

_ids = itertools.count()


def next_domain_id() -> int:
    return 20 + (os.getpid() * 13 + next(_ids)) % 200


@pytest.fixture
def ros_context():
    ctx = Context()
    rclpy.init(context=ctx, domain_id=next_domain_id())
    yield ctx
    rclpy.try_shutdown(context=ctx)


class Harness:
    """A PolicyNode plus a peer node playing the robot: publishes sensors, receives commands, calls ~/arm."""

    def __init__(self, ctx, policy, **params):
        from geometry_msgs.msg import TwistStamped
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Bool, Float64MultiArray, String
        from trajectory_msgs.msg import JointTrajectory

        from robot.interfaces import (CAMERA_TOPIC, COMMAND_QOS, COMMAND_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC,
                                      LATCHED_QOS, POLICY_ESTOP_TOPIC, SENSOR_QOS)
        from robot.policy_node import PolicyNode, make_executor

        params = {"control_rate_hz": 30.0, "warmup": False, **params}
        self.node = PolicyNode(policy=policy, context=ctx,
                               parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.peer = rclpy.create_node("robot_peer", context=ctx)
        self.image_pub = self.peer.create_publisher(Image, CAMERA_TOPIC, SENSOR_QOS)
        self.joint_pub = self.peer.create_publisher(JointState, JOINT_STATES_TOPIC, SENSOR_QOS)
        self.instruction_pub = self.peer.create_publisher(String, INSTRUCTION_TOPIC, LATCHED_QOS)
        self.estop_pub = self.peer.create_publisher(Bool, POLICY_ESTOP_TOPIC, COMMAND_QOS)
        self.commands: list = []
        kind = {"float64_array": Float64MultiArray, "joint_trajectory": JointTrajectory,   # what the robot expects
                "twist_stamped": TwistStamped}[params.get("output_type", "float64_array")]
        self.peer.create_subscription(kind, COMMAND_TOPIC, self.commands.append, COMMAND_QOS)
        self.executor = make_executor(ctx)  # what vla-policy-node spins in
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.camera_on = True
        self.joints_on = True
        self.image = None
        self.joints = None
        self.more_cameras: dict = {}  # topic -> [publisher, Image, on]: cameras beyond the first (add_camera)
        self.instruction_pub.publish(String(data="reach the goal"))

    def publish_sensors(self):
        from sensor_msgs.msg import JointState

        from robot.convert import numpy_to_image
        from robot.interfaces import SIM_JOINT_NAMES
        if self.camera_on:
            self.image_pub.publish(self.image or numpy_to_image(np.zeros((32, 32, 3), np.uint8)))
        for publisher, image, on in self.more_cameras.values():
            if on:
                publisher.publish(image)
        if self.joints_on:
            self.joint_pub.publish(self.joints or JointState(name=list(SIM_JOINT_NAMES), position=[0.0, 0.6, 0.2, 1.0]))

    def add_camera(self, topic: str, image: np.ndarray) -> None:
        """Publish `image` on `topic` with the other sensors (a second camera); more_cameras[topic][2] = off."""
        from sensor_msgs.msg import Image

        from robot.convert import numpy_to_image
        from robot.interfaces import SENSOR_QOS
        self.more_cameras[topic] = [self.peer.create_publisher(Image, topic, SENSOR_QOS), numpy_to_image(image), True]

    def spin(self, seconds: float, until=None):
        end, next_pub = time.monotonic() + seconds, 0.0
        while time.monotonic() < end:
            if time.monotonic() >= next_pub:
                self.publish_sensors()
                next_pub = time.monotonic() + 1 / 30
            self.executor.spin_once(timeout_sec=0.005)
            if until is not None and until():
                return True
        return until is None

    def arm(self, flag: bool = True) -> bool:
        from robot.interfaces import POLICY_ARM_SERVICE
        from robot.loop import call_arm
        return call_arm(self.executor, self.peer, POLICY_ARM_SERVICE, flag)

    def wait_for_commands(self, n: int, seconds: float = 10.0) -> bool:
        start = len(self.commands)
        return self.spin(seconds, until=lambda: len(self.commands) >= start + n)

    def wait_until_commanding(self, n: int = 3, seconds: float = 20.0) -> bool:
        """Until the policy has produced a chunk and n commands followed it: ticks before the first
        inference publish the safe zero, and under load that can be many ticks."""
        return (self.spin(seconds, until=lambda: self.node.policy.calls > 0)
                and self.wait_for_commands(n, seconds))

    def wait_until_quiet(self, quiet_s: float = 0.3, seconds: float = 5.0) -> bool:
        """Until no command has arrived for quiet_s: the last commands sent before a stop may still
        be in flight, so 'nothing more arrives' is only checked after this."""
        last = [len(self.commands), time.monotonic()]

        def quiet():
            if len(self.commands) != last[0]:
                last[:] = [len(self.commands), time.monotonic()]
            return time.monotonic() - last[1] >= quiet_s
        return self.spin(seconds, until=quiet)

    def values(self, since: int = 0) -> np.ndarray:
        return np.asarray([list(m.data) for m in self.commands[since:]], np.float64).reshape(-1, 4)

    def close(self):
        self.node.stop()
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def harness(ros_context):
    made = []

    def make(policy=None, **params):
        """A harness around `policy`; with neither a policy nor a checkpoint, a constant 0.1 policy."""
        if policy is None and "checkpoint" not in params:
            policy = ConstantPolicy([[0.1, 0.1, 0.1, 0.1]])
        h = Harness(ros_context, policy, **params)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
