"""`vla-data ingest`: decode each video once into the zarr frame store.

Inputs: a folder or glob of video files, or a LeRobot dataset (local root, or hub id
when online) whose camera video becomes action-free video (actions are not copied).
Inputs may be fsspec URLs too (s3://, gs://, file://). Each video is decoded in a worker process (engine=local)
or a Ray Data actor (engine=ray, on a local Ray or an existing cluster) and written to its own group; the group
counts only when its completion mark is written, so after a kill a re-run redoes
exactly the unfinished videos. A bad input is skipped and named in the report
(`<store>.ingest_report.json`), unless `fail_fast` is set.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
from tqdm import tqdm

from vla.core.checkpoint import file_sha256
from vla.data.store import FrameStore, VideoWriter
from vla.data.video import VideoReader
from vla.data.workers import ray_session, ray_unordered, spawn_pool, unordered

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov")
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")   # owner/name: a hub dataset, when no such local path exists


@dataclass
class IngestConfig:
    image_size: int = 64
    chunk_frames: int = 64  # frames per compressed chunk: ~0.8 MB raw at 64 px; fewer, larger writes and reads
    min_frames: int = 8  # shorter videos cannot give a frame pair at the largest gap
    workers: int = 2
    decode_threads: int = 1  # per video; 1 = in the worker's own thread (see VideoReader), 0 = FFmpeg picks
    fail_fast: bool = False
    engine: str = "local"  # "local": worker processes here; "ray": Ray Data actors (workers of them)
    ray_address: str | None = None  # engine=ray: an existing cluster ("auto", "ray://head:10001"); None = local Ray

    def __post_init__(self):
        if self.engine not in ("local", "ray"):
            raise ValueError(f"engine must be 'local' or 'ray', got {self.engine!r}")
        # Checked once here: a bad value found per video would skip every video with the same reason.
        for name, low in (("image_size", 1), ("chunk_frames", 1), ("min_frames", 1), ("workers", 1), ("decode_threads", 0)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ValueError(f"data.ingest.{name} must be an integer >= {low}, got {getattr(self, name)!r}")


class IngestError(RuntimeError):
    pass


@dataclass
class Source:
    video_id: str
    path: str  # a video file, or a LeRobot dataset root for kind == "lerobot"
    kind: str = "file"  # "file" | "lerobot"
    episode: int = -1
    instruction: str = ""
    task: str = ""


def find_sources(inputs: str | list[str]) -> list[Source]:
    """Video files from folders/globs (with instructions from a sim manifest when there is one), or every
    episode of a LeRobot dataset given by its root (a folder with meta/info.json) or by a hub id
    (owner/name, when no such path exists). A hub id that cannot be opened is a missing input."""
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    sources: list[Source] = []
    for spec in inputs:
        if "://" in spec:
            sources += url_sources(spec)
            continue
        p = Path(spec)
        if (p / "meta" / "info.json").is_file():
            sources += lerobot_sources(str(p))
            continue
        if not p.exists() and HUB_ID.fullmatch(spec) and p.suffix.lower() not in VIDEO_EXTENSIONS:
            try:
                sources += lerobot_sources(None, repo_id=spec)
                continue
            except IngestError as e:  # then it is a missing path: skipped and reported like any other
                log.warning("%s", e)
        is_glob = any(c in spec for c in "*?[")
        if not (p.exists() or is_glob or HUB_ID.fullmatch(spec) or p.suffix.lower() in VIDEO_EXTENSIONS):
            raise IngestError(f"input folder not found: {spec}")  # a wrong path, not one missing video
        files = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in VIDEO_EXTENSIONS) if p.is_dir() \
            else sorted(glob.glob(spec)) if is_glob else [spec]
        manifest = {}
        for folder in {Path(f).parent for f in files}:
            mpath = folder / "manifest.jsonl"
            if mpath.is_file():
                for line in mpath.read_text().splitlines():
                    m = json.loads(line)
                    manifest[str(folder / m["file"])] = m
        for f in files:
            m = manifest.get(f, {})
            sources.append(Source(Path(f).stem, f, instruction=m.get("instruction", ""), task=m.get("task", "")))
    ids = [s.video_id for s in sources]
    if len(set(ids)) != len(ids):
        raise IngestError("two inputs map to the same video id: " + ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    return sources


def url_sources(url: str) -> list[Source]:
    """Video files under an fsspec URL (s3://bucket/videos/, gs://..., file:///...): a folder or a glob. Each
    worker copies its video to local disk to decode it; instructions come from a manifest.jsonl beside them."""
    fs, path = fsspec.core.url_to_fs(url)
    if any(c in path for c in "*?["):
        found = fs.glob(path)
    elif fs.isdir(path):
        found = fs.ls(path, detail=False)
    elif fs.exists(path):
        found = [path]
    else:
        raise IngestError(f"input folder not found: {url}")
    files = sorted(f for f in found if Path(f).suffix.lower() in VIDEO_EXTENSIONS)
    manifest = {}
    for folder in {str(Path(f).parent) for f in files}:
        if fs.isfile(f"{folder}/manifest.jsonl"):
            for line in fs.cat_file(f"{folder}/manifest.jsonl").decode().splitlines():
                m = json.loads(line)
                manifest[f"{folder}/{m['file']}"] = m
    return [Source(Path(f).stem, fs.unstrip_protocol(f), instruction=manifest.get(f, {}).get("instruction", ""),
                   task=manifest.get(f, {}).get("task", "")) for f in files]


@contextlib.contextmanager
def _local_file(path: str):
    """A video's local path: the path itself, or a temporary copy of a URL's file (PyAV decodes local files)."""
    if "://" not in path:
        yield path
        return
    import tempfile

    fs, remote = fsspec.core.url_to_fs(path)
    if not fs.exists(remote):
        raise IngestError("file not found")
    with tempfile.TemporaryDirectory(prefix="vla_ingest_") as tmp:
        local = str(Path(tmp) / Path(remote).name)
        fs.get_file(remote, local)
        yield local


def lerobot_sources(root: str | None, repo_id: str | None = None) -> list[Source]:
    """Every episode of a LeRobot dataset: a local root, or (root None) a hub id, which LeRobot fetches
    into its cache (HF_LEROBOT_HOME) or finds there; the workers then read that local copy."""
    from vla.data.lerobot_io import open_dataset

    try:
        meta = open_dataset(root, repo_id).meta
    except Exception as e:
        if root is not None:
            raise
        raise IngestError(f"{repo_id!r} is not a local path, and LeRobot could not open it as a hub dataset "
                          f"(offline, or no such dataset?): {type(e).__name__}: {e}") from e
    root = str(meta.root)
    out = []
    for ep in range(meta.total_episodes):
        tasks = meta.episodes[ep]["tasks"]
        out.append(Source(f"{Path(root).name}_ep{ep:06d}", root, "lerobot", ep, tasks[0] if tasks else ""))
    return out


def _lerobot_frames(src: Source, size: int):
    import torch.nn.functional as F

    from vla.data.lerobot_io import open_dataset

    ds = open_dataset(src.path, episodes=[src.episode])
    key = ds.meta.camera_keys[0]
    for i in range(len(ds)):
        img = ds[i][key]  # (C,H,W) float in [0,1]
        if tuple(img.shape[-2:]) != (size, size):
            img = F.interpolate(img[None], size=(size, size), mode="area")[0]
        yield (img.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def _start_one(store: FrameStore, src: Source, cfg: IngestConfig) -> tuple[dict, VideoWriter]:
    """Decode one source into its group (ingest() has removed any earlier entry) and hand its last writes
    to the writer thread: (attrs, writer), the writer still to be waited on. Raises with the reason."""
    if src.kind == "file":
        with _local_file(src.path) as local:
            path = Path(local)
            if not path.exists():
                raise IngestError("file not found")
            if not path.is_file() or path.stat().st_size == 0:
                raise IngestError("empty file" if path.is_file() else "not a file")
            try:
                with VideoReader(local, cfg.image_size, cfg.decode_threads) as video:  # one open: fps and frames
                    return _write_video(store, src, cfg, video, video.fps, file_sha256(local))
            except Exception as e:
                if local == src.path:
                    raise
                raise IngestError(_reason(e).replace(local, src.path)) from e  # name the URL, not the copy
    path = Path(src.path)
    if not path.exists():
        raise IngestError("file not found")
    from vla.data.lerobot_io import open_dataset

    meta = open_dataset(src.path).meta
    digest = hashlib.sha256(f"{path.resolve()}#{src.episode}".encode()).hexdigest()
    return _write_video(store, src, cfg, _lerobot_frames(src, cfg.image_size), float(meta.fps), digest)


def _write_video(store: FrameStore, src: Source, cfg: IngestConfig, frames, fps: float,
                 digest: str) -> tuple[dict, VideoWriter]:
    # No entry of this id exists: ingest() removed what a killed run left before starting the workers.
    writer = store.begin_video(src.video_id, cfg.image_size, cfg.image_size, cfg.chunk_frames, replace=False)
    try:
        for frame in frames:  # the frame count is the decoder's, not the container's (often off)
            writer.append(frame)
        if writer.n_frames < cfg.min_frames:
            raise IngestError(f"only {writer.n_frames} frames decoded, need at least {cfg.min_frames}")
        attrs = {"fps": fps, "source": str(src.path) + (f"#episode={src.episode}" if src.kind == "lerobot" else ""),
                 "sha256": digest, "n_frames": writer.n_frames, "height": cfg.image_size, "width": cfg.image_size,
                 "instruction": src.instruction, "task": src.task}
        writer.finish(attrs, wait=False)
    except Exception:
        writer.discard()
        raise
    return attrs, writer


def _reason(e: Exception) -> str:
    return str(e) if isinstance(e, IngestError) else f"{type(e).__name__}: {e}"


def _ingest_stream(store: FrameStore, sources: list[Source], cfg: IngestConfig):
    """Ingest sources one after another in this process, yielding, in order, (source, attrs, None) for
    each video written or (source, None, reason) for each skipped. A video's last chunk and completion
    mark are written on the store's writer thread while the next video decodes, so each is yielded
    once the next has been decoded (or the stream ends): only then is it known to be in the store."""
    in_flight = None  # (source, attrs, writer) of the video whose last writes are on the writer thread

    def settle(src, attrs, writer):
        try:
            writer.wait()
        except Exception as e:  # a failed write skips this video, not the run
            writer.discard()
            return src, None, _reason(e)
        return src, attrs, None

    try:
        for src in sources:
            try:
                started, skipped = (src, *_start_one(store, src, cfg)), None
            except Exception as e:  # any decoder failure is a reason to skip this file, not to stop the run
                started, skipped = None, (src, None, _reason(e))
            previous, in_flight = in_flight, started
            if previous is not None:
                yield settle(*previous)
            if skipped is not None:
                yield skipped
        if in_flight is not None:
            last, in_flight = in_flight, None
            yield settle(*last)
    finally:  # the consumer stopped early (fail_fast): the video in flight is finished, not abandoned
        if in_flight is not None:
            settle(*in_flight)


_run_store: FrameStore | None = None  # a worker process's handle on the store of the current run


def _open_run_store(url: str) -> None:
    global _run_store  # opened once per worker process, not once per video
    _run_store = FrameStore(url, mode="a")


def _work(job: tuple) -> list[tuple[Source, dict | None, str | None]]:
    sources, cfg = job
    # Ray runs a job again from its start when the worker running it died: a video the first attempt committed
    # is kept as it is (committed once), one it left half-written is removed and written again.
    committed = [s for s in sources if _run_store.is_complete(s.video_id)]
    todo = [s for s in sources if s not in committed]
    for src in todo:
        _run_store.delete_video(src.video_id)
    return [(s, _run_store.attrs(s.video_id), None) for s in committed] + list(_ingest_stream(_run_store, todo, cfg))


def _batches(sources: list[Source], workers: int) -> list[list[Source]]:
    """A worker's job is a few videos, so that writing one overlaps decoding the next (`_ingest_stream`);
    about four jobs per worker keep the load balanced, and at most 16 videos per job keep progress
    and a killed run's lost work small."""
    size = max(1, min(16, len(sources) // (4 * workers)))
    return [sources[i:i + size] for i in range(0, len(sources), size)]


@contextlib.contextmanager
def _results(todo: list[Source], store: FrameStore, cfg: IngestConfig):
    """(source, attrs, reason) of every video to do, as each finishes: on Ray actors (engine=ray), in worker
    processes when there is parallel work to do, else in this process (no start-up cost)."""
    jobs = [(batch, cfg) for batch in _batches(todo, cfg.workers)]
    if not todo:
        yield iter(())
        return
    if cfg.engine == "ray":
        with ray_session(cfg.ray_address):
            yield (r for batch in ray_unordered(_work, jobs, "ingest", cfg.workers, _open_run_store, (store.url,))
                   for r in batch)
        return
    if cfg.workers <= 1 or len(todo) <= 1:
        yield _ingest_stream(store, todo, cfg)
        return
    pool = spawn_pool(min(cfg.workers, len(jobs)), initializer=_open_run_store, initargs=(store.url,))
    try:
        yield (r for batch in unordered(pool, _work, jobs, "ingest") for r in batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a stopped run waits only for the videos in flight


def ingest(inputs: str | list[str], store_url: str, cfg: IngestConfig) -> dict:
    sources = find_sources(inputs)
    if not sources:
        raise IngestError(f"no videos found in {inputs} (a folder of {'/'.join(sorted(VIDEO_EXTENSIONS))} "
                          "files, a glob, a LeRobot dataset root or a hub id)")
    store = FrameStore(store_url, mode="a")
    complete = set(store.video_ids())  # one listing, not two metadata reads per source
    todo = [s for s in sources if s.video_id not in complete]
    for vid in set(store.entries()) & {s.video_id for s in todo}:  # what a killed run left half-written
        store.delete_video(vid)
    log.info("ingest: %d inputs, %d already in %s, %d to do", len(sources), len(sources) - len(todo), store_url, len(todo))
    skipped, done = [], []
    with _results(todo, store, cfg) as results:
        for src, attrs, err in tqdm(results, total=len(todo), desc="ingest", unit="video"):
            if err is None:
                done.append(src.video_id)
                continue
            log.warning("skipped %s: %s", src.path, err)
            skipped.append({"source": src.path, "video_id": src.video_id, "reason": err})
            if cfg.fail_fast:
                raise IngestError(f"ingest stopped (fail_fast) at {src.path}: {err}")
    summary = store.summary()
    report = {**summary, "ingested_this_run": sorted(done), "skipped": skipped}
    report_url = str(store_url).rstrip("/") + ".ingest_report.json"   # beside the store, local or remote
    with fsspec.open(report_url, "w") as f:
        f.write(json.dumps(report, indent=2))
    report["report"] = report_url
    if skipped and not done and not complete:  # a wrong path, not a few bad files: say so, do not exit 0
        raise IngestError(f"no input could be ingested from {inputs}: {skipped[0]['source']}: "
                          f"{skipped[0]['reason']} ({len(skipped)} skipped; {report_url})")
    return report


def format_summary(s: dict) -> str:
    lines = [f"store:        {s['store']}",
             f"videos:       {s['videos']}" + (f" ({s['incomplete_groups']} incomplete)" if s.get("incomplete_groups") else ""),
             f"frames:       {s['frames']}",
             f"hours:        {s['hours']:.4f}",
             f"bytes on disk {s['bytes_on_disk'] / 1e6:.2f} MB (raw {s['raw_bytes'] / 1e6:.2f} MB, "
             f"compression {s['compression_ratio']:.1f}x)"]
    for sk in s.get("skipped", []):
        lines.append(f"skipped:      {sk['source']}: {sk['reason']}")
    return "\n".join(lines)
