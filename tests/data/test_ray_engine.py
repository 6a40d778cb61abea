"""engine=ray: ingest on Ray Data actors (a real local Ray) writes the store and the bad-input report the local
engine writes, from fsspec URLs too; a Ray worker killed mid-run loses no committed video and the store completes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from test_ingest import _bad_inputs, copies_of_the_videos

from vla.data.ingest import IngestConfig, ingest
from vla.data.store import FrameStore


def _skipped(report: dict) -> list[tuple[str, str]]:
    """(file, reason) per skipped input; a reason names its input as given (URL or path), never a local copy."""
    return sorted((os.path.basename(s["source"]), s["reason"].replace("file://", "")) for s in report["skipped"])


def test_ray_ingest_from_a_url_writes_what_the_local_engine_writes(local_ray, sim_corpus, tmp_path):
    root, _ = sim_corpus
    folder = _bad_inputs(sim_corpus, tmp_path / "in")
    (folder / "good.mp4").unlink()
    for f in (root / "videos").glob("*"):  # the videos and the manifest with their instructions
        shutil.copy(f, folder / f.name)
    cfg = dict(image_size=32, chunk_frames=4, workers=2)
    local_report = ingest(str(folder), str(tmp_path / "local.zarr"), IngestConfig(**cfg))
    ray_report = ingest(f"file://{folder}", str(tmp_path / "ray.zarr"), IngestConfig(**cfg, engine="ray"))
    assert _skipped(ray_report) == _skipped(local_report) and len(ray_report["skipped"]) == 3
    local, remote = FrameStore(tmp_path / "local.zarr"), FrameStore(tmp_path / "ray.zarr")
    assert remote.entries() == remote.video_ids() == local.video_ids() and len(local.video_ids()) == 3
    for vid in local.video_ids():
        np.testing.assert_array_equal(remote.frames(vid)[:], local.frames(vid)[:])
        a, b = local.attrs(vid), remote.attrs(vid)
        assert b["source"] == f"file://{folder}/{vid}.mp4" and a["instruction"]
        assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}


def _ray_workers(pid: int) -> list:
    import psutil

    return [p for p in psutil.Process(pid).children(recursive=True) if "_RayActor" in " ".join(p.cmdline())]


def test_a_ray_worker_killed_mid_run_loses_no_committed_video_and_the_store_completes(sim_corpus, tmp_path):
    """The run starts its own local Ray (no session open in its process); one of its actors is SIGKILLed while
    videos are being written. Ray retries that job on another actor, or the run stops with one line: either
    way every video committed before the kill is untouched, and (after a re-run if needed) the store is whole."""
    root, _ = sim_corpus
    many = copies_of_the_videos(root, tmp_path / "many", 10)
    url = str(tmp_path / "s.zarr")
    args = [f"data.ingest.inputs={many}", f"data.ingest.store={url}", "data.ingest.workers=2", "engine=ray",
            "data.ingest.image_size=32", "data.ingest.chunk_frames=4"]
    proc = subprocess.Popen([sys.executable, "-m", "vla.cli.data", "ingest", *args], stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not any('"complete": true' in p.read_text()
                                                 for p in Path(url).glob("*/zarr.json")):
            time.sleep(0.05)
        committed = {p.parent.name: p.stat().st_mtime_ns for p in Path(url).glob("*/zarr.json")
                     if '"complete": true' in p.read_text()}
        workers = _ray_workers(proc.pid)
        assert committed and workers, "no video committed, or no Ray worker found, before the kill"
        workers[0].kill()
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0 or ("job failed on Ray" in err and "Traceback" not in err), err[-2000:]
    for vid, mtime in committed.items():  # committed once: never rewritten by a retried job
        assert (Path(url) / vid / "zarr.json").stat().st_mtime_ns == mtime, vid
    if proc.returncode == 0:  # the retried job found its committed videos done, not "already exists"
        assert json.loads(Path(url + ".ingest_report.json").read_text())["skipped"] == []
    else:
        ingest(str(many), url, IngestConfig(image_size=32, chunk_frames=4, workers=1))
    store, reference = FrameStore(url), FrameStore(_reference(root, tmp_path))
    assert store.entries() == store.video_ids() and len(store.video_ids()) == 30
    for vid in store.video_ids():
        np.testing.assert_array_equal(store.frames(vid)[:], reference.frames(vid.rsplit("_", 1)[0])[:])


def _reference(root: Path, tmp_path: Path) -> str:
    url = str(tmp_path / "reference.zarr")
    ingest(str(root / "videos"), url, IngestConfig(image_size=32, chunk_frames=4, workers=1))
    return url


def test_a_job_run_again_keeps_what_it_committed_and_redoes_what_it_left_half_written(sim_corpus, tmp_path):
    """What Ray does after a worker died: the job runs again from its start. Its committed video is reported
    done and not rewritten; the video it left half-written (chunks, no completion mark) is written again."""
    import vla.data.ingest as ingest_module
    from vla.data.ingest import _work, find_sources

    root, _ = sim_corpus
    sources = find_sources(str(root / "videos"))[:2]
    url = str(tmp_path / "s.zarr")
    cfg = IngestConfig(image_size=32, chunk_frames=4, workers=1)
    ingest_module._open_run_store(url)
    first = _work(([sources[0]], cfg))
    assert first[0][2] is None
    committed = (Path(url) / sources[0].video_id / "zarr.json").stat().st_mtime_ns
    half = FrameStore(url, mode="a").begin_video(sources[1].video_id, 32, 32, chunk_frames=4)
    half.write(np.zeros((5, 32, 32, 3), np.uint8))
    half.wait()  # a chunk on disk, never finished: the worker died here
    again = _work((sources, cfg))
    assert [(s.video_id, err) for s, _, err in again] == [(s.video_id, None) for s in sources]
    assert (Path(url) / sources[0].video_id / "zarr.json").stat().st_mtime_ns == committed
    store = FrameStore(url)
    assert store.video_ids() == sorted(s.video_id for s in sources)
    assert store.frames(sources[1].video_id).shape[0] == store.attrs(sources[1].video_id)["n_frames"] > 5
