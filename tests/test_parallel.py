"""The process pool survives a worker that dies, stops at once on Ctrl-C, and passes task errors through."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pool_tasks
import pytest

from worldmodels.core.parallel import TaskPool, WorkerLostError


def test_tasks_of_a_worker_killed_mid_task_run_again_on_a_fresh_one(tmp_path):
    with TaskPool("process", workers=2) as pool, pytest.warns(RuntimeWarning, match="a worker process died"):
        results = list(pool.imap_unordered(pool_tasks.square_or_die_once, [(str(tmp_path), i) for i in range(8)]))
    assert sorted(results) == [i * i for i in range(8)]
    assert (tmp_path / "died").exists()  # it did die once


def test_a_worker_that_keeps_dying_gives_a_clear_error(tmp_path):
    with TaskPool("process", workers=2, retries=1) as pool, \
            pytest.raises(WorkerLostError, match="a worker process died .* 2 times while running always_die"), \
            pytest.warns(RuntimeWarning):
        list(pool.imap_unordered(pool_tasks.always_die, range(4)))


def test_a_task_error_propagates_and_the_pool_stays_usable():
    with TaskPool("process", workers=2) as pool:
        with pytest.raises(ValueError, match="task 1 failed"):
            list(pool.imap_unordered(pool_tasks.fail, [1, 1]))
        assert sorted(pool.imap_unordered(abs, [-1, -2, 3])) == [1, 2, 3]


SCRIPT = textwrap.dedent("""
    import signal
    import sys
    import pool_tasks

    # as a terminal's foreground job: a runner that started the tests in the background may have left SIGINT
    # ignored, which every child inherits
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from worldmodels.core.parallel import TaskPool

    with TaskPool("process", workers=2) as pool:
        list(pool.imap_unordered(pool_tasks.sleep_long, [(sys.argv[1], i, bytes(1 << 20)) for i in range(32)]))
""")


def _busy_pool(folder: Path) -> subprocess.Popen:
    """SCRIPT in its own process group, returned once both of its workers are mid-task."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(Path.cwd())])}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(folder)], env=env, start_new_session=True,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(list(folder.glob("started_*"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if len(list(folder.glob("started_*"))) < 2:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the workers never started")
    return proc


@pytest.mark.parametrize("attempt", range(6))
def test_ctrl_c_to_the_process_group_ends_a_busy_pool_at_once(tmp_path, attempt):
    """Ctrl-C (SIGINT to the whole group, as a terminal sends it) while both workers are mid-task: the main
    process exits within seconds and leaves no worker behind (the old multiprocessing pool hung 1 time in 8)."""
    proc = _busy_pool(tmp_path)
    try:
        time.sleep(0.1 * attempt)  # interrupt at a few different moments
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("Ctrl-C did not end the pool within 15 s")
    workers = [int(p.read_text()) for p in tmp_path.glob("started_*")]
    time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)], "a worker outlived the pool"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_die_with_a_run_that_is_terminated_or_killed(tmp_path, sig):
    """SIGTERM or SIGKILL to the main process alone (as a scheduler or ``kill`` sends it) skips ``close()``;
    the workers end with it instead of running their minute-long tasks for nobody."""
    proc = _busy_pool(tmp_path)
    try:
        proc.send_signal(sig)
        proc.communicate(timeout=15)
        workers = [int(p.read_text()) for p in tmp_path.glob("started_*")]
        deadline = time.time() + 10
        while [pid for pid in workers if _alive(pid)] and time.time() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "a worker outlived its run"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # nothing of the group is left
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent, which has exited too) is not alive
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
