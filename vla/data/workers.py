"""Worker processes for the data stages (sim rendering, ingest, labelling), and a clear failure when one dies.
engine=local: a process pool on this machine; engine=ray: Ray Data actors, on a local Ray or a cluster."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import numpy as np


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


# ---- the Ray engine (engine=ray): the same jobs on a Ray cluster, local or existing -------------------------

@contextlib.contextmanager
def ray_session(address: str | None = None):
    """Ray for one run: the session already open in this process, else the cluster at `address`
    ("auto", "ray://head:10001"), else a local Ray started now and stopped after the run."""
    import ray

    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline by default: no usage report
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


class _RayActor:
    """One Ray Data actor: runs the initializer once (open the store, load the model), then fn per job."""

    def __init__(self, fn, jobs: list, initializer=None, initargs: tuple = ()):
        if initializer is not None:
            initializer(*initargs)
        self.fn, self.jobs = fn, jobs

    def __call__(self, batch: dict) -> dict:
        results = np.empty(len(batch["i"]), dtype=object)  # one Python object per job, whatever fn returns
        for k, i in enumerate(batch["i"]):
            results[k] = self.fn(self.jobs[int(i)])
        return {"result": results}


def ray_unordered(fn, jobs: list, stage: str, workers: int, initializer=None, initargs: tuple = (),
                  gpus_per_worker: float = 0.0):
    """fn(job) for every job on `workers` Ray actors (Ray Data: streamed, retried on another actor when one
    dies), yielded as each finishes: the Ray counterpart of spawn_pool(initializer) + unordered(). fn must be
    idempotent per job: a job retried after a worker died runs again from its start."""
    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the caller's progress bar and log say what runs
    ray.data.DataContext.get_current().enable_progress_bars = False
    blocks = ray.data.from_items([{"i": i} for i in range(len(jobs))], override_num_blocks=max(1, len(jobs)))
    results = blocks.map_batches(_RayActor, fn_constructor_args=(fn, jobs, initializer, initargs), batch_size=1,
                                 compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
                                 num_gpus=gpus_per_worker)
    try:
        for row in results.iter_rows():
            yield row["result"]
    except ray.exceptions.RayError as e:
        raise WorkerDied(f"a {stage} job failed on Ray ({type(e).__name__}); the work finished so far is kept, "
                         f"and re-running the same command does only the rest") from e
