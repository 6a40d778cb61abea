"""Label every video of the frame store with a model: the one loop shared by `vla-lam label` and `vla-idm label`.

Per video the labels are written in one `write_array` (marked complete only once written), so
a killed run redoes at most the videos it was on. engine=ray labels on Ray actors, each with its own copy
of the model (on a GPU when the cluster has them). A video already labelled by the same
checkpoint (same hash in the array attrs) is skipped; a different hash is relabelled.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from vla.data.pairs import frame_gap
from vla.data.store import FrameStore, StoreError
from vla.data.workers import ray_session, ray_unordered

log = logging.getLogger(__name__)

PairFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (frames t, frames t+gap) uint8 -> labels


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


@dataclass(frozen=True)
class LabelSpec:
    """What a labelling run writes: array `name` per video, from pairs `gap` frames apart (or `gap_s` seconds
    at each video's fps), stamped with the model's hash (under `hash_key`) and `attrs`."""
    name: str
    hash_key: str
    model_hash: str
    gap: int
    attrs: dict
    dtype: type = np.int16
    batch_size: int = 256
    gap_s: float | None = None


def label_video(store: FrameStore, vid: str, spec: LabelSpec, fn: PairFn) -> str:
    """Label one complete video: "labelled", "skipped" (labelled by this model already) or "too_short"."""
    if store.has_array(vid, spec.name) and store.array_attrs(vid, spec.name).get(spec.hash_key) == spec.model_hash:
        return "skipped"
    frames, gap = store.frames(vid), frame_gap(spec.gap, spec.gap_s, store.attrs(vid).get("fps"))
    if frames.shape[0] <= gap:
        log.warning("video %s has %d frames <= gap %d: not labelled", vid, frames.shape[0], gap)
        return "too_short"
    labels = pair_labels(frames[:], gap, fn, spec.batch_size).astype(spec.dtype)
    store.write_array(vid, spec.name, labels, {**spec.attrs, spec.hash_key: spec.model_hash, "gap": gap,
                                               "gap_s": spec.gap_s})
    return "labelled"


_worker: tuple[FrameStore, LabelSpec, PairFn] | None = None  # a Ray worker's store, spec and loaded model


def _open_worker(store_url: str, spec: LabelSpec, make_fn: Callable[[], PairFn]) -> None:
    global _worker  # once per worker: the model is loaded once, not once per video
    _worker = (FrameStore(store_url, mode="r+"), spec, make_fn())


def _label_in_worker(vid: str) -> str:
    store, spec, fn = _worker
    return label_video(store, vid, spec, fn)


def label_store(store_url: str, spec: LabelSpec, make_fn: Callable[[], PairFn], engine: str = "local",
                workers: int = 2, ray_address: str | None = None) -> dict:
    """Write `spec.name` for every complete video; returns counts {labelled, skipped, too_short}.
    make_fn() loads the model and returns its pair function: here (engine=local), or once in each of
    `workers` Ray actors (engine=ray), on a GPU each when the cluster has them."""
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    store = FrameStore(store_url, mode="r+")
    vids = store.video_ids()
    if not vids:
        raise StoreError(f"frame store {store_url} has no complete video to label (run `vla-data ingest`)")
    counts = {"labelled": 0, "skipped": 0, "too_short": 0}
    with contextlib.ExitStack() as stack:
        if engine == "ray":
            import ray

            stack.enter_context(ray_session(ray_address))
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
            outcomes = ray_unordered(_label_in_worker, vids, f"labelling {spec.name}", workers, _open_worker,
                                     (store_url, spec, make_fn), gpus_per_worker=gpus)
        else:
            fn = make_fn()
            outcomes = (label_video(store, vid, spec, fn) for vid in vids)
        for outcome in tqdm(outcomes, total=len(vids), desc=f"labelling {spec.name}"):
            counts[outcome] += 1
    log.info("%s: %s", spec.name, counts)
    return counts
