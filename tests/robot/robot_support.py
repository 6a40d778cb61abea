"""Test doubles for the robot tests, importable by name from any test module in this folder."""

import numpy as np


class ConstantPolicy:
    """A ChunkPolicy returning scripted chunks in turn (cycling); records what it was shown."""
    action_dim, state_dim = 4, 4

    def __init__(self, *chunks):
        self.chunks = [np.asarray(c, np.float32).reshape(-1, 4) for c in chunks] or [np.zeros((1, 4), np.float32)]
        self.chunk_size = len(self.chunks[0])
        self.calls, self.resets, self.seen = 0, 0, []

    def predict_chunk(self, obs):
        self.seen.append(obs)
        chunk = self.chunks[self.calls % len(self.chunks)]
        self.calls += 1
        return chunk

    def select_action(self, obs):
        return self.predict_chunk(obs)[0]

    def reset(self):
        self.resets += 1
