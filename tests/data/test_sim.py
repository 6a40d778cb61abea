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
    # actions are recorded as the env executes them (clipped), not as the expert's raw outputs
    assert np.abs(np.asarray(hf["action"])).max() <= 1.0


def test_teleop_and_video_seeds_are_disjoint_and_runs_are_deterministic(sim_corpus, tiny_sim, tmp_path):
    from vla.data.metaworld_env import MetaWorldTask
    from vla.data.sim import rollout
    from vla.data.video import iter_frames

    root, _ = sim_corpus
    episodes = load_episodes(root / "teleop")
    video_seeds = {json.loads(line)["seed"] for line in (root / "videos" / "manifest.jsonl").read_text().splitlines()}
    assert len(episodes) == 2 and all(e.success for e in episodes)
    assert not video_seeds & {500_000, 500_001}
    # The rollout itself (physics, expert, rendered pixels) is exactly reproducible from its seed.
    runs = []
    for _ in range(2):
        with MetaWorldTask("reach-v3", tiny_sim.image_size, tiny_sim.camera, tiny_sim.max_steps) as env:
            runs.append(rollout(env, 0, tiny_sim.max_steps, tiny_sim.tail_steps))
    for key in ("images", "states", "actions"):
        np.testing.assert_array_equal(runs[0][key], runs[1][key])
    # The teleop dataset keeps the rendered frames exactly (lossless): what evaluation will show the policy.
    with MetaWorldTask("reach-v3", tiny_sim.image_size, tiny_sim.camera, tiny_sim.max_steps) as env:
        first = rollout(env, 500_000, tiny_sim.max_steps, tiny_sim.tail_steps)
    np.testing.assert_array_equal(episodes[0].images, first["images"])
    # A second run from scratch writes the same video. Compared decoded, not byte for byte: libx264 was
    # seen to code identical input frames differently in about 1 of 35 worker processes on a loaded
    # machine (a few pixels off by a few levels); a different seed is a different layout, far larger.
    again = generate(tiny_sim.__class__(**{**tiny_sim.__dict__, "video_episodes_per_task": 1,
                                           "teleop_episodes_per_task": 0}), tmp_path / "v", tmp_path / "t")
    assert again["videos"] == 1
    decode = lambda path: np.stack(list(iter_frames(str(path)))).astype(np.int16)  # noqa: E731
    a, b = decode(tmp_path / "v" / "reach-v3_0000000.mp4"), decode(root / "videos" / "reach-v3_0000000.mp4")
    other = decode(root / "videos" / "reach-v3_0000001.mp4")
    assert a.shape == b.shape
    n = min(len(a), len(other))
    same_seed, other_seed = np.abs(a - b).mean(), np.abs(a[:n] - other[:n]).mean()
    assert same_seed < 0.1 * other_seed, (same_seed, other_seed)


def test_rerun_reuses_finished_work(sim_corpus, tiny_sim):
    root, _ = sim_corpus
    before = {p.name: p.stat().st_mtime_ns for p in (root / "videos").glob("*.mp4")}
    generate(tiny_sim, root / "videos", root / "teleop")
    after = {p.name: p.stat().st_mtime_ns for p in (root / "videos").glob("*.mp4")}
    assert before == after


