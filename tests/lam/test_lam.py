"""Latent action model: learning (against controls), quantiser mechanics, checkpoints, resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import lam_support
from vla.core.checkpoint import CheckpointError
from vla.data.lerobot_io import Episode
from vla.lam.modeling import LatentActionModel
from vla.lam.quantizer import VectorQuantizer


def test_training_lowers_loss_and_beats_copying_the_last_frame(trained_lam):
    _, result = trained_lam
    losses = [h["loss"] for h in result["history"]]
    # the residual decoder starts at "copy o_t", so the first loss is already the copy error
    assert np.mean(losses[-20:]) < 0.75 * np.mean(losses[:20])
    assert result["final"]["recon_vs_copy"] < 0.9  # held-out videos: the codes carry what changed


def test_codebook_stays_in_use(trained_lam):
    final = trained_lam[1]["final"]
    assert final["eval_usage"] > 0.5 and final["eval_perplexity"] > 2.0


def test_probe_real_codes_beat_shuffled_codes(trained_lam):
    final = trained_lam[1]["final"]
    assert final["probe_r2"] > final["probe_r2_shuffled"] + 0.1, final


def test_diagnostics_and_curves_saved(trained_lam):
    out, result = trained_lam
    saved = json.loads((out / "diagnostics.json").read_text())
    assert saved["final"] == result["final"] and {"probe_r2", "eval_perplexity", "recon_vs_copy"} <= set(saved["final"])
    assert (out / "curves.png").stat().st_size > 1000


def test_save_load_gives_identical_codes_and_predictions(trained_lam, tmp_path):
    model = LatentActionModel.from_pretrained(trained_lam[0] / "model")
    model.save_pretrained(tmp_path / "copy")
    again = LatentActionModel.from_pretrained(tmp_path / "copy")
    video = torch.from_numpy(lam_support.rollouts()[1][0]["images"]).permute(0, 3, 1, 2)
    codes = model.encode(video[:-4], video[4:])
    assert codes.shape == (len(video) - 4, model.cfg.n_tokens)
    assert torch.equal(codes, again.encode(video[:-4], video[4:]))
    assert torch.equal(model.decode(video[:-4], codes), again.decode(video[:-4], codes))


def test_kmeans_init_finds_the_clusters():
    centres = torch.nn.functional.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    z = centres.repeat(50, 1) + 0.01 * torch.randn(200, 8)
    vq = VectorQuantizer(codebook_size=4, code_dim=8)
    assert not vq.initialised
    vq.init_from(z)
    assert vq.initialised
    # every true centre has a code within 0.05 of it, so all four codes are used
    assert (torch.cdist(centres, vq.codebook.data).min(1).values < 0.05).all()
    assert len(vq.nearest(z).unique()) == 4


def test_before_init_latents_pass_through_unquantised():
    vq = VectorQuantizer(codebook_size=4, code_dim=8)
    z = torch.randn(3, 2, 8)
    q, _, loss, _ = vq(z)
    assert torch.allclose(q, torch.nn.functional.normalize(z, dim=-1)) and loss.item() == 0.0


def test_dead_code_restart_revives_an_unused_code():
    torch.manual_seed(0)
    vq = VectorQuantizer(codebook_size=4, code_dim=8, restart_after=5)
    centres = torch.eye(8)[:3]
    z = torch.nn.functional.normalize(centres.repeat(20, 1) + 0.05 * torch.randn(60, 8), dim=-1)
    vq.codebook.data[:3] = centres
    vq.codebook.data[3] = -torch.ones(8)  # opposite every latent: never the nearest
    vq.initialised.fill_(True)
    vq.train()
    assert 3 not in vq.nearest(z).unique()
    for _ in range(4):
        vq(z[None])
    assert vq.idle[3] == 4 and 3 not in vq.nearest(z).unique()  # not yet
    vq(z[None])
    assert vq.idle[3] == 0 and 3 in vq.nearest(z).unique()  # re-seeded on a latent: in use again


def test_features_target_trains(tmp_path):
    from vla.lam.train import train

    result = train(lam_support.tiny_lam_cfg(target="features"),
                   lam_support.tiny_lam_train(steps=60, vq_warmup=20, eval_every=60, ckpt_every=60),
                   lam_support.store_template(), tmp_path)
    losses = [h["recon"] for h in result["history"]]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    assert LatentActionModel.from_pretrained(tmp_path / "model").cfg.target == "features"


def test_resume_after_kill_continues_at_the_checkpoint_step(tmp_path):
    """A real SIGKILL mid-run, then resume=True: the run ends at `steps` with one history row per step,
    continuing from the last checkpoint's step and optimiser state (not from scratch)."""
    from vla.core.checkpoint import CheckpointManager
    from vla.lam.train import train

    steps, every = 120, 40
    manager = CheckpointManager(tmp_path)
    script = f"""
import sys; sys.path.insert(0, {str(Path(lam_support.__file__).parent)!r})
import lam_support
from vla.lam.train import train
train(lam_support.tiny_lam_cfg(), lam_support.tiny_lam_train(steps=100000, ckpt_every={every}, eval_every=100000,
      vq_warmup=30), lam_support.store_template(), {str(tmp_path)!r})
"""
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 240
        while not manager.steps() and time.monotonic() < deadline:
            assert proc.poll() is None, "training process died"
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = manager.steps()
    assert saved, "no checkpoint written before the kill"

    result = train(lam_support.tiny_lam_cfg(), lam_support.tiny_lam_train(steps=steps, ckpt_every=every,
                   eval_every=steps, vq_warmup=30), lam_support.store_template(), tmp_path, resume=True)
    assert result["steps"] == steps
    assert [h["step"] for h in result["history"]] == list(range(1, steps + 1))
    resumed_at = max(s for s in saved if s <= steps)
    first_after = result["history"][resumed_at]["loss"]
    assert first_after < 0.5 * result["history"][0]["loss"]  # trained weights came back, not a fresh model


