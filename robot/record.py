"""`vla-record`: robot topics (a rosbag, or live) -> LeRobot v3 episodes, so teleop becomes finetuning data.

    vla-record bag=PATH out=DIR [fps=30] [joints=a,b,...] [cameras=topic:feature,...]   # rosbag2 (db3 or mcap)
    vla-record live out=DIR [episodes=N seconds=S] [joints=a,b,...] [cameras=...]       # the live topics (rclpy)

Topics (robot/interfaces.py): camera/image_raw (Image), joint_states (JointState), command
(Float64MultiArray, the action), instruction (String), episode (Int32, a new episode starts), success
(Bool, the episode ended); with `cameras=`, several image topics, each its own camera feature of the
dataset. One frame per command, paired with the latest image of every camera and joint state received
before it (what the operator/policy saw). Live, messages are ordered by their DDS receive time, as
`ros2 bag record` stamps a bag, so both modes pair the same way; `episodes=N` stops after the N-th
success message and drops what follows it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robot.convert import ConversionError, image_to_numpy, joint_state_to_numpy
from robot.interfaces import (CAMERA_TOPIC, COMMAND_TOPIC, EPISODE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC,
                              MESSAGE_TYPES, RECORDED_TOPICS, SUCCESS_TOPIC, message_class)
from vla.core.command import Command, run_main

log = logging.getLogger(__name__)
# name -> (default (None: required), description, (low, high) or None): what main() parses and --help prints.
ARGUMENTS = {
    "bag": (None, "rosbag2 directory or file (db3 or mcap), read with `rosbags`; not with `live`", None),
    "out": (None, "the LeRobot dataset directory to write (must not exist yet)", None),
    "fps": (30, "frame rate stored in the dataset", (1, 1000)),
    "joints": ("", "comma-separated joint names: the state's order, taken from JointState by name "
                   "(empty: the message's order)", None),
    "cameras": ("", "comma-separated topic:feature pairs, one per camera (e.g. front/image_raw:observation.images."
                    f"front); empty: {CAMERA_TOPIC} as observation.image", None),
    "episodes": (1, "live: stop after this many episodes (success messages)", (1, 100000)),
    "seconds": (600.0, "live: stop after this many seconds (or Ctrl-C)", (0.1, 1e6)),
}
COMMAND = Command(
    prog="vla-record",
    summary="robot topics (a rosbag, or live) -> LeRobot v3 episodes, so teleop becomes finetuning data: one frame\n"
            f"per `{COMMAND_TOPIC}` message, with the latest {CAMERA_TOPIC} and {JOINT_STATES_TOPIC}; "
            f"`{EPISODE_TOPIC}` cuts, `{SUCCESS_TOPIC}` ends.",
    usage=("vla-record bag=PATH out=DIR [fps=30 joints=a,b,... cameras=topic:feature,...]",
           "vla-record live out=DIR [episodes=1 seconds=600 fps=30 joints=a,b,... cameras=topic:feature,...]"),
    subcommands={"live": "record the live topics (rclpy, ROS_DOMAIN_ID) instead of a bag"},
    hydra=False,
    arguments=ARGUMENTS,
    arguments_title="arguments (key=value)",
    examples=("vla-record bag=path/to/rosbag2_dir out=data/work/recorded fps=30",
              "vla-record bag=so100_bag out=data/work/so100 cameras=front/image_raw:observation.images.front,"
              "wrist/image_raw:observation.images.wrist",
              "vla-record live out=data/work/recorded episodes=5 joints=shoulder,elbow,wrist"),
)


DEFAULT_CAMERAS = {CAMERA_TOPIC: "observation.image"}


def parse_cameras(text: str) -> dict[str, str]:
    """"topic:feature,..." -> {topic: feature} (empty: the one default camera)."""
    from vla.core.config import UsageError

    cameras = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        topic, _, feature = pair.partition(":")
        if not topic.strip("/") or not feature.startswith("observation.image"):
            raise UsageError(f"cameras: {pair!r} is not topic:feature with a feature observation.image*")
        cameras[topic.strip("/")] = feature
    return cameras or dict(DEFAULT_CAMERAS)


@dataclass
class EpisodeBuffer:
    instruction: str = ""
    images: list = field(default_factory=list)  # per frame: {camera feature: image}
    states: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    success: bool = False


class EpisodeAssembler:
    """Feed it messages in time order (`add(topic, msg)`); it cuts episodes and pairs observations with actions.

    `joints`: the state's joint order, taken from JointState by name (drivers publish joints in any order,
    and may publish more than the arm's); without it the positions are used in message order. The state
    size, action size and image shape are fixed by the first message of each and must stay so: a message
    that differs is skipped and counted, as is any other bad message.
    """

    def __init__(self, joints: list[str] | None = None, cameras: dict[str, str] | None = None):
        self.joints = list(joints) if joints else None
        self.cameras = dict(cameras or DEFAULT_CAMERAS)   # image topic -> the dataset's camera feature
        self.episodes: list[EpisodeBuffer] = []
        self.current = EpisodeBuffer()
        self.images: dict[str, np.ndarray] = {}           # the latest image of each camera topic
        self.state = None
        self.shapes: dict[str, tuple] = {}   # first image / state / action shape seen
        self.instruction = ""
        self.skipped = 0
        self.ended = 0   # success messages seen: one per finished episode

    def _fixed_shape(self, kind: str, value: np.ndarray) -> np.ndarray:
        expected = self.shapes.setdefault(kind, value.shape)
        if value.shape != expected:
            raise ConversionError(f"{kind} shape {value.shape} differs from the recording's {expected}")
        return value

    def add(self, topic: str, msg) -> None:
        topic = topic.lstrip("/")
        try:
            if topic in self.cameras:
                self.images[topic] = self._fixed_shape(f"image {topic}", np.array(image_to_numpy(msg)))
            elif topic == JOINT_STATES_TOPIC:
                dim = len(self.joints) if self.joints else len(msg.position)
                if dim == 0:
                    raise ConversionError("JointState has no positions")
                self.state = self._fixed_shape("state", joint_state_to_numpy(msg, dim, self.joints))
            elif topic == COMMAND_TOPIC:
                action = np.asarray(msg.data, np.float32)
                if not action.size or not np.all(np.isfinite(action)):
                    raise ConversionError(f"command is empty or not finite: {action.tolist()}")
                self._fixed_shape("action", action)
        except ConversionError as err:
            self.skipped += 1
            log.warning("skipped bad %s message: %s", topic, err)
            return
        if topic == INSTRUCTION_TOPIC:
            self.instruction = self.current.instruction = msg.data
        elif topic == EPISODE_TOPIC:
            self.cut()
        elif topic == SUCCESS_TOPIC:
            self.current.success = self.current.success or bool(msg.data)
            self.ended += 1
        elif topic == COMMAND_TOPIC:
            if len(self.images) < len(self.cameras) or self.state is None:
                self.skipped += 1
                return
            self.current.images.append({self.cameras[t]: image for t, image in self.images.items()})
            self.current.states.append(self.state)
            self.current.actions.append(action)

    def cut(self) -> None:
        if self.current.actions:
            self.episodes.append(self.current)
        self.current = EpisodeBuffer(instruction=self.instruction)

    def write(self, out: str | Path, fps: int) -> Path:
        from vla.data.lerobot_io import TeleopWriter

        self.cut()
        if not self.episodes:
            raise ValueError(f"no episodes found (need {sorted(recorded_topics(self.cameras))}); "
                             f"{self.skipped} messages skipped")
        first = self.episodes[0]
        state_dim, action_dim = len(first.states[0]), len(first.actions[0])
        state_names = self.joints or [f"joint_{i}" for i in range(state_dim)]
        action_names = state_names if action_dim == state_dim else [f"command_{i}" for i in range(action_dim)]
        sizes = {feature: image.shape[:2] for feature, image in first.images[0].items()}
        writer = TeleopWriter(out, fps=fps, image_size=sizes, repo_id="local/ros_record",
                              state_names=state_names, action_names=action_names)
        for ep in self.episodes:
            successes = np.zeros(len(ep.actions), bool)
            successes[-1] = ep.success
            images = {feature: np.stack([frame[feature] for frame in ep.images]) for feature in sizes}
            writer.add_episode(images, np.stack(ep.states), np.stack(ep.actions), successes,
                               ep.instruction or "unknown task")
        writer.close()
        log.info("wrote %d episodes (%d frames) to %s", len(self.episodes),
                 sum(len(e.actions) for e in self.episodes), out)
        return Path(out)


def record_bag(bag: str | Path, out: str | Path, fps: int = 30, joints: list[str] | None = None,
               cameras: dict[str, str] | None = None) -> Path:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    bag = Path(bag)
    if not bag.exists():
        raise FileNotFoundError(f"rosbag {bag} does not exist")
    assembler = EpisodeAssembler(joints, cameras)
    topics = recorded_topics(assembler.cameras)
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        connections = [c for c in reader.connections if c.topic.lstrip("/") in topics]
        if not connections:
            raise ValueError(f"{bag} has none of the topics {sorted(topics)}; it has "
                             f"{sorted(c.topic for c in reader.connections)}")
        for conn, _, raw in reader.messages(connections=connections):
            assembler.add(conn.topic, reader.deserialize(raw, conn.msgtype))
    return assembler.write(out, fps)


def recorded_topics(cameras: dict[str, str]) -> list[str]:
    """The topics a recording reads: the cameras' and the others of RECORDED_TOPICS."""
    return list(cameras) + [t for t in RECORDED_TOPICS if t != CAMERA_TOPIC]


