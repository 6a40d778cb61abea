import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import lam_support  # noqa: E402


@pytest.fixture(scope="session")
def trained_lam(tmp_path_factory):
    """One LAM trained on the tiny store (with the probe on held-out labelled episodes): (out_dir, result)."""
    from vla.lam.train import train

    out = tmp_path_factory.mktemp("lam")
    result = train(lam_support.tiny_lam_cfg(), lam_support.tiny_lam_train(), lam_support.store_template(), out,
                   episodes=lam_support.episodes())
    return out, result
