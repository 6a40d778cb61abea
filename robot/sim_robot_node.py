"""SimRobotNode (`vla-sim-robot`): a MetaWorld task behind the robot's topics, so the closed loop runs over DDS.

Publishes `camera/image_raw` (Image rgb8) and `joint_states` (hand xyz + gripper) every tick at
`rate_hz`, `instruction` and `episode` (latched) at each reset, and `success` (Bool) when an episode
ends. It applies the latest `command` (Float64MultiArray) once per tick; it only steps the physics when
a command arrived since the last tick, so a disarmed policy leaves the episode untouched.

`vla-sim-robot loop checkpoint=DIR [out=DIR episodes=N task=reach-v3 ...]` runs this node and the policy
node in one process over a private ROS_DOMAIN_ID and writes `<out>/ros_loop.json` (see robot/loop.py).
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, Int32, String

from robot.convert import numpy_to_image
from robot.policy_node import COMMAND_QOS, LATCHED_QOS
from robot.signals import stop_on_signals

JOINT_NAMES = ["hand_x", "hand_y", "hand_z", "gripper"]

PARAMETERS = {
    "task": ("reach-v3", "MetaWorld v3 task name", None),
    "image_size": (64, "camera image side in pixels", [IntegerRange(from_value=16, to_value=1024, step=1)]),
    "camera": ("corner4", "MetaWorld camera name", None),
    "rate_hz": (30.0, "simulation/camera rate", [FloatingPointRange(from_value=0.5, to_value=1000.0, step=0.0)]),
    "max_steps": (150, "steps per episode", [IntegerRange(from_value=1, to_value=100000, step=1)]),
    "episodes": (0, "stop after this many episodes (0: run forever)", [IntegerRange(from_value=0, to_value=100000, step=1)]),
    "seed": (0, "seed of the first episode; episode i uses seed + i", None),
}


class SimRobotNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__("vla_sim_robot", **node_kwargs)
        for name, (default, description, rng) in PARAMETERS.items():
            desc = ParameterDescriptor(description=description, read_only=True)
            if rng and isinstance(rng[0], FloatingPointRange):
                desc.floating_point_range = rng
            elif rng:
                desc.integer_range = rng
            self.declare_parameter(name, default, desc)
        self.p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.lock = threading.Lock()
        self.command: np.ndarray | None = None
        self.bad_commands = 0
        self.results: list[dict] = []     # one {"seed", "steps", "success"} per finished episode
        self.finished = threading.Event()
        self.camera_enabled = True          # tests switch the camera off to exercise the policy's watchdog
        self.image_pub = self.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
        self.joint_pub = self.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
        self.instruction_pub = self.create_publisher(String, "instruction", LATCHED_QOS)
        self.episode_pub = self.create_publisher(Int32, "episode", LATCHED_QOS)
        self.success_pub = self.create_publisher(Bool, "success", COMMAND_QOS)
        self.create_subscription(Float64MultiArray, "command", self._on_command, COMMAND_QOS)
        self.episode = -1
        # MuJoCo's EGL context belongs to the thread that created it, so the task lives in one sim thread
        # (not in executor callbacks, which may run on any thread).
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._sim_loop, name="vla-sim", daemon=True)
        self.thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        # The sim steps only when a command arrives, so without this line a waiting robot looks hung.
        self.get_logger().info(f"ready: {self.p['task']} at {self.p['rate_hz']} Hz, publishing camera/image_raw "
                               f"and joint_states; the episode advances one step per command")

    def _sim_loop(self) -> None:
        from vla.data.metaworld_env import MetaWorldTask  # ValueError naming the task if unknown
        try:
            self.task = MetaWorldTask(self.p["task"], image_size=self.p["image_size"], camera=self.p["camera"],
                                      max_steps=self.p["max_steps"])
            self._reset()
        except BaseException as err:  # reported to the constructor's caller
            self._error = err
            return self._ready.set()
        self._ready.set()
        period, next_tick = 1.0 / self.p["rate_hz"], time.monotonic()
        try:
            while not self._stop.is_set():
                self._on_tick()
                next_tick += period
                self._stop.wait(max(0.0, next_tick - time.monotonic()))
        finally:
            self.task.close()

    def _reset(self) -> None:
        self.episode += 1
        self.obs = self.task.reset(self.p["seed"] + self.episode)
        self.episode_pub.publish(Int32(data=self.episode))
        self.instruction_pub.publish(String(data=self.task.instruction))

    def _on_command(self, msg: Float64MultiArray) -> None:
        action = np.asarray(msg.data, np.float64)
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            self.bad_commands += 1
            self.get_logger().warning(f"ignored bad command {list(msg.data)}", throttle_duration_sec=2.0)
            return
        with self.lock:
            self.command = action

    def _on_tick(self) -> None:
        if self.finished.is_set():
            return
        with self.lock:
            action, self.command = self.command, None
        if action is not None:
            result = self.task.step(action)
            self.obs = result.obs
            if result.done:
                self._end_episode(result.success)
        self._publish_obs()

    def _end_episode(self, success: bool) -> None:
        self.results.append({"seed": self.p["seed"] + self.episode, "steps": self.task.steps, "success": success})
        self.success_pub.publish(Bool(data=success))
        self.get_logger().info(f"episode {self.episode}: {'success' if success else 'failure'} "
                               f"after {self.task.steps} steps")
        if self.p["episodes"] and len(self.results) >= self.p["episodes"]:
            self.finished.set()
        else:
            self._reset()

    def _publish_obs(self) -> None:
        stamp = self.get_clock().now().to_msg()
        if self.camera_enabled:
            image = numpy_to_image(self.obs["image"], "rgb8")
            image.header.stamp, image.header.frame_id = stamp, "camera"
            self.image_pub.publish(image)
        joints = JointState(name=JOINT_NAMES, position=[float(v) for v in self.obs["state"]])
        joints.header.stamp = stamp
        self.joint_pub.publish(joints)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5.0)


def main(args=None) -> None:
    argv = list(sys.argv if args is None else args)
    if len(argv) > 1 and argv[1] == "loop":
        from robot.loop import main as loop_main
        return loop_main(argv[2:])
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = stop_on_signals()
    node = None
    try:
        node = SimRobotNode()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        while rclpy.ok() and not node.finished.is_set() and not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
