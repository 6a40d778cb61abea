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
import logging
import warnings
from pathlib import Path

import numpy as np
import zarr
from numcodecs import Blosc
from zarr.codecs import BloscCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.group import GroupMetadata
from zarr.core.sync import sync
from zarr.errors import ZarrUserWarning

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
        writer.write(frames)
        writer.finish(attrs)

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
    chunk. The group document, carrying the completion mark, is written last; until then the video is
    not a zarr node at all."""

    def __init__(self, path, height: int, width: int, chunk_frames: int):
        self.path, self.frame_shape = path, (height, width, 3)
        self.n_frames = 0
        self._meta = _rgb_template(height, width, chunk_frames)
        self._chunk = np.zeros((chunk_frames, *self.frame_shape), np.uint8)
        self._fill = 0

    def append(self, frame: np.ndarray) -> None:
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise StoreError(f"{self.path}: frame {self.n_frames} is {frame.dtype} {frame.shape}, "
                             f"expected uint8 {self.frame_shape}")
        self._chunk[self._fill] = frame
        self._fill += 1
        self.n_frames += 1
        if self._fill == len(self._chunk):
            self._flush()

    def write(self, frames: np.ndarray) -> None:
        for frame in frames:
            self.append(frame)

    def finish(self, attrs: dict) -> None:
        """Write the last chunk and the array's metadata, then the group's with the completion mark."""
        if self._fill:
            self._chunk[self._fill:] = 0
            self._flush()
        meta = self._meta.update_shape((self.n_frames, *self.frame_shape))
        _put(self.path / "rgb" / "zarr.json", _document(meta))
        _put(self.path / "zarr.json", _document(GroupMetadata(attributes={**attrs, COMPLETE: True})))

    def _flush(self) -> None:
        index = (self.n_frames - 1) // len(self._chunk)
        key = self._meta.encode_chunk_key((index, 0, 0, 0))
        _put(self.path / "rgb" / key, _CHUNK_CODEC.encode(self._chunk))
        self._fill = 0


@functools.lru_cache(maxsize=8)
def _rgb_template(height: int, width: int, chunk_frames: int):
    """zarr's own metadata for an `rgb` array of this frame size (made once, in memory), to be re-shaped."""
    return zarr.create_array(zarr.storage.MemoryStore(), shape=(0, height, width, 3), dtype="uint8",
                             chunks=(chunk_frames, height, width, 3), compressors=[_compressor()],
                             chunk_key_encoding=_CHUNK_KEYS).metadata


def _document(meta) -> bytes:
    return meta.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()


def _put(path, data: bytes) -> None:
    # Local and memory stores write synchronously in zarr >= 3.4; remote ones (and older zarr) go
    # through zarr's event loop.
    value = default_buffer_prototype().buffer.from_bytes(data)
    if _store_supports_sync_io is not None and _store_supports_sync_io(path.store):
        path.set_sync(value)
    else:
        sync(path.set(value))


async def _list_dirs(store, prefix: str) -> list[str]:
    return [k async for k in store.list_dir(prefix) if k != "zarr.json"]
