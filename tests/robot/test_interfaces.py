"""robot/interfaces.py is the one place: every topic and service the nodes use is named there with the
message type it gives, both ends of a topic use the QoS the topic needs, and those profiles are what they
were chosen to be. The instruction reaches the policy node from a plain volatile publisher and, latched,
from a transient-local one that published before the node started."""

import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.subscription import Subscription
from rclpy.qos import (QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy,
                       qos_profile_sensor_data)

from robot import interfaces
from std_msgs.msg import String

from robot.interfaces import (ARM_SERVICE, CAMERA_TOPIC, COMMAND_TOPIC, COMMAND_TYPES, DIAGNOSTICS_TOPIC,
                              EPISODE_TOPIC, ESTOP_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC, MESSAGE_TYPES,
                              SERVICE_TYPES, SUCCESS_TOPIC, message_class)
from robot_support import ConstantPolicy

# Which profile each topic is published and subscribed with, by both nodes; the instruction is subscribed
# with each profile of INSTRUCTION_SUBSCRIPTION_QOS.
SUBSCRIBED_QOS = {INSTRUCTION_TOPIC: "INSTRUCTION_SUBSCRIPTION_QOS"}
TOPIC_QOS = {CAMERA_TOPIC: "SENSOR_QOS", JOINT_STATES_TOPIC: "SENSOR_QOS", INSTRUCTION_TOPIC: "LATCHED_QOS",
             EPISODE_TOPIC: "LATCHED_QOS", SUCCESS_TOPIC: "COMMAND_QOS", COMMAND_TOPIC: "COMMAND_QOS",
             ESTOP_TOPIC: "COMMAND_QOS", DIAGNOSTICS_TOPIC: "DIAGNOSTICS_QOS"}
ROS_OWN_TOPICS = {"/parameter_events", "/rosout"}
ROS_OWN_SERVICE_PACKAGES = ("rcl_interfaces.", "type_description_interfaces.")


def profiles_for(endpoint) -> list:
    """The QoS profiles `endpoint` (a publisher or a subscription) may use, from robot/interfaces.py."""
    if isinstance(endpoint, Subscription) and endpoint.topic in SUBSCRIBED_QOS:
        return list(getattr(interfaces, SUBSCRIBED_QOS[endpoint.topic]))
    return [getattr(interfaces, TOPIC_QOS[endpoint.topic])]


def topics_of(node) -> list:
    """The node's own publishers and subscriptions (not the ones rclpy adds to every node)."""
    return [e for e in [*node.publishers, *node.subscriptions] if e.topic not in ROS_OWN_TOPICS]


def services_of(node) -> list:
    return [s for s in node.services if not s.srv_type.__module__.startswith(ROS_OWN_SERVICE_PACKAGES)]


