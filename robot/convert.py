"""Messages <-> numpy, without importing rclpy: sensor messages in, command messages out. Callbacks
convert, this module decides.

The readers take any object shaped like the message (height, width, encoding, step, data), so they are
tested without ROS. Errors name the field and the value that was wrong.
"""

from __future__ import annotations

import numpy as np

from robot.interfaces import COMMAND_TYPES

# encoding -> (channels, channel order to produce RGB)
ENCODINGS = {"rgb8": (3, [0, 1, 2]), "bgr8": (3, [2, 1, 0]), "rgba8": (4, [0, 1, 2]),
             "bgra8": (4, [2, 1, 0]), "mono8": (1, [0, 0, 0])}


class ConversionError(ValueError):
    pass


def image_to_numpy(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB. Zero-copy view for rgb8 without row padding."""
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise ConversionError(f"Image.encoding {enc!r} unsupported; expected one of {sorted(ENCODINGS)}")
    channels, order = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ConversionError(f"Image has empty size {h}x{w}")
    if step < w * channels:
        raise ConversionError(f"Image.step {step} < width*channels {w * channels} for {enc}")
    buf = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    if buf.size != h * step:
        raise ConversionError(f"Image.data has {buf.size} bytes, expected height*step = {h}*{step} = {h * step}")
    rows = buf.reshape(h, step)[:, : w * channels].reshape(h, w, channels)  # drops row padding, still a view
    if enc == "rgb8":
        return rows
    return np.ascontiguousarray(rows[..., order])


def numpy_to_image(image: np.ndarray, encoding: str = "rgb8", msg=None):
    """HxWx3 uint8 RGB -> sensor_msgs/Image (a new one, or fills `msg`)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ConversionError(f"image must be uint8 HxWx3 RGB, got {image.dtype} {image.shape}")
    if encoding not in ENCODINGS:
        raise ConversionError(f"encoding {encoding!r} unsupported; expected one of {sorted(ENCODINGS)}")
    if msg is None:
        from sensor_msgs.msg import Image
        msg = Image()
    channels, _ = ENCODINGS[encoding]
    if encoding in ("bgr8", "bgra8"):
        image = image[..., ::-1]
    if channels == 4:
        image = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=2)
    elif channels == 1:
        image = image.mean(axis=2, keepdims=True).astype(np.uint8)
    image = np.ascontiguousarray(image)
    msg.height, msg.width = image.shape[:2]
    msg.encoding, msg.is_bigendian, msg.step = encoding, 0, image.shape[1] * channels
    msg.data = image.tobytes()
    return msg


def joint_state_to_numpy(msg, dim: int, names: list[str] | None = None) -> np.ndarray:
    """sensor_msgs/JointState.position -> float32 (dim,), optionally reordered by joint `names`."""
    position = np.asarray(msg.position, np.float64)
    if names:
        have = list(msg.name)
        missing = [n for n in names if n not in have]
        if missing:
            raise ConversionError(f"JointState lacks joints {missing}; it has {have}")
        if len(have) != position.size:
            raise ConversionError(f"JointState has {len(have)} names but {position.size} positions")
        position = position[[have.index(n) for n in names]]
    if position.shape != (dim,):
        raise ConversionError(f"JointState.position must have {dim} values, got {position.size}")
    if not np.all(np.isfinite(position)):
        raise ConversionError(f"JointState.position contains NaN/Inf: {position.tolist()}")
    return position.astype(np.float32)


def numpy_to_command(command: np.ndarray, output_type: str, joint_names: list[str], stamp=None,
                     time_from_start_ns: int = 0, upcoming=()):
    """A command vector -> the message `output_type` names (robot/interfaces.py COMMAND_TYPES).

    float64_array: the values as they are (a forward command controller). joint_trajectory: positions for
    `joint_names`, due `time_from_start_ns` after `stamp`, then a point per row of `upcoming` one more period
    later each (a streamed trajectory for joint_trajectory_controller). twist_stamped: the first three
    values are the linear x, y, z velocity and the fourth (if any) the angular z."""
    values = [float(v) for v in command]
    if output_type == "float64_array":
        from std_msgs.msg import Float64MultiArray
        return Float64MultiArray(data=values)
    if output_type == "joint_trajectory":
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
        msg = JointTrajectory(joint_names=joint_names)
        msg.header.stamp = stamp
        msg.points = []
        # The command, then the planned actions after it (`upcoming`), one control period apart.
        for i, positions in enumerate([values] + [[float(v) for v in row] for row in upcoming]):
            point = JointTrajectoryPoint(positions=positions)
            # A Duration's nanosec must stay below 1 s: below 1 Hz the control period spills into sec.
            point.time_from_start.sec, point.time_from_start.nanosec = divmod(int((i + 1) * time_from_start_ns), 10**9)
            msg.points.append(point)
        return msg
    if output_type == "twist_stamped":
        from geometry_msgs.msg import TwistStamped
        msg = TwistStamped()
        msg.header.stamp = stamp
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (values + [0.0] * 3)[:3]
        msg.twist.angular.z = values[3] if len(values) > 3 else 0.0
        return msg
    raise ConversionError(f"output_type {output_type!r} unsupported; expected one of {sorted(COMMAND_TYPES)}")
