"""Video files in and out (PyAV): the one place that encodes or decodes mp4/webm/mkv/avi."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import av
import numpy as np


def write_mp4(path: str | Path, frames: np.ndarray, fps: int, crf: int = 18) -> None:
    """Encode T×H×W×3 uint8 frames as H.264; written to a temp name and renamed, so a kill leaves no half file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)


def probe(path: str) -> tuple[float, int | None]:
    """(fps, frame count if the container knows it)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
        return fps, (stream.frames or None)


def iter_frames(path: str, size: int | None = None) -> Iterator[np.ndarray]:
    """Decode every frame as H×W×3 uint8 RGB, resized to size×size by the decoder's scaler when asked."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if size is not None and (frame.width != size or frame.height != size):
                frame = frame.reformat(width=size, height=size, format="rgb24")
            yield frame.to_ndarray(format="rgb24")
