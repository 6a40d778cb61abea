"""Fixtures for multi-process (accelerate, DDP over gloo on CPU) training runs."""

from pathlib import Path

import pytest
from ddp_support import shared_tiny_dataset


@pytest.fixture(scope="session")
def ddp_dataset(tmp_path_factory) -> Path:
    return shared_tiny_dataset(tmp_path_factory)
