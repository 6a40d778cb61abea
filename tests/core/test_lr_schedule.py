import pytest

from vla.core.training import TrainConfig, lr_at


def test_cosine_schedule_warms_up_then_decays_to_a_tenth():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, lr_schedule="cosine")
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0, abs=1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # never rises after warm-up
    assert lrs[-1] == pytest.approx(0.1, abs=0.01)
    assert lr_at(99, TrainConfig(steps=100, lr=1.0, warmup_steps=10)) == 1.0  # constant stays
    with pytest.raises(ValueError, match="train.lr_schedule must be 'constant' or 'cosine', got 'step'"):
        TrainConfig(lr_schedule="step")
