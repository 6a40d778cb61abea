"""Action queues between chunked inference and a fixed-rate control loop (kept out of the network)."""

from __future__ import annotations

from collections import deque

import numpy as np


class ActionQueue:
    """FIFO of actions from the latest chunk; `pop()` returns None when empty (time to infer again).
    The one queue of the runner, the robot node and VLAPolicy.select_action: a chunk is anything indexed by
    step first (a (chunk, action_dim) numpy array, or a (chunk, batch, action_dim) tensor for LeRobot).

    A chunk inferred while the last one still plays takes over by `replace` (the rest of the old chunk is
    dropped and the new one plays from its first action) or `blend` (see there). `pops` counts `pop()`
    calls, one per control tick, empty or not: how far the queue moved while a chunk was being inferred."""

    def __init__(self, maxlen: int | None = None):
        self._q: deque = deque(maxlen=maxlen)
        self.pops = 0

    def __len__(self) -> int:
        return len(self._q)

    def extend(self, chunk) -> None:
        self._q.extend(chunk)

    def pop(self) -> np.ndarray | None:
        self.pops += 1
        return self._q.popleft() if self._q else None

    def clear(self) -> None:
        self._q.clear()

    def peek(self) -> list:
        """The actions still to play, in order, left in the queue."""
        return list(self._q)

    def replace(self, chunk) -> None:
        """The new chunk from its first action on. That action was planned for the tick after the chunk's
        observation: if ticks passed while it was inferred, the command steps back along the path."""
        self._q.clear()
        self._q.extend(chunk)

    def blend(self, chunk: np.ndarray, elapsed: int) -> None:
        """Hand over to `chunk` (actions, one row a tick) without a jump: drop its first `elapsed` actions,
        planned for ticks that passed while it was inferred (`elapsed`: `pops` since its observation was
        taken), then cross-fade the old chunk's remaining actions into the new ones planned for the same
        ticks (`crossfade`). It never drops the chunk's last action, so a one-action chunk still plays."""
        new = np.asarray(chunk)[min(max(elapsed, 0), len(chunk) - 1):]
        old = np.asarray(self.peek())[: len(new) - 1]   # at least one new action left unblended, to end on
        self._q.clear()
        self._q.extend(crossfade(old, new[: len(old)]) if len(old) else [])
        self._q.extend(new[len(old):])


def crossfade(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Two plans for the same n ticks -> one that moves from `old` towards `new` linearly, the new plan's
    weight (i + 1) / (n + 1) at tick i, so the first tick is mostly old and the tick after the last is all
    new: a disagreement between the plans is spread over n + 1 ticks instead of landing in one.
    (TemporalEnsembler averages every plan for a tick with fixed weights and infers every tick; a hand-over
    needs a weight that runs from the old plan to the new one, else the end of the overlap jumps.)"""
    weight = (np.arange(1, len(old) + 1) / (len(old) + 1)).reshape(-1, *([1] * (np.ndim(old) - 1)))
    return (1.0 - weight) * old + weight * new


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
