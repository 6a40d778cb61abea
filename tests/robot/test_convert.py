from types import SimpleNamespace

import numpy as np
import pytest

from robot.convert import ConversionError, image_to_numpy, joint_state_to_numpy, numpy_to_image

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
