"""The frame store: decoded video frames (and their labels) in one zarr v3 group.

    <store>/<video_id>/rgb              T×H×W×3 uint8, chunked over time
    <store>/<video_id>/latent_actions   (T-k)×n_tokens int, written by `vla-lam label`
    <store>/<video_id>/idm_actions      (T-1)×action_dim float32, written by `vla-idm label`

A video (or an extra array) counts only once its completion mark is in the group's
attributes; the mark is written last, so a run killed half-way leaves an unmarked
group (or, mid-video, chunks with no group document yet) that readers ignore and
writers redo. Paths go through fsspec (zarr's store
URLs), so `s3://bucket/frames.zarr` works the same as a local directory.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import zarr
from numcodecs import Blosc
from zarr.codecs import BloscCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.group import GroupMetadata
from zarr.core.sync import sync
from zarr.errors import ZarrUserWarning
from zarr.storage import LocalStore

try:
    from zarr.abc.store import _store_supports_sync_io
except ImportError:  # zarr < 3.4: every write goes through the event loop
    _store_supports_sync_io = None

log = logging.getLogger(__name__)

COMPLETE = "complete"  # group attribute: the video's frames are fully written
ARRAYS_DONE = "arrays_complete"  # group attribute: names of extra arrays fully written


class StoreError(RuntimeError):
    """A store, video or array is missing or not what it should be."""


_BLOSC = {"cname": "lz4", "clevel": 7, "shuffle": "noshuffle"}


# _BLOSC as a numcodecs Blosc: VideoWriter encodes chunks with it, as zarr's BloscCodec would.
_CHUNK_CODEC = Blosc(cname=_BLOSC["cname"], clevel=_BLOSC["clevel"],
                     shuffle={"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE,
                              "bitshuffle": Blosc.BITSHUFFLE}[_BLOSC["shuffle"]])


def _compressor():
    # lz4 inside blosc, measured on 64-frame chunks of 64 px rendered frames (one thread, as zarr runs it):
    # ~2.8x at ~15 us/frame to encode and ~3 us/frame to decode. zstd level 3 with bitshuffle gave ~3.5x
    # but ~125 us/frame to encode, more than decoding the video itself, and ~23 us/frame to decode.
    # (Byte shuffle is a no-op on 1-byte pixels; bitshuffle made lz4 slower and no smaller.)
    return BloscCodec(**_BLOSC)


# Chunk files named rgb/c.3.0.0.0 beside zarr.json rather than rgb/c/3/0/0/0: no directory tree
# to create (and later delete) per chunk.
_CHUNK_KEYS = {"name": "default", "separator": "."}


def _fast_arrays():
    """Open or create arrays with zarr's opt-in FusedCodecPipeline (zarr >= 3.4): it runs codecs and
    local-store IO synchronously instead of one coroutine and thread hop per chunk, which halves the
    cost of a chunk read on a local store. zarr resolves the pipeline when an array is constructed, so
    this applies to the arrays made inside the block; the bytes on disk are the same either way, and
    with an older zarr (no such pipeline) the default one is used."""
    from zarr.core import codec_pipeline

    if not hasattr(codec_pipeline, "FusedCodecPipeline"):
        return contextlib.nullcontext()
    return zarr.config.set({"codec_pipeline.path": "zarr.core.codec_pipeline.FusedCodecPipeline"})


class FrameStore:
    def __init__(self, url: str | Path, mode: str = "r"):
        self.url = str(url)
        if mode == "r" and not self._exists():
            raise StoreError(f"frame store not found: {self.url} (create it with `vla-data ingest`)")
        try:
            self.root = zarr.open_group(self.url, mode=mode, zarr_format=3)
        except Exception as e:  # zarr raises several types for a non-group path
            raise StoreError(f"cannot open frame store {self.url}: {e}") from e

    def _exists(self) -> bool:
        if "://" in self.url:
            import fsspec

            fs, path = fsspec.core.url_to_fs(self.url)
            return fs.exists(f"{path}/zarr.json")
        return (Path(self.url) / "zarr.json").is_file()

    # ---- videos -------------------------------------------------------------------------
    def _groups(self) -> dict[str, zarr.Group]:
        # A killed ingest leaves a video's chunks with no group document yet: not a zarr node, so zarr
        # warns while listing. It is expected, not a fault here (`summary` counts it; a re-run redoes it).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Object at .* is not recognized", category=ZarrUserWarning)
            return dict(self.root.groups())

    def video_ids(self) -> list[str]:
        """Videos whose frames are completely written, sorted."""
        return sorted(name for name, g in self._groups().items() if g.attrs.get(COMPLETE, False))

    def is_complete(self, vid: str) -> bool:
        return vid in self.root and bool(self.root[vid].attrs.get(COMPLETE, False))

    def _group(self, vid: str) -> zarr.Group:
        try:  # one metadata read (a `vid in root` check first would be a second)
            return self.root[vid]
        except KeyError:
            raise StoreError(f"video {vid!r} not in frame store {self.url}") from None

    def frames(self, vid: str) -> zarr.Array:
        group = self._group(vid)
        if not group.attrs.get(COMPLETE, False):
            raise StoreError(f"video {vid!r} in {self.url} is incomplete (interrupted ingest); re-run ingest")
        with _fast_arrays():
            return group["rgb"]

    def attrs(self, vid: str) -> dict:
        return dict(self._group(vid).attrs)

    def begin_video(self, vid: str, height: int, width: int, chunk_frames: int = 64,
                    replace: bool = True) -> VideoWriter:
        """A writer for a video's `rgb` array. Any earlier entry of that id, finished or not, is removed
        first (a kill while rewriting must not leave an old completion mark over new frames);
        `replace=False` skips that store round trip when the caller has made sure there is none."""
        if replace:
            self.delete_video(vid)
        return VideoWriter(self.root.store_path / vid, height, width, chunk_frames)

    def add_video(self, vid: str, frames: np.ndarray, attrs: dict, chunk_frames: int = 64) -> None:
        """Write a whole in-memory video (T×H×W×3 uint8) and mark it complete."""
        writer = self.begin_video(vid, frames.shape[1], frames.shape[2], chunk_frames)
        try:
            writer.write(frames)
            writer.finish(attrs)
        except Exception:
            writer.discard()
            raise

    def delete_video(self, vid: str) -> None:
        """Remove a video's group, or what a killed run left of one (chunks without metadata)."""
        sync(self.root.store.delete_dir((self.root.store_path / vid).path))

    def entries(self) -> list[str]:
        """Every top-level entry: the videos, complete or not, and what a killed run left half-written."""
        return sorted(sync(_list_dirs(self.root.store, self.root.store_path.path)))

    # ---- extra per-video arrays (labels) -------------------------------------------------
    def has_array(self, vid: str, name: str) -> bool:
        return vid in self.root and name in self.root[vid].attrs.get(ARRAYS_DONE, [])

    def read_array(self, vid: str, name: str) -> np.ndarray:
        if not self.has_array(vid, name):
            raise StoreError(f"array {name!r} missing for video {vid!r} in {self.url} "
                             f"(run the labelling command that writes it)")
        return self._group(vid)[name][:]

    def array_attrs(self, vid: str, name: str) -> dict:
        if not self.has_array(vid, name):
            raise StoreError(f"array {name!r} missing for video {vid!r} in {self.url}")
        return dict(self._group(vid)[name].attrs)

    def write_array(self, vid: str, name: str, data: np.ndarray, attrs: dict | None = None) -> None:
        """Write a whole per-video array, then mark it complete (so a kill mid-write is redone)."""
        group = self._group(vid)
        self._unmark(group, name)
        if name in group:
            del group[name]
        data = np.asarray(data)
        chunks = (min(max(len(data), 1), 1024), *data.shape[1:])
        array = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks,
                                   compressors=[_compressor()], chunk_key_encoding=_CHUNK_KEYS)
        array[...] = data
        if attrs:
            array.update_attributes(attrs)
        group.update_attributes({ARRAYS_DONE: sorted(set(group.attrs.get(ARRAYS_DONE, [])) | {name})})

    def delete_array(self, vid: str, name: str) -> None:
        group = self._group(vid)
        self._unmark(group, name)
        if name in group:
            del group[name]

    @staticmethod
    def _unmark(group: zarr.Group, name: str) -> None:
        done = [n for n in group.attrs.get(ARRAYS_DONE, []) if n != name]
        group.update_attributes({ARRAYS_DONE: done})

    # ---- summary --------------------------------------------------------------------------
    def summary(self) -> dict:
        groups = self._groups()  # one listing; every group's attributes come with it
        complete = [g.attrs for g in groups.values() if g.attrs.get(COMPLETE, False)]
        frames = seconds = raw_bytes = 0
        for a in complete:
            n, h, w = a["n_frames"], a["height"], a["width"]
            frames += n
            seconds += n / float(a["fps"])
            raw_bytes += n * h * w * 3
        disk = _disk_bytes(self.url)
        return {
            "store": self.url,
            "videos": len(complete),
            "incomplete_groups": len(self.entries()) - len(complete),
            "frames": int(frames),
            "hours": seconds / 3600.0,
            "raw_bytes": int(raw_bytes),
            "bytes_on_disk": int(disk),
            "compression_ratio": (raw_bytes / disk) if disk else float("nan"),
        }


