import json

import numpy as np

from vla.data.lerobot_io import load_episodes, open_dataset
from vla.data.sim import generate


def test_video_corpus_has_manifest_and_no_actions(sim_corpus, tiny_sim):
    root, result = sim_corpus
    metas = [json.loads(line) for line in (root / "videos" / "manifest.jsonl").read_text().splitlines()]
    assert len(metas) == result["videos"] == 3
    for m in metas:
        assert (root / "videos" / m["file"]).stat().st_size > 0
        assert m["instruction"] == "Reach a goal position" and m["fps"] == tiny_sim.fps
        assert not any("action" in key for key in m)


def test_teleop_dataset_reloads_with_action_chunks(sim_corpus, tiny_sim):
    root, _ = sim_corpus
    chunk = 4
    fps = tiny_sim.fps
    ds = open_dataset(root / "teleop", delta_timestamps={"action": [i / fps for i in range(chunk)]})
    assert ds.meta.total_episodes == 2
    item = ds[0]
    assert item["action"].shape == (chunk, 4)
    assert item["observation.image"].shape == (3, 32, 32)
    assert item["observation.state"].shape == (4,)
    assert item["task"] == "Reach a goal position"
    # the chunk is the next `chunk` actions of the episode
    hf = ds.hf_dataset.with_format(None)
    expected = np.asarray(hf["action"][:chunk], dtype=np.float32)
    np.testing.assert_allclose(item["action"].numpy(), expected, atol=1e-6)


def test_teleop_and_video_seeds_are_disjoint_and_runs_are_deterministic(sim_corpus, tiny_sim, tmp_path):
    root, _ = sim_corpus
    episodes = load_episodes(root / "teleop")
    video_seeds = {json.loads(line)["seed"] for line in (root / "videos" / "manifest.jsonl").read_text().splitlines()}
    assert len(episodes) == 2 and all(e.success for e in episodes)
    # A second run from scratch renders the same pixels.
    again = generate(tiny_sim.__class__(**{**tiny_sim.__dict__, "video_episodes_per_task": 1,
                                           "teleop_episodes_per_task": 0}), tmp_path / "v", tmp_path / "t")
    assert again["videos"] == 1
    a = (tmp_path / "v" / "reach-v3_0000000.mp4").read_bytes()
    b = (root / "videos" / "reach-v3_0000000.mp4").read_bytes()
    assert a == b
    assert not video_seeds & {500_000, 500_001}


def test_rerun_reuses_finished_work(sim_corpus, tiny_sim):
    root, _ = sim_corpus
    before = {p.name: p.stat().st_mtime_ns for p in (root / "videos").glob("*.mp4")}
    generate(tiny_sim, root / "videos", root / "teleop")
    after = {p.name: p.stat().st_mtime_ns for p in (root / "videos").glob("*.mp4")}
    assert before == after
