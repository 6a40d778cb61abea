"""Project-wide test set-up: offline, headless, and small thread pools (CI has 2 cores)."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# The tiny policy artefacts (tests/policy/policy_support.py), built once per session and shared by the policy,
# eval and runtime tests.
sys.path.insert(0, str(Path(__file__).resolve().parent / "policy"))


@pytest.fixture(scope="session")
def backbone_dir(tmp_path_factory):
    from policy_support import backbone_fixture

    return backbone_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def store_url(tmp_path_factory):
    from policy_support import store_fixture

    return store_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def teleop_root(tmp_path_factory):
    from policy_support import teleop_fixture

    return teleop_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def finetuned_dir(tmp_path_factory):
    from policy_support import finetuned_fixture

    return finetuned_fixture(tmp_path_factory)


@pytest.fixture(scope="module")
def torch_settings_restored():
    """Training sets the thread count and deterministic kernels for the whole process (vla.core.seeding); a module
    that trains gets the settings it started with back, so later tests run as they would alone."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@pytest.fixture(scope="session")
def local_ray():
    """A real local Ray (2 CPUs, no dashboard), started for the tests that use engine=ray and stopped after;
    the engine finds it open and runs its jobs on it."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
