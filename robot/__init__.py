"""ROS 2 side: a vla.runtime policy as an rclpy node, a simulated robot speaking the same topics, a recorder.

    interfaces.py      topic and service names, message types, QoS profiles: the one place
    parameters.py      every node's parameter table; the policy node's validation (with safety.SafetyConfig)
    policy_node.py     the policy on the robot (`vla-policy-node`)
    sim_robot_node.py  a simulated robot that speaks the same topics
    loop.py            `vla-sim-robot`: the sim robot alone, or `loop`: it + the policy node in one process
    record.py          topics or rosbags -> LeRobot dataset episodes (`vla-record`)
    safety.py, phase.py, convert.py   decision code: no rclpy, no torch, tested without a ROS graph
    signals.py         SIGINT/SIGTERM as a flag the spin loops check

Uses vla.runtime, vla.data (recording) and vla.core, never vla.cli; nothing in vla/ imports robot.
rclpy is imported at module level only by the node modules; loop.py and record.py import it when they
run, interfaces.py when a QoS profile is first asked for.
"""
