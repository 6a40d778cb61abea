"""SIGINT/SIGTERM for the node processes: a flag their spin loops check, not an exception."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    """Install SIGINT/SIGTERM handlers that set the returned event (call after rclpy.init with
    SignalHandlerOptions.NO: rclpy's own handlers would shut the context down before a node could send
    its final safe command). Only a flag: a handler raising KeyboardInterrupt can land inside rclpy's C++
    calls, where pybind11 turns it into "RuntimeError: Unable to convert call argument" and the process
    exits 1 with a traceback after its clean-up."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
