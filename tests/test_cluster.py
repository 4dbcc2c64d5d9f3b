"""A real multi-node Ray cluster on this machine (a head and worker nodes on the loopback address, each started
with ``ray start`` as on a real cluster): collect and evolve give the process pool's results, and a node lost
mid-generation costs nothing but time (Ray runs its tasks again on the nodes left)."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import worldmodels as wm
from worldmodels.training import evolve
from worldmodels.world.datasets import load_episode
from worldmodels.world.rollouts import collect

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")
TESTS = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    """The environment of every node and driver: this checkout (and the test tasks) on the path, whatever is
    installed, and Ray's token authentication on everywhere (``ray start`` turns it on; a driver must too)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", **extra}


def _start_node(address: str) -> subprocess.Popen:
    """A worker node of one CPU, in its own process group (``--block``: killing the group loses the node)."""
    return subprocess.Popen([RAY, "start", f"--address={address}", "--num-cpus=1", "--block"], env=_env(),
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _driver(code: str, address: str, **env: str) -> str:
    """Run ``code`` as a Ray driver process (ADDRESS is the cluster's); returns its stdout."""
    out = subprocess.run([sys.executable, "-c", code.replace("ADDRESS", address)], env=_env(**env),
                         capture_output=True, text=True, check=False, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _alive_nodes(address: str) -> list[str]:
    code = ("import json, ray; ray.init(address='ADDRESS', log_to_driver=False); "
            "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive']]))")
    return json.loads(_driver(code, address).splitlines()[-1])


def _wait_for_nodes(address: str, n: int, timeout: float = 90) -> list[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        nodes = _alive_nodes(address)
        if len(nodes) == n:
            return nodes
        time.sleep(1)
    raise AssertionError(f"the cluster never had {n} live nodes")


@pytest.fixture(scope="module")
def cluster():
    """``ray start --head`` plus one ``ray start --address=...`` node, one CPU each; stopped afterwards."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                    f"--temp-dir={temp}"], env=_env(), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    worker = _start_node(address)
    try:
        _wait_for_nodes(address, 2)
        yield address
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        subprocess.run([RAY, "stop", "--force"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def results(state):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in state["history"]]


def test_collect_and_evolve_on_a_cluster_equal_the_process_pool(cluster, world_model, wm_root):
    """The README's cluster commands, run as a user runs them, against the process pool in this process."""
    for command in (["collect", "--scale", "smoke", "--episodes", "4", "--steps", "30", "--name", "cluster"],
                    ["evolve", "--scale", "smoke", "--name", "cluster"]):
        out = subprocess.run([sys.executable, "-m", "worldmodels", *command, "--backend", "ray", "--ray-address",
                              cluster, "--quiet"], env=_env(WM_ROOT=str(wm_root)), capture_output=True, text=True,
                             check=False, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
    local = collect(wm.get_config("smoke", collect={"episodes": 4, "steps": 30}).collect, progress=False)
    for f in local:
        assert np.array_equal(load_episode(f)["obs"], load_episode(f.parent.parent / "cluster" / f.name)["obs"])
    by_process = evolve.evolve(wm.get_config("smoke", parallel={"backend": "process"}, evolution={"name": "process"}),
                               progress=False)
    by_cluster = evolve.load_state(evolve.run_dir(wm.get_config("smoke", evolution={"name": "cluster"}).evolution)
                                   / evolve.STATE)
    assert results(by_cluster) == results(by_process) and len(by_cluster["history"]) == 2
    assert np.array_equal(by_cluster["es"].mean, by_process["es"].mean)


LOSE_A_NODE = """
import sys
from pool_tasks import square_on_a_node
from worldmodels.core.parallel import TaskPool

with TaskPool("ray", ray_address="ADDRESS") as pool:
    print(sorted(pool.imap_unordered(square_on_a_node, [(sys.argv[1], i) for i in range(12)])))
"""


def test_a_node_lost_mid_generation_costs_only_time(cluster, tmp_path):
    before = set(_alive_nodes(cluster))
    extra = _start_node(cluster)
    try:
        doomed = (set(_wait_for_nodes(cluster, len(before) + 1)) - before).pop()
        run = subprocess.Popen([sys.executable, "-c", LOSE_A_NODE.replace("ADDRESS", cluster), str(tmp_path)],
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while not list(tmp_path.glob(f"started_*_{doomed}")) and time.time() < deadline and run.poll() is None:
            time.sleep(0.1)
        seen = sorted(p.name for p in tmp_path.iterdir())
        if run.poll() is not None:
            pytest.fail(f"the run ended before the node could be lost: {run.communicate()[1][-3000:]}")
        assert list(tmp_path.glob(f"started_*_{doomed}")), f"no task ran on the extra node {doomed}: {seen}"
        os.killpg(extra.pid, signal.SIGKILL)  # the node and its workers, mid-task
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, err[-3000:]
        assert out.splitlines()[-1] == str([i * i for i in range(12)])
        lost = {p.name.split("_")[1] for p in tmp_path.glob(f"started_*_{doomed}")}
        elsewhere = {p.name.split("_")[1] for p in tmp_path.glob("started_*") if not p.name.endswith(doomed)}
        assert lost <= elsewhere  # what the lost node was running ran again on another
    finally:
        if extra.poll() is None:
            os.killpg(extra.pid, signal.SIGKILL)
