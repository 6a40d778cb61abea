"""The front door: every console script answers --help (exit 0, naming its subcommands, config groups or
parameters), and an expected error is one line on stderr naming the file or key, with exit status 2.

Each script runs as a subprocess, as a user types it; a spawn that imports torch costs seconds, so the
cases are the ones a user meets, not every combination.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
HYDRA_GROUPS = ["policy=tiny|smolvlm2", "experiment=demo|", "--cfg job"]
# What each --help must name: its subcommands (as rows of the subcommands section), then other words.
HELP = {
    "vla-data": (["sim", "ingest", "info"], HYDRA_GROUPS + ["data.sim.tasks="]),
    "vla-lam": (["train", "label", "viz"], HYDRA_GROUPS + ["lam.train.steps="]),
    "vla-idm": (["train", "label"], HYDRA_GROUPS + ["idm.train.steps="]),
    "vla-pretrain": ([], HYDRA_GROUPS + ["pretrain.target=latent"]),
    "vla-finetune": ([], HYDRA_GROUPS + ["finetune.init=pretrained"]),
    "vla-eval": ([], HYDRA_GROUPS + ["eval.checkpoint="]),
    "vla-experiment": ([], HYDRA_GROUPS + ["comparison.arms="]),
    "vla-demo": ([], HYDRA_GROUPS + ["scale=cpu"]),
    "vla-policy-node": ([], ["checkpoint=\"\"", "control_rate_hz=30.0", "[0.5, 1000.0]", "stale_mode=zero"]),
    "vla-sim-robot": (["loop"], HYDRA_GROUPS + ["robot.checkpoint=", "rate_hz=30.0", "[0.5, 1000.0]"]),
    "vla-record": (["live"], ["bag=(required)", "out=(required)", "fps=30", "[1, 1000]"]),
}


def run(script: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    # VLA_DEBUG only when a test sets it; a private ROS domain, so a node started by mistake talks to no one.
    env = {**{k: v for k, v in os.environ.items() if k != "VLA_DEBUG"},
           "ROS_DOMAIN_ID": str(20 + os.getpid() % 200), **(env or {})}
    return subprocess.run([str(BIN / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess, prefix: str) -> str:
    """The single stderr line of an expected error (status 2, no traceback)."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(prefix + ": "), \
        f"status {proc.returncode}, stderr:\n{proc.stderr[-3000:]}"
    return lines[0]


def test_every_console_script_is_covered():
    assert set(HELP) == set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(HELP))
def test_help_exits_0_and_names_subcommands_groups_and_parameters(script, tmp_path):
    proc = run(script, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-3000:]
    subcommands, words = HELP[script]
    assert proc.stdout.startswith(f"{script}: ")
    for sub in subcommands:
        assert re.search(rf"^  {sub}\s", proc.stdout, re.M), f"subcommand {sub} not listed:\n{proc.stdout}"
    for word in words + ["examples:", "--debug"]:
        assert word in proc.stdout, f"{word!r} not in:\n{proc.stdout}"
    assert not list(tmp_path.iterdir()), "--help wrote files"


@pytest.mark.parametrize("script, args", [("vla-pretrain", ["-h"]), ("vla-sim-robot", ["loop", "-h"]),
                                          ("vla-policy-node", ["-h", "--ros-args", "-p", "checkpoint:=x"])])
