"""The robot's ROS interface, in one place: node, topic and service names, their message types and QoS.

The policy node, the simulated robot, the closed loop, `vla-record`, bench/ros_loop.py and the tests all
take them from here, so a topic is renamed or a QoS changed once. Topic names are relative, so a
namespace (`--ros-args -r __ns:=/arm1`) moves a whole robot; the policy node's arm service and e-stop
are private to it (`~/`), and /diagnostics is absolute, where ROS tools look for it.

Names and message types are plain strings (no rclpy): `vla-record bag=` reads bags with `rosbags`
alone, and robot/parameters.py stays pure Python. The QoS profiles need rclpy, so they are built on
first import (`from robot.interfaces import COMMAND_QOS`; see `__getattr__` below).
"""

from __future__ import annotations

import importlib

# ---------------------------------------------------------------- nodes (default names; a launch file may rename)
POLICY_NODE = "vla_policy"
SIM_ROBOT_NODE = "vla_sim_robot"

# ---------------------------------------------------------------- topics between the robot and the policy
CAMERA_TOPIC = "camera/image_raw"   # the robot's camera
JOINT_STATES_TOPIC = "joint_states"
INSTRUCTION_TOPIC = "instruction"   # the task in words
EPISODE_TOPIC = "episode"           # the index of the episode that starts now
SUCCESS_TOPIC = "success"           # the episode ended: whether it succeeded
COMMAND_TOPIC = "command"           # the policy's command to the robot's controller

# ---------------------------------------------------------------- the policy node's own
ARM_SERVICE = "~/arm"               # true arms, false disarms
ESTOP_TOPIC = "~/estop"             # true latches commands off until the next arm
DIAGNOSTICS_TOPIC = "/diagnostics"
# The same two as a peer (the robot, an operator, a test) names them.
POLICY_ARM_SERVICE = f"/{POLICY_NODE}/arm"
POLICY_ESTOP_TOPIC = f"/{POLICY_NODE}/estop"

# The sim robot's joints, in the order of its JointState (also the policy node's default joint_names).
SIM_JOINT_NAMES = ("hand_x", "hand_y", "hand_z", "gripper")

# ---------------------------------------------------------------- message types, as `ros2 topic info` names them
# The policy node's `output_type` parameter -> the message it commands with.
COMMAND_TYPES = {
    "float64_array": "std_msgs/msg/Float64MultiArray",         # a forward command controller
    "joint_trajectory": "trajectory_msgs/msg/JointTrajectory",  # a joint trajectory controller
    "twist_stamped": "geometry_msgs/msg/TwistStamped",          # a Cartesian velocity (servo) interface
}
MESSAGE_TYPES = {
    CAMERA_TOPIC: "sensor_msgs/msg/Image",
    JOINT_STATES_TOPIC: "sensor_msgs/msg/JointState",
    INSTRUCTION_TOPIC: "std_msgs/msg/String",
    EPISODE_TOPIC: "std_msgs/msg/Int32",
    SUCCESS_TOPIC: "std_msgs/msg/Bool",
    COMMAND_TOPIC: COMMAND_TYPES["float64_array"],   # what the sim robot takes and vla-record records
    ESTOP_TOPIC: "std_msgs/msg/Bool",
    DIAGNOSTICS_TOPIC: "diagnostic_msgs/msg/DiagnosticArray",
}
SERVICE_TYPES = {ARM_SERVICE: "std_srvs/srv/SetBool"}
# What `vla-record` turns into dataset episodes: everything the robot and the policy exchange.
RECORDED_TOPICS = (CAMERA_TOPIC, JOINT_STATES_TOPIC, COMMAND_TOPIC, INSTRUCTION_TOPIC, EPISODE_TOPIC,
                   SUCCESS_TOPIC)


def message_class(type_name: str):
    """A type name ("sensor_msgs/msg/Image") -> the Python class of that message or service."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


# ---------------------------------------------------------------- QoS profiles
QOS_PROFILES = ("SENSOR_QOS", "COMMAND_QOS", "LATCHED_QOS", "LIVE_QOS", "INSTRUCTION_SUBSCRIPTION_QOS",
                "DIAGNOSTICS_QOS", "RECORDER_SENSOR_QOS", "RECORDER_QOS")


def _build_qos_profiles() -> dict:
    from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data

    best_effort, reliable = QoSReliabilityPolicy.BEST_EFFORT, QoSReliabilityPolicy.RELIABLE
    latched = QoSProfile(depth=1, reliability=reliable, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
    live = QoSProfile(depth=1, reliability=reliable)
    return {
        # Camera and joint states: rclpy's sensor-data profile (best effort, keep the last 5), as camera
        # drivers publish. A late frame is worth less than the next one: resending it would only delay both.
        "SENSOR_QOS": qos_profile_sensor_data,
        # Commands, e-stop and the episode's verdict: reliable, keep 10. Each one matters (an e-stop, the
        # final safe command), so a lost one is resent rather than dropped.
        "COMMAND_QOS": QoSProfile(depth=10, reliability=reliable),
        # Instruction and episode index are published rarely: late joiners must still get the last one.
        "LATCHED_QOS": latched,
        # The same, volatile: it matches volatile and transient-local publishers alike, but a message
        # published before it joined never reaches it.
        "LIVE_QOS": live,
        # The instruction is subscribed twice, so that `ros2 topic pub` or any default-QoS publisher works
        # as well as a latched one. DDS matches a reader only with writers whose durability is at least
        # its own: a transient-local reader refuses a volatile writer (incompatible QoS, nothing arrives),
        # a volatile reader never gets the latched sample a late joiner needs. rclpy's best-available QoS
        # does not help: it fixes its policies once, from the publishers discovered when the subscription
        # is made (made before any, it matched neither kind of publisher here: rclpy 9.1, Fast DDS). Both
        # readers are reliable (a best-effort publisher is still refused: an instruction must not be lost).
        # A latched publisher's messages reach both: the copies are the same words, so taking both is harmless.
        "INSTRUCTION_SUBSCRIPTION_QOS": (latched, live),
        # /diagnostics: rclpy's default profile (reliable, volatile, keep 10), as diagnostic tools subscribe.
        "DIAGNOSTICS_QOS": QoSProfile(depth=10),
        # vla-record: best effort for the sensors (a reliable reader would not match a best-effort camera),
        # reliable for the rest, and 100 deep, so a recorder that falls behind for a moment loses nothing.
        "RECORDER_SENSOR_QOS": QoSProfile(depth=100, reliability=best_effort),
        "RECORDER_QOS": QoSProfile(depth=100, reliability=reliable),
    }


def __getattr__(name: str):
    """The QoS profiles, built from rclpy on first import (module-level `__getattr__`, PEP 562): the names
    and types above stay importable without ROS."""
    if name not in QOS_PROFILES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals().update(_build_qos_profiles())
    return globals()[name]
