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
process, whose ``close()`` kills the workers at once instead of waiting for their tasks. On Linux a worker also
dies with the process that started it (SIGTERM or SIGKILL of a run, which skip ``close()``).

The Ray backend submits each task as a Ray task of one CPU (``max_retries=retries``): Ray runs the tasks of a
worker process or a node that was lost again elsewhere, so a run on a cluster survives losing a node as long as
one is left. A task's own exception is raised as it was, never retried.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from .config import ParallelConfig

BACKENDS = ("serial", "process", "ray")


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class WorkerLostError(RuntimeError):
    """A worker process died while running tasks, more often than the pool retries."""


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when the process that started it ends, however it ends (SIGTERM and
    SIGKILL skip ``close()``): otherwise a killed run leaves its workers computing for nobody. Elsewhere a no-op."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


def _init_worker(parent: int | None = None) -> None:
    import cv2
    import torch

    if parent is not None and sys.platform.startswith("linux"):
        _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


_WORKER_READY = False


RAY_CONNECT_TIMEOUT = 10.0  # seconds to wait for a Ray cluster's port to answer


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Refuse, within ``timeout`` seconds, a Ray address (``host:port`` or ``ray://host:port``) whose port does not
    answer, or one that names no port, with a message that names the flag and the fix."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--ray-address {address!r}: expected HOST:PORT or ray://HOST:PORT (or auto), for example "
                         f"127.0.0.1:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"--ray-address {address!r}: nothing answers at {host}:{port} within {timeout:.0f} s "
                         f"({e.strerror or e}); start the cluster (`ray start --head`), fix the address, or leave "
                         f"--ray-address out to start a local Ray") from None


def _ray_call(fn: Callable[[Any], Any], task: Any) -> Any:
    """A Ray task: ``fn(task)`` in a worker set up as the process pool's are (once per worker process)."""
    global _WORKER_READY
    if not _WORKER_READY:
        _init_worker()
        _WORKER_READY = True
    return fn(task)


class TaskPool:
    """A pool of workers that lives until ``close()`` (or the end of a ``with`` block).

    Args:
        backend: ``serial`` (this process), ``process`` (a spawn process pool) or
            ``ray`` (Ray tasks of one CPU each, local or on a cluster).
        workers: pool size; 0 means ``default_workers()`` (for ``ray``, 0 lets Ray use the whole
            cluster; N keeps at most N tasks running).
        ray_address: a Ray cluster address (``"auto"``, ``"127.0.0.1:6379"``, ``"ray://host:10001"``);
            None starts a local Ray (or joins the one this process already started).
        retries: how many times the tasks of a worker that died (or, on Ray, of a node that was lost) run again.
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
                import ray
            except ImportError as e:  # pragma: no cover - depends on the install
                raise ImportError("backend='ray' needs Ray: pip install -e '.[ray]'") from e
            self._owns_ray = not ray.is_initialized()
            if self._owns_ray:
                if ray_address not in (None, "auto", "local"):
                    check_ray_address(ray_address)  # ray.init would retry an unreachable address for minutes
                # the workers find the project where this process does (WM_ROOT, when it is set)
                env = {k: os.environ[k] for k in ("WM_ROOT",) if k in os.environ}
                ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": env} if env else None)
            # system failures (a worker process or node lost) are retried by Ray; a task's own error is not
            self._pool = ray.remote(num_cpus=1, max_retries=retries)(_ray_call)

    @classmethod
    def of(cls, parallel: ParallelConfig, retries: int = 2) -> Self:
        """The pool a config's ``parallel`` section describes."""
        return cls(parallel.backend, parallel.workers, parallel.ray_address, retries)

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
        yield from self._run_on_ray(fn, tasks)

    def _run_on_ray(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        import ray
        from ray.exceptions import RayTaskError

        queued, running = list(reversed(tasks)), []
        limit = self.workers or len(tasks)
        try:
            while queued or running:
                while queued and len(running) < limit:
                    running.append(self._pool.remote(fn, queued.pop()))
                done, running = ray.wait(running, num_returns=1)
                try:
                    yield ray.get(done[0])
                except RayTaskError as e:  # the task's own exception, as it was raised
                    raise e.as_instanceof_cause() from None
                except ray.exceptions.RayError as e:  # lost more often than Ray retries
                    raise WorkerLostError(f"Ray lost the worker or node running {fn.__name__} more than "
                                          f"{self.retries} times ({type(e).__name__}); a run resumes from what it "
                                          f"last saved: check the cluster (ray status) and run the same command "
                                          f"again") from e
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                   initargs=(os.getpid(),))

    def _run_on_processes(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        left = dict(enumerate(tasks))  # tasks whose result has not been yielded
        for attempt in range(self.retries + 1):
            futures = {self._executor.submit(fn, task): i for i, task in left.items()}
            try:
                # as_completed waits on every future once: wait(FIRST_COMPLETED) in a loop costs O(tasks) a result,
                # which for 10,000 episodes took 7% of a core from the workers (12 s of CPU in the first 170 s)
                for future in as_completed(futures):
                    result = future.result()  # a task's own exception propagates as it is
                    del left[futures[future]]
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
            self._pool = None
            if self._owns_ray:
                import ray

                ray.shutdown()

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
