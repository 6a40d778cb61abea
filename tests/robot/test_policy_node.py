"""PolicyNode over real DDS: arming, e-stop, watchdog, limits, bad input, parameters, output types."""

import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, String

from robot.interfaces import SIM_JOINT_NAMES
from robot_support import ConstantPolicy


def test_disarmed_publishes_nothing_and_arming_starts_commands(harness):
    h = harness()
    h.spin(1.0)
    assert h.commands == [] and h.node.policy.calls == 0
    assert h.arm(True)
    assert h.wait_until_commanding()
    np.testing.assert_allclose(h.values()[-1], [0.1] * 4)


def test_disarm_stops_commands(harness):
    h = harness()
    h.arm(True)
    assert h.wait_until_commanding(5)
    h.arm(False)
    assert h.wait_until_quiet()
    n = len(h.commands)
    np.testing.assert_allclose(h.values()[-1], np.zeros(4))  # the controller is left holding a stop
    h.spin(0.5)
    assert len(h.commands) == n


def test_estop_latches_until_rearmed(harness):
    h = harness()
    h.arm(True)
    assert h.wait_until_commanding(5)
    h.estop_pub.publish(Bool(data=True))
    assert h.spin(5.0, until=lambda: h.node.safety.estopped)
    assert h.wait_until_quiet()
    n = len(h.commands)
    np.testing.assert_allclose(h.values()[-1], np.zeros(4))
    h.estop_pub.publish(Bool(data=False))  # releasing the topic does not clear the latch
    h.spin(0.5)
    assert len(h.commands) == n and h.node.safety.estopped
    assert h.arm(True)
    assert h.wait_for_commands(5)


def test_stale_camera_triggers_watchdog_within_timeout_plus_one_tick(harness):
    rate, timeout = 30.0, 0.3
    h = harness(stale_timeout_s=timeout, control_rate_hz=rate)
    h.arm(True)
    assert h.wait_until_commanding(5)
    h.camera_on = False
    assert h.spin(5.0, until=lambda: h.node.safety.interventions["stale"] > 0)
    h.spin(0.3)
    values = h.values()
    last_live = np.flatnonzero(np.any(values != 0.0, axis=1)).max()
    zeros_after = values[last_live + 1:]
    assert len(zeros_after) > 0 and np.all(zeros_after == 0.0)
    # Counted in ticks (no wall-clock assertion): ticks between the last image and the first zero command.
    ticks = np.asarray(h.node.tick_times)
    last_image = min(h.node.image_stamps)  # the one camera's last receive time
    last_image_tick = np.searchsorted(ticks, last_image)
    first_zero_tick = np.flatnonzero(ticks > last_image + timeout)[0]
    assert first_zero_tick - last_image_tick <= int(np.ceil(timeout * rate)) + 1


def test_each_camera_topic_feeds_its_camera_and_has_its_own_watchdog(harness):
    """A two-camera policy (an SO-100's front and wrist): each of camera_topics feeds the camera of the policy's
    image_keys at its position, and a silent second camera alone stops the commands (watchdog)."""
    policy = ConstantPolicy([[0.3, 0.3, 0.3, 0.3]])
    policy.image_keys = ["observation.images.front", "observation.images.wrist"]
    h = harness(policy, camera_topics=["camera/image_raw", "wrist/image_raw"], stale_timeout_s=0.3)
    h.add_camera("wrist/image_raw", np.full((24, 40, 3), 7, np.uint8))
    h.arm(True)
    assert h.wait_until_commanding(5)
    seen = policy.seen[-1]
    assert seen["observation.images.front"].shape == (32, 32, 3)
    assert seen["observation.images.wrist"].shape == (24, 40, 3) and np.all(seen["observation.images.wrist"] == 7)
    assert h.node.silent_inputs() == []
    h.more_cameras["wrist/image_raw"][2] = False
    assert h.spin(5.0, until=lambda: h.node.safety.interventions["stale"] > 0)
    h.spin(0.2)
    assert np.all(h.values()[-3:] == 0.0)
    assert h.node.stats()["silent_inputs"] == ["wrist/image_raw"]  # named in the log and on /diagnostics


