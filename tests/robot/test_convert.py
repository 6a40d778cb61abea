from types import SimpleNamespace

import numpy as np
import pytest

from robot.convert import ConversionError, image_to_numpy, joint_state_to_numpy, numpy_to_command, numpy_to_image
from robot.interfaces import COMMAND_TYPES, message_class

RGB = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)


def padded(image: np.ndarray, encoding: str, pad: int):
    """A message whose rows carry `pad` junk bytes, as some camera drivers send."""
    msg = numpy_to_image(image, encoding, SimpleNamespace())
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)
    rows = np.concatenate([rows, np.full((msg.height, pad), 77, np.uint8)], axis=1)
    msg.step, msg.data = rows.shape[1], rows.tobytes()
    return msg


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_round_trip(encoding, pad):
    np.testing.assert_array_equal(image_to_numpy(padded(RGB, encoding, pad)), RGB)


def test_mono_becomes_grey_rgb():
    out = image_to_numpy(numpy_to_image(RGB, "mono8", SimpleNamespace()))
    assert out.shape == RGB.shape and np.all(out[..., 0] == out[..., 1])


def test_rgb8_unpadded_is_zero_copy():
    msg = numpy_to_image(RGB, "rgb8", SimpleNamespace())
    msg.data = bytearray(msg.data)
    out = image_to_numpy(msg)
    msg.data[0] = (int(msg.data[0]) + 1) % 256
    assert out[0, 0, 0] == msg.data[0]


def test_real_sensor_msgs_image():
    from sensor_msgs.msg import Image
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(RGB, "bgr8", Image())), RGB)


@pytest.mark.parametrize("change, word", [({"encoding": "yuv422"}, "encoding"), ({"step": 2}, "step"),
                                          ({"data": b"\x00" * 10}, "bytes"), ({"height": 0}, "empty")])
def test_bad_images_named(change, word):
    msg = numpy_to_image(RGB, "rgb8", SimpleNamespace())
    for k, v in change.items():
        setattr(msg, k, v)
    with pytest.raises(ConversionError, match=word):
        image_to_numpy(msg)


def test_numpy_to_image_rejects_float():
    with pytest.raises(ConversionError, match="uint8"):
        numpy_to_image(RGB.astype(np.float32))


def test_joint_state_reordered_by_name():
    msg = SimpleNamespace(name=["b", "a"], position=[2.0, 1.0])
    np.testing.assert_array_equal(joint_state_to_numpy(msg, 2, ["a", "b"]), [1.0, 2.0])


@pytest.mark.parametrize("msg, word", [(SimpleNamespace(name=[], position=[1.0]), "4 values"),
                                       (SimpleNamespace(name=[], position=[1, np.nan, 0, 0]), "NaN"),
                                       (SimpleNamespace(name=["x"], position=[0.0]), "lacks")])
def test_bad_joint_state_named(msg, word):
    with pytest.raises(ConversionError, match=word):
        joint_state_to_numpy(msg, 4, ["a"] if word == "lacks" else None)


@pytest.mark.parametrize("output_type", list(COMMAND_TYPES))
def test_command_message_of_each_output_type(output_type):
    from builtin_interfaces.msg import Time

    stamp = Time(sec=3, nanosec=5)
    msg = numpy_to_command(np.array([0.1, 0.2, 0.3, 0.4]), output_type, ["a", "b", "c", "d"], stamp, 33_333_333)
    assert type(msg) is message_class(COMMAND_TYPES[output_type])
    if output_type == "float64_array":
        np.testing.assert_allclose(msg.data, [0.1, 0.2, 0.3, 0.4])
    elif output_type == "joint_trajectory":
        assert list(msg.joint_names) == ["a", "b", "c", "d"] and msg.header.stamp == stamp
        [point] = msg.points
        np.testing.assert_allclose(point.positions, [0.1, 0.2, 0.3, 0.4])
        assert (point.time_from_start.sec, point.time_from_start.nanosec) == (0, 33_333_333)
    else:
        twist = msg.twist
        assert msg.header.stamp == stamp
        np.testing.assert_allclose([twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.x,
                                    twist.angular.y, twist.angular.z], [0.1, 0.2, 0.3, 0.0, 0.0, 0.4])


def test_a_trajectory_point_due_in_over_a_second_is_a_valid_duration():
    """A control rate below 1 Hz: the period goes into sec (nanosec >= 1e9 is refused by the message)."""
    msg = numpy_to_command(np.zeros(2), "joint_trajectory", ["a", "b"], None, 2_500_000_000)
    assert (msg.points[0].time_from_start.sec, msg.points[0].time_from_start.nanosec) == (2, 500_000_000)


def test_short_twist_command_fills_zeros():
    twist = numpy_to_command(np.array([0.5, -0.5]), "twist_stamped", []).twist
    assert [twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z] == [0.5, -0.5, 0.0, 0.0]


def test_unknown_output_type_named():
    with pytest.raises(ConversionError, match="'servo'"):
        numpy_to_command(np.zeros(4), "servo", [])
