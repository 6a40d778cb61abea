"""Node parameters: how a node declares its table, and the policy node's table and validation.

A table is name -> (default, description, (low, high) or None), one per node, so the node's declarations,
its `--help` and its params file (launch/params/*.yaml) name the same things. The policy node's safety
limits are the `SafetyConfig` fields of the same names (robot/safety.py): `policy_parameters` builds that
config from them and lets it judge them, and checks here only what is the node's own (command type,
joints, chunk hand-over, dtype, phase lock). Pure Python (rclpy only inside `declare_parameters`, no torch):
the rules test without ROS.
"""

from __future__ import annotations

import dataclasses

from robot.interfaces import CAMERA_TOPIC, COMMAND_TOPIC, COMMAND_TYPES, SIM_JOINT_NAMES
from robot.phase import early_window_ns
from robot.safety import STALE_MODES, SafetyConfig

OUTPUT_TYPES = tuple(COMMAND_TYPES)
SAFETY_PARAMETERS = tuple(f.name for f in dataclasses.fields(SafetyConfig))
_SAFETY_DEFAULTS = SafetyConfig()
# How a fresh chunk takes over the action queue: the vla.runtime ActionQueue method of the same name.
CHUNK_HANDOVERS = ("replace", "blend")
# PolicyRunner's autocast dtypes, by the names torch gives them (it also takes bf16/fp16; tested to agree).
DTYPES = ("float32", "bfloat16", "float16")

# Declared by the policy node and printed by `vla-policy-node --help`. rclpy enforces the ranges;
# `policy_parameters` checks the rest.
POLICY_PARAMETERS = {
    "checkpoint": ("", "VLA checkpoint directory (vla.runtime.PolicyRunner); required unless a policy is injected", None),
    "device": ("auto", "torch device: auto, cpu, cuda, cuda:N", None),
    "dtype": ("float32", f"inference autocast dtype, one of {DTYPES} (bfloat16/float16: for a GPU)", None),
    "compile": (False, "torch.compile the backbone; the warm-up (required) compiles it before ~/arm is accepted",
                None),
    "control_rate_hz": (30.0, "command publish rate", (0.5, 1000.0)),
    "output_type": ("float64_array", f"command message type: one of {OUTPUT_TYPES}", None),
    "command_topic": (COMMAND_TOPIC, "where commands go: a controller's own topic, e.g. "
                      "/joint_trajectory_controller/joint_trajectory", None),
    "action_dim": (_SAFETY_DEFAULTS.action_dim, "action dimensions", (1, 64)),
    "state_dim": (4, "joint-state dimensions fed to the policy", (1, 64)),
    "joint_names": (list(SIM_JOINT_NAMES), "joint order for state and JointTrajectory", None),
    "camera_topics": ([CAMERA_TOPIC], "image topics, one per camera the policy reads, in its order (the first paces "
                      "inference; each has its own staleness check)", None),
    "action_low": (_SAFETY_DEFAULTS.action_low, "per-dimension command lower limit", None),
    "action_high": (_SAFETY_DEFAULTS.action_high, "per-dimension command upper limit", None),
    "max_delta": (_SAFETY_DEFAULTS.max_delta, "max command change per tick", (1e-6, 1e6)),
    "stale_timeout_s": (_SAFETY_DEFAULTS.stale_timeout_s,
                        "watchdog: camera/joint data older than this holds or zeroes the command", (1e-3, 60.0)),
    "stale_mode": (_SAFETY_DEFAULTS.stale_mode, f"watchdog output: one of {STALE_MODES}", None),
    "instruction": ("", "task instruction used until one arrives on the instruction topic", None),
    "refill_threshold": (0, "infer a new chunk when the queue holds at most this many actions",
                         (0, 1000)),
    "chunk_handover": ("replace", f"how a chunk inferred while the last one plays takes over, one of {CHUNK_HANDOVERS}: "
                       "blend skips its actions for ticks spent inferring and cross-fades the old chunk into it",
                       None),
    "warmup": (True, "run dummy inferences before accepting ~/arm", None),
    "phase_lock_max_shift_s": (0.001, "largest nudge of one tick interval to phase-lock ticks just after fresh "
                               "chunks (robot/phase.py); 0 keeps a fixed period", (0.0, 0.01)),
    "phase_lock_lead_s": (0.001, "phase lock: wanted time from a chunk landing to its scheduled tick (cover the "
                          "inference jitter: a chunk landing after its tick waits a period)", (0.0, 0.05)),
    "phase_lock_early_publish": (True, "phase lock: a chunk landing within the lead of its tick publishes that tick "
                                 "at once instead of at the scheduled time (the timer's call then skips)", None),
    "diagnostics_rate_hz": (1.0, "DiagnosticArray publish rate", (0.01, 100.0)),
}


