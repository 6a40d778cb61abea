"""A rosbag (written with `rosbags`) of the sim robot driven by its expert -> LeRobot dataset that reloads."""

import numpy as np
import pytest
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from robot.record import record_bag
from vla.data.lerobot_io import open_dataset
from vla.data.metaworld_env import MetaWorldTask

TS = get_typestore(Stores.ROS2_KILTED)
T = TS.types


def header(t_ns):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9),
                                    frame_id="camera")


def write_expert_bag(path, episodes=2, steps=6):
    """What `ros2 bag record` would capture from vla-sim-robot + an expert teleop, episode by episode."""
    expected = []
    with Writer(path, version=9) as w, MetaWorldTask("reach-v3", image_size=32) as task:
        conns = {name: w.add_connection(name, kind, typestore=TS) for name, kind in [
            ("/camera/image_raw", "sensor_msgs/msg/Image"), ("/joint_states", "sensor_msgs/msg/JointState"),
            ("/command", "std_msgs/msg/Float64MultiArray"), ("/instruction", "std_msgs/msg/String"),
            ("/episode", "std_msgs/msg/Int32"), ("/success", "std_msgs/msg/Bool")]}
        t = 10**9

        def put(topic, msg):
            nonlocal t
            t += 10**6
            w.write(conns[topic], t, TS.serialize_cdr(msg, msg.__msgtype__))

        layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
        for ep in range(episodes):
            obs = task.reset(ep)
            put("/episode", T["std_msgs/msg/Int32"](data=ep))
            put("/instruction", T["std_msgs/msg/String"](data=task.instruction))
            for _ in range(steps):
                img = obs["image"]
                put("/camera/image_raw", T["sensor_msgs/msg/Image"](
                    header=header(t), height=32, width=32, encoding="bgr8", is_bigendian=0, step=96,
                    data=np.ascontiguousarray(img[..., ::-1]).reshape(-1)))
                put("/joint_states", T["sensor_msgs/msg/JointState"](
                    header=header(t), name=["hand_x", "hand_y", "hand_z", "gripper"],
                    position=obs["state"].astype(np.float64), velocity=np.zeros(0), effort=np.zeros(0)))
                action = task.expert_action()
                put("/command", T["std_msgs/msg/Float64MultiArray"](layout=layout, data=action.astype(np.float64)))
                expected.append((img, obs["state"], action))
                obs = task.step(action).obs
            put("/success", T["std_msgs/msg/Bool"](data=False))
    return expected


def test_rosbag_to_lerobot_dataset(tmp_path):
    expected = write_expert_bag(tmp_path / "bag")
    out = record_bag(tmp_path / "bag", tmp_path / "ds", fps=30)
    ds = open_dataset(out)
    assert ds.meta.total_episodes == 2 and len(ds) == len(expected) == 12
    for i in (0, 7):
        item = ds[i]
        np.testing.assert_allclose(item["action"].numpy(), expected[i][2], atol=1e-6)
        np.testing.assert_allclose(item["observation.state"].numpy(), expected[i][1], atol=1e-6)
    from vla.data.metaworld_env import task_instruction
    assert ds[0]["task"] == task_instruction("reach-v3")


def test_missing_bag_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        record_bag(tmp_path / "nope", tmp_path / "ds")
