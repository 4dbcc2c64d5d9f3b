"""Task backends behind one interface: ``serial``, ``process`` (default) and ``ray``.

``TaskPool(backend, workers)`` keeps its workers between calls (evolution evaluates one
generation after another in the same pool); ``run_unordered(fn, tasks, ...)`` is the one-shot
form. Both yield ``fn(task)`` for every task in completion order. ``fn`` must be a module-level
function (it is pickled). Each worker keeps module-level caches (envs, models) between tasks,
and runs with one thread for OpenCV and torch: the pool already uses every core.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Self

BACKENDS = ("serial", "process", "ray")


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker() -> None:
    import cv2
    import torch

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
    """

    def __init__(self, backend: str = "process", workers: int = 0, ray_address: str | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")
        self.backend = backend
        self.workers = workers or (default_workers() if backend != "ray" else 0)
        self._pool = None
        if backend == "process" and self.workers > 1:
            self._pool = mp.get_context("spawn").Pool(self.workers, initializer=_init_worker)
        elif backend == "ray":
            try:
                from ray.util.multiprocessing import Pool as RayPool
            except ImportError as e:  # pragma: no cover - depends on the install
                raise ImportError("backend='ray' needs Ray: pip install -e '.[ray]'") from e
            self._pool = RayPool(processes=self.workers or None, initializer=_init_worker, ray_address=ray_address)

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(task)`` for each task as results arrive."""
        tasks = list(tasks)
        if self._pool is None or len(tasks) <= 1:
            for task in tasks:
                yield fn(task)
            return
        yield from self._pool.imap_unordered(fn, tasks)

    def close(self) -> None:
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