def declare_parameters(node, table: dict) -> dict:
    """Declare every parameter of `table` on `node` (read-only, described, range-checked by rclpy: a float
    default gets a floating-point range, an int default an integer range) and return their values."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    for name, (default, description, bounds) in table.items():
        desc = ParameterDescriptor(description=description, read_only=True)
        if bounds and isinstance(default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]), to_value=float(bounds[1]),
                                                            step=0.0)]
        elif bounds:
            desc.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
        if isinstance(default, list) and not default:
            desc.type = ParameterType.PARAMETER_STRING_ARRAY
        node.declare_parameter(name, default, desc)
    return {name: node.get_parameter(name).value for name in table}


def policy_parameters(values: dict, node_name: str) -> dict:
    """The policy node's declared values, lists as lists, once they are valid: else one ValueError that
    names the node and every bad parameter."""
    p = dict(values, joint_names=list(values["joint_names"] or []), action_low=list(values["action_low"]),
             action_high=list(values["action_high"]), camera_topics=list(values["camera_topics"] or []))
    problems = safety_config(p).problems() + _node_problems(p)
    if problems:
        raise ValueError(f"{node_name}: invalid parameters: " + "; ".join(problems))
    return p


def safety_config(p: dict) -> SafetyConfig:
    """The limits the policy node's `SafetyFilter` enforces: its parameters of the same names."""
    return SafetyConfig(**{name: p[name] for name in SAFETY_PARAMETERS})


def _node_problems(p: dict) -> list[str]:
    problems = []
    if p["output_type"] not in OUTPUT_TYPES:
        problems.append(f"output_type={p['output_type']!r} must be one of {OUTPUT_TYPES}")
    if p["joint_names"] and len(p["joint_names"]) != p["state_dim"]:
        problems.append(f"joint_names has {len(p['joint_names'])} names but state_dim={p['state_dim']}")
    if not p["camera_topics"] or not all(t.strip() for t in p["camera_topics"]) \
            or len(set(p["camera_topics"])) != len(p["camera_topics"]):
        problems.append(f"camera_topics must name one distinct topic per camera, got {p['camera_topics']}")
    if not p["command_topic"].strip():
        problems.append("command_topic must name a topic")
    return problems + _inference_problems(p) + _phase_lock_problems(p)


def _inference_problems(p: dict) -> list[str]:
    problems = []
    if p["chunk_handover"] not in CHUNK_HANDOVERS:
        problems.append(f"chunk_handover={p['chunk_handover']!r} must be one of {CHUNK_HANDOVERS}")
    if p["dtype"] not in DTYPES:
        problems.append(f"dtype={p['dtype']!r} must be one of {DTYPES}")
    if p["compile"] and not p["warmup"]:   # else the first inference after ~/arm compiles: tens of seconds
        problems.append("compile=true needs warmup=true, so the backbone compiles before the node can be armed")
    return problems


def _phase_lock_problems(p: dict) -> list[str]:
    # A tick interval shrinks by at most the nudge, plus the early window when early publish is on: keep
    # that within a tenth of the period, so the per-tick limits stay close to per-period ones.
    shift, lead = p["phase_lock_max_shift_s"], p["phase_lock_lead_s"]
    early = early_window_ns(int(lead * 1e9)) / 1e9 if p["phase_lock_early_publish"] and shift > 0 else 0.0
    if shift + early <= 0.1 / p["control_rate_hz"]:
        return []
    what = "phase_lock_max_shift_s + 2 * phase_lock_lead_s (phase_lock_early_publish is on)" if early \
        else "phase_lock_max_shift_s"
    return [f"{what} = {1e3 * (shift + early):.2f} ms must be at most a tenth of the control period "
            f"({1e3 / p['control_rate_hz']:.1f} ms)"]


# Declared by the simulated robot (robot/sim_robot_node.py) and printed by `vla-sim-robot --help`.
SIM_ROBOT_PARAMETERS = {
    "task": ("reach-v3", "MetaWorld v3 task name", None),
    "image_size": (64, "camera image side in pixels", (16, 1024)),
    "camera": ("corner4", "MetaWorld camera name", None),
    "rate_hz": (30.0, "simulation/camera rate", (0.5, 1000.0)),
    "max_steps": (150, "steps per episode", (1, 100000)),
    "episodes": (0, "stop after this many episodes (0: run forever)", (0, 100000)),
    "seed": (0, "seed of the first episode; episode i uses seed + i", None),
}
