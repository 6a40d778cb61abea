"""Policy runtime without ROS: PolicyRunner, its action queue, and the ChunkPolicy protocol."""

from vla.core.device import resolve_device
from vla.core.action_queue import ActionQueue, TemporalEnsembler
from vla.runtime.runner import ChunkPolicy, PolicyRunner

__all__ = ["ActionQueue", "ChunkPolicy", "PolicyRunner", "TemporalEnsembler", "resolve_device"]