def test_limits_and_rate_limit_hold_on_adversarial_actions(harness):
    evil = [[[50.0, -50.0, 3.0, -3.0], [-50.0, 50.0, -3.0, 3.0], [np.nan, 0, 0, 0]],
            [[-50.0, 50.0, -3.0, 3.0], [50.0, -50.0, 3.0, -3.0], [np.inf, -np.inf, 0, 1]]]
    h = harness(ConstantPolicy(*evil), max_delta=0.25, action_low=[-0.5] * 4, action_high=[0.5] * 4)
    h.arm(True)
    assert h.wait_until_commanding(30)
    v = h.values()
    assert np.all(np.isfinite(v)) and np.all(np.abs(v) <= 0.5)
    # Every step *into* a policy command is rate limited (from a live command or from a stop);
    # only a safe stop (zero, after the NaN) may jump by design.
    into_live = np.any(v[1:] != 0.0, axis=1)
    assert into_live.any() and np.all(np.abs(np.diff(v, axis=0))[into_live] <= 0.25 + 1e-9)
    counts = h.node.safety.interventions
    assert counts["clipped"] > 0 and counts["rate_limited"] > 0 and counts["non_finite"] > 0


def test_every_bad_input_is_dropped_counted_and_survived(harness):
    h = harness()
    h.arm(True)
    h.spin(0.3)
    bad_images = [Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32)),
                  Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(10)),
                  Image(height=4, width=4, encoding="rgb8", step=2, data=bytes(8))]
    bad_joints = [JointState(position=[0.0, 1.0]), JointState(position=[0.0, float("nan"), 0.0, 0.0]),
                  JointState(name=["elbow", "wrist", "a", "b"], position=[0.0] * 4)]
    # Good sensors paused while the bad ones go out: sensor QoS keeps only the last few messages,
    # and under load a burst of good frames could push a bad one out of the queue before it is read.
    h.camera_on = h.joints_on = False
    for pub, kind, msgs in [(h.image_pub, "image", bad_images), (h.joint_pub, "joint_state", bad_joints)]:
        for msg in msgs:
            before = h.node.bad_inputs[kind]
            pub.publish(msg)
            assert h.spin(5.0, until=lambda: h.node.bad_inputs[kind] > before), f"bad {kind} not counted"
    h.instruction_pub.publish(String(data="  "))
    assert h.spin(5.0, until=lambda: h.node.bad_inputs["instruction"] > 0)
    h.camera_on = h.joints_on = True
    assert h.node.bad_inputs["image"] == 3 and h.node.bad_inputs["joint_state"] == 3
    assert h.node.bad_inputs["instruction"] == 1
    assert h.node.instruction == "reach the goal"
    assert h.wait_for_commands(5)  # still commanding from the good inputs
    assert all(o["image"].shape == (32, 32, 3) for o in h.node.policy.seen)


def test_failing_policy_is_survived_and_watchdog_holds(harness):
    class Broken(ConstantPolicy):
        def predict_chunk(self, obs):
            raise RuntimeError("CUDA out of memory")

    h = harness(Broken())
    h.arm(True)
    assert h.wait_for_commands(5)
    assert h.node.bad_inputs["inference"] > 0 and np.all(h.values() == 0.0)


@pytest.mark.parametrize("params, word", [
    ({"output_type": "servo"}, "output_type"), ({"stale_mode": "drift"}, "stale_mode"),
    ({"action_low": [-1.0, -1.0]}, "action_low"), ({"action_low": [2.0] * 4}, "action_low"),
    ({"joint_names": ["a", "b"]}, "joint_names"), ({"action_dim": 6, "action_low": [-1.0] * 6,
                                                    "action_high": [1.0] * 6}, "action_dim"),
    ({"phase_lock_max_shift_s": 0.005}, r"phase_lock_max_shift_s \+ 2 \* phase_lock_lead_s"),
    ({"phase_lock_max_shift_s": 0.004, "phase_lock_early_publish": False}, r"phase_lock_max_shift_s = 4.00 ms"),
    ({"dtype": "fp8"}, "dtype='fp8' must be one of"), ({"chunk_handover": "ensemble"}, "chunk_handover"),
    ({"compile": True, "warmup": False}, "compile=true needs warmup=true")])
