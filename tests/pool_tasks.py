"""Task functions for the pool tests: module-level, so spawned workers can import them."""

import os
import signal
import time
from pathlib import Path


def square_or_die_once(task: tuple[str, int]) -> int:
    """``i * i``; task 3 kills its worker the first time it runs (a marker file remembers)."""
    folder, i = task
    marker = Path(folder) / "died"
    if i == 3 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return i * i


def always_die(task: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return task


def fail(task: int) -> int:
    raise ValueError(f"task {task} failed")


def sleep_long(task: tuple[str, int, bytes]) -> int:
    """Tell the test it started (a file per task), then run for a minute: long enough to be interrupted. The
    payload makes the task big, as evolution's are (parameters for 32 envs), so queued tasks fill the pipe."""
    folder, i, _payload = task
    (Path(folder) / f"started_{i}").write_text(str(os.getpid()))
    time.sleep(60)
    return i


def square_on_a_node(task: tuple[str, int]) -> int:
    """``i * i`` after 3 s, leaving ``started_<i>_<node id>`` so the test knows which node runs what."""
    import ray

    folder, i = task
    node = ray.get_runtime_context().get_node_id()
    (Path(folder) / f"started_{i}_{node}").write_text(str(os.getpid()))
    time.sleep(3)
    return i * i
