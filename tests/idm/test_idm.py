"""Inverse dynamics baseline (VPT route): learning against an untrained control, labelling, bad input."""

import json

import numpy as np
import pytest

import lam_support
from vla.core.checkpoint import CheckpointError
from vla.data.store import FrameStore
from vla.idm.modeling import InverseDynamicsModel
from vla.idm.train import label_with_idm, train


@pytest.fixture(scope="module")
def trained_idm(tmp_path_factory):
    out = tmp_path_factory.mktemp("idm")
    return out, train(lam_support.tiny_idm_cfg(), lam_support.tiny_idm_train(), None, out,
                      episodes=lam_support.episodes())


def test_trained_idm_beats_untrained_on_held_out_episodes(trained_idm):
    out, metrics = trained_idm
    assert metrics["eval_r2"] > metrics["untrained_eval_r2"] + 0.3, metrics
    assert json.loads((out / "metrics.json").read_text())["eval_r2"] == metrics["eval_r2"]
    assert metrics["eval_pairs"] > 0 and metrics["train_pairs"] > metrics["eval_pairs"]


def test_idm_labels_shape_and_skip(trained_idm, tmp_path):
    url = lam_support.copy_store(tmp_path / "frames.zarr")
    ckpt = str(trained_idm[0] / "model")
    n = len(FrameStore(url).video_ids())
    assert label_with_idm(ckpt, url)["labelled"] == n
    store = FrameStore(url)
    for vid in store.video_ids():
        a = store.read_array(vid, "idm_actions")
        assert a.shape == (store.frames(vid).shape[0] - 1, 4) and a.dtype == np.float32 and np.isfinite(a).all()
    assert label_with_idm(ckpt, url)["skipped"] == n


def test_idm_pseudo_labels_track_the_true_actions(trained_idm, tmp_path):
    """The store's videos are the moving square, so the labels can be checked against the truth."""
    url = lam_support.copy_store(tmp_path / "frames.zarr")
    label_with_idm(str(trained_idm[0] / "model"), url)
    store = FrameStore(url)
    pred = np.concatenate([store.read_array(v, "idm_actions")[:, :2] for v in store.video_ids()])
    true = np.concatenate([r["actions"][:-1, :2] for r in lam_support.rollouts()[0]])
    shuffled = true[np.random.default_rng(0).permutation(len(true))]
    assert np.mean((pred - true) ** 2) < 0.5 * np.mean((pred - shuffled) ** 2)


def test_idm_checkpoint_from_another_config_is_refused(trained_idm):
    with pytest.raises(CheckpointError, match="config.json"):
        InverseDynamicsModel.from_pretrained(trained_idm[0] / "model", expect=lam_support.tiny_idm_cfg(width=8))


def test_idm_needs_two_episodes(tmp_path):
    with pytest.raises(ValueError, match="2 teleop episodes"):
        train(lam_support.tiny_idm_cfg(), lam_support.tiny_idm_train(steps=2), "teleop_dir", tmp_path,
              episodes=lam_support.episodes()[:1])
