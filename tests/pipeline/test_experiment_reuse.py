"""vla-experiment reuses a finished arm only if it ran under the same config."""

import json

from omegaconf import OmegaConf

from vla.pipeline.experiment import _done, _stamp, arm_fingerprint


def test_fingerprint_ignores_the_sweep_but_not_the_training():
    cfg = OmegaConf.create({"seed": 0, "finetune": {"train": {"steps": 10}}, "comparison": {"demos": [None]}})
    base = arm_fingerprint(cfg)
    cfg.comparison.demos = [3, None]
    assert arm_fingerprint(cfg) == base
    cfg.finetune.train.steps = 20
    assert arm_fingerprint(cfg) != base


def test_a_finished_arm_is_reused_only_under_its_own_config(tmp_path):
    done = tmp_path / "eval" / "eval_info.json"
    assert not _done(tmp_path, done, "a")  # never ran
    done.parent.mkdir()
    done.write_text(json.dumps({}))
    assert _done(tmp_path, done, "a")  # made by the pipeline itself: no stamp, trusted
    _stamp(tmp_path, "a")
    assert _done(tmp_path, done, "a")
    assert not _done(tmp_path, done, "b")  # stale: another config