class ReceiveOrder:
    """Messages from several subscriptions, released in DDS receive-time order.

    An executor takes one message per ready subscription per wait, in subscription order, so a success
    and the next episode's first messages (or an image and the command that followed it) can reach the
    callbacks in a different order from the one they arrived in. Each message is keyed by its
    `received_timestamp` and released once it is `window_s` old, when nothing older can still be queued.
    """

    def __init__(self, window_s: float = 0.25):
        self.window_ns = int(window_s * 1e9)
        self.heap: list = []
        self.seq = itertools.count()   # ties keep callback order

    def add(self, topic: str, msg, info) -> None:
        stamp = info["received_timestamp"] or time.time_ns()   # 0 if the middleware does not stamp
        heapq.heappush(self.heap, (stamp, next(self.seq), topic, msg))

    def pop(self, everything: bool = False):
        """(topic, msg) in receive order: those older than the window, or all of them."""
        horizon = time.time_ns() - self.window_ns
        while self.heap and (everything or self.heap[0][0] <= horizon):
            _, _, topic, msg = heapq.heappop(self.heap)
            yield topic, msg


def live_subscriptions(node, order: ReceiveOrder, cameras: dict[str, str] | None = None) -> None:
    """The recorded topics on `node`, each message into `order`, in the recorder's QoS (robot/interfaces.py):
    sensors best effort to match camera drivers, the rest reliable (latched where published so), all deep;
    the instruction twice, as the policy node takes it, from latched and volatile publishers alike (a latched
    publisher's message then arrives twice: the same words, set twice)."""
    from functools import partial

    from robot.interfaces import INSTRUCTION_SUBSCRIPTION_QOS, LATCHED_QOS, RECORDER_QOS, RECORDER_SENSOR_QOS

    cameras = cameras or DEFAULT_CAMERAS
    qos = {JOINT_STATES_TOPIC: (RECORDER_SENSOR_QOS,), COMMAND_TOPIC: (RECORDER_QOS,),
           INSTRUCTION_TOPIC: INSTRUCTION_SUBSCRIPTION_QOS, EPISODE_TOPIC: (LATCHED_QOS,), SUCCESS_TOPIC: (RECORDER_QOS,),
           **{camera: (RECORDER_SENSOR_QOS,) for camera in cameras}}
    for topic in recorded_topics(cameras):
        kind = MESSAGE_TYPES[CAMERA_TOPIC if topic in cameras else topic]
        for profile in qos[topic]:
            node.create_subscription(message_class(kind), topic, partial(order.add, topic), profile)