@pytest.fixture
def make_policy_node(ros_context):
    from robot.policy_node import PolicyNode

    made = []

    def make(**params):
        params = {"warmup": False, **params}
        made.append(PolicyNode(policy=ConstantPolicy(), context=ros_context,
                               parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
        return made[-1]

    yield make
    for node in made:
        node.stop()
        node.destroy_node()


@pytest.fixture
def sim_robot(ros_context):
    from robot.sim_robot_node import SimRobotNode

    node = SimRobotNode(context=ros_context, parameter_overrides=[Parameter("image_size", value=16)])
    yield node
    node.close()
    node.destroy_node()


def test_every_topic_and_service_is_named_with_its_type_and_qos(make_policy_node, sim_robot):
    policy = make_policy_node()
    used = set()
    for node in (policy, sim_robot):
        for endpoint in topics_of(node):
            where = f"{node.get_name()}: {endpoint.topic}"
            assert endpoint.topic in MESSAGE_TYPES, f"{where} is not named in robot/interfaces.py"
            assert endpoint.msg_type is message_class(MESSAGE_TYPES[endpoint.topic]), where
            assert endpoint.qos_profile in profiles_for(endpoint), where
            used.add(endpoint.topic)
    assert used == set(MESSAGE_TYPES), f"named but never used: {set(MESSAGE_TYPES) - used}"
    assert [(s.srv_name, s.srv_type) for s in services_of(policy)] == \
        [(ARM_SERVICE, message_class(SERVICE_TYPES[ARM_SERVICE]))]
    assert services_of(sim_robot) == []
    instruction = [e.qos_profile for e in policy.subscriptions if e.topic == INSTRUCTION_TOPIC]
    assert instruction == list(interfaces.INSTRUCTION_SUBSCRIPTION_QOS)   # both: latched and volatile


@pytest.mark.parametrize("output_type", list(COMMAND_TYPES))
def test_command_type_follows_output_type(make_policy_node, output_type):
    node = make_policy_node(output_type=output_type)
    [command] = [p for p in node.publishers if p.topic == COMMAND_TOPIC]
    assert command.msg_type is message_class(COMMAND_TYPES[output_type])


def test_qos_profiles_are_what_each_topic_needs():
    reliable, best_effort = QoSReliabilityPolicy.RELIABLE, QoSReliabilityPolicy.BEST_EFFORT
    volatile, latched = QoSDurabilityPolicy.VOLATILE, QoSDurabilityPolicy.TRANSIENT_LOCAL

    def kept(profile: QoSProfile) -> tuple:
        assert profile.history == QoSHistoryPolicy.KEEP_LAST
        return profile.reliability, profile.durability, profile.depth

    assert interfaces.SENSOR_QOS == qos_profile_sensor_data
    assert kept(interfaces.SENSOR_QOS) == (best_effort, volatile, 5)
    assert kept(interfaces.COMMAND_QOS) == (reliable, volatile, 10)
    assert kept(interfaces.LATCHED_QOS) == (reliable, latched, 1)
    assert kept(interfaces.LIVE_QOS) == (reliable, volatile, 1)
    assert interfaces.INSTRUCTION_SUBSCRIPTION_QOS == (interfaces.LATCHED_QOS, interfaces.LIVE_QOS)
    assert kept(interfaces.DIAGNOSTICS_QOS) == (reliable, volatile, 10)
    assert kept(interfaces.RECORDER_SENSOR_QOS) == (best_effort, volatile, 100)
    assert kept(interfaces.RECORDER_QOS) == (reliable, volatile, 100)


def test_a_name_interfaces_does_not_have_is_an_attribute_error():
    with pytest.raises(AttributeError, match="CAMERA_QOS"):
        interfaces.CAMERA_QOS


def spin_until(executor, cond, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)
    return cond()


def test_a_plain_volatile_publishers_instruction_reaches_the_node(ros_context, make_policy_node):
    """rclpy's default publisher QoS (reliable, volatile), as `ros2 topic pub` or a script would use: a
    transient-local subscription alone refuses it (incompatible durability) and nothing arrives."""
    from rclpy.qos import QoSProfile

    node = make_policy_node()
    operator = rclpy.create_node("operator", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    for n in (node, operator):
        executor.add_node(n)
    try:
        pub = operator.create_publisher(String, INSTRUCTION_TOPIC, QoSProfile(depth=10))
        assert spin_until(executor, lambda: pub.get_subscription_count() >= 1), "no subscription matched"
        pub.publish(String(data="open the drawer"))
        assert spin_until(executor, lambda: node.instruction == "open the drawer"), node.instruction
    finally:
        executor.shutdown()
        operator.destroy_node()


def test_a_late_joining_node_gets_the_latched_instruction(ros_context, make_policy_node):
    """A transient-local publisher publishes once, before the policy node exists: the node still gets it."""
    robot = rclpy.create_node("robot", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(robot)
    try:
        robot.create_publisher(String, INSTRUCTION_TOPIC, interfaces.LATCHED_QOS).publish(String(data="press the button"))
        spin_until(executor, lambda: False, 0.5)
        node = make_policy_node()
        executor.add_node(node)
        assert spin_until(executor, lambda: node.instruction == "press the button"), node.instruction
    finally:
        executor.shutdown()
        robot.destroy_node()
