import json

import numpy as np
import pytest

from vla.eval.sim_eval import EvalConfig, evaluate_checkpoint, evaluate_policy, wilson_interval


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 20)
    assert lo == pytest.approx(0.1119, abs=1e-3) and hi == pytest.approx(0.4687, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_eval_of_a_checkpoint_writes_its_files(tmp_path, finetuned_dir):
    cfg = EvalConfig(tasks=["reach-v3"], n_episodes=2, max_steps=12, n_videos=1, device="cpu")
    info = evaluate_checkpoint(finetuned_dir, cfg, tmp_path)
    saved = json.loads((tmp_path / "eval_info.json").read_text())
    assert saved["checkpoint_hash"] == info["checkpoint_hash"]
    r = saved["tasks"]["reach-v3"]
    assert r["n"] == 2 and 0 <= r["successes"] <= 2 and 1 <= r["mean_length"] <= 12
    assert [e["seed"] for e in r["episodes"]] == [900_000, 900_001]
    assert (tmp_path / "success.png").stat().st_size > 1000
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


class ScriptedExpert:
    """A ChunkPolicy that asks the environment's expert: evaluation must score it near-perfectly."""
    action_dim = chunk_size = state_dim = 4

    def __init__(self, env_holder):
        self.env_holder = env_holder

    def predict_chunk(self, obs):
        return np.repeat(self.env_holder["env"].expert_action()[None], 1, 0)

    def select_action(self, obs):
        return self.env_holder["env"].expert_action()

    def reset(self):
        pass


def test_eval_scores_expert_high_and_zero_actions_low(tmp_path, monkeypatch):
    import vla.data.metaworld_env as mw

    holder = {}
    original = mw.MetaWorldTask.__init__

    def spy(self, *a, **k):  # lets the scripted policy see the env the evaluator built
        original(self, *a, **k)
        holder["env"] = self

    monkeypatch.setattr(mw.MetaWorldTask, "__init__", spy)
    cfg = EvalConfig(tasks=["reach-v3"], n_episodes=3, max_steps=100, n_videos=0)
    expert = evaluate_policy(ScriptedExpert(holder), cfg, tmp_path / "expert")
    idle = evaluate_policy(type("Idle", (ScriptedExpert,), {"select_action": lambda s, o: np.zeros(4)})(holder),
                           cfg, tmp_path / "idle")
    assert expert["overall"]["successes"] == 3
    assert idle["overall"]["successes"] == 0
