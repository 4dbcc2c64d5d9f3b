"""Writes that cannot happen (a read-only place, a full disk) fail at once, name the path, and leave no temporary
file; run folders hold one writer at a time."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest

from worldmodels.cli import main
from worldmodels.core import storage
from worldmodels.core.storage import WriteError


@pytest.fixture
def small_disk(tmp_path):
    """A real 512 KiB filesystem (tmpfs), where this machine lets the tests mount one."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root and mount permission")
    yield where
    subprocess.run(["umount", str(where)], check=False)


def test_a_full_disk_names_the_file_and_leaves_no_temporary(small_disk):
    with pytest.raises(WriteError, match=r"big.npz: cannot write there \(No space left on device\)"):
        storage.save_npz(small_disk / "run" / "big.npz", x=np.random.default_rng(0).random(200_000))
    assert not [p for p in (small_disk / "run").iterdir()]


def test_collect_on_a_full_disk_fails_naming_the_episode(small_disk):
    env = {**os.environ, "WM_ROOT": str(small_disk)}
    out = subprocess.run([sys.executable, "-m", "worldmodels", "collect", "--scale", "smoke", "--backend", "serial",
                          "--episodes", "4", "--steps", "200", "--quiet"], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 2 and "cannot write there (No space left on device)" in out.stderr
    assert "data/rollouts/smoke/0000" in out.stderr and "Traceback" not in out.stderr
    assert not list((small_disk / "data" / "rollouts" / "smoke").glob(".*.tmp"))


def test_a_failed_write_names_the_path_even_where_the_os_does_not(tmp_path, monkeypatch):
    """Plumbing: ENOSPC from fsync (as a full disk gives it) comes back naming the file."""
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(storage.os, "fsync", full)
    with pytest.raises(WriteError, match=r"out.json: cannot write there \(No space left on device\)"):
        storage.save_json(tmp_path / "out.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_project_is_refused_before_any_work(world_model, wm_root, capsys):
    """``data`` is a file, not a folder: every command that writes there stops at once, naming the path."""
    (wm_root / "data").write_text("not a folder")
    assert main(["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "data/runs/controller_vae_smoke: cannot write there" in err
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 2
    assert "data/rollouts/smoke: cannot write there" in capsys.readouterr().err


def test_a_release_that_cannot_be_written_is_refused_before_training(wm_root, capsys):
    (wm_root / "checkpoints").write_text("not a folder")
    assert main(["train-vae", "--scale", "smoke", "--quiet", "--release", "x"]) == 2
    assert "checkpoints/vae: cannot write there" in capsys.readouterr().err
    assert not (wm_root / "data" / "runs").exists()  # no training began


def test_a_locked_run_folder_is_a_clear_cli_error(wm_root, capsys):
    with storage.run_lock(wm_root / "data" / "rollouts" / "smoke"):
        assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 2
    assert "another run is using this folder" in capsys.readouterr().err
