"""Frame pairs (o_t, o_{t+k}) from the frame store, for the latent action model.

The gap k is k_min..k_max frames, or `gap_s` seconds converted at each video's own fps (so a 30 fps camera
video and the 80 fps sim mean the same gap). Item i is fixed by (seed, i): the same index always gives the
same video, t and k, whatever the worker. Frames are read a whole zarr chunk at a time (zarr decodes whole
chunks anyway) and the decoded chunks are kept in a per-process LRU cache with a byte
budget: one zarr-python read costs ~1 ms of async machinery, far more than slicing a
decoded chunk, and training draws many pairs from each chunk.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import Dataset

from vla.data.store import FrameStore, StoreError

DEFAULT_CACHE_BYTES = 512 * 2**20  # per process: the demo store (64 px) fits ~7 times over


class ChunkCache:
    """Decoded chunks by key; the least recently used go first once their bytes pass `max_bytes`."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = self.misses = 0
        self._chunks: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._chunks)

    def get(self, key: tuple) -> np.ndarray | None:
        chunk = self._chunks.get(key)
        if chunk is None:
            self.misses += 1
            return None
        self.hits += 1
        self._chunks.move_to_end(key)
        return chunk

    def put(self, key: tuple, chunk: np.ndarray) -> None:
        if chunk.nbytes > self.max_bytes:  # also: a budget of 0 caches nothing
            return
        if key in self._chunks:
            self.nbytes -= self._chunks.pop(key).nbytes
        self._chunks[key] = chunk
        self.nbytes += chunk.nbytes
        while self.nbytes > self.max_bytes:
            self.nbytes -= self._chunks.popitem(last=False)[1].nbytes


def frames_in(gap_s: float, fps: float) -> int:
    """A gap of `gap_s` seconds in frames of a video at `fps` (at least 1)."""
    return max(1, round(gap_s * fps))


def frame_gap(frames: int, gap_s: float | None, fps: float | None) -> int:
    """A gap set in frames, or in seconds (`gap_s`, when set) converted at `fps` (when known)."""
    return frames if gap_s is None or not fps else frames_in(gap_s, fps)


class PairDataset(Dataset):
    """`cache_bytes` bounds the decoded chunks each process keeps (0 = no cache); every DataLoader
    worker builds its own cache, nothing is shared, and pickling the dataset leaves the cache out."""

    def __init__(self, store: FrameStore | str, k_min: int = 4, k_max: int = 4, seed: int = 0,
                 normalize: bool = False, video_ids: list[str] | None = None, samples_per_video: int | None = None,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, gap_s: float | None = None):
        if not 1 <= k_min <= k_max:
            raise ValueError(f"need 1 <= k_min <= k_max, got k_min={k_min}, k_max={k_max}")
        if gap_s is not None and not gap_s > 0:
            raise ValueError(f"gap_s must be > 0 seconds (or None: k_min..k_max frames), got {gap_s}")
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must be >= 0, got {cache_bytes}")
        self.url = store.url if isinstance(store, FrameStore) else str(store)
        self._store = store if isinstance(store, FrameStore) else None
        self._arrays: dict = {}
        self.cache = ChunkCache(cache_bytes)
        opened = self.store
        ids = video_ids if video_ids is not None else opened.video_ids()
        attrs = {v: opened.attrs(v) for v in ids}
        if gap_s is not None and (no_fps := [v for v in ids if not attrs[v].get("fps")]):
            raise StoreError(f"videos {no_fps[:3]} in {self.url} record no fps: a gap in seconds needs it "
                             "(re-ingest them, or set the gap in frames: gap_s null)")
        gaps = {v: (k_min, k_max) if gap_s is None else (frames_in(gap_s, attrs[v]["fps"]),) * 2 for v in ids}
        self.video_ids = [v for v in ids if attrs[v]["n_frames"] > gaps[v][1]]
        if not self.video_ids:
            raise StoreError(f"no video in {self.url} has more frames than its gap "
                             + (f"k_max={k_max}" if gap_s is None else f"of {gap_s} s"))
        self.lengths = np.array([attrs[v]["n_frames"] for v in self.video_ids])
        self.gaps = np.array([gaps[v] for v in self.video_ids])  # (videos, 2): each video's k_min, k_max

        self.k_min, self.k_max, self.seed, self.normalize = k_min, k_max, seed, normalize
        # By default one epoch = every start frame once (on average), per video.
        per_video = samples_per_video or int(np.mean(self.lengths - self.gaps[:, 1]))
        self.n = max(1, per_video * len(self.video_ids))

    @property
    def store(self) -> FrameStore:
        # Opened lazily so each DataLoader worker gets its own zarr handle.
        if self._store is None:
            self._store = FrameStore(self.url)
        return self._store

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_store"] = None
        state["_arrays"] = {}
        state["cache"] = ChunkCache(self.cache.max_bytes)
        return state

    def __len__(self) -> int:
        return self.n

    def index(self, i: int) -> tuple[str, int, int]:
        rng = np.random.default_rng((self.seed, i))
        v = int(rng.integers(len(self.video_ids)))
        k = int(rng.integers(self.gaps[v, 0], self.gaps[v, 1] + 1))
        t = int(rng.integers(0, self.lengths[v] - k))
        return self.video_ids[v], t, k

    def _frame(self, frame: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(frame)).permute(2, 0, 1)  # a copy: never hand out a view of the cache
        return x.float().div_(255.0) if self.normalize else x

    def _rgb(self, vid: str):
        if vid not in self._arrays:  # opening an array costs a metadata read: once per video per worker
            self._arrays[vid] = self.store.frames(vid)
        return self._arrays[vid]

    def frames(self, vid: str, ts: list[int]) -> list[np.ndarray]:
        """Frames `ts` of a video (H×W×3 uint8 views), through the chunk cache."""
        rgb = self._rgb(vid)
        c = rgb.chunks[0]
        chunks = {j: self.cache.get((vid, j)) for j in sorted({t // c for t in ts})}
        missing = [j for j, chunk in chunks.items() if chunk is None]
        if missing:
            lo, hi = missing[0], missing[-1]
            block = rgb[lo * c : (hi + 1) * c]  # every missing chunk in one zarr read
            for j in missing:
                # A chunk of its own (not a view of the block), so evicting it frees its memory.
                chunks[j] = block if lo == hi else block[(j - lo) * c : (j - lo + 1) * c].copy()
                self.cache.put((vid, j), chunks[j])
        return [chunks[t // c][t % c] for t in ts]

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        vid, t, k = self.index(i)
        frame_t, frame_tk = self.frames(vid, [t, t + k])
        return {"frame_t": self._frame(frame_t), "frame_tk": self._frame(frame_tk), "video_id": vid, "t": t, "k": k}
