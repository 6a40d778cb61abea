"""The closed loop in simulation: sim robot + policy node; `ros2 launch launch/sim.launch.py checkpoint:=DIR`.
Arm with `ros2 service call /vla_policy/arm std_srvs/srv/SetBool "{data: true}"`."""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PARAMS = Path(__file__).resolve().parent / "params"


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("checkpoint", description="VLA checkpoint directory"),
        Node(executable="vla-sim-robot", name="vla_sim_robot", output="screen",
             parameters=[str(PARAMS / "sim_robot.yaml")]),
        Node(executable="vla-policy-node", name="vla_policy", output="screen",
             parameters=[str(PARAMS / "policy.yaml"), {"checkpoint": LaunchConfiguration("checkpoint")}]),
    ])