def _disk_bytes(url: str) -> int:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return int(fs.du(path, total=True)) if fs.exists(path) else 0


class VideoWriter:
    """Writes one video's `rgb` array chunk by chunk, straight to the store's keys.

    zarr's Array API spends ~8 ms per array here on metadata and event-loop work (create, write, mark
    complete): more than decoding a short clip. The bytes are the same either way: the documents are
    the ones zarr makes (its ArrayV3Metadata and GroupMetadata, with zarr's chunk key names) and each
    chunk is blosc-encoded with the array's own settings, zero-padded at the end as zarr pads an edge
    chunk. The group document, carrying the completion mark, is written last, after every chunk is in
    the store; until then the video is not a zarr node at all.

    Copying frames into chunks, encoding and writing happen on this process's one chunk-writer thread
    (blosc and file IO release the GIL), so they overlap the caller's decoding: of the next chunk, and,
    with `finish(wait=False)`, of the next video. The thread takes jobs in order, so the group document
    is written after the chunks it follows, and only if every one of them was written. At most two of
    a writer's chunks are in flight; a failed write surfaces at `wait`/`finish` (or the next chunk)."""

    def __init__(self, path, height: int, width: int, chunk_frames: int):
        self.path, self.frame_shape = path, (height, width, 3)
        self.n_frames = 0
        self._meta = _rgb_template(height, width, chunk_frames)
        self._chunk_frames = chunk_frames
        self._frames: list[np.ndarray] = []  # the next chunk's frames, copied into it on the writer thread
        self._in_flight: list[Future] = []

    def append(self, frame: np.ndarray) -> None:
        """Add the next frame. The writer keeps a reference until its chunk is written, so the frame
        must not be modified after (a decoder's frames are new arrays each)."""
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise StoreError(f"{self.path}: frame {self.n_frames} is {frame.dtype} {frame.shape}, "
                             f"expected uint8 {self.frame_shape}")
        self._frames.append(frame)
        self.n_frames += 1
        if len(self._frames) == self._chunk_frames:
            self._flush()

    def write(self, frames: np.ndarray) -> None:
        """Append every frame of a T×H×W×3 array (kept by reference too: leave it unchanged until
        `finish`)."""
        for frame in frames:
            self.append(frame)

    def wait(self) -> None:
        """Return once everything handed to the writer thread so far is in the store; raise the first
        failed write's error."""
        in_flight, self._in_flight = self._in_flight, []
        for future in in_flight:
            future.result()

    def finish(self, attrs: dict, wait: bool = True) -> None:
        """Write the last chunk and the array's metadata, then the group's with the completion mark.
        wait=False returns at once (the writes go on in the background): call `wait` before counting
        the video as written."""
        if self._frames:
            self._flush()
        attrs = {**attrs, "n_frames": self.n_frames}  # what readers (frame pairs) size a video by, from the writer
        self._in_flight = [_chunk_writer().submit(_finish_after, self._in_flight, self.path, self._meta,
                                                  self.n_frames, attrs)]
        if wait:
            self.wait()

    def discard(self) -> None:
        """Give up on this video: wait out its writes in flight (whatever became of them), then remove
        what was written."""
        with contextlib.suppress(Exception):
            self.wait()
        sync(self.path.delete_dir())

    def _flush(self) -> None:
        if len(self._in_flight) >= 2:  # bounded memory: at most two chunks wait for the writer thread
            self._in_flight.pop(0).result()
        index = (self.n_frames - 1) // self._chunk_frames
        key = self.path / "rgb" / self._meta.encode_chunk_key((index, 0, 0, 0))
        self._in_flight.append(_chunk_writer().submit(_encode_put, key, self._frames, self._meta.chunks))
        self._frames = []


