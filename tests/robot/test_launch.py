"""Launch files are checked by AST (launch/launch_ros are not on PyPI, so they can't be imported here):
every Node executable is a console script, every params file exists, every parameter is declared."""

import ast
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = sorted((ROOT / "launch").glob("*.launch.py"))


def node_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Node"]


def kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def declared(executable: str) -> set[str]:
    from robot import parameters
    return set({"vla-policy-node": parameters.POLICY_PARAMETERS, "vla-sim-robot": parameters.SIM_ROBOT_PARAMETERS}[executable])


def test_launch_files_exist():
    assert {p.name for p in LAUNCH} == {"robot.launch.py", "sim.launch.py"}


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_nodes_use_console_scripts_and_declared_params(path):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    calls = node_calls(path)
    assert calls, f"{path.name} starts no Node"
    assert "def generate_launch_description" in path.read_text()
    for call in calls:
        executable = ast.literal_eval(kw(call, "executable"))
        assert executable in scripts, f"{path.name}: {executable} is not a console script"
        params = ast.unparse(kw(call, "parameters"))
        for name in [n for n in ("policy.yaml", "sim_robot.yaml") if n in params]:
            assert (ROOT / "launch" / "params" / name).is_file()
        for d in [n for n in ast.walk(kw(call, "parameters")) if isinstance(n, ast.Dict)]:
            for key in d.keys:
                assert ast.literal_eval(key) in declared(executable)


@pytest.mark.parametrize("name, executable", [("policy.yaml", "vla-policy-node"), ("sim_robot.yaml", "vla-sim-robot")])
def test_params_files_only_set_declared_parameters(name, executable):
    doc = yaml.safe_load((ROOT / "launch" / "params" / name).read_text())
    params = doc["/**"]["ros__parameters"]
    unknown = set(params) - declared(executable)
    assert not unknown, f"{name} sets undeclared parameters {unknown}"


def test_policy_params_file_loads_into_a_real_node(ros_context):
    """The YAML is valid for rclpy itself: load it through --ros-args --params-file."""
    from robot_support import ConstantPolicy

    from robot.policy_node import PolicyNode
    node = PolicyNode(policy=ConstantPolicy(), context=ros_context,
                      cli_args=["--ros-args", "--params-file", str(ROOT / "launch/params/policy.yaml"),
                                "-p", "output_type:=twist_stamped", "-p", "warmup:=false"])
    assert node.p["output_type"] == "twist_stamped" and node.p["joint_names"][0] == "hand_x"
    node.stop()
    node.destroy_node()
