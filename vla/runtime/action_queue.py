"""Action queues between chunked inference and a fixed-rate control loop (kept out of the network)."""

from __future__ import annotations

from collections import deque

import numpy as np


class ActionQueue:
    """FIFO of actions from the latest chunk; `pop()` returns None when empty (time to infer again).
    The one queue of the runner, the robot node and the LeRobot policy: a chunk is anything indexed by
    step first (a (chunk, action_dim) numpy array, or a (chunk, batch, action_dim) tensor for LeRobot)."""

    def __init__(self, maxlen: int | None = None):
        self._q: deque = deque(maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._q)

    def extend(self, chunk) -> None:
        self._q.extend(chunk)

    def pop(self) -> np.ndarray | None:
        return self._q.popleft() if self._q else None

    def clear(self) -> None:
        self._q.clear()


class TemporalEnsembler:
    """ACT's temporal ensembling: every step, average all chunks' predictions for the current step,
    weighting older predictions by exp(-coeff * age_rank) (coeff 0.01 as in ACT). Needs one inference per step."""

    def __init__(self, chunk_size: int, coeff: float = 0.01):
        self.chunk_size, self.coeff = chunk_size, coeff
        self.reset()

    def reset(self) -> None:
        self._preds: list[np.ndarray] = []  # for each future step: the predictions made for it, oldest first

    def update(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32)
        while len(self._preds) < len(chunk):
            self._preds.append(np.empty((0, chunk.shape[-1]), np.float32))
        for i, a in enumerate(chunk):
            self._preds[i] = np.vstack([self._preds[i], a[None]])
        now = self._preds.pop(0)
        w = np.exp(-self.coeff * np.arange(len(now)))
        return (now * w[:, None]).sum(0) / w.sum()