def test_resume_with_a_different_config_is_refused(trained_lam, tmp_path):
    import shutil

    from vla.lam.train import train

    shutil.copytree(trained_lam[0] / "checkpoints", tmp_path / "checkpoints")
    with pytest.raises(CheckpointError, match="config.json.*codebook_size"):
        train(lam_support.tiny_lam_cfg(codebook_size=16), lam_support.tiny_lam_train(), lam_support.store_template(),
              tmp_path, resume=True)


def test_checkpoint_from_another_config_names_the_file(trained_lam):
    with pytest.raises(CheckpointError, match="config.json"):
        LatentActionModel.from_pretrained(trained_lam[0] / "model", expect=lam_support.tiny_lam_cfg(n_tokens=2))


def test_corrupt_checkpoint_names_the_file(trained_lam, tmp_path):
    import shutil

    shutil.copytree(trained_lam[0] / "model", tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        LatentActionModel.from_pretrained(tmp_path / "model")


def test_bad_config_values_refused():
    with pytest.raises(ValueError, match="target"):
        lam_support.tiny_lam_cfg(target="depth")
    with pytest.raises(ValueError, match="image_size"):
        lam_support.tiny_lam_cfg(image_size=30)
    with pytest.raises(ValueError, match="vq_warmup"):
        lam_support.tiny_lam_train(steps=100, vq_warmup=100)


def test_labelled_episodes_are_the_first_of_every_task_and_left_out_of_the_probe():
    from vla.lam.train import split_labelled

    eps = [Episode(i, task, None, None, None, True) for i, task in enumerate("aabbab")]
    supervised, probed = split_labelled(eps, 2)
    assert [e.episode_index for e in supervised] == [0, 1, 2, 3]
    assert [e.episode_index for e in probed] == [4, 5]
    assert split_labelled(eps, None) == ([], eps)
    with pytest.raises(ValueError, match="only 3 episodes"):
        split_labelled(eps, 4)


def test_action_head_learns_the_action_from_the_code_on_held_out_pairs(tmp_path):
    """The latent_labels LAM: its head, trained on 6 labelled episodes, reads the held-out episodes'
    actions from their codes far better than the control that predicts their mean."""
    from vla.lam.modeling import LatentActionModel
    from vla.lam.train import LabelledPairs, split_labelled, train

    cfg = lam_support.tiny_lam_cfg(action_dim=2, label_weight=1.0)
    result = train(cfg, lam_support.tiny_lam_train(steps=120, vq_warmup=40, eval_every=120,
                                                            labelled_demos_per_task=6),
                   lam_support.store_template(), tmp_path, episodes=lam_support.episodes())
    assert result["final"]["probe_pairs_test"] > 0  # probed on the other 6 episodes only
    model = LatentActionModel.from_pretrained(tmp_path / "model")
    held = LabelledPairs.from_episodes(split_labelled(lam_support.episodes(), 6)[1], cfg.frame_gap, 2)
    with torch.no_grad():
        pred = model.action_head(model.vq.lookup(model.encode(held.frame_t, held.frame_tk)).flatten(1))
    mse = ((pred - held.actions) ** 2).mean().item()
    predict_the_mean = ((held.actions - held.actions.mean(0)) ** 2).mean().item()
    assert mse < 0.5 * predict_the_mean


def test_action_head_needs_labels_and_a_weight(tmp_path):
    from vla.lam.train import train

    with pytest.raises(ValueError, match="both be > 0"):
        lam_support.tiny_lam_cfg(action_dim=3)
    with pytest.raises(ValueError, match="needs labelled episodes"):
        train(lam_support.tiny_lam_cfg(action_dim=2, label_weight=1.0), lam_support.tiny_lam_train(steps=10, vq_warmup=0),
              lam_support.store_template(), tmp_path, episodes=lam_support.episodes())
