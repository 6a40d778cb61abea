"""PolicyNode (`vla-policy-node`): camera + joint state + instruction in, safe commands out.

Threads: DDS callbacks only convert and store the latest message (under a lock); an inference thread
fills an action-chunk queue from the latest observation; a control timer in its own callback group pops
one action per tick at `control_rate_hz`, passes it through `SafetyFilter` and publishes, so control never
waits on the model. A chunk inferred while the last one still plays (`refill_threshold` > 0) takes over
the queue as `chunk_handover` says: `replace`, or `blend` (vla.runtime.ActionQueue.blend: no step back).
The timer is phase-locked to the chunks (robot/phase.py): each interval may be nudged by up to
`phase_lock_max_shift_s` so ticks fall `phase_lock_lead_s` after a steady camera's chunks land, instead of
up to a period later, and a chunk that lands within that lead publishes its tick at once (a guard
condition in the timer's callback group). Topic names and QoS: robot/interfaces.py; parameters and
their validation: robot/parameters.py.

Disarm (`~/arm` false) and e-stop: one safe command, then silence (a forward command controller repeats
its last command, so going quiet after a velocity command would leave the robot moving).
SIGINT/SIGTERM: disarm, publish one last safe command (zero, or the last command in stale_mode=hold) and
wait up to 1 s for it to be acknowledged, join the inference thread, exit with status 0.

Run: `vla-policy-node --ros-args --params-file launch/params/policy.yaml -p checkpoint:=DIR`.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections import Counter, deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Int32, String
from std_srvs.srv import SetBool

from robot.convert import ConversionError, image_to_numpy, joint_state_to_numpy, numpy_to_command
from robot.interfaces import (ARM_SERVICE, CAMERA_TOPIC, COMMAND_QOS, COMMAND_TOPIC, COMMAND_TYPES,
                              DIAGNOSTICS_QOS, DIAGNOSTICS_TOPIC, EPISODE_TOPIC, ESTOP_TOPIC,
                              INSTRUCTION_SUBSCRIPTION_QOS, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC, LATCHED_QOS,
                              POLICY_ARM_SERVICE, POLICY_NODE, SENSOR_QOS, message_class)
from robot.parameters import POLICY_PARAMETERS, declare_parameters, policy_parameters, safety_config
from robot.phase import PhaseLock
from robot.safety import SafetyFilter
from robot.signals import stop_on_signals
from vla.core.action_queue import ActionQueue
from vla.core.command import Command, run_main


class PolicyNode(Node):
    def __init__(self, policy=None, **node_kwargs):
        super().__init__(POLICY_NODE, **node_kwargs)
        self.p = policy_parameters(declare_parameters(self, POLICY_PARAMETERS), self.get_name())
        self.safety = SafetyFilter(safety_config(self.p))
        self.policy = policy if policy is not None else self._load_policy()
        for name in ("action_dim", "state_dim"):  # the checkpoint's robot must be this one
            if getattr(self.policy, name, self.p[name]) != self.p[name]:
                raise ValueError(f"parameter {name}={self.p[name]} but the policy {self.p['checkpoint'] or ''} has "
                                 f"{name}={getattr(self.policy, name)}")
        cameras, topics = getattr(self.policy, "image_keys", None) or ["image"], self.p["camera_topics"]
        if len(cameras) != len(topics):
            raise ValueError(f"the policy reads {len(cameras)} cameras {cameras} but camera_topics has "
                             f"{len(topics)}: {topics} (one topic per camera, in the policy's order)")
        # The observation's camera keys: the policy's feature names; "image" for one camera (any policy takes it).
        self.camera_keys = list(cameras) if len(cameras) > 1 else ["image"]

        self.lock = threading.Lock()
        # A tick's filter + publish and stop()'s final safe command never interleave (taken before `lock`):
        # otherwise a tick that filtered before the stop could publish a policy command after it.
        self.command_lock = threading.Lock()
        self.images = [None] * len(topics)           # the latest image of each camera
        self.image_stamps = [None] * len(topics)     # monotonic receive times for the watchdog, per camera
        self.state = self.state_stamp = None
        self.image_seq = 0                           # images of the first camera: what paces inference
        self.instruction = self.p["instruction"]
        self.queue = ActionQueue()  # the runner's and the policy's queue
        self.wake = threading.Condition(self.lock)
        self.bad_inputs: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=1000)
        self.tick_times: deque[float] = deque(maxlen=10000)
        self.commands_sent = 0
        self.ready = False
        self._stop = False

        self._connect()
        self._start_control()
        self._warm_up()
        self.ready = True
        self.worker = threading.Thread(target=self._inference_loop, name="vla-inference", daemon=True)
        self.worker.start()
        self.get_logger().info(f"ready (disarmed): output={self.p['output_type']} rate={self.p['control_rate_hz']} Hz")

    def _connect(self) -> None:
        """Topics and services (robot/interfaces.py). Sensor callbacks share one group, apart from the
        control timer's, so they and the services never delay a tick."""
        sensors = MutuallyExclusiveCallbackGroup()
        for index, topic in enumerate(self.p["camera_topics"]):
            self.create_subscription(Image, topic, functools.partial(self._on_image, index), SENSOR_QOS,
                                     callback_group=sensors)
        self.create_subscription(JointState, JOINT_STATES_TOPIC, self._on_joints, SENSOR_QOS, callback_group=sensors)
        for qos in INSTRUCTION_SUBSCRIPTION_QOS:   # latched and volatile publishers alike (robot/interfaces.py)
            self.create_subscription(String, INSTRUCTION_TOPIC, self._on_instruction, qos, callback_group=sensors)
        self.create_subscription(Int32, EPISODE_TOPIC, self._on_episode, LATCHED_QOS, callback_group=sensors)
        self.create_subscription(Bool, ESTOP_TOPIC, self._on_estop, COMMAND_QOS, callback_group=sensors)
        self.create_service(SetBool, ARM_SERVICE, self._on_arm, callback_group=sensors)
        command_type = message_class(COMMAND_TYPES[self.p["output_type"]])
        self.command_pub = self.create_publisher(command_type, self.p["command_topic"], COMMAND_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, DIAGNOSTICS_QOS)

    def _start_control(self) -> None:
        """The control timer, phase-locked to the chunks (robot/phase.py), and the diagnostics timer."""
        # The early-publish guard condition shares the timer's group: a tick and an early tick never run at once.
        control = MutuallyExclusiveCallbackGroup()
        self.control_timer = self.create_timer(1.0 / self.p["control_rate_hz"], self._on_tick, callback_group=control)
        self.chunk_due = self.create_guard_condition(self._on_chunk_due, callback_group=control)
        self._early_asked = False     # the inference thread asked for an early tick since the timer's last call
        self._ticked_early = False    # that early tick published: the timer's call skips
        self.early_ticks = 0
        self.phase = PhaseLock(self.control_timer.timer_period_ns, int(self.p["phase_lock_max_shift_s"] * 1e9),
                               lead_ns=int(self.p["phase_lock_lead_s"] * 1e9))
        self.create_timer(1.0 / self.p["diagnostics_rate_hz"], self._publish_diagnostics,
                          callback_group=MutuallyExclusiveCallbackGroup())

    # ---------------------------------------------------------------- the policy
    def _load_policy(self):
        if not self.p["checkpoint"]:
            raise ValueError(f"parameter 'checkpoint' is empty (node {self.get_name()}): pass -p checkpoint:=DIR")
        from vla.runtime import PolicyRunner
        return PolicyRunner(self.p["checkpoint"], device=self.p["device"], dtype=self.p["dtype"],
                            compile=self.p["compile"])

    def _warm_up(self) -> None:
        """Dummy inferences before the node is ready (~/arm is refused until then): kernel selection and,
        with `compile`, the backbone's compilation happen here, not on the robot's first command."""
        if not (self.p["warmup"] and hasattr(self.policy, "warmup")):
            return
        t0 = time.perf_counter()
        self.policy.warmup()
        self.get_logger().info(f"warm-up took {time.perf_counter() - t0:.1f} s "
                               f"(dtype={self.p['dtype']}, compile={self.p['compile']})")

    # ---------------------------------------------------------------- callbacks: convert and store
    def _bad(self, kind: str, err: Exception) -> None:
        self.bad_inputs[kind] += 1
        self.get_logger().warning(f"dropped bad {kind}: {err}", throttle_duration_sec=2.0)

    def _on_image(self, index: int, msg: Image) -> None:
        try:
            image = image_to_numpy(msg)
        except ConversionError as err:
            return self._bad("image", err)
        with self.lock:
            self.images[index], self.image_stamps[index] = image, time.monotonic()
            if index == 0:
                self.image_seq += 1
                self.wake.notify()

    def _on_joints(self, msg: JointState) -> None:
        try:
            state = joint_state_to_numpy(msg, self.p["state_dim"], self.p["joint_names"] or None)
        except ConversionError as err:
            return self._bad("joint_state", err)
        with self.lock:
            self.state, self.state_stamp = state, time.monotonic()

    def _on_instruction(self, msg: String) -> None:
        """From either instruction subscription. A latched publisher's message reaches both, the same words
        twice; each keeps only its latest (depth 1), so once both are read the newest instruction is in use."""
        if not msg.data.strip():
            return self._bad("instruction", ValueError("empty instruction"))
        with self.lock:
            self.instruction = msg.data

    def _on_episode(self, msg: Int32) -> None:
        with self.lock:  # a new episode: actions planned for the last one must not leak into it
            self.queue.clear()
            self.policy.reset()

    def _go_safe(self, transition) -> bool:
        """Disarm or e-stop (`transition`); if we were commanding, send one safe command (zero, or hold)
        before going quiet: a ros2_control forward command controller repeats its last command, so
        falling silent after a velocity command would leave the robot moving."""
        with self.command_lock:
            with self.lock:
                was_armed = self.safety.armed
                transition()
                self.queue.clear()
                self.wake.notify()
            if was_armed:
                self.publish_command(self.safety.safe_command())
        return was_armed

    def _on_estop(self, msg: Bool) -> None:
        if msg.data:
            self._go_safe(self.safety.estop)
            self.get_logger().error("E-STOP: commands latched off until ~/arm")

    def _on_arm(self, request, response):
        with self.lock:
            if request.data and not self.ready:
                response.success, response.message = False, "policy not ready"
                return response
            if request.data:
                self.queue.clear()
                self.policy.reset()
                self.safety.arm()
        if not request.data:
            self._go_safe(self.safety.disarm)
        response.success, response.message = True, "armed" if request.data else "disarmed"
        self.get_logger().info(response.message)
        return response

    # ---------------------------------------------------------------- inference thread
    def _inference_loop(self) -> None:
        last_seq = -1
        while not self._stop:
            with self.lock:
                self.wake.wait(timeout=0.05)
                want = (self.safety.armed and all(i is not None for i in self.images) and self.state is not None
                        and self.instruction and len(self.queue) <= self.p["refill_threshold"]
                        and self.image_seq != last_seq)
                if not want:
                    continue
                obs = {**dict(zip(self.camera_keys, self.images)), "state": self.state, "instruction": self.instruction}
                last_seq, pops_at_observation = self.image_seq, self.queue.pops
            t0 = time.perf_counter()
            try:
                chunk = np.asarray(self.policy.predict_chunk(obs), np.float64).reshape(-1, self.p["action_dim"])
            except Exception as err:  # a failing model must not kill the node: the watchdog/hold takes over
                self._bad("inference", err)
                continue
            self.latencies.append(time.perf_counter() - t0)
            with self.lock:
                self._hand_over(chunk, elapsed=self.queue.pops - pops_at_observation)
                until_tick = self.control_timer.time_until_next_call()
                due = until_tick is not None and self.phase.chunk_ready(until_tick)
                early = due and self.p["phase_lock_early_publish"]
                if early:
                    self._early_asked = True
            if early:
                self.chunk_due.trigger()

    def _hand_over(self, chunk: np.ndarray, elapsed: int) -> None:
        """A fresh chunk takes over the queue (`elapsed`: ticks since its observation). Under `lock`."""
        if self.p["chunk_handover"] == "blend":
            self.queue.blend(chunk, elapsed)
        else:
            self.queue.replace(chunk)

    # ---------------------------------------------------------------- control tick
    def _on_tick(self) -> None:
        """The control timer: one tick, unless an early tick already published this one."""
        with self.lock:
            self._early_asked = False   # an early tick asked for before this call is now too late
            early, self._ticked_early = self._ticked_early, False
            period = self.phase.next_period()
        if period != self.control_timer.timer_period_ns:   # takes effect after the next tick (robot/phase.py)
            self.control_timer.timer_period_ns = period
        if not early:
            self._tick()

    def _on_chunk_due(self) -> None:
        """A fresh chunk landed within the lead of its tick: publish that tick now (robot/phase.py)."""
        with self.lock:
            asked, self._early_asked = self._early_asked, False
            if not asked:   # the timer got there first
                return
            self._ticked_early = True
            self.early_ticks += 1
        self._tick()

    def _tick(self) -> None:
        now = time.monotonic()
        with self.command_lock:
            with self.lock:
                action = self.queue.pop()
                command = self.safety.filter(action, now, *self.image_stamps, self.state_stamp)
                # A trajectory controller gets the rest of the plan too (filtered as it would be), unless this
                # tick's command is a safe one: then the trajectory ends there.
                upcoming = (self.safety.preview(command, self.queue.peek()) if command is not None and not
                            self.safety.fell_back and self.p["output_type"] == "joint_trajectory" else ())
                self.wake.notify()
            self.tick_times.append(now)
            if command is not None:
                self.publish_command(command, upcoming)

    def publish_command(self, command: np.ndarray, upcoming=()) -> None:
        msg = numpy_to_command(command, self.p["output_type"], self.p["joint_names"],
                               stamp=self.get_clock().now().to_msg(),
                               time_from_start_ns=int(1e9 / self.p["control_rate_hz"]), upcoming=upcoming)
        self.command_pub.publish(msg)
        self.commands_sent += 1

    # ---------------------------------------------------------------- diagnostics / shutdown
    def stats(self) -> dict:
        lat = np.asarray(self.latencies) * 1e3
        ticks = np.diff(np.asarray(self.tick_times)) * 1e3
        pct = lambda a, q: float(np.percentile(a, q)) if a.size else float("nan")  # noqa: E731
        return {"armed": self.safety.armed, "estopped": self.safety.estopped, "queue_depth": len(self.queue),
                "commands_sent": self.commands_sent, "inference_ms_p50": pct(lat, 50), "inference_ms_p99": pct(lat, 99),
                "tick_ms_p50": pct(ticks, 50), "tick_ms_p99": pct(ticks, 99), "phase_lock_nudges": self.phase.nudges,
                "early_ticks": self.early_ticks,
                "phase_error_ms": float("nan") if self.phase.last_error_ns is None else self.phase.last_error_ns / 1e6,
                "safety_interventions": dict(self.safety.interventions), "bad_inputs": dict(self.bad_inputs),
                "silent_inputs": self.silent_inputs()}

    def silent_inputs(self) -> list[str]:
        """The input topics with nothing newer than stale_timeout_s (or nothing at all): while any is, the
        watchdog holds or zeroes the commands."""
        now = time.monotonic()
        stamps = list(zip(self.p["camera_topics"], self.image_stamps)) + [(JOINT_STATES_TOPIC, self.state_stamp)]
        return [topic for topic, stamp in stamps if self.safety.is_stale(now, stamp)]

    def _publish_diagnostics(self) -> None:
        s = self.stats()
        if s["silent_inputs"] and s["armed"]:  # armed and not commanding: say which input is missing
            self.get_logger().warning(f"no data on {', '.join(s['silent_inputs'])} for over "
                                      f"{self.p['stale_timeout_s']} s: commands are held/zeroed (watchdog)",
                                      throttle_duration_sec=5.0)
        level = DiagnosticStatus.ERROR if s["estopped"] else (
            DiagnosticStatus.WARN if s["silent_inputs"] and s["armed"] else DiagnosticStatus.OK)
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: policy", hardware_id="vla",
                                  message="estop" if s["estopped"] else ("armed" if s["armed"] else "disarmed"),
                                  values=[KeyValue(key=k, value=str(v)) for k, v in s.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def stop(self, ack_timeout_s: float = 1.0) -> None:
        """Stop inference and, if we were commanding, send one last safe (hold/zero) command and wait
        (up to `ack_timeout_s`) until subscribers acknowledged it: the process may exit right after."""
        self._stop = True
        if self._go_safe(self.safety.disarm):
            acked = self.command_pub.wait_for_all_acked(Duration(seconds=ack_timeout_s))
            # Fast DDS acknowledges on its heartbeat period (3 s by default), so "not yet" is common even
            # when the command arrived; the wait gives reliable delivery a chance to resend on a lossy link.
            self.get_logger().info(f"final safe command sent ({'acknowledged' if acked else 'no ack yet'})")
        self.worker.join(timeout=2.0)


def make_executor(context=None) -> SingleThreadedExecutor:
    """The executor `vla-policy-node` spins in (the bench and the closed loop use it too).

    Single-threaded on purpose: every callback here is short (inference has its own thread, so no
    callback waits on the model), and rclpy's MultiThreadedExecutor, whose spin loop competes for the
    GIL with the callbacks it dispatches, made control ticks late: side by side in bench/ros_loop.py,
    p99 tick jitter 9.4 ms vs 3.8 ms (another job on the 2 cores), and 100-400 ms when a peer node
    shared the executor. The callback groups stay: they keep the node correct under a multi-threaded
    executor too."""
    return SingleThreadedExecutor(context=context)


COMMAND = Command(
    prog="vla-policy-node",
    summary=f"the ROS 2 policy node: {CAMERA_TOPIC} + {JOINT_STATES_TOPIC} + {INSTRUCTION_TOPIC} in, "
            f"safety-filtered commands\nout on `{COMMAND_TOPIC}` at control_rate_hz. Starts disarmed: arm with the "
            f"{ARM_SERVICE} service (std_srvs/SetBool);\n{ESTOP_TOPIC} (Bool) latches commands off. "
            f"Diagnostics on {DIAGNOSTICS_TOPIC}.",
    usage=("vla-policy-node --ros-args -p checkpoint:=DIR [-p name:=value ...]",
           "vla-policy-node --ros-args --params-file launch/params/policy.yaml -p checkpoint:=DIR",
           "ros2 launch launch/robot.launch.py checkpoint:=DIR"),
    hydra=False,
    arguments=POLICY_PARAMETERS,
    arguments_title="parameters (-p name:=value; read-only; [low, high] is enforced)",
    examples=("vla-policy-node --ros-args -p checkpoint:=data/work/finetune/model -p control_rate_hz:=15.0",
              f'ros2 service call {POLICY_ARM_SERVICE} std_srvs/srv/SetBool "{{data: true}}"'),
)


def spin(args: list[str]) -> None:
    """Run the node until a signal or shutdown (`args`: the process's argv, for rclpy)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = stop_on_signals()
    node = executor = None
    try:
        node = PolicyNode()
        executor = make_executor()
        executor.add_node(node)
        while rclpy.ok() and not stop.is_set():   # a signal is seen within one spin (ticks wake it at 30 Hz)
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        if node is not None:
            node.stop()   # disarms first, so ticks still running in executor threads publish nothing
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> None:
    """`args` as rclpy takes them: the program name first (sys.argv by default)."""
    args = list(sys.argv if args is None else args)
    run_main(COMMAND, lambda rest: spin([args[0], *rest]), args[1:])


if __name__ == "__main__":
    main()
