"""SimRobotNode: a MetaWorld task behind the robot's topics, so the closed loop runs over DDS.

Publishes the camera (Image rgb8) and joint states (hand xyz + gripper) every tick at `rate_hz`, the
instruction and episode index (latched) at each reset, and success (Bool) when an episode ends. It
applies the latest command (Float64MultiArray) once per tick; it only steps the physics when a command
arrived since the last tick, so a disarmed policy leaves the episode untouched. Topic names and QoS:
robot/interfaces.py. `vla-sim-robot` (robot/loop.py) runs it alone (`spin`) or with the policy node.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, Int32, String

from robot.convert import numpy_to_image
from robot.interfaces import (CAMERA_TOPIC, COMMAND_QOS, COMMAND_TOPIC, EPISODE_TOPIC, INSTRUCTION_TOPIC,
                              JOINT_STATES_TOPIC, LATCHED_QOS, SENSOR_QOS, SIM_JOINT_NAMES, SIM_ROBOT_NODE,
                              SUCCESS_TOPIC)
from robot.parameters import SIM_ROBOT_PARAMETERS, declare_parameters
from robot.signals import stop_on_signals



class SimRobotNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__(SIM_ROBOT_NODE, **node_kwargs)
        self.p = declare_parameters(self, SIM_ROBOT_PARAMETERS)
        self.lock = threading.Lock()
        self.command: np.ndarray | None = None
        self.bad_commands = 0
        self.results: list[dict] = []     # one {"seed", "steps", "success"} per finished episode
        self.finished = threading.Event()
        self.camera_enabled = True          # tests switch the camera off to exercise the policy's watchdog
        self.image_pub = self.create_publisher(Image, CAMERA_TOPIC, SENSOR_QOS)
        self.joint_pub = self.create_publisher(JointState, JOINT_STATES_TOPIC, SENSOR_QOS)
        self.instruction_pub = self.create_publisher(String, INSTRUCTION_TOPIC, LATCHED_QOS)
        self.episode_pub = self.create_publisher(Int32, EPISODE_TOPIC, LATCHED_QOS)
        self.success_pub = self.create_publisher(Bool, SUCCESS_TOPIC, COMMAND_QOS)
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, COMMAND_QOS)
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
        self.get_logger().info(f"ready: {self.p['task']} at {self.p['rate_hz']} Hz, publishing {CAMERA_TOPIC} "
                               f"and {JOINT_STATES_TOPIC}; the episode advances one step per {COMMAND_TOPIC}")

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
        joints = JointState(name=list(SIM_JOINT_NAMES), position=[float(v) for v in self.obs["state"]])
        joints.header.stamp = stamp
        self.joint_pub.publish(joints)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5.0)


def spin(args: list[str]) -> None:
    """Run the node until its episodes are done, a signal or shutdown (`args`: the process's argv, for rclpy)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
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
