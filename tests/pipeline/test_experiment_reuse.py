"""vla-experiment reuses a finished arm only if it ran under the same config."""

import json

from omegaconf import OmegaConf

from vla.pipeline.experiment import _done, _stamp, arm_fingerprint, pretrain_fingerprint


def test_fingerprint_ignores_the_sweep_but_not_the_training():
    cfg = OmegaConf.create({"seed": 0, "finetune": {"train": {"steps": 10}}, "comparison": {"demos": [None]}})
    base = arm_fingerprint(cfg)
    cfg.comparison.demos = [3, None]
    assert arm_fingerprint(cfg) == base
    cfg.finetune.train.steps = 20
    assert arm_fingerprint(cfg) != base


def test_stage_two_is_reused_when_only_finetuning_changes():
    """The labelled LAM and stage 2 do not read how stage 3 trains (LoRA or every weight, its steps) or what
    evaluation runs, so changing those redoes the finetuning runs only; a stage-2 setting redoes both."""
    cfg = OmegaConf.create({"seed": 0, "policy": {"full_finetune": False, "lora_r": 16, "pool": "mean"},
                            "pretrain": {"train": {"steps": 300}}, "finetune": {"train": {"steps": 10}},
                            "eval": {"n_episodes": 20}})
    base, arm = pretrain_fingerprint(cfg), arm_fingerprint(cfg)
    cfg.policy.full_finetune, cfg.policy.lora_r, cfg.finetune.train.steps, cfg.eval.n_episodes = True, 8, 20, 5
    assert pretrain_fingerprint(cfg) == base and arm_fingerprint(cfg) != arm
    cfg.policy.pool = "attention"
    assert pretrain_fingerprint(cfg) != base
    cfg.policy.pool, cfg.policy.full_finetune = "mean", False
    cfg.pretrain.train.steps = 600
    assert pretrain_fingerprint(cfg) != base


def test_a_finished_arm_is_reused_only_under_its_own_config(tmp_path):
    done = tmp_path / "eval" / "eval_info.json"
    assert not _done(tmp_path, done, "a")  # never ran
    done.parent.mkdir()
    done.write_text(json.dumps({}))
    assert _done(tmp_path, done, "a")  # made by the pipeline itself: no stamp, trusted
    _stamp(tmp_path, "a")
    assert _done(tmp_path, done, "a")
    assert not _done(tmp_path, done, "b")  # stale: another config


def test_the_shuffled_codes_control_keeps_the_codes_and_loses_their_frames(tmp_path):
    """latent_shuffled pretrains on the pure LAM's codes permuted across the corpus: the same codes as often
    (so the same majority baseline), every video its own length, but no longer the code of its frame."""
    import numpy as np

    from vla.data.store import FrameStore
    from vla.pipeline.experiment import shuffle_codes

    store, rng, codes = FrameStore(tmp_path / "frames.zarr", mode="a"), np.random.default_rng(0), {}
    for i, n in enumerate((30, 50, 40)):
        vid = f"v{i}"
        store.add_video(vid, np.zeros((n + 4, 8, 8, 3), np.uint8), {"fps": 10.0, "n_frames": n + 4})
        codes[vid] = rng.integers(0, 8, (n, 2))
        store.write_array(vid, "latent_actions", codes[vid], {"codebook_size": 8})
    assert shuffle_codes(str(tmp_path / "frames.zarr"), "latent_actions", "shuffled", seed=0) == "shuffled"
    shuffled = {v: FrameStore(tmp_path / "frames.zarr").read_array(v, "shuffled") for v in codes}
    assert {v: len(s) for v, s in shuffled.items()} == {v: len(c) for v, c in codes.items()}
    every = lambda d: np.concatenate(list(d.values()))  # noqa: E731
    assert sorted(map(tuple, every(shuffled))) == sorted(map(tuple, every(codes)))  # the same codes, as often
    assert (every(shuffled) != every(codes)).any(1).mean() > 0.5  # most frames got another frame's code
    assert FrameStore(tmp_path / "frames.zarr").array_attrs("v0", "shuffled")["codebook_size"] == 8
    shuffle_codes(str(tmp_path / "frames.zarr"), "latent_actions", "shuffled", seed=0)  # again: the same
    assert all(np.array_equal(FrameStore(tmp_path / "frames.zarr").read_array(v, "shuffled"), s)
               for v, s in shuffled.items())
