"""The frame store's frames with one of its label arrays (a LAM's codes or the IDM's pseudo-actions), in
memory: what stage 2 trains on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm


TARGET_ARRAY = {"latent": "latent_actions", "idm": "idm_actions"}


@dataclass
class LabelledFrames:
    """Every labelled frame of the store in memory: images (N,H,W,3) uint8, labels (N,...), instructions."""
    images: np.ndarray
    labels: np.ndarray
    instructions: list[str]
    video_index: np.ndarray  # which video each frame came from (for the held-out split)
    label_attrs: dict


def load_labelled_frames(store_url: str | Path, target: str, max_videos: int | None = None,
                         array: str | None = None) -> LabelledFrames:
    """Frames with the labels of `array` (None: the target's usual array, TARGET_ARRAY)."""
    from vla.data.store import FrameStore

    name = array or TARGET_ARRAY[target]
    store = FrameStore(store_url)
    vids = [v for v in store.video_ids() if store.has_array(v, name)]
    if not vids:
        cmd = "vla-lam label" if target == "latent" else "vla-idm label"
        raise FileNotFoundError(f"no video in {store_url} has {name!r}: run `{cmd}` first")
    vids = vids[:max_videos] if max_videos else vids
    images, labels, instr, vidx, attrs = [], [], [], [], {}
    for i, vid in enumerate(tqdm(vids, desc=f"loading {name}")):
        lab = store.read_array(vid, name)
        frames = np.asarray(store.frames(vid)[: len(lab)])  # label t describes the change from frame t onward
        images.append(frames), labels.append(lab)
        instr += [store.attrs(vid)["instruction"]] * len(lab)
        vidx.append(np.full(len(lab), i))
        attrs = attrs or store.array_attrs(vid, name)
    return LabelledFrames(np.concatenate(images), np.concatenate(labels), instr, np.concatenate(vidx), attrs)
