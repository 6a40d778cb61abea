"""Fixtures for multi-process (accelerate, DDP over gloo on CPU) training runs."""

from pathlib import Path

import pytest
from ddp_support import build_tiny_dataset


@pytest.fixture(scope="session")
def ddp_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("distributed") / "tiny_reach"
    build_tiny_dataset(root)
    return root
