"""Worker processes for the data stages (sim rendering, ingest), and a clear failure when one dies."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool


class WorkerDied(RuntimeError):
    """A worker process was killed (OOM killer, a crash) and its job lost: the run cannot finish."""


def spawn_pool(workers: int, **kwargs) -> ProcessPoolExecutor:
    # spawn: fresh processes, with no forked zarr/asyncio state or MuJoCo GL context (neither survives a
    # fork). An executor, not a multiprocessing.Pool: when a worker dies the Pool silently starts another
    # and waits forever for the lost job; the executor's futures fail instead (see `unordered`).
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), **kwargs)


def unordered(pool: ProcessPoolExecutor, fn, jobs: list, stage: str):
    """fn(job) for every job, yielded as each finishes; WorkerDied, naming the stage, if a worker dies."""
    try:
        for future in as_completed([pool.submit(fn, job) for job in jobs]):
            yield future.result()
    except BrokenProcessPool as e:
        raise WorkerDied(f"a {stage} worker process died (killed, or out of memory); the work finished so far "
                         f"is kept, and re-running the same command does only the rest") from e
