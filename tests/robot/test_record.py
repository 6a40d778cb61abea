"""vla-record: the sim robot driven by its expert, as a rosbag (written with `rosbags`) and as live topics
over DDS -> LeRobot datasets that reload with the frames, states, actions and tasks that were published."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from robot.interfaces import (CAMERA_TOPIC, COMMAND_TOPIC, EPISODE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC,
                              SIM_JOINT_NAMES, SUCCESS_TOPIC)
from robot.record import record_bag, record_live
from vla.data.lerobot_io import open_dataset
from vla.data.metaworld_env import MetaWorldTask, task_instruction

TS = get_typestore(Stores.ROS2_KILTED)
T = TS.types
JOINTS = list(SIM_JOINT_NAMES)


def expert_episodes(episodes=2, steps=6, size=32):
    """What vla-sim-robot + an expert teleop publish, in order: ("episode", i), ("instruction", text),
    ("step", image, state, action) per step, ("success", flag). Step images carry a flat 8x8 patch
    (brightness = step number) so a recorded frame can be told from its neighbours after video coding."""
    events, n = [], 0
    with MetaWorldTask("reach-v3", image_size=size) as task:
        for ep in range(episodes):
            obs = task.reset(ep)
            events += [("episode", ep), ("instruction", task.instruction)]
            for _ in range(steps):
                image = obs["image"].copy()
                image[:8, :8] = 40 + 15 * n
                n += 1
                action = task.expert_action()
                events.append(("step", image, obs["state"].copy(), action))
                obs = task.step(action).obs
            events.append(("success", ep % 2 == 1))   # the robot's verdict, whatever it is, must be kept
    return events


def header(t_ns):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9),
                                    frame_id="camera")


def write_expert_bag(path, events):
    """What `ros2 bag record` would capture of `events`."""
    with Writer(path, version=9) as w:
        conns = {topic: w.add_connection(f"/{topic}", kind, typestore=TS) for topic, kind in [   # resolved names
            (CAMERA_TOPIC, "sensor_msgs/msg/Image"), (JOINT_STATES_TOPIC, "sensor_msgs/msg/JointState"),
            (COMMAND_TOPIC, "std_msgs/msg/Float64MultiArray"), (INSTRUCTION_TOPIC, "std_msgs/msg/String"),
            (EPISODE_TOPIC, "std_msgs/msg/Int32"), (SUCCESS_TOPIC, "std_msgs/msg/Bool")]}
        t = 10**9

        def put(topic, msg):
            nonlocal t
            t += 10**6
            w.write(conns[topic], t, TS.serialize_cdr(msg, msg.__msgtype__))

        layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
        for kind, *value in events:
            if kind == "episode":
                put(EPISODE_TOPIC, T["std_msgs/msg/Int32"](data=value[0]))
            elif kind == "instruction":
                put(INSTRUCTION_TOPIC, T["std_msgs/msg/String"](data=value[0]))
            elif kind == "success":
                put(SUCCESS_TOPIC, T["std_msgs/msg/Bool"](data=value[0]))
            else:
                img, state, action = value
                put(CAMERA_TOPIC, T["sensor_msgs/msg/Image"](
                    header=header(t), height=img.shape[0], width=img.shape[1], encoding="bgr8", is_bigendian=0,
                    step=img.shape[1] * 3, data=np.ascontiguousarray(img[..., ::-1]).reshape(-1)))
                put(JOINT_STATES_TOPIC, T["sensor_msgs/msg/JointState"](
                    header=header(t), name=JOINTS, position=state.astype(np.float64), velocity=np.zeros(0),
                    effort=np.zeros(0)))
                put(COMMAND_TOPIC, T["std_msgs/msg/Float64MultiArray"](layout=layout, data=action.astype(np.float64)))


def steps_of(events):
    return [e[1:] for e in events if e[0] == "step"]


def check_dataset(out, events):
    """Every published step is one frame, in order, with its own image, state and action; episodes
    cut where the robot cut them, each with its task and the success the robot reported."""
    steps = steps_of(events)
    ds = open_dataset(out)
    verdicts = [e[1] for e in events if e[0] == "success"]
    assert ds.meta.total_episodes == len(verdicts) and len(ds) == len(steps)
    for i, (image, state, action) in enumerate(steps):
        item = ds[i]
        np.testing.assert_allclose(item["action"].numpy(), action, atol=1e-6)
        np.testing.assert_allclose(item["observation.state"].numpy(), state, atol=1e-6)
        frame = (item["observation.image"].numpy().transpose(1, 2, 0) * 255).astype(np.float32)
        assert abs(frame[1:7, 1:7].mean() - image[1:7, 1:7].mean()) < 5, f"frame {i} is not step {i}'s image"
        assert np.abs(frame - image).mean() < 12
        assert item["task"] == task_instruction("reach-v3")
    last_frames = [sum(e[0] == "step" for e in events[:i]) - 1 for i, e in enumerate(events) if e[0] == "success"]
    assert [bool(ds[i]["next.success"]) for i in last_frames] == verdicts


def test_rosbag_to_lerobot_dataset(tmp_path):
    events = expert_episodes()
    write_expert_bag(tmp_path / "bag", events)
    check_dataset(record_bag(tmp_path / "bag", tmp_path / "ds", fps=30), events)


def test_missing_bag_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        record_bag(tmp_path / "nope", tmp_path / "ds")
    cli = subprocess.run([sys.executable, "-m", "robot.record", f"bag={tmp_path / 'nope'}", f"out={tmp_path / 'ds'}"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0 and "nope does not exist" in cli.stderr and "Traceback" not in cli.stderr, cli.stderr


def test_live_topics_to_lerobot_dataset(ros_context, tmp_path):
    """vla-record live over DDS, a robot peer publishing at 30 Hz in the sim robot's QoS; messages after
    the last episode's success (the next episode starting) are left out."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Bool, Float64MultiArray, Int32, String

    from robot.convert import numpy_to_image
    from robot.interfaces import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS

    events = expert_episodes()
    result = {}
    recorder = threading.Thread(target=lambda: result.update(out=record_live(
        tmp_path / "ds", fps=30, episodes=2, seconds=60, domain_id=ros_context.get_domain_id())))
    recorder.start()
    robot = rclpy.create_node("teleop_robot", context=ros_context)
    pubs = {topic: robot.create_publisher(kind, topic, qos) for topic, kind, qos in [
        (CAMERA_TOPIC, Image, SENSOR_QOS), (JOINT_STATES_TOPIC, JointState, SENSOR_QOS),
        (COMMAND_TOPIC, Float64MultiArray, COMMAND_QOS), (INSTRUCTION_TOPIC, String, LATCHED_QOS),
        (EPISODE_TOPIC, Int32, LATCHED_QOS), (SUCCESS_TOPIC, Bool, COMMAND_QOS)]}
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(robot)

    def spin_until(cond, seconds):
        end = time.monotonic() + seconds
        while not cond() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
        return cond()

    try:
        assert spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 30), \
            "the recorder never subscribed"
        for kind, *value in events + [("episode", 2), ("instruction", "open the drawer")] + events[2:5]:
            if kind == "step":
                image, state, action = value
                msg = numpy_to_image(image, "bgr8")
                msg.header.stamp = robot.get_clock().now().to_msg()
                pubs[CAMERA_TOPIC].publish(msg)
                pubs[JOINT_STATES_TOPIC].publish(JointState(name=JOINTS, position=[float(v) for v in state]))
                spin_until(lambda: False, 1 / 60)   # the teleop reacts to what it saw
                pubs[COMMAND_TOPIC].publish(Float64MultiArray(data=[float(v) for v in action]))
                spin_until(lambda: False, 1 / 60)
            else:   # episode, instruction or success: one message on that topic
                topic = {"episode": EPISODE_TOPIC, "instruction": INSTRUCTION_TOPIC, "success": SUCCESS_TOPIC}[kind]
                pubs[topic].publish(pubs[topic].msg_type(data=value[0]))
        recorder.join(timeout=60)
        assert not recorder.is_alive(), "the recorder did not stop after the second success"
    finally:
        executor.shutdown()
        robot.destroy_node()
    check_dataset(result["out"], events)


