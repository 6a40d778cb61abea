"""Frame pairs (o_t, o_{t+k}) from the frame store, for the latent action model.

Item i is fixed by (seed, i): the same index always gives the same video, t and k,
whatever the worker. Each item reads exactly the two frames it needs from zarr.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from vla.data.store import FrameStore, StoreError


class PairDataset(Dataset):
    def __init__(self, store: FrameStore | str, k_min: int = 4, k_max: int = 4, seed: int = 0,
                 normalize: bool = False, video_ids: list[str] | None = None, samples_per_video: int | None = None):
        if not 1 <= k_min <= k_max:
            raise ValueError(f"need 1 <= k_min <= k_max, got k_min={k_min}, k_max={k_max}")
        self.url = store.url if isinstance(store, FrameStore) else str(store)
        self._store = store if isinstance(store, FrameStore) else None
        self._arrays: dict = {}
        opened = self.store
        ids = video_ids if video_ids is not None else opened.video_ids()
        self.video_ids = [v for v in ids if opened.attrs(v)["n_frames"] > k_max]
        if not self.video_ids:
            raise StoreError(f"no video in {self.url} has more than k_max={k_max} frames")
        self.lengths = np.array([opened.attrs(v)["n_frames"] for v in self.video_ids])
        self.k_min, self.k_max, self.seed, self.normalize = k_min, k_max, seed, normalize
        # By default one epoch = every start frame once (on average), per video.
        per_video = samples_per_video or int(np.mean(self.lengths - k_max))
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
        return state

    def __len__(self) -> int:
        return self.n

    def index(self, i: int) -> tuple[str, int, int]:
        rng = np.random.default_rng((self.seed, i))
        v = int(rng.integers(len(self.video_ids)))
        k = int(rng.integers(self.k_min, self.k_max + 1))
        t = int(rng.integers(0, self.lengths[v] - k))
        return self.video_ids[v], t, k

    def _frame(self, frame: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
        return x.float().div_(255.0) if self.normalize else x

    def _rgb(self, vid: str):
        if vid not in self._arrays:  # opening an array costs a metadata read: once per video per worker
            self._arrays[vid] = self.store.frames(vid)
        return self._arrays[vid]

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        vid, t, k = self.index(i)
        pair = self._rgb(vid)[t : t + k + 1 : k]  # both frames in one read
        return {"frame_t": self._frame(pair[0]), "frame_tk": self._frame(pair[1]), "video_id": vid, "t": t, "k": k}
