"""The eval tests share the policy tests' tiny artefacts (built once per session)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
from policy_support import finetuned_fixture, teleop_fixture  # noqa: E402


@pytest.fixture(scope="session")
def finetuned_dir(tmp_path_factory):
    return finetuned_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def teleop_root(tmp_path_factory):
    return teleop_fixture(tmp_path_factory)