def test_invalid_parameters_refused_naming_the_parameter(ros_context, params, word):
    from robot.policy_node import PolicyNode
    with pytest.raises(ValueError, match=word):
        PolicyNode(policy=ConstantPolicy(), context=ros_context,
                   parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


@pytest.mark.parametrize("policy_dims, word", [({"state_dim": 6}, "state_dim=4 but the policy .*state_dim=6"),
                                               ({"action_dim": 7}, "action_dim=4 but the policy .*action_dim=7"),
                                               ({"image_keys": ["front", "wrist"]}, "reads 2 cameras .* camera_topics has 1")])
def test_a_checkpoint_for_another_robot_is_refused_at_start(ros_context, policy_dims, word):
    """A checkpoint finetuned on another robot's dataset (its sizes, its cameras) does not start on this one."""
    from robot.policy_node import PolicyNode
    policy = ConstantPolicy()
    for name, value in policy_dims.items():
        setattr(policy, name, value)
    with pytest.raises(ValueError, match=word):
        PolicyNode(policy=policy, context=ros_context)


def test_out_of_range_rate_refused(ros_context):
    from rclpy.exceptions import InvalidParameterValueException

    from robot.policy_node import PolicyNode
    with pytest.raises(InvalidParameterValueException, match="control_rate_hz"):
        PolicyNode(policy=ConstantPolicy(), context=ros_context,
                   parameter_overrides=[Parameter("control_rate_hz", value=5000.0)])


def test_missing_checkpoint_named(ros_context):
    from robot.policy_node import PolicyNode
    with pytest.raises(ValueError, match="checkpoint"):
        PolicyNode(context=ros_context)


@pytest.mark.parametrize("output_type", ["joint_trajectory", "twist_stamped"])
def test_other_output_types(harness, output_type):
    h = harness(ConstantPolicy([[0.1, 0.2, 0.3, 0.4]]), output_type=output_type)
    h.arm(True)
    assert h.wait_until_commanding()
    msg = h.commands[-1]
    if output_type == "joint_trajectory":
        assert list(msg.joint_names) == ["hand_x", "hand_y", "hand_z", "gripper"]
        np.testing.assert_allclose(msg.points[0].positions, [0.1, 0.2, 0.3, 0.4])
    else:
        np.testing.assert_allclose([msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z, msg.twist.angular.z],
                                   [0.1, 0.2, 0.3, 0.4])


def test_joint_trajectory_streams_the_rest_of_the_chunk_one_period_apart(harness):
    """joint_trajectory_controller gets the command and the chunk's planned actions after it (filtered as they
    will be), point i at (i + 1) control periods; a safe command (stale data) is a one-point trajectory."""
    chunk = [[0.1, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2], [0.3, 0.3, 0.3, 0.3], [0.4, 0.4, 0.4, 0.4]]
    h = harness(ConstantPolicy(chunk), output_type="joint_trajectory", control_rate_hz=20.0, stale_timeout_s=0.3)
    h.arm(True)
    assert h.wait_until_commanding()
    firsts = [m for m in h.commands if len(m.points) and np.isclose(m.points[0].positions[0], 0.1)]
    assert firsts, "no trajectory started at the chunk's first action"
    msg = firsts[-1]
    assert len(msg.points) >= 2
    np.testing.assert_allclose([p.positions[0] for p in msg.points], [0.1, 0.2, 0.3, 0.4][:len(msg.points)], rtol=1e-6)
    assert [p.time_from_start.sec * 10**9 + p.time_from_start.nanosec for p in msg.points] == \
        [50_000_000 * (i + 1) for i in range(len(msg.points))]
    h.camera_on = False
    assert h.spin(5.0, until=lambda: h.node.safety.interventions["stale"] > 0)
    h.spin(0.2)
    assert len(h.commands[-1].points) == 1 and h.commands[-1].points[0].positions[0] == 0.0


def test_commands_go_to_the_controllers_topic_from_the_params(ros_context):
    from robot.policy_node import PolicyNode
    node = PolicyNode(policy=ConstantPolicy(), context=ros_context, parameter_overrides=[
        Parameter("output_type", value="joint_trajectory"),
        Parameter("command_topic", value="/joint_trajectory_controller/joint_trajectory")])
    try:
        assert node.command_pub.topic_name == "/joint_trajectory_controller/joint_trajectory"
    finally:
        node.stop()
        node.destroy_node()


def test_shutdown_sends_final_safe_command(harness):
    h = harness(ConstantPolicy([[0.3] * 4]))
    h.arm(True)
    assert h.wait_for_commands(3)
    h.node.stop()
    h.spin(0.5)
    np.testing.assert_allclose(h.values()[-1], np.zeros(4))


class MarkerPolicy:
    """action[0] = the image's top-left pixel / 255, so each command names the image it came from."""
    action_dim, state_dim, chunk_size = 4, 4, 1

    def predict_chunk(self, obs):
        time.sleep(0.004)   # a steady 4 ms inference
        return np.array([[obs["image"][0, 0, 0] / 255.0, 0.0, 0.0, 0.0]], np.float32)

    def reset(self):
        pass


def _image_to_command_ms(h, seconds: float, camera_offset_s: float) -> float:
    """A camera at exactly 30 Hz, `camera_offset_s` after the node's ticks as they were at the start;
    median ms from publishing an image to receiving the command made from it (the last `seconds`/2)."""
    from std_msgs.msg import Float64MultiArray

    from robot.convert import numpy_to_image
    from robot.interfaces import COMMAND_QOS, COMMAND_TOPIC
    received = {}
    h.peer.create_subscription(Float64MultiArray, COMMAND_TOPIC,
                               lambda m: received.setdefault(round(m.data[0] * 255), time.monotonic()), COMMAND_QOS)
    period = 1 / 30
    start = h.node.tick_times[-1] + camera_offset_s
    while start < time.monotonic():
        start += period
    sent, k = {}, 0
    while k < seconds * 30:
        due = start + k * period
        while time.monotonic() < due:
            h.executor.spin_once(timeout_sec=0.0005)
        marker = k % 200 + 20
        image = np.zeros((32, 32, 3), np.uint8)
        image[0, 0, 0] = marker
        h.joint_pub.publish(JointState(name=list(SIM_JOINT_NAMES), position=[0.0, 0.6, 0.2, 1.0]))
        received.pop(marker, None)
        h.image_pub.publish(numpy_to_image(image))
        sent[marker] = (k, time.monotonic())
        k += 1
    h.spin(0.2)
    late = [received[m] - t for m, (i, t) in sent.items() if i >= seconds * 15 and m in received]
    assert len(late) > seconds * 10, f"only {len(late)} commands matched their images"
    return float(np.median(late)) * 1e3


def test_phase_lock_publishes_a_steady_cameras_chunks_sooner_than_a_fixed_timer(harness):
    """Images land just after a tick: a fixed timer sends each command about a period later; the locked
    timer moves its ticks to `lead` after the chunks, and with early publish each chunk's tick goes out
    when the chunk lands (the controls: the same loop with the lock off, and with early publish off)."""
    medians = {}
    for name, shift, early in (("fixed", 0.0, False), ("locked", 0.001, False), ("early", 0.001, True)):
        h = harness(MarkerPolicy(), phase_lock_max_shift_s=shift, phase_lock_early_publish=early,
                    refill_threshold=1, max_delta=10.0, stale_timeout_s=5.0)
        assert h.arm() and h.spin(5.0, until=lambda: len(h.node.tick_times) > 3)
        medians[name] = _image_to_command_ms(h, seconds=6.0, camera_offset_s=0.002)
        if shift:
            assert h.node.phase.nudges > 0
            ticks = np.diff(np.asarray(h.node.tick_times)[-60:])
            assert np.median(np.abs(ticks - 1 / 30)) < 0.002   # still a 30 Hz controller
    assert medians["locked"] < 0.5 * medians["fixed"], medians
    assert medians["early"] < medians["locked"] - 0.5 * h.node.p["phase_lock_lead_s"] * 1e3, medians


def test_device_dtype_and_compile_reach_the_policy_runner_and_warm_up_comes_first(ros_context, monkeypatch):
    """The node's parameters build the PolicyRunner; its warm-up (which compiles, with `compile`) runs once,
    before the inference thread starts and the node reports ready for ~/arm."""
    import threading

    import vla.runtime

    from robot.policy_node import PolicyNode
    made, warmups = [], []

    class Runner(ConstantPolicy):
        def __init__(self, checkpoint, **kwargs):
            super().__init__()
            made.append((checkpoint, kwargs))

        def warmup(self):
            warmups.append(any(t.name == "vla-inference" for t in threading.enumerate()))

    monkeypatch.setattr(vla.runtime, "PolicyRunner", Runner)
    node = PolicyNode(context=ros_context, parameter_overrides=[
        Parameter("checkpoint", value="ckpt"), Parameter("device", value="cpu"),
        Parameter("dtype", value="bfloat16"), Parameter("compile", value=True)])
    try:
        assert made == [("ckpt", {"device": "cpu", "dtype": "bfloat16", "compile": True})]
        assert warmups == [False] and node.ready
    finally:
        node.stop()
        node.destroy_node()


def test_a_bfloat16_node_commands_finite_actions(harness, finetuned_dir):
    """A real checkpoint under bf16 autocast on CPU, through the node: finite commands of action_dim."""
    import torch

    h = harness(checkpoint=str(finetuned_dir), device="cpu", dtype="bfloat16",
                stale_timeout_s=5.0)
    assert h.node.policy.autocast_dtype is torch.bfloat16
    assert h.arm(True)
    assert h.spin(60.0, until=lambda: len(h.node.latencies) >= 2 and len(h.commands) >= 3)
    h.spin(0.2)
    values = h.values()
    assert values.shape[1] == 4 and np.all(np.isfinite(values)) and np.any(values != 0.0)


STEP = 0.01   # the path's change per tick


class PathPolicy:
    """Plans a straight path, one STEP a tick, from where the robot is (a robot that reaches each command at
    once: its position is the node's last command); each call takes 4 ticks (a slow model), so the robot
    moves on between the observation and the chunk."""
    action_dim, state_dim, chunk_size = 4, 4, 12

    def __init__(self):
        self.node = None
        self.calls = 0

    def predict_chunk(self, obs):
        last = self.node.safety.last_command
        at = -0.9 if last is None or last[0] == 0.0 else last[0]   # 0: the safe zero before the first chunk
        time.sleep(4 / 30)
        self.calls += 1
        x = at + STEP * (1 + np.arange(self.chunk_size))
        return np.stack([x, np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)], axis=1)

    def reset(self):
        pass


def _path_commands(harness, mode: str) -> np.ndarray:
    policy = PathPolicy()
    h = harness(policy, chunk_handover=mode, refill_threshold=7, stale_timeout_s=5.0, max_delta=1.0)
    policy.node = h.node
    assert h.arm(True)
    assert h.spin(30.0, until=lambda: policy.calls >= 8)
    x = h.values()[:, 0]
    live = x[np.flatnonzero(x != 0.0)[0]:]   # from the first policy command (ticks before it send zero)
    assert np.all(live != 0.0), "the queue ran dry: the test needs the old chunk still playing at each hand-over"
    return np.diff(live)


def test_blend_handover_stays_on_the_path_where_replace_steps_back(harness):
    """The policy always plans the same path, so the commands should just follow it. `replace` plays each
    new chunk from its first action, planned for a tick already gone: the command steps back. `blend`
    drops those actions and cross-fades: every step is forward and about one path step."""
    replace = _path_commands(harness, "replace")
    assert replace.min() < -STEP / 2, f"replace never stepped back: {replace.min():.3f}"
    blend = _path_commands(harness, "blend")
    assert blend.min() > -1e-9 and blend.max() <= 1.5 * STEP + 1e-9, (blend.min(), blend.max())
