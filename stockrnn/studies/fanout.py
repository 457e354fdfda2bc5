"""Independent fits in parallel (`--jobs N` processes here, or `--ray` tasks on a cluster):
backtest folds, compare candidates.

Each of the N worker processes gets cores // N torch threads, so N jobs never oversubscribe the
machine (N jobs of all cores each would run slower than one). Workers are spawned, not forked: a
fork of a process whose torch thread pool is running can deadlock. Results come back in task
order whatever order they finish in, so the folders written are the same as with one job.

On Ray each fit is a task asking for its CPUs (or a GPU); an argument shared by several tasks
(the prices, the prepared data) goes to Ray's object store once. The driver still writes every
folder, so nothing but Ray's own session files is written on the cluster.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (taskset, cgroups' cpusets)
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    return max(1, available_cores() // max(1, jobs))


def _limit_threads(threads: int) -> None:
    """torch's and the BLAS's threads (numpy, scipy: GARCH's optimiser) alike, here as under Ray,
    which sets OMP_NUM_THREADS for its workers. torch is limited now if loaded, else through the
    variables it reads when a task first imports it: a worker fitting GARCH alone never pays torch's
    import (about a second)."""
    from threadpoolctl import threadpool_limits

    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    threadpool_limits(threads)  # the libraries already loaded
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # a reused (Ray) worker that ran torch already: set once
            torch.set_num_interop_threads(1)


def run_all(
    function: Callable,
    tasks: Sequence[tuple],
    jobs: int,
    on_done: Callable[[int, object], None] | None = None,
    ray: str | None = None,
    gpus: float = 0.0,
    keep: bool = True,
) -> list:
    """`function(*task)` for every task, in `jobs` processes (in this one for jobs <= 1), or as
    Ray tasks with `ray` (an address, `auto`, or `local` for a private instance); the results in
    task order. `function` must be importable by name (a module-level function).

    keep=False: each result goes to `on_done` only and the list holds None, so large results
    (a backtest fit carries its panel) are never all in memory at once."""
    if ray is not None:
        return _run_on_ray(function, tasks, jobs, on_done, ray, gpus, keep)
    results: list = [None] * len(tasks)

    def finished(index: int, result) -> None:
        if on_done:
            on_done(index, result)
        if keep:
            results[index] = result

    if jobs <= 1 or len(tasks) <= 1:
        for index, task in enumerate(tasks):
            finished(index, function(*task))
        return results
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = min(jobs, len(tasks))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_limit_threads,
        initargs=(threads_per_job(workers),),
    )
    try:
        pending = {pool.submit(function, *task): index for index, task in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)  # report each fit as it ends
            for future in done:
                index = pending.pop(future)
                finished(index, future.result())  # a worker's error is raised here, as itself
    finally:
        # Done: the idle workers' clean exit (torch's teardown) would keep the command 0.8 s. An
        # error or a signal: the other fits stop now rather than run to their end.
        _stop(pool)
    return results


def _stop(pool) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join()


# A worker first imports arch and scipy (1-2 s) and a GARCH fit takes about 25 ms: 100 tickers
# in two processes broke even with one (0.91-1.17x, make bench --quick), 500 gained 1.6-1.7x.
TICKERS_PER_JOB = 100


def ticker_map(jobs: int) -> Callable | None:
    """A `map_tickers` for fit_baselines: the per-ticker fits (GARCH's) in `jobs` processes when
    there are enough tickers for that to pay; None (here, one after another) otherwise."""
    if jobs <= 1:
        return None

    def map_tickers(function: Callable, tasks: Sequence[tuple]) -> list:
        if len(tasks) < TICKERS_PER_JOB * 2:
            return each(function, tasks)
        workers = min(jobs, len(tasks) // TICKERS_PER_JOB)
        # A few chunks per worker: one message each way per chunk, and a slow chunk still balances.
        size = -(-len(tasks) // (workers * 4))
        chunks = [(function, tasks[start : start + size]) for start in range(0, len(tasks), size)]
        return [result for chunk in run_all(each, chunks, workers) for result in chunk]

    return map_tickers


def each(function: Callable, tasks: Sequence[tuple]) -> list:
    return [function(*task) for task in tasks]


def _call_with_threads(threads: int, function: Callable, *args):
    _limit_threads(threads)
    return function(*args)


def _run_on_ray(function, tasks, jobs, on_done, address: str, gpus: float, keep: bool = True) -> list:
    """Each task a Ray task of `max(1, cores // jobs)` CPUs of this machine's count (a cluster's
    nodes are assumed alike) and `gpus` GPUs."""
    try:
        import ray
    except ImportError:
        from stockrnn.errors import ConfigError

        raise ConfigError(
            f"--ray {address}: Ray is not installed; pip install 'stockrnn[ray]' (or run without --ray)"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        options = {"include_dashboard": False, "log_to_driver": False}
        if address == "local":
            ray.init(num_cpus=available_cores(), **options)  # a private instance on this machine
        else:
            ray.init(address=address, **options)  # "auto": the cluster `ray start` made here
    pending: dict = {}
    try:
        threads = threads_per_job(jobs)
        remote = ray.remote(num_cpus=threads, num_gpus=gpus)(_call_with_threads)
        shared: dict[int, object] = {}  # one object-store copy per argument the tasks share
        counts: dict[int, int] = {}
        for task in tasks:
            for argument in task:
                counts[id(argument)] = counts.get(id(argument), 0) + 1

        def placed(argument):
            if counts[id(argument)] < 2 or isinstance(argument, (str, int, float, bool, type(None))):
                return argument
            if id(argument) not in shared:
                shared[id(argument)] = ray.put(argument)
            return shared[id(argument)]

        pending = {
            remote.remote(threads, function, *(placed(a) for a in task)): index
            for index, task in enumerate(tasks)
        }
        results: list = [None] * len(tasks)
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayTaskError as exc:
                raise (exc.cause or exc) from None  # the task's own error: a DataError stays a 65
            if on_done:
                on_done(index, result)
            if keep:
                results[index] = result
        return results
    except BaseException:
        for ref in pending:  # an error or a signal: the other fits stop now
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
