"""Label every video of the frame store with a model: the one loop shared by `vla-lam label` and `vla-idm label`.

Per video the labels are written in one `write_array` (marked complete only once written), so
a killed run redoes at most the video it was on. A video already labelled by the same
checkpoint (same hash in the array attrs) is skipped; a different hash is relabelled.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from vla.data.store import FrameStore, StoreError

log = logging.getLogger(__name__)


def pair_labels(frames, gap: int, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                batch_size: int = 256) -> np.ndarray:
    """fn over every (t, t+gap) pair of a (T,H,W,3) uint8 video, batched: (T-gap, ...) numpy."""
    video = torch.from_numpy(np.asarray(frames)).permute(0, 3, 1, 2)  # (T,3,H,W) uint8
    out = []
    with torch.no_grad():
        for s in range(0, len(video) - gap, batch_size):
            e = min(s + batch_size, len(video) - gap)
            out.append(fn(video[s:e], video[s + gap:e + gap]).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,))


def label_store(store_url: str, name: str, hash_key: str, model_hash: str, gap: int,
                fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], attrs: dict,
                dtype=np.int16, batch_size: int = 256) -> dict:
    """Write `name` for every complete video; returns counts {labelled, skipped, too_short}."""
    store = FrameStore(store_url, mode="r+")
    vids = store.video_ids()
    if not vids:
        raise StoreError(f"frame store {store_url} has no complete video to label (run `vla-data ingest`)")
    counts = {"labelled": 0, "skipped": 0, "too_short": 0}
    for vid in tqdm(vids, desc=f"labelling {name}"):
        if store.has_array(vid, name) and store.array_attrs(vid, name).get(hash_key) == model_hash:
            counts["skipped"] += 1
            continue
        frames = store.frames(vid)
        if frames.shape[0] <= gap:
            log.warning("video %s has %d frames <= gap %d: not labelled", vid, frames.shape[0], gap)
            counts["too_short"] += 1
            continue
        labels = pair_labels(frames[:], gap, fn, batch_size).astype(dtype)
        store.write_array(vid, name, labels, {**attrs, hash_key: model_hash, "gap": gap})
        counts["labelled"] += 1
    log.info("%s: %s", name, counts)
    return counts
