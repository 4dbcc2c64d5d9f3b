"""Task backends behind one interface: ``serial``, ``process`` (default) and ``ray``.

``TaskPool(backend, workers)`` keeps its workers between calls (evolution evaluates one
generation after another in the same pool); ``run_unordered(fn, tasks, ...)`` is the one-shot
form. Both yield ``fn(task)`` for every task in completion order. ``fn`` must be a module-level
function (it is pickled). Each worker keeps module-level caches (envs, models) between tasks,
and runs with one thread for OpenCV and torch: the pool already uses every core.

The process backend is a ``concurrent.futures.ProcessPoolExecutor``, which notices a worker that died (killed,
out of memory): the tasks that had not returned run again on fresh workers, up to ``retries`` times, then
``WorkerLostError`` says so. Tasks must therefore be pure functions of their arguments, as every task here is
(an episode's result depends only on its seed and parameters). Workers ignore SIGINT: Ctrl-C reaches the main
process, whose ``close()`` kills the workers at once instead of waiting for their tasks.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Self

BACKENDS = ("serial", "process", "ray")


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class WorkerLostError(RuntimeError):
    """A worker process died while running tasks, more often than the pool retries."""


def _init_worker() -> None:
    import cv2
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class TaskPool:
    """A pool of workers that lives until ``close()`` (or the end of a ``with`` block).

    Args:
        backend: ``serial`` (this process), ``process`` (a spawn process pool) or
            ``ray`` (``ray.util.multiprocessing.Pool``, local or on a cluster).
        workers: pool size; 0 means ``default_workers()`` (for ``ray`` on a cluster,
            0 lets Ray use the whole cluster).
        ray_address: a Ray cluster address (``"auto"``, ``"ray://host:10001"``);
            None starts a local Ray (or joins the one this process already started).
        retries: ``process``: how many times the tasks a dead worker left unfinished run again.
    """

    def __init__(self, backend: str = "process", workers: int = 0, ray_address: str | None = None,
                 retries: int = 2):
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")
        self.backend = backend
        self.workers = workers or (default_workers() if backend != "ray" else 0)
        self.retries = retries
        self._pool = None
        self._executor = None
        if backend == "process" and self.workers > 1:
            self._executor = self._new_executor()
        elif backend == "ray":
            try:
                from ray.util.multiprocessing import Pool as RayPool
            except ImportError as e:  # pragma: no cover - depends on the install
                raise ImportError("backend='ray' needs Ray: pip install -e '.[ray]'") from e
            self._pool = RayPool(processes=self.workers or None, initializer=_init_worker, ray_address=ray_address)

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(task)`` for each task as results arrive."""
        tasks = list(tasks)
        if (self._pool is None and self._executor is None) or len(tasks) <= 1:
            for task in tasks:
                yield fn(task)
            return
        if self._executor is not None:
            yield from self._run_on_processes(fn, tasks)
            return
        yield from self._pool.imap_unordered(fn, tasks)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker)

    def _run_on_processes(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        left = dict(enumerate(tasks))  # tasks whose result has not been yielded
        for attempt in range(self.retries + 1):
            futures = {self._executor.submit(fn, task): i for i, task in left.items()}
            try:
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()  # a task's own exception propagates as it is
                        del left[futures.pop(future)]
                        yield result
                return
            except BrokenProcessPool:
                self._kill_workers()
                self._executor = self._new_executor()
                if attempt == self.retries:
                    raise WorkerLostError(
                        f"a worker process died (killed, or out of memory) {attempt + 1} times while running "
                        f"{fn.__name__} ({len(left)} of {len(tasks)} tasks unfinished); a run resumes from what it "
                        f"last saved: free memory, or pass fewer --workers, and run the same command again") from None
                warnings.warn(f"a worker process died while running {fn.__name__}: its {len(left)} unfinished "
                              f"tasks run again on fresh workers", RuntimeWarning, stacklevel=2)

    def _kill_workers(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            process.kill()  # at once: a worker may be in the middle of a long task
        executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._kill_workers()
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_unordered(
    fn: Callable[[Any], Any],
    tasks: Iterable[Any],
    backend: str = "process",
    workers: int = 0,
    ray_address: str | None = None,
) -> Iterator[Any]:
    """Yield ``fn(task)`` for each task as results arrive, from a pool made for this call (see ``TaskPool``)."""
    tasks = list(tasks)
    if len(tasks) <= 1:
        backend = "serial"  # not worth starting workers
    with TaskPool(backend, workers, ray_address) as pool:
        yield from pool.imap_unordered(fn, tasks)
