"""Task backends behind one interface: ``serial``, ``process`` (default) and ``ray``.

``run_unordered(fn, tasks, backend, workers)`` yields ``fn(task)`` for every task,
in completion order. ``fn`` must be a module-level function (it is pickled).
Each worker process keeps module-level caches (an env, say) between tasks.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

BACKENDS = ("serial", "process", "ray")


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker() -> None:
    # one thread per worker: the pool already uses every core
    import cv2

    cv2.setNumThreads(1)


def run_unordered(
    fn: Callable[[Any], Any],
    tasks: Iterable[Any],
    backend: str = "process",
    workers: int = 0,
    ray_address: str | None = None,
) -> Iterator[Any]:
    """Yield ``fn(task)`` for each task as results arrive.

    Args:
        fn: a picklable module-level function of one argument.
        tasks: the arguments; consumed lazily.
        backend: ``serial`` (this process), ``process`` (a spawn process pool) or
            ``ray`` (``ray.util.multiprocessing.Pool``, local or on a cluster).
        workers: pool size; 0 means ``default_workers()`` (for ``ray`` on a cluster,
            0 lets Ray use the whole cluster).
        ray_address: a Ray cluster address (``"auto"``, ``"ray://host:10001"``);
            None starts a local Ray.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")
    tasks = list(tasks)
    if backend == "serial" or (backend == "process" and (workers or default_workers()) == 1) or len(tasks) <= 1:
        for task in tasks:
            yield fn(task)
        return
    if backend == "process":
        with mp.get_context("spawn").Pool(workers or default_workers(), initializer=_init_worker) as pool:
            yield from pool.imap_unordered(fn, tasks)
        return
    try:
        from ray.util.multiprocessing import Pool as RayPool
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("backend='ray' needs Ray: pip install -e '.[ray]'") from e
    with RayPool(processes=workers or None, initializer=_init_worker, ray_address=ray_address) as pool:
        yield from pool.imap_unordered(fn, tasks)