@functools.cache
def _chunk_writer() -> ThreadPoolExecutor:
    """This process's one chunk-writer thread (created on first use; a forked child makes its own). One
    thread, so jobs run in the order they were handed over."""
    return ThreadPoolExecutor(1, thread_name_prefix="frame-store-chunks")


os.register_at_fork(after_in_child=_chunk_writer.cache_clear)


def _encode_put(key, frames: list[np.ndarray], chunk_shape: tuple) -> None:
    """Copy the frames into one chunk (zero-padded at the end, as zarr pads an edge chunk), encode it and
    write it. The copy is here rather than in `append`: in ingest that halved the decoding thread's cost
    per frame (~7.6 -> ~3.4 us)."""
    chunk = np.zeros(chunk_shape, np.uint8) if len(frames) < chunk_shape[0] else np.empty(chunk_shape, np.uint8)
    np.stack(frames, out=chunk[:len(frames)])
    _put(key, _CHUNK_CODEC.encode(chunk), atomic=False)


def _finish_after(chunks: list[Future], path, template, n_frames: int, attrs: dict) -> None:
    """Write the array's document, then the group's with the completion mark, once the chunks before
    them are written (they ran first on this thread); if one of those failed, raise its error and write
    nothing. The documents are built here too: ~0.4 ms a video that the decoding thread need not wait for."""
    for future in chunks:
        future.result()
    # The array document, like the chunks, is read only through the group: in place is safe until the
    # group document exists, and that one, the commit, goes through a temporary file.
    _put(path / "rgb" / "zarr.json", _rgb_document(template, n_frames), atomic=False)
    _put(path / "zarr.json", _document(GroupMetadata(attributes={**attrs, COMPLETE: True})))


