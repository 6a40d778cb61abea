"""On the robot: the policy node with params from YAML; `ros2 launch launch/robot.launch.py checkpoint:=DIR`."""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PARAMS = Path(__file__).resolve().parent / "params"


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("checkpoint", description="VLA checkpoint directory"),
        DeclareLaunchArgument("params", default_value=str(PARAMS / "policy.yaml")),
        Node(executable="vla-policy-node", name="vla_policy", output="screen",
             parameters=[LaunchConfiguration("params"), {"checkpoint": LaunchConfiguration("checkpoint")}]),
    ])
