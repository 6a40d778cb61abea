"""The policy node's parameters without a ROS graph (robot/parameters.py): the defaults are valid and make
the default SafetyConfig; bad values are refused in one error that names the node and every bad parameter.
(test_policy_node.py checks that the node itself refuses them.)"""

from array import array

import pytest

from robot.parameters import DTYPES, POLICY_PARAMETERS, SAFETY_PARAMETERS, policy_parameters, safety_config
from robot.safety import SafetyConfig


def declared(**changes) -> dict:
    """What the node reads back after declaring its table with `changes` as overrides."""
    return {name: default for name, (default, _, _) in POLICY_PARAMETERS.items()} | changes


def test_defaults_are_valid_and_make_the_default_safety_config():
    assert set(SAFETY_PARAMETERS) <= set(POLICY_PARAMETERS)
    assert safety_config(policy_parameters(declared(), "vla_policy")) == SafetyConfig()


def test_arrays_come_back_as_lists():
    """rclpy reads a double-array parameter back as array('d'), and an empty string array as None."""
    p = policy_parameters(declared(action_low=array("d", [-0.5] * 4), joint_names=None), "vla_policy")
    assert p["action_low"] == [-0.5] * 4 and p["joint_names"] == []


@pytest.mark.parametrize("changes, word", [
    ({"output_type": "servo"}, "output_type"), ({"stale_mode": "drift"}, "stale_mode"),
    ({"action_low": [-1.0, -1.0]}, "action_low"), ({"action_low": [2.0] * 4}, "action_low"),
    ({"action_dim": 6}, "action_low needs 6 values"), ({"joint_names": ["a", "b"]}, "joint_names"),
    ({"phase_lock_max_shift_s": 0.005}, r"phase_lock_max_shift_s \+ 2 \* phase_lock_lead_s"),
    ({"phase_lock_max_shift_s": 0.004, "phase_lock_early_publish": False}, r"phase_lock_max_shift_s = 4.00 ms"),
    ({"chunk_handover": "ensemble"}, r"chunk_handover='ensemble' must be one of \('replace', 'blend'\)"),
    ({"dtype": "fp8"}, r"dtype='fp8' must be one of \('float32', 'bfloat16', 'float16'\)$"),
    ({"compile": True, "warmup": False}, "compile=true needs warmup=true")])
def test_bad_values_refused_naming_the_parameter(changes, word):
    with pytest.raises(ValueError, match=f"^vla_policy: invalid parameters: .*{word}"):
        policy_parameters(declared(**changes), "vla_policy")


def test_every_bad_parameter_is_named_in_one_error():
    with pytest.raises(ValueError) as err:
        policy_parameters(declared(output_type="servo", stale_mode="drift", joint_names=["a"]), "vla_policy")
    assert all(word in str(err.value) for word in ("output_type", "stale_mode", "joint_names"))


def test_with_the_phase_lock_off_the_lead_is_free():
    policy_parameters(declared(phase_lock_max_shift_s=0.0, phase_lock_lead_s=0.05), "vla_policy")


def test_the_node_dtypes_are_policy_runner_dtypes():
    """robot/parameters.py names them without importing torch; PolicyRunner must take every one."""
    from vla.runtime.runner import DTYPES as RUNNER_DTYPES
    assert set(DTYPES) <= set(RUNNER_DTYPES)