@functools.lru_cache(maxsize=8)
def _rgb_template(height: int, width: int, chunk_frames: int):
    """zarr's own metadata for an `rgb` array of this frame size (made once, in memory), to be re-shaped."""
    return zarr.create_array(zarr.storage.MemoryStore(), shape=(0, height, width, 3), dtype="uint8",
                             chunks=(chunk_frames, height, width, 3), compressors=[_compressor()],
                             chunk_key_encoding=_CHUNK_KEYS).metadata


@functools.lru_cache(maxsize=8)
def _parsed_document(meta) -> dict:
    return json.loads(_document(meta))


def _rgb_document(template, n_frames: int) -> bytes:
    """zarr's document for the `rgb` array `template` at n_frames long: the length is all that differs
    between videos, and building the document with zarr (update_shape, to_buffer_dict) cost ~0.8 ms a
    video during ingest."""
    document = dict(_parsed_document(template))
    document["shape"] = [n_frames, *document["shape"][1:]]
    return json.dumps(document, indent=2).encode()


def _document(meta) -> bytes:
    return meta.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()


def _put(path, data: bytes, atomic: bool = True) -> None:
    """Write one key. On a local store, straight to the file: zarr's LocalStore makes the parent folders
    and a uniquely named temporary file for every key, which took twice the time of writing the bytes
    here (34 vs 17 ms of writer-thread time per 60 short clips). atomic=False, for keys no reader looks
    at before the group document exists, writes in place; otherwise the bytes go to a temporary file
    that is renamed, so a kill never leaves a torn document. Memory stores write synchronously in
    zarr >= 3.4; remote ones (and older zarr) go through zarr's event loop."""
    store = path.store
    if isinstance(store, LocalStore):
        file = store.root / path.path
        file.parent.mkdir(parents=True, exist_ok=True)
        target = file.with_name(f".{file.name}.partial") if atomic else file
        with open(target, "wb") as f:
            f.write(data)
        if atomic:
            os.replace(target, file)
        return
    value = default_buffer_prototype().buffer.from_bytes(data)
    if _store_supports_sync_io is not None and _store_supports_sync_io(store):
        path.set_sync(value)
    else:
        sync(path.set(value))


async def _list_dirs(store, prefix: str) -> list[str]:
    return [k async for k in store.list_dir(prefix) if k != "zarr.json"]
