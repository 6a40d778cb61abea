"""Helpers for multi-process (accelerate, DDP over gloo on CPU) training tests."""

import socket
import sys
from pathlib import Path

# The tiny LeRobot dataset builder and subprocess helpers live with the policy tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
from lerobot_support import REPO_ROOT, shared_tiny_dataset, subprocess_env  # noqa: E402

# `accelerate launch --cpu` without MPI starts one process; torchrun's launcher (--multi_gpu) gives gloo DDP, since
# train_loop passes cpu=True to Accelerator when its device is cpu.
ACCELERATE_2CPU = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                   "--dynamo_backend", "no"]


def free_port() -> int:
    """A free TCP port for the rendezvous, so parallel test workers never collide on 29500."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_launch(*args: str) -> list[str]:
    accelerate = Path(sys.executable).parent / "accelerate"
    return [str(accelerate), "launch", *ACCELERATE_2CPU, "--main_process_port", str(free_port()), *args]


def accelerate_env() -> dict:
    env = subprocess_env()
    env.update(MASTER_ADDR="127.0.0.1")
    return env


__all__ = ["ACCELERATE_2CPU", "accelerate_launch", "REPO_ROOT", "accelerate_env", "shared_tiny_dataset"]
