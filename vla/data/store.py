"""The frame store: decoded video frames (and their labels) in one zarr v3 group.

    <store>/<video_id>/rgb              T×H×W×3 uint8, chunked over time
    <store>/<video_id>/latent_actions   (T-k)×n_tokens int, written by `vla-lam label`
    <store>/<video_id>/idm_actions      (T-1)×action_dim float32, written by `vla-idm label`

A video (or an extra array) counts only once its completion mark is in the group's
attributes; the mark is written last, so a run killed half-way leaves an unmarked
group that readers ignore and writers redo. Paths go through fsspec (zarr's store
URLs), so `s3://bucket/frames.zarr` works the same as a local directory.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

log = logging.getLogger(__name__)

COMPLETE = "complete"  # group attribute: the video's frames are fully written
ARRAYS_DONE = "arrays_complete"  # group attribute: names of extra arrays fully written


class StoreError(RuntimeError):
    """A store, video or array is missing or not what it should be."""


def _compressor():
    # lz4 inside blosc, measured on 64-frame chunks of 64 px rendered frames (one thread, as zarr runs it):
    # ~2.8x at ~15 us/frame to encode and ~3 us/frame to decode. zstd level 3 with bitshuffle gave ~3.5x
    # but ~125 us/frame to encode, more than decoding the video itself, and ~23 us/frame to decode.
    # (Byte shuffle is a no-op on 1-byte pixels; bitshuffle made lz4 slower and no smaller.)
    return BloscCodec(cname="lz4", clevel=7, shuffle="noshuffle")


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
    def all_groups(self) -> list[str]:
        return sorted(name for name, _ in self.root.groups())

    def video_ids(self) -> list[str]:
        """Videos whose frames are completely written, sorted."""
        return sorted(name for name, g in self.root.groups() if g.attrs.get(COMPLETE, False))

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

    def begin_video(self, vid: str, n_frames: int, height: int, width: int, chunk_frames: int = 64) -> zarr.Array:
        """A fresh `rgb` array for a video; any earlier, unfinished group of that id is discarded."""
        if vid in self.root:
            del self.root[vid]
        # Creating the array creates its group too: one metadata call instead of two.
        with _fast_arrays():
            return self.root.create_array(
                f"{vid}/rgb", shape=(n_frames, height, width, 3), dtype="uint8",
                chunks=(chunk_frames, height, width, 3), compressors=[_compressor()], chunk_key_encoding=_CHUNK_KEYS,
            )

    def finish_video(self, vid: str, attrs: dict) -> None:
        # One metadata write: attrs.update() would rewrite zarr.json once per key.
        self._group(vid).update_attributes({**attrs, COMPLETE: True})

    def delete_video(self, vid: str) -> None:
        if vid in self.root:
            del self.root[vid]

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
        groups = dict(self.root.groups())  # one listing; every group's attributes come with it
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
            "incomplete_groups": len(groups) - len(complete),
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
