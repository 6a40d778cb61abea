import json

import pytest
import torch

from vla.core.checkpoint import (
    CheckpointError,
    CheckpointManager,
    check_config_matches,
    checkpoint_hash,
    load_checkpoint,
    save_checkpoint,
)


def _model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


def test_round_trip_restores_weights_and_optimizer_state(tmp_path):
    model, opt = _model_and_optimizer()
    save_checkpoint(tmp_path / "ck", weights=model.state_dict(), config={"kind": "toy", "width": 4},
                    train_state={"step": 7, "optimizer": opt.state_dict()})
    ck = load_checkpoint(tmp_path / "ck", expected_kind="toy")
    assert ck.config == {"kind": "toy", "width": 4}
    for k, v in model.state_dict().items():
        assert torch.equal(ck.weights[k], v)
    assert ck.train_state["step"] == 7
    model2, opt2 = _model_and_optimizer()
    opt2.load_state_dict(ck.train_state["optimizer"])
    for (a, b) in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["step"], b["step"])


def test_corrupt_weights_are_refused_naming_the_file(tmp_path):
    model, _ = _model_and_optimizer()
    path = save_checkpoint(tmp_path / "ck", weights=model.state_dict(), config={"kind": "toy"})
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(path)


def test_wrong_kind_and_config_mismatch_are_refused(tmp_path):
    model, _ = _model_and_optimizer()
    path = save_checkpoint(tmp_path / "ck", weights=model.state_dict(), config={"kind": "lam", "codebook": 8})
    with pytest.raises(CheckpointError, match="expected 'idm'"):
        load_checkpoint(path, expected_kind="idm")
    with pytest.raises(CheckpointError, match="codebook: checkpoint=8 vs requested=16"):
        check_config_matches(path, json.loads((path / "config.json").read_text()), {"kind": "lam", "codebook": 16})


def test_overwrite_is_atomic_and_hash_follows_weights(tmp_path):
    model, _ = _model_and_optimizer()
    path = save_checkpoint(tmp_path / "ck", weights=model.state_dict(), config={"kind": "toy"})
    h1 = checkpoint_hash(path)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    save_checkpoint(tmp_path / "ck", weights=model.state_dict(), config={"kind": "toy"})
    assert checkpoint_hash(path) != h1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temp or old dirs left behind


def test_manager_keeps_newest_and_skips_a_corrupt_latest(tmp_path):
    model, _ = _model_and_optimizer()
    mgr = CheckpointManager(tmp_path, keep=2)
    for step in (10, 20, 30):
        mgr.save(step, weights=model.state_dict(), config={"kind": "toy"})
    assert mgr.steps() == [20, 30]
    (mgr.latest() / "config.json").write_text("{}")  # damaged after the manifest was written
    assert mgr.latest().name == "step_0000020"
    assert load_checkpoint(mgr.latest()).train_state["step"] == 20
