"""PhaseLock against a simulated ROS timer (rcl semantics: a period set at tick k shapes interval k+1..k+2)."""

import numpy as np
import pytest

from robot.phase import PhaseLock

P = 33_333_333   # 30 Hz


def run_timer(lock: PhaseLock, chunk_times: np.ndarray, ticks: int, early: bool = False):
    """Event-accurate rcl timer: returns the times ticks published and per-chunk wait to its publish.
    early: a chunk for which `chunk_ready` says so publishes its tick when it lands (the node's
    early tick), and the timer's call then skips."""
    next_call, period = 0, P
    tick_times, waits = [], []
    early_at = None   # when the coming tick was published early
    for _ in range(ticks):
        now = next_call
        tick_times.append(now if early_at is None else early_at)
        early_at = None
        next_call = now + period                 # rcl_timer_call: advance by the current period
        # chunks landing before the next tick are measured when they land (time until next call)
        period = lock.next_period()              # the tick callback sets the period (applies next call)
        for t in chunk_times[(chunk_times > now) & (chunk_times <= next_call)]:
            due = lock.chunk_ready(next_call - t)
            if early and due and early_at is None:
                early_at = t
            waits.append(0 if early_at == t else next_call - t)
    return np.asarray(tick_times), np.asarray(waits)


@pytest.mark.parametrize("phase_ms", [2.0, 12.0, 25.0, 32.0])
def test_lock_brings_the_tick_to_just_after_each_chunk(phase_ms):
    chunks = int(phase_ms * 1e6) + 5_000_000 + np.arange(400) * P   # a 30 Hz camera, 5 ms inference
    locked = PhaseLock(P, max_shift_ns=1_000_000)
    ticks, waits = run_timer(locked, chunks, 400)
    free_ticks, free_waits = run_timer(PhaseLock(P, max_shift_ns=0), chunks, 400)
    settled = waits[-100:]
    assert np.all(np.abs(settled - locked.lead_ns) < 0.5e6), settled[:5]
    free = np.median(free_waits[-100:])   # the control: the same chunks, timer left alone
    assert np.median(settled) <= free + 0.5e6
    if free > 3e6:
        assert np.median(settled) < 0.5 * free
    intervals = np.diff(ticks)
    assert np.all(np.abs(intervals - P) <= 1_000_000)   # never more than max_shift off the period
    assert np.all(np.diff(free_ticks) == P)


def test_unsteady_chunks_cost_at_most_max_shift_of_jitter():
    rng = np.random.default_rng(0)
    chunks = np.sort(rng.uniform(0, 400 * P, 400)).astype(np.int64)   # no steady phase to lock to
    lock = PhaseLock(P, max_shift_ns=1_000_000)
    ticks, _ = run_timer(lock, chunks, 400)
    assert np.all(np.abs(np.diff(ticks) - P) <= 1_000_000) and lock.nudges > 0


def test_error_is_wrapped_and_disabled_lock_never_nudges():
    lock = PhaseLock(P, max_shift_ns=1_000_000, lead_ns=1_000_000)
    lock.chunk_ready(P - 500_000)              # the chunk just missed a tick: push ticks later
    assert lock.last_error_ns == -1_500_000 and lock.next_period() > P
    off = PhaseLock(P, max_shift_ns=0)
    off.chunk_ready(10_000_000)
    assert off.next_period() == P and off.nudges == 0


@pytest.mark.parametrize("phase_ms", [2.0, 25.0])
def test_early_ticks_publish_on_the_chunk_and_stay_within_their_window(phase_ms):
    chunks = int(phase_ms * 1e6) + 5_000_000 + np.arange(400) * P
    lock = PhaseLock(P, max_shift_ns=1_000_000)
    ticks, waits = run_timer(lock, chunks, 400, early=True)
    _, late_waits = run_timer(PhaseLock(P, max_shift_ns=1_000_000), chunks, 400)   # the control: lock, no early tick
    assert np.all(waits[-100:] == 0) and np.median(late_waits[-100:]) > 0.5 * lock.lead_ns
    # published ticks move at most the nudge plus the early window from the period
    assert np.all(np.abs(np.diff(ticks) - P) <= 1_000_000 + lock.early_window_ns)


def test_a_tick_is_early_only_within_the_window_and_only_with_the_lock_on():
    lock = PhaseLock(P, max_shift_ns=1_000_000, lead_ns=1_000_000)
    assert lock.chunk_ready(900_000) and lock.chunk_ready(lock.early_window_ns)
    assert not lock.chunk_ready(lock.early_window_ns + 1) and not lock.chunk_ready(-1)
    assert not lock.chunk_ready(20_000_000)
    assert not PhaseLock(P, max_shift_ns=0).chunk_ready(500_000)