def record_live(out: str | Path, fps: int = 30, episodes: int = 1, seconds: float = 600.0,
                domain_id: int | None = None, joints: list[str] | None = None,
                cameras: dict[str, str] | None = None) -> Path:
    """Subscribe to the topics until `episodes` episodes ended (success message), `seconds` passed or
    Ctrl-C; then write what was recorded. `domain_id` defaults to ROS_DOMAIN_ID."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    assembler, order = EpisodeAssembler(joints, cameras), ReceiveOrder()
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id)
    node = rclpy.create_node("vla_record", context=ctx)
    live_subscriptions(node, order, assembler.cameras)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)

    def feed(everything: bool = False) -> None:
        for topic, msg in order.pop(everything):
            if assembler.ended < episodes:
                assembler.add(topic, msg)

    try:
        end = time.monotonic() + seconds
        while ctx.ok() and assembler.ended < episodes and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            feed()   # the last success is fed one window after it arrived: what came before it is in by then
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    feed(everything=True)
    return assembler.write(out, fps)


def parse_arguments(args: list[str], live: bool) -> dict:
    """key=value arguments -> values of each default's type; UsageError names an argument it cannot use."""
    from vla.core.config import UsageError, nearest_keys

    values = {name: default for name, (default, _, _) in ARGUMENTS.items()}
    for arg in args:
        name, _, text = arg.partition("=")
        if name not in ARGUMENTS or "=" not in arg:
            near = nearest_keys(name, list(ARGUMENTS))
            raise UsageError(f"cannot use {arg!r} (" + (f"did you mean {near[0]}=...?)" if near
                                                        else f"arguments: {', '.join(ARGUMENTS)})"))
        default, _, bounds = ARGUMENTS[name]
        try:
            values[name] = text if default is None else type(default)(text)
        except ValueError:
            raise UsageError(f"{name}={text!r} is not a {type(default).__name__}") from None
        if bounds and not bounds[0] <= values[name] <= bounds[1]:
            raise UsageError(f"{name}={text} is out of range [{bounds[0]}, {bounds[1]}]")
    for name in ("out",) if live else ("bag", "out"):
        if values[name] is None:
            raise UsageError(f"{name}= is required (see vla-record --help)")
    return values


def run(args: list[str]) -> None:
    from vla.core.config import setup_logging

    setup_logging()
    live = args[:1] == ["live"]
    a = parse_arguments(args[live:], live)
    joints = [j for j in a["joints"].split(",") if j] or None
    cameras = parse_cameras(a["cameras"])
    if live:
        out = record_live(a["out"], a["fps"], a["episodes"], a["seconds"], joints=joints, cameras=cameras)
    else:   # a missing bag, an existing out or a bag without episodes: one line (vla.core.command)
        out = record_bag(a["bag"], a["out"], a["fps"], joints, cameras)
    print(f"vla-record: wrote LeRobot dataset {out}")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    main()