def test_bad_sim_settings_are_refused_by_name_before_any_worker_starts(tmp_path, capsys):
    import pytest

    from vla.cli.data import main
    from vla.data.sim import SimConfig

    with pytest.raises(ValueError, match=r"unknown MetaWorld task 'nope-v3'; known: \[.*'push-v3'"):
        SimConfig(tasks=("nope-v3",))
    with pytest.raises(ValueError, match=r"data.sim.image_size must be an integer >= 32, got 0"):
        SimConfig(image_size=0)
    with pytest.raises(ValueError, match=r"data.sim.tasks is empty"):
        SimConfig(tasks=())
    with pytest.raises(SystemExit) as exit_:
        main(["sim", f"paths.root={tmp_path}", "data.sim.workers=0"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "vla-data sim: data.sim.workers must be an integer >= 1, got 0\n"
    assert not (tmp_path / "sim").exists()  # nothing written


def test_an_unknown_camera_names_the_cameras_there_are():
    import pytest

    from vla.data.metaworld_env import MetaWorldTask

    with pytest.raises(ValueError, match=r"no camera 'nocam'; its cameras: \[.*'corner4'"):
        MetaWorldTask("reach-v3", 32, camera="nocam")


def test_a_rerun_with_other_settings_renders_again_instead_of_mixing(tmp_path, caplog):
    from dataclasses import replace

    from vla.data.sim import SimConfig
    from vla.data.video import iter_frames

    first = SimConfig(tasks=("reach-v3",), video_episodes_per_task=1, teleop_episodes_per_task=1, image_size=32,
                      max_steps=20, tail_steps=0, workers=1)
    generate(first, tmp_path / "videos", tmp_path / "teleop")
    generate(replace(first, video_episodes_per_task=2), tmp_path / "videos", tmp_path / "teleop")
    generate(replace(first, image_size=40), tmp_path / "videos", tmp_path / "teleop")
    # the second video (seed 1) is outside the last run: left at 32 px, and named
    assert "1 videos in" in caplog.text and "reach-v3_0000001" in caplog.text
    meta = json.loads((tmp_path / "videos" / "reach-v3_0000000.json").read_text())
    assert (meta["height"], meta["width"]) == (40, 40)
    assert next(iter_frames(str(tmp_path / "videos" / "reach-v3_0000000.mp4"))).shape == (40, 40, 3)
    assert tuple(open_dataset(tmp_path / "teleop").meta.features["observation.image"]["shape"][:2]) == (40, 40)


def test_the_workspace_view_shows_the_table_objects_larger_than_corner4():
    # The puck (red) and the goal (green) of push-v3 cover more pixels in the workspace view: the reason it exists.
    from vla.data.metaworld_env import MetaWorldTask

    def object_pixels(camera):
        with MetaWorldTask("push-v3", 64, camera=camera) as env:
            image = env.reset(1)["image"].astype(int)
        r, g, b = image[..., 0], image[..., 1], image[..., 2]
        return int(((g > 120) & (r < 100) & (b < 100)).sum())  # the green goal sphere

    assert object_pixels("workspace") > 2 * object_pixels("corner4") > 0


def test_the_corpus_video_keeps_the_colour_of_a_one_pixel_object(tmp_path):
    # push's goal is a 1-2 px green dot at 64 px; half-resolution chroma (4:2:0) averages it into the table.
    from vla.data.video import iter_frames, write_mp4

    frames = np.full((8, 64, 64, 3), (110, 80, 60), np.uint8)  # the table's brown
    frames[:, 30, 30] = (40, 200, 40)  # one green pixel
    write_mp4(tmp_path / "dot.mp4", frames, fps=80)
    r, g, b = np.stack(list(iter_frames(str(tmp_path / "dot.mp4"))))[:, 30, 30].astype(int).mean(0)
    assert g > r + 60 and g > b + 60


def test_an_episode_does_not_depend_on_the_episodes_run_before_it_in_the_same_env():
    """A sim worker reuses one env per task, and which episodes it ran before depends on scheduling: the same
    seed must give the same frames either way (the first frame once showed the previous episode's goal
    marker, so two `vla-data sim` runs wrote different push videos)."""
    from vla.data.metaworld_env import MetaWorldTask
    from vla.data.sim import rollout

    with MetaWorldTask("push-v3", 64, "corner4", 60) as fresh:
        alone = rollout(fresh, 6, 60, 2)
    with MetaWorldTask("push-v3", 64, "corner4", 60) as used:
        rollout(used, 0, 60, 2)
        after = rollout(used, 6, 60, 2)
    assert np.array_equal(np.stack(alone["images"]), np.stack(after["images"]))
    assert np.array_equal(np.stack(alone["states"]), np.stack(after["states"]))


def test_corner2_is_the_view_lerobot_eval_shows_pixel_for_pixel():
    """`lerobot-eval --env.type=metaworld` renders LeRobot's MetaworldEnv: a corpus made with camera=corner2 at
    480 px must be the same images and states, or a policy trained on it is evaluated on views it never saw."""
    from lerobot.envs.metaworld import MetaworldEnv

    from vla.data.metaworld_env import MetaWorldTask

    theirs = MetaworldEnv(task="push-v3", obs_type="pixels_agent_pos")
    with MetaWorldTask("push-v3", 480, "corner2") as ours:
        their_obs, our_obs = theirs.reset(seed=7)[0], ours.reset(7)
        # LeRobot's reset does not recompute positions (see the test above): its first frame shows the goal
        # marker where the env's previous layout had it, a few hundred pixels; every later frame is identical
        first_frame_differs = (our_obs["image"] != their_obs["pixels"]).any(-1).mean()
        assert 0 < first_frame_differs < 0.01
        for _ in range(3):
            action = ours.expert_action()
            their_obs, our_obs = theirs.step(action)[0], ours.step(action).obs
            assert np.array_equal(our_obs["image"], their_obs["pixels"])
            assert np.allclose(our_obs["state"], their_obs["agent_pos"], atol=1e-6)
    theirs.close()
