import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vla.data.ingest import IngestConfig, IngestError, ingest
from vla.data.store import FrameStore, StoreError


def test_ingest_writes_every_frame_with_attributes(sim_corpus, frame_store):
    root, _ = sim_corpus
    url, report = frame_store
    store = FrameStore(url)
    metas = {json.loads(line)["video_id"]: json.loads(line)
             for line in (root / "videos" / "manifest.jsonl").read_text().splitlines()}
    assert store.video_ids() == sorted(metas)
    for vid, m in metas.items():
        rgb = store.frames(vid)
        assert rgb.shape == (m["n_frames"], 32, 32, 3) and rgb.dtype == np.uint8
        a = store.attrs(vid)
        assert a["instruction"] == m["instruction"] and a["n_frames"] == m["n_frames"] and len(a["sha256"]) == 64
        assert rgb[:].std() > 5  # real rendered content, not zeros
    assert report["skipped"] == [] and report["frames"] == sum(m["n_frames"] for m in metas.values())
    assert json.loads(open(report["report"]).read())["videos"] == len(metas)


def _bad_inputs(sim_corpus, folder):
    root, _ = sim_corpus
    folder.mkdir()
    good = next((root / "videos").glob("*.mp4"))
    shutil.copy(good, folder / "good.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "random.webm").write_bytes(np.random.default_rng(0).bytes(4096))
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    return folder


def copies_of_the_videos(root, folder, n: int):
    """`folder` holding n copies of every sim video (<stem>_<i>.mp4): a corpus large enough to stop mid-run."""
    folder.mkdir()
    for i in range(n):
        for src in (root / "videos").glob("*.mp4"):
            shutil.copy(src, folder / f"{src.stem}_{i}.mp4")
    return folder


def test_bad_inputs_are_skipped_and_reported(sim_corpus, tmp_path):
    folder = _bad_inputs(sim_corpus, tmp_path / "in")
    url = str(tmp_path / "s.zarr")
    report = ingest([str(folder), str(tmp_path / "missing.mp4")], url,
                    IngestConfig(image_size=32, min_frames=8, workers=1))
    reasons = {os.path.basename(s["source"]): s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"empty.mp4", "random.webm", "truncated.mp4", "missing.mp4"}
    assert reasons["empty.mp4"] == "empty file" and reasons["missing.mp4"] == "file not found"
    assert FrameStore(url).video_ids() == ["good"]
    assert FrameStore(url).entries() == ["good"]  # nothing half-written left behind


def test_inputs_with_nothing_to_ingest_are_an_error_not_an_empty_store(sim_corpus, tmp_path):
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(IngestError, match="no videos found"):
        ingest(str(tmp_path / "empty_folder"), str(tmp_path / "a.zarr"), IngestConfig(workers=1))
    with pytest.raises(IngestError, match=r"input folder not found: .*nowhere"):
        ingest(str(tmp_path / "nowhere"), str(tmp_path / "b.zarr"), IngestConfig(workers=1))
    (tmp_path / "only_bad").mkdir()
    (tmp_path / "only_bad" / "empty.mp4").write_bytes(b"")
    with pytest.raises(IngestError, match=r"no input could be ingested.*empty.mp4: empty file"):
        ingest(str(tmp_path / "only_bad"), str(tmp_path / "b.zarr"), IngestConfig(workers=1))
    root, _ = sim_corpus  # the same store again, all of it already in: not an error
    url = str(tmp_path / "c.zarr")
    ingest(str(root / "videos"), url, IngestConfig(image_size=32, min_frames=8, workers=1))
    assert ingest(str(root / "videos"), url, IngestConfig(image_size=32, min_frames=8, workers=1))["ingested_this_run"] == []


def test_too_short_video_is_skipped(sim_corpus, tmp_path):
    root, _ = sim_corpus
    url = str(tmp_path / "s.zarr")
    good = str(next((root / "videos").glob("*.mp4")))
    with pytest.raises(IngestError, match="need at least 10000"):  # nothing ingested at all: an error
        ingest(good, url, IngestConfig(image_size=32, min_frames=10_000, workers=1))
    report = json.loads(Path(url + ".ingest_report.json").read_text())  # and the report is still written
    assert "need at least 10000" in report["skipped"][0]["reason"]
    assert FrameStore(url).entries() == []


def test_bad_ingest_settings_are_refused_once_by_name():
    with pytest.raises(ValueError, match=r"data.ingest.decode_threads must be an integer >= 0, got -1"):
        IngestConfig(decode_threads=-1)
    with pytest.raises(ValueError, match=r"data.ingest.chunk_frames must be an integer >= 1, got 0"):
        IngestConfig(chunk_frames=0)


def test_a_bad_ingest_setting_on_the_command_line_is_one_line_naming_it(tmp_path, capsys):
    from vla.cli.data import main

    store = tmp_path / "s.zarr"
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", f"data.ingest.inputs={tmp_path}", f"data.ingest.store={store}", "data.ingest.workers=0"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "vla-data ingest: data.ingest.workers must be an integer >= 1, got 0\n"
    assert not store.exists()  # refused before anything was written


def test_decoder_threading_does_not_change_the_frames(sim_corpus):
    from vla.data.video import iter_frames

    root, _ = sim_corpus
    path = str(next((root / "videos").glob("*.mp4")))
    single = np.stack(list(iter_frames(path, 32)))
    np.testing.assert_array_equal(np.stack(list(iter_frames(path, 32, threads=0))), single)
    np.testing.assert_array_equal(np.stack(list(iter_frames(path, 32, threads=2))), single)
    assert len(single) > 8


def test_a_failed_write_skips_that_video_and_the_next_is_still_written(sim_corpus, tmp_path):
    # Each video's last writes overlap the next one's decode: a write that fails there must still be
    # reported against its own video, leave nothing of it behind, and not stop the stream.
    from vla.data.ingest import _ingest_stream, find_sources

    root, _ = sim_corpus
    sources = find_sources(str(root / "videos"))[:3]
    url = tmp_path / "s.zarr"
    store = FrameStore(str(url), mode="a")
    (url / sources[1].video_id / "rgb" / "c.0.0.0.0").mkdir(parents=True)  # its first chunk cannot be written
    results = list(_ingest_stream(store, sources, IngestConfig(image_size=32, chunk_frames=16, workers=1)))
    assert [r[0].video_id for r in results] == [s.video_id for s in sources]
    assert [r[2] is None for r in results] == [True, False, True]
    assert "IsADirectoryError" in results[1][2]
    assert FrameStore(str(url)).video_ids() == sorted([sources[0].video_id, sources[2].video_id])
    assert FrameStore(str(url)).entries() == FrameStore(str(url)).video_ids()  # the failed one is gone


def test_fail_fast_stops_on_first_bad_input(sim_corpus, tmp_path):
    folder = _bad_inputs(sim_corpus, tmp_path / "in")
    with pytest.raises(IngestError, match="fail_fast"):
        ingest(str(folder), str(tmp_path / "s.zarr"), IngestConfig(image_size=32, workers=1, fail_fast=True))


def test_worker_processes_write_what_one_process_writes(sim_corpus, frame_store, tmp_path):
    """Two worker processes, several write blocks per video, bad inputs among the good ones."""
    root, _ = sim_corpus
    folder = _bad_inputs(sim_corpus, tmp_path / "in")
    (folder / "good.mp4").unlink()
    for f in (root / "videos").glob("*.mp4"):
        shutil.copy(f, folder / f.name)
    url = str(tmp_path / "s.zarr")
    report = ingest(str(folder), url, IngestConfig(image_size=32, chunk_frames=4, workers=2))
    assert sorted(os.path.basename(s["source"]) for s in report["skipped"]) == ["empty.mp4", "random.webm",
                                                                                 "truncated.mp4"]
    one, two = FrameStore(frame_store[0]), FrameStore(url)
    assert two.entries() == two.video_ids() == one.video_ids()
    for vid in one.video_ids():
        np.testing.assert_array_equal(two.frames(vid)[:], one.frames(vid)[:])


def test_missing_store_and_array_errors_name_them(frame_store, tmp_path):
    with pytest.raises(StoreError, match="not found"):
        FrameStore(str(tmp_path / "nope.zarr"))
    url, _ = frame_store
    vid = FrameStore(url).video_ids()[0]
    with pytest.raises(StoreError, match=f"latent_actions.*{vid}"):
        FrameStore(url).read_array(vid, "latent_actions")


def test_resume_after_sigkill_matches_uninterrupted_run(sim_corpus, frame_store, tmp_path):
    root, _ = sim_corpus
    many = copies_of_the_videos(root, tmp_path / "many", 12)  # enough work that the kill lands mid-run
    url = str(tmp_path / "killed.zarr")
    code = (f"from vla.data.ingest import IngestConfig, ingest; "
            f"ingest({str(many)!r}, {url!r}, IngestConfig(image_size=32, chunk_frames=4, workers=1))")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once some, but not all, videos are done
        # Read the completion marks straight from the group metadata: opening the store is too slow
        # a poll on a loaded machine, and the run could finish between two polls.
        n = sum('"complete": true' in p.read_text() for p in Path(url).glob("*/zarr.json"))
        if n >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = FrameStore(url).video_ids()
    assert 0 < len(partial) < 36
    report = ingest(str(many), url, IngestConfig(image_size=32, chunk_frames=4, workers=1))
    assert set(report["ingested_this_run"]) == {p.stem for p in many.glob("*.mp4")} - set(partial)
    reference = str(tmp_path / "clean.zarr")
    ingest(str(many), reference, IngestConfig(image_size=32, chunk_frames=4, workers=1))
    a, b = FrameStore(url), FrameStore(reference)
    assert a.video_ids() == b.video_ids() and len(a.video_ids()) == 36
    for vid in a.video_ids():
        np.testing.assert_array_equal(a.frames(vid)[:], b.frames(vid)[:])


def test_a_worker_killed_mid_run_fails_the_run_and_a_rerun_finishes(sim_corpus, tmp_path):
    """A dead worker (OOM killer, decoder crash) must end the run with a message, not hang it."""
    import psutil

    root, _ = sim_corpus
    many = copies_of_the_videos(root, tmp_path / "many", 40)
    url = str(tmp_path / "s.zarr")
    args = [f"data.ingest.inputs={many}", f"data.ingest.store={url}", "data.ingest.workers=2",
            "data.ingest.image_size=32", "data.ingest.chunk_frames=4"]
    proc = subprocess.Popen([sys.executable, "-m", "vla.cli.data", "ingest", *args], stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(Path(url).glob("*/zarr.json")):  # workers are writing
            time.sleep(0.05)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "spawn_main" in " ".join(p.cmdline())]
        assert workers, "no worker processes found"
        workers[0].kill()
        _, err = proc.communicate(timeout=120)  # before: multiprocessing.Pool waited forever here
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "worker process died" in err and "Traceback" not in err, err[-2000:]
    done = FrameStore(url).video_ids()
    assert len(done) < 120
    report = ingest(str(many), url, IngestConfig(image_size=32, chunk_frames=4, workers=1))
    assert set(report["ingested_this_run"]) == {p.stem for p in many.glob("*.mp4")} - set(done)
    store = FrameStore(url)
    assert store.entries() == store.video_ids() and len(store.video_ids()) == 120


def _lerobot_frames(root):
    from vla.data.lerobot_io import open_dataset

    ds = open_dataset(root)
    key = ds.meta.camera_keys[0]
    episodes = np.asarray(ds.hf_dataset.with_format(None)["episode_index"])
    return {ep: np.stack([(ds[int(i)][key].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                          for i in np.flatnonzero(episodes == ep)]) for ep in np.unique(episodes)}, ds.meta


def test_a_lerobot_dataset_becomes_action_free_video(sim_corpus, tmp_path):
    root, _ = sim_corpus
    url = str(tmp_path / "lr.zarr")
    report = ingest(str(root / "teleop"), url, IngestConfig(image_size=32, workers=2))
    frames, meta = _lerobot_frames(root / "teleop")
    store = FrameStore(url)
    assert report["skipped"] == [] and store.video_ids() == [f"teleop_ep{ep:06d}" for ep in sorted(frames)]
    for ep, expected in frames.items():
        vid = f"teleop_ep{ep:06d}"
        np.testing.assert_array_equal(store.frames(vid)[:], expected)
        a = store.attrs(vid)
        assert a["instruction"] == meta.episodes[int(ep)]["tasks"][0] and a["source"].endswith(f"#episode={ep}")
        assert a["fps"] == meta.fps
        assert not any("action" in name for name in store.root[vid].array_keys())


def test_a_hub_id_is_read_from_the_lerobot_cache_and_an_unknown_one_is_reported(sim_corpus, tmp_path):
    """What a user online gets after LeRobot's download: the dataset under HF_LEROBOT_HOME/<owner>/<name>.
    Offline here, so the copy is made by hand; the real hub-id code path then runs in a fresh process."""
    root, _ = sim_corpus
    home = tmp_path / "lerobot_home"
    shutil.copytree(root / "teleop", home / "someone" / "sim_teleop")
    url = str(tmp_path / "hub.zarr")
    code = (f"from vla.data.ingest import IngestConfig, ingest; "
            f"ingest(['someone/sim_teleop', 'nobody/no_such_dataset'], {url!r}, IngestConfig(image_size=32, workers=1))")
    env = {**os.environ, "HF_LEROBOT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    frames, _ = _lerobot_frames(root / "teleop")
    store = FrameStore(url)
    assert store.video_ids() == [f"sim_teleop_ep{ep:06d}" for ep in sorted(frames)]
    for ep, expected in frames.items():
        np.testing.assert_array_equal(store.frames(f"sim_teleop_ep{ep:06d}")[:], expected)
    report = json.loads(Path(url + ".ingest_report.json").read_text())
    assert [(s["source"], s["reason"]) for s in report["skipped"]] == [("nobody/no_such_dataset", "file not found")]


@pytest.mark.parametrize("scheme,workers", [("file://", 2), ("memory://", 1)])
def test_store_urls_go_through_fsspec(sim_corpus, frame_store, tmp_path, scheme, workers):
    """A URL store (s3://... for users; file:// and memory:// here) holds the same frames as a local
    path, and the report lands beside it."""
    import fsspec

    root, _ = sim_corpus
    url = f"{scheme}{tmp_path}/remote.zarr" if scheme == "file://" else f"memory://{tmp_path.name}/remote.zarr"
    report = ingest(str(root / "videos"), url, IngestConfig(image_size=32, min_frames=8, workers=workers))
    local, remote = FrameStore(frame_store[0]), FrameStore(url)
    assert remote.video_ids() == local.video_ids() and report["videos"] == len(local.video_ids())
    for vid in local.video_ids():
        np.testing.assert_array_equal(remote.frames(vid)[:], local.frames(vid)[:])
    with fsspec.open(report["report"]) as f:
        assert json.load(f)["frames"] == report["frames"] > 0
    assert remote.summary()["bytes_on_disk"] > 0


def test_worker_jobs_cover_every_source_once_in_order_with_jobs_to_spare():
    from vla.data.ingest import Source, _batches

    for n, workers in [(1, 2), (7, 2), (120, 2), (1000, 4)]:
        sources = [Source(f"v{i}", f"v{i}.mp4") for i in range(n)]
        jobs = _batches(sources, workers)
        assert [s for job in jobs for s in job] == sources
        assert max(len(job) for job in jobs) <= 16
        assert len(jobs) >= min(n, 4 * workers)  # every worker gets several jobs when there are enough videos