def test_short_help_flag_anywhere_before_ros_args(script, args, tmp_path):
    proc = run(script, *args, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith(f"{script}: "), proc.stderr[-3000:]


def test_cfg_job_prints_the_composed_config_with_the_overrides(tmp_path):
    from omegaconf import OmegaConf

    proc = run("vla-finetune", "finetune.train.steps=7", "policy=smolvlm2", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.finetune.train.steps == 7 and cfg.policy.image_size == 512
    assert "pretrained: ${paths.pretrain}/model" in proc.stdout   # unresolved without --resolve
    # the loop's shorthand (episodes= -> robot.episodes=) and --resolve
    proc = run("vla-sim-robot", "loop", "episodes=3", "--cfg", "job", "--resolve", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.robot.episodes == 3 and "  out: data/work/ros" in proc.stdout
    assert not list(tmp_path.iterdir())


# (script, args, the line's prefix, words the line must hold); {tmp} is the test's directory.
ERRORS = [
    pytest.param("vla-finetune", ["init=none"], "vla-finetune", ["'init'", "did you mean finetune.init?"],
                 id="unknown-key"),
    pytest.param("vla-lam", ["train", "lam.train.stepz=3"], "vla-lam train", ["'lam.train.stepz'", "lam.train.steps"],
                 id="mistyped-key"),
    pytest.param("vla-pretrain", ["policy=big"], "vla-pretrain", ["'big'", "policy=smolvlm2|tiny"],
                 id="unknown-group-option"),
    pytest.param("vla-eval", ["--foo"], "vla-eval", ["'--foo'", "key=value"], id="unreadable-argument"),
    pytest.param("vla-idm", ["trian"], "vla-idm", ["'trian'", "train | label"], id="unknown-subcommand"),
    pytest.param("vla-data", ["sim", "data.sim.image_size=8", "paths.root={tmp}"], "vla-data sim",
                 ["data.sim.image_size", "got 8"], id="bad-value"),
    pytest.param("vla-demo", ["scale=huge"], "vla-demo", ["'huge'", "tiny|cpu|gpu"], id="bad-demo-scale"),
    pytest.param("vla-data", ["info", "{tmp}/none.zarr"], "vla-data info", ["{tmp}/none.zarr"], id="missing-store"),
    pytest.param("vla-data", ["ingest", "data.ingest.inputs={tmp}/novideos", "paths.root={tmp}"], "vla-data ingest",
                 ["input folder not found: {tmp}/novideos"], id="missing-videos"),
    pytest.param("vla-idm", ["train", "paths.root={tmp}"], "vla-idm train", ["{tmp}/sim/teleop"],
                 id="missing-dataset"),
    pytest.param("vla-record", ["bag={tmp}/nobag", "out={tmp}/ds"], "vla-record", ["{tmp}/nobag"], id="missing-bag"),
    pytest.param("vla-record", ["bag=b", "out=o", "fsp=3"], "vla-record", ["'fsp=3'", "fps"], id="mistyped-argument"),
    pytest.param("vla-policy-node", [], "vla-policy-node", ["'checkpoint' is empty", "checkpoint:=DIR"],
                 id="missing-ros-parameter"),
    pytest.param("vla-policy-node", ["--ros-args", "-p", "control_rate_hz:=5000.0"], "vla-policy-node",
                 ["control_rate_hz out of range"], id="ros-parameter-out-of-range"),
    pytest.param("vla-sim-robot", ["--ros-args", "-p", "task:=nope-v3"], "vla-sim-robot", ["'nope-v3'"],
                 id="bad-ros-parameter"),
    pytest.param("vla-sim-robot", ["loop", "tsk=reach-v3"], "vla-sim-robot loop", ["'tsk'", "robot.task"],
                 id="loop-unknown-key"),
]


@pytest.mark.parametrize("script, args, prefix, words", ERRORS)
def test_expected_error_is_one_line_with_status_2(script, args, prefix, words, tmp_path):
    line = one_line_error(run(script, *[a.format(tmp=tmp_path) for a in args], cwd=tmp_path), prefix)
    for word in words:
        assert word.format(tmp=tmp_path) in line, line


@pytest.fixture(scope="module")
def bad_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A tampered and a truncated VLAPolicy checkpoint, and a valid checkpoint of the wrong kind (a LAM's)."""
    import torch

    from vla.core.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("checkpoints")
    weights = {"w": torch.arange(64, dtype=torch.float32)}
    made = {name: save_checkpoint(root / name, weights=weights, config={"type": "vla_latent"})
            for name in ("tampered", "truncated")}
    made["lam"] = save_checkpoint(root / "lam", weights=weights, config={"kind": "lam"})
    data = bytearray((made["tampered"] / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (made["tampered"] / "model.safetensors").write_bytes(bytes(data))
    truncated = made["truncated"] / "model.safetensors"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    return made


@pytest.mark.parametrize("script, which, words", [
    ("vla-eval", "tampered", ["tampered/model.safetensors is corrupt"]),
    ("vla-eval", "lam", ["lam/config.json is a 'lam' checkpoint", "expected 'vla_latent'"]),
    ("vla-lam label", "truncated", ["truncated/model.safetensors is corrupt"]),
])
def test_a_bad_checkpoint_is_one_line_naming_the_file(script, which, words, bad_checkpoints, tmp_path):
    prog, *sub = script.split()
    key = "lam.checkpoint" if prog == "vla-lam" else "eval.checkpoint"
    proc = run(prog, *sub, f"{key}={bad_checkpoints[which]}", f"paths.root={tmp_path}", cwd=tmp_path)
    line = one_line_error(proc, script)
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("args, env", [(["init=none"], {"VLA_DEBUG": "1"}), (["init=none", "--debug"], {})])
def test_debug_shows_the_traceback_of_an_expected_error(args, env, tmp_path):
    proc = run("vla-finetune", *args, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "Traceback" in proc.stderr, proc.stderr[-3000:]
    assert "UsageError: unknown config key 'init'" in proc.stderr


# ------------------------------------------------------------------ in-process: the wrapper and the help
def test_a_bug_keeps_its_traceback_and_an_expected_error_is_one_line(capsys, monkeypatch):
    from robot.safety import SafetyConfig
    from vla.core.command import Command, run_main

    monkeypatch.delenv("VLA_DEBUG", raising=False)
    command = Command(prog="vla-x", summary="", usage=())
    with pytest.raises(KeyError):
        run_main(command, lambda argv: {}["missing"], [])
    with pytest.raises(json.JSONDecodeError):   # a ValueError from inside a library: a bug, not a bad value
        run_main(command, lambda argv: json.loads("{"), [])
    with pytest.raises(SystemExit) as exit_:     # a ValueError the project raises on purpose
        run_main(command, lambda argv: SafetyConfig(action_dim=0).validate(), [])
    assert exit_.value.code == 2 and capsys.readouterr().err == "vla-x: safety.action_dim must be >= 1, got 0\n"
    monkeypatch.setenv("VLA_DEBUG", "1")
    with pytest.raises(ValueError, match="action_dim"):
        run_main(command, lambda argv: SafetyConfig(action_dim=0).validate(), [])


def test_nearest_keys_finds_the_key_meant():
    from vla.core.config import config_keys, nearest_keys

    keys = config_keys()
    assert nearest_keys("init", keys) == ["finetune.init"]
    assert nearest_keys("lam.train.stepz", keys)[0] == "lam.train.steps"
    meant = nearest_keys("lr_shedule", keys)  # every stage's loop has one
    assert meant and all(k.endswith(".train.lr_schedule") for k in meant)
    assert nearest_keys("finetune.train.lr_shedule", keys)[0] == "finetune.train.lr_schedule"


def test_every_key_a_help_names_is_a_config_key():
    import importlib

    from vla.core.config import config_keys, documented_keys

    keys, documented = set(config_keys()), documented_keys()
    for target in SCRIPTS.values():
        command = importlib.import_module(target.split(":")[0]).COMMAND
        for key in command.keys:
            assert key in keys and key in documented, f"{command.prog} --help names {key}, which configs/ lacks"


def test_readme_command_reference_matches_the_commands():
    """README's table names every console script with the subcommands, and what it takes, that --help prints."""
    import importlib

    section = (ROOT / "README.md").read_text().split("\n## Command reference\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `vla-"):
            cells = [c.strip(" |") for c in line.split(" | ")]   # an escaped \| has no spaces around it
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(SCRIPTS)
    for name, target in SCRIPTS.items():
        command = importlib.import_module(target.split(":")[0]).COMMAND
        _, what, subcommands, takes = rows[name]
        assert re.findall(r"`(\w+)`", subcommands) == list(command.subcommands), name
        assert ("config groups" in takes) == command.hydra, name
        assert "parameters" in takes or all(f"{a}=" in what + takes for a in command.arguments), name