def test_a_robots_own_joints_image_size_and_command_size_are_recorded(tmp_path):
    """A 6-joint arm: the driver publishes its joints in its own order with an extra one, the camera is
    48x64, the command is 7-d; a malformed JointState or a command of another size is skipped, not written."""
    from robot.record import EpisodeAssembler

    arm = ["shoulder", "upper_arm", "elbow", "wrist_1", "wrist_2", "wrist_3"]
    published = ["wrist_3", "elbow", "finger", "shoulder", "wrist_1", "upper_arm", "wrist_2"]
    rng = np.random.default_rng(0)
    layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    assembler, steps = EpisodeAssembler(joints=arm), []
    assembler.add(f"/{INSTRUCTION_TOPIC}", T["std_msgs/msg/String"](data="stack the cups"))
    for step in range(8):
        image = np.full((48, 64, 3), 20 + 25 * step, np.uint8)
        joint_value = {name: float(i + step / 10) for i, name in enumerate(published)}
        action = rng.uniform(-1, 1, 7)
        assembler.add(f"/{CAMERA_TOPIC}", T["sensor_msgs/msg/Image"](
            header=header(step), height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3,
            data=image.reshape(-1)))
        assembler.add(f"/{JOINT_STATES_TOPIC}", T["sensor_msgs/msg/JointState"](
            header=header(step), name=published, position=np.array([joint_value[n] for n in published]),
            velocity=np.zeros(0), effort=np.zeros(0)))
        if step == 3:   # bad input: skipped, and the step keeps the last good state
            assembler.add(f"/{JOINT_STATES_TOPIC}", T["sensor_msgs/msg/JointState"](
                header=header(step), name=arm[:2], position=np.zeros(2), velocity=np.zeros(0), effort=np.zeros(0)))
            assembler.add(f"/{COMMAND_TOPIC}", T["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.zeros(3)))
        assembler.add(f"/{COMMAND_TOPIC}", T["std_msgs/msg/Float64MultiArray"](layout=layout, data=action))
        steps.append((image, np.array([joint_value[n] for n in arm]), action))
    assembler.add(f"/{SUCCESS_TOPIC}", T["std_msgs/msg/Bool"](data=True))
    assert assembler.skipped == 2
    ds = open_dataset(assembler.write(tmp_path / "ds", fps=30))
    assert ds.meta.features["observation.state"]["names"] == arm and ds.meta.features["action"]["shape"] == (7,)
    assert len(ds) == 8
    for i, (image, state, action) in enumerate(steps):
        item = ds[i]
        assert item["observation.image"].shape == (3, 48, 64)
        np.testing.assert_allclose(item["observation.state"].numpy(), state, atol=1e-6)
        np.testing.assert_allclose(item["action"].numpy(), action, atol=1e-6)
        assert abs(item["observation.image"].numpy().mean() * 255 - image.mean()) < 6


def test_several_cameras_are_recorded_each_as_its_own_feature_and_size(tmp_path):
    """An SO-100's front (48x64) and wrist (32x40) cameras: one camera feature each, every frame paired with the
    latest image of both; a command before the wrist camera's first image is skipped (no frame without it)."""
    from robot.record import EpisodeAssembler, parse_cameras

    cameras = parse_cameras("front/image_raw:observation.images.front,/wrist/image_raw:observation.images.wrist")
    assert cameras == {"front/image_raw": "observation.images.front", "wrist/image_raw": "observation.images.wrist"}
    from vla.core.config import UsageError
    with pytest.raises(UsageError, match="'front/image_raw:joints' is not topic:feature"):
        parse_cameras("front/image_raw:joints")
    layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)

    def image(h, w, value):
        return T["sensor_msgs/msg/Image"](header=header(0), height=h, width=w, encoding="rgb8", is_bigendian=0,
                                          step=w * 3, data=np.full((h, w, 3), value, np.uint8).reshape(-1))

    assembler = EpisodeAssembler(joints=None, cameras=cameras)
    assembler.add(f"/{INSTRUCTION_TOPIC}", T["std_msgs/msg/String"](data="pick up the cube"))
    joints = T["sensor_msgs/msg/JointState"](header=header(0), name=[f"j{i}" for i in range(6)],
                                             position=np.arange(6.0), velocity=np.zeros(0), effort=np.zeros(0))
    assembler.add(f"/{JOINT_STATES_TOPIC}", joints)
    assembler.add("/front/image_raw", image(48, 64, 10))
    assembler.add(f"/{COMMAND_TOPIC}", T["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.zeros(6)))
    assert assembler.skipped == 1   # no wrist image yet
    for step in range(4):
        assembler.add("/front/image_raw", image(48, 64, 30 + 40 * step))
        assembler.add("/wrist/image_raw", image(32, 40, 200 - 40 * step))
        assembler.add(f"/{COMMAND_TOPIC}", T["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.full(6, step / 10)))
    assembler.add(f"/{SUCCESS_TOPIC}", T["std_msgs/msg/Bool"](data=True))
    ds = open_dataset(assembler.write(tmp_path / "ds", fps=30))
    assert ds.meta.camera_keys == ["observation.images.front", "observation.images.wrist"] and len(ds) == 4
    for step in range(4):
        item = ds[step]
        assert item["observation.images.front"].shape == (3, 48, 64)
        assert item["observation.images.wrist"].shape == (3, 32, 40)
        assert abs(item["observation.images.front"].mean().item() * 255 - (30 + 40 * step)) < 6
        assert abs(item["observation.images.wrist"].mean().item() * 255 - (200 - 40 * step)) < 6
