"""Phase-locking the control timer to the policy's fresh chunks (plain Python, unit-tested without ROS).

A timer-paced controller publishes a new chunk's first action at the next tick, up to one period after
the chunk is ready: on average half a period (~17 ms at 30 Hz) when the camera and the controller
are not synchronised. A camera usually runs at a steady rate, so its chunks land at a steady phase of
the tick, and the tick can be moved to fall just after them. Each time a chunk lands, `PhaseLock`
measures how far the next tick is from `lead` after it; once per tick it says which period to give
the timer, nudged by at most `max_shift`, so the tick spacing never moves further than that from the
period (and the safety filter's per-tick limits still hold per tick). With an unsteady camera the
nudges only add at most `max_shift` of jitter.

The lead guards against a chunk landing late (after its tick: it would then wait a whole period), so it
should cover the inference jitter; it need not cost latency. A chunk that lands within twice the lead
of its tick can publish that tick at once, and the timer's own call then skips: `chunk_ready` says when.
Published ticks then come at most `max_shift + 2 * lead` early.

ROS timers (rcl_timer_exchange_period) apply a new period from the call after the next one, so a
nudge set at tick k changes the interval from k+1 to k+2; a chunk that lands before tick k+1 was
measured against the old schedule and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PhaseLock:
    period_ns: int
    max_shift_ns: int            # 0 disables the lock: the timer keeps its period
    lead_ns: int = 1_000_000     # wanted time from a chunk landing to the tick that publishes it
    gain: float = 0.5            # fraction of the measured error corrected per nudge
    deadband_ns: int = 250_000   # errors this small are noise, not a phase to chase
    nudges: int = 0
    last_error_ns: int | None = None
    _error_ns: int | None = field(default=None, repr=False)
    _stale_ticks: int = field(default=0, repr=False)

    def chunk_ready(self, until_next_tick_ns: int) -> bool:
        """A chunk just landed; `until_next_tick_ns`: the timer's time until its next call (< 0 if overdue).
        Returns whether the next tick is the one the lock placed for this chunk (due within
        `early_window_ns`): that tick may then publish now, on the chunk, instead of `lead` later."""
        half = self.period_ns // 2
        self._error_ns = (until_next_tick_ns - self.lead_ns + half) % self.period_ns - half  # in [-P/2, P/2)
        self.last_error_ns = self._error_ns
        return bool(self.max_shift_ns) and 0 <= until_next_tick_ns <= self.early_window_ns

    @property
    def early_window_ns(self) -> int:
        return early_window_ns(self.lead_ns)

    def next_period(self) -> int:
        """Call once per tick: the period to set on the timer now."""
        error, self._error_ns = self._error_ns, None
        if self._stale_ticks:   # measured before the last nudge took effect
            self._stale_ticks -= 1
            return self.period_ns
        if not self.max_shift_ns or error is None or abs(error) <= self.deadband_ns:
            return self.period_ns
        # error > 0: the tick comes too long after the chunk, so the next interval is shortened.
        shift = max(-self.max_shift_ns, min(self.max_shift_ns, int(self.gain * error)))
        self.nudges += 1
        self._stale_ticks = 1
        return self.period_ns - shift


def early_window_ns(lead_ns: int) -> int:
    """How far ahead of its scheduled time a tick may be published early: the lock aims ticks `lead`
    after the chunks, so chunks landing up to `lead` sooner or later than aimed still publish early
    (a window only `lead` wide would leave every chunk that lands a little early on the schedule, and
    the ticks alternating between the two times)."""
    return 2 * lead_ns
