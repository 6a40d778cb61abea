"""SafetyFilter: the decision code between a policy's action and the robot's command.

Pure Python + numpy (no rclpy, no torch) so every rule is unit-tested without ROS. The policy node
calls `filter()` once per control tick; it returns the command to publish, or None (publish nothing).

Rules, in order: disarmed or e-stopped -> nothing; stale camera/joint data -> watchdog hold/zero
(a ros2_control forward controller repeats its last command forever, so staleness is handled here);
NaN/Inf -> rejected, hold/zero (a safe stop is not rate-limited: stopping late is worse); then clip to
[action_low, action_high] and to at most `max_delta` change per tick.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

STALE_MODES = ("hold", "zero")


@dataclass
class SafetyConfig:
    """The limits a command must keep. The fields are the policy node's parameters of the same names:
    robot/parameters.py builds this config from them, so they are validated here, once."""
    action_dim: int = 4
    action_low: list[float] = field(default_factory=lambda: [-1.0] * 4)   # per-dimension command limits
    action_high: list[float] = field(default_factory=lambda: [1.0] * 4)
    max_delta: float = 0.5          # max change of any dimension between consecutive commands
    stale_timeout_s: float = 0.5    # camera / joint data older than this triggers the watchdog
    stale_mode: str = "zero"        # "zero" suits velocity/delta commands, "hold" position commands

    def problems(self) -> list[str]:
        """What is wrong with this config: one phrase per problem, each naming its field (empty: nothing)."""
        if self.action_dim < 1:   # every per-dimension check below would be meaningless
            return [f"action_dim must be >= 1, got {self.action_dim}"]
        problems = [f"{name} needs {self.action_dim} values, got {len(getattr(self, name))}"
                    for name in ("action_low", "action_high") if len(getattr(self, name)) != self.action_dim]
        if not problems and np.any(np.asarray(self.action_low) > np.asarray(self.action_high)):
            problems.append(f"action_low must be <= action_high per dimension, got action_low={self.action_low} "
                            f"action_high={self.action_high}")
        if not self.max_delta > 0:
            problems.append(f"max_delta must be > 0, got {self.max_delta}")
        if not self.stale_timeout_s > 0:
            problems.append(f"stale_timeout_s must be > 0, got {self.stale_timeout_s}")
        if self.stale_mode not in STALE_MODES:
            problems.append(f"stale_mode must be one of {STALE_MODES}, got {self.stale_mode!r}")
        return problems

    def validate(self) -> None:
        if problems := self.problems():
            raise ValueError("; ".join(f"safety.{problem}" for problem in problems))


class SafetyFilter:
    """Starts disarmed; `arm()` enables output, `estop()` latches off until the next `arm()`."""

    def __init__(self, config: SafetyConfig | None = None):
        self.config = config or SafetyConfig()
        self.config.validate()
        self.low = np.asarray(self.config.action_low, np.float64)
        self.high = np.asarray(self.config.action_high, np.float64)
        self.armed = False
        self.estopped = False
        self.last_command: np.ndarray | None = None
        self.fell_back = False  # the last filter() sent the safe command (stale, missing or bad action)
        self.interventions: Counter[str] = Counter()

    def arm(self) -> None:
        self.armed, self.estopped = True, False

    def disarm(self) -> None:
        self.armed = False

    def estop(self) -> None:
        """Latched: stays off until an explicit arm(), whatever the policy does meanwhile."""
        self.estopped, self.armed = True, False
        self.interventions["estop"] += 1

    def safe_command(self) -> np.ndarray:
        """What to send when the policy's action can't be trusted."""
        if self.config.stale_mode == "hold" and self.last_command is not None:
            return self.last_command.copy()
        return np.clip(np.zeros(self.config.action_dim), self.low, self.high)

    def is_stale(self, now: float, *stamps: float | None) -> bool:
        return any(s is None or now - s > self.config.stale_timeout_s for s in stamps)

    def filter(self, action, now: float, *input_stamps: float | None) -> np.ndarray | None:
        """Command for this tick. `input_stamps` are the receive times of camera/joint data (None = never)."""
        self.fell_back = True  # until the action itself (clipped, rate-limited) becomes the command
        if not self.armed or self.estopped:
            return None
        if self.is_stale(now, *input_stamps):
            self.interventions["stale"] += 1
            return self._commit(self.safe_command())
        if action is None:
            self.interventions["no_action"] += 1
            return self._commit(self.safe_command())
        action = np.asarray(action, np.float64).reshape(-1)
        if action.shape != (self.config.action_dim,):
            self.interventions["bad_shape"] += 1
            return self._commit(self.safe_command())
        if not np.all(np.isfinite(action)):
            self.interventions["non_finite"] += 1
            return self._commit(self.safe_command())
        command = np.clip(action, self.low, self.high)
        if not np.array_equal(command, action):
            self.interventions["clipped"] += 1
        if self.last_command is not None:
            limited = np.clip(command, self.last_command - self.config.max_delta,
                              self.last_command + self.config.max_delta)
            if not np.array_equal(limited, command):
                self.interventions["rate_limited"] += 1
            command = limited
        self.fell_back = False
        return self._commit(command)

    def preview(self, command: np.ndarray, upcoming) -> np.ndarray:
        """The actions planned after `command` (this tick's filtered command), each clipped to the limits and to
        `max_delta` from the one before, as filter() will treat them if they arrive in turn: the lookahead of a
        streamed trajectory. Nothing non-finite or of the wrong shape is previewed: the plan stops before it.
        Commits nothing. (rows, action_dim), possibly 0 rows."""
        rows, last = [], np.asarray(command, np.float64)
        for action in upcoming:
            action = np.asarray(action, np.float64).reshape(-1)
            if action.shape != last.shape or not np.all(np.isfinite(action)):
                break
            last = np.clip(np.clip(action, self.low, self.high), last - self.config.max_delta,
                           last + self.config.max_delta)
            rows.append(last)
        return np.asarray(rows, np.float64).reshape(-1, last.size)

    def _commit(self, command: np.ndarray) -> np.ndarray:
        self.last_command = command
        return command.copy()

    @property
    def total_interventions(self) -> int:
        return sum(self.interventions.values())
