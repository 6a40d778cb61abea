"""ROS 2 side: rclpy nodes wrapping vla.runtime. Only robot/*_node.py and robot/record.py import rclpy."""
