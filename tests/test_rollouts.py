"""Collection: file format, determinism, backends, resume after a kill, bad folders."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from worldmodels import get_config
from worldmodels.core import paths
from worldmodels.core.config import ParallelConfig
from worldmodels.world import rollouts
from worldmodels.world.datasets import load_episode, verify
from worldmodels.world.policies import BrownianPolicy, RandomRefreshPolicy
from worldmodels.world.rollouts import episode_path

REPO = Path(__file__).resolve().parent.parent


def collect(cfg, *args, backend="serial", workers=0, **kwargs):
    """The package's ``collect``, serial unless a test asks for a pool (a pool costs seconds to start)."""
    return rollouts.collect(cfg, *args, parallel=ParallelConfig(backend, workers), **kwargs)


def small(**overrides):
    return get_config("smoke", collect={"episodes": 3, "steps": 25, **overrides}).collect


def test_collect_writes_one_valid_file_per_seeded_episode(wm_root):
    cfg = small(seed=10)
    files = collect(cfg, progress=False)
    assert files == [paths.rollout_dir("smoke") / f"{s:06d}.npz" for s in (10, 11, 12)]
    for seed, f in zip((10, 11, 12), files):
        ep = load_episode(f, frame_size=64)
        assert ep["obs"].shape == (26, 64, 64, 3) and ep["obs"].dtype == np.uint8
        assert ep["action"].shape == (25, 3) and int(ep["seed"]) == seed
        assert np.all(ep["action"] >= [-1, 0, 0]) and np.all(ep["action"] <= [1, 1, 1])
    manifest = json.loads((files[0].parent / "manifest.json").read_text())
    assert manifest["env_id"] == "CarRacing-v3" and manifest["data"]["renderer"] == "fast"
    assert manifest["versions"]["gymnasium"] == "1.4.0"
    assert not list(files[0].parent.glob(".*.tmp"))


def test_process_pool_and_serial_give_identical_episodes(wm_root):
    a = collect(small(name="a"), progress=False, backend="process", workers=2)
    b = collect(small(name="b"), progress=False)
    for fa, fb in zip(a, b):
        ea, eb = load_episode(fa), load_episode(fb)
        for key in ea:
            assert np.array_equal(ea[key], eb[key]), key


def test_ray_backend_gives_the_same_episodes(wm_root):
    pytest.importorskip("ray")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        a = collect(small(name="ray"), progress=False, backend="ray", workers=2)
    finally:
        ray.shutdown()
    b = collect(small(name="serial"), progress=False)
    for fa, fb in zip(a, b):
        assert np.array_equal(load_episode(fa)["obs"], load_episode(fb)["obs"])


def test_resume_keeps_finished_episodes_and_fills_gaps(wm_root):
    cfg = small()
    files = collect(cfg, progress=False)
    stamps = {f: f.stat().st_mtime_ns for f in files}
    files[1].unlink()
    (files[0].parent / ".000001.npz.abc.tmp").write_bytes(b"half a file")  # left by a killed writer
    again = collect(cfg, progress=False)
    assert again == files
    assert files[0].stat().st_mtime_ns == stamps[files[0]] and files[2].stat().st_mtime_ns == stamps[files[2]]
    assert files[1].exists() and not list(files[0].parent.glob(".*.tmp"))
    manifest = (files[0].parent / "manifest.json").read_bytes()
    assert collect(cfg, progress=False) == files  # nothing to collect: the manifest (a subset's anchor) unchanged
    assert (files[0].parent / "manifest.json").read_bytes() == manifest
    assert len(json.loads(manifest)["runs"]) == 2
    bigger = collect(small(episodes=5), progress=False)
    assert len(bigger) == 5 and verify(bigger[0].parent) == []
    assert len(json.loads((files[0].parent / "manifest.json").read_text())["runs"]) == 3


def test_damaged_file_is_set_aside_and_collected_again(wm_root):
    cfg = small()
    files = collect(cfg, progress=False)
    good = files[2].read_bytes()
    files[2].write_bytes(good[: len(good) // 2])
    collect(cfg, progress=False)
    assert files[2].read_bytes() == good  # deterministic: the same episode again
    assert files[2].with_suffix(".npz.corrupt").exists()


def test_a_flipped_bit_is_found_on_resume_and_the_episode_collected_again(wm_root):
    """The resume check reads every member's CRC-32, not only the zip directory."""
    cfg = small()
    files = collect(cfg, progress=False)
    good = bytearray(files[1].read_bytes())
    flipped = good.copy()
    flipped[len(good) // 2] ^= 0x10  # inside obs.npy's compressed bytes
    files[1].write_bytes(bytes(flipped))
    assert not rollouts.is_complete(files[1]) and rollouts.is_complete(files[0])
    collect(cfg, progress=False)
    assert files[1].read_bytes() == bytes(good) and files[1].with_suffix(".npz.corrupt").exists()


def test_episodes_without_their_manifest_are_not_adopted(wm_root):
    """A deleted manifest would be rewritten from today's flags over episodes made with others: refused."""
    cfg = small()
    files = collect(cfg, progress=False)
    (files[0].parent / "manifest.json").unlink()
    with pytest.raises(ValueError, match=r"holds 3 episode files but no manifest.json"):
        collect(small(steps=30), progress=False)
    assert not (files[0].parent / "manifest.json").exists()


def test_a_second_collect_into_the_same_folder_is_refused(wm_root):
    from worldmodels.core.storage import RunLockedError, run_lock

    cfg = small()
    with run_lock(wm_root / "data" / "rollouts" / cfg.name), pytest.raises(RunLockedError, match="another run"):
        collect(cfg, progress=False)


def test_folder_with_other_settings_is_refused(wm_root):
    collect(small(), progress=False)
    with pytest.raises(ValueError, match="steps: folder has 25, asked 30"):
        collect(small(steps=30), progress=False)


def test_killed_collection_resumes_to_exactly_the_requested_episodes(wm_root):
    command = [sys.executable, "-m", "worldmodels", "collect", "--scale", "smoke", "--episodes", "8",
               "--steps", "60", "--workers", "2", "--quiet"]
    env = {**os.environ, "WM_ROOT": str(wm_root)}
    folder = wm_root / "data" / "rollouts" / "smoke"
    proc = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(folder.glob("*.npz"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers, mid-episode
    proc.wait()
    time.sleep(0.5)
    done_before = len(list(folder.glob("[0-9]*.npz")))
    assert 2 <= done_before < 8, "the kill should land in the middle of the run"
    assert all(load_episode(f) for f in folder.glob("[0-9]*.npz"))  # no partial file is visible
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = sorted(folder.glob("[0-9]*.npz"))
    assert [f.name for f in files] == [f"{s:06d}.npz" for s in range(8)]
    assert verify(folder) == [] and not list(folder.glob(".*.tmp"))


def test_random_policy_holds_each_action_for_the_refresh_period():
    policy = RandomRefreshPolicy(refresh=20)
    policy.reset(np.random.default_rng(0))
    actions = np.stack([policy.act(None, t).copy() for t in range(60)])
    assert np.all(actions[:20] == actions[0]) and not np.all(actions[20] == actions[0])


def test_brownian_policy_is_smooth_and_inside_the_action_space():
    policy = BrownianPolicy()
    policy.reset(np.random.default_rng(1))
    actions = np.stack([policy.act(None, t).copy() for t in range(500)])
    assert np.all(actions >= [-1, 0, 0]) and np.all(actions <= [1, 1, 1])
    assert np.abs(np.diff(actions, axis=0)).max() < 1.5  # steps of a few sigma, not jumps across the range
    assert actions[:, 0].std() > 0.2  # it does explore steering


def test_episode_path_pattern():
    assert episode_path(Path("x"), 42) == Path("x/000042.npz")


def test_agent_policy_collects_with_a_trained_controller_plus_noise(world_model, wm_root):
    """The paper's iterative procedure: rollouts driven by an agent file (here a full-gas, straight one)."""
    from worldmodels.agent.files import AgentSpec, save_agent
    from worldmodels.agent.policy import make_policy
    from worldmodels.core.config import ControllerConfig

    spec = AgentSpec.build(*world_model, ControllerConfig())
    params = np.zeros(867)
    params[-2] = 5.0  # gas bias: full gas
    save_agent(wm_root / "checkpoints" / "controller" / "gas.pt", spec, params)
    cfg = small(name="agent", policy="agent", agent="checkpoints/controller/gas.pt", action_noise=0.05, episodes=2)
    with pytest.raises(ValueError, match="make_policy=worldmodels.agent.policy.make_policy"):
        collect(cfg, progress=False)  # the world layer alone knows no agents
    files = collect(cfg, progress=False, make_policy=make_policy)
    actions = np.concatenate([load_episode(f)["action"] for f in files])
    assert np.all(actions >= [-1, 0, 0]) and np.all(actions <= [1, 1, 1])
    assert actions[:, 1].mean() > 0.9 and 0 < actions[:, 0].std() < 0.2  # the agent's gas, plus a little noise
    manifest = json.loads((files[0].parent / "manifest.json").read_text())["data"]
    assert manifest["agent"] == "checkpoints/controller/gas.pt" and len(manifest["agent_sha256"]) == 64
    # what V and M cards record of their data: the manifest, not the preset the training command ran with
    summary = rollouts.collection("agent")
    assert summary["policy"] == "agent" and summary["agent"] == "checkpoints/controller/gas.pt"
    assert summary["action_noise"] == 0.05 and summary["episodes"] == 2 and summary["steps"] == cfg.steps
    assert summary["mix"]["by_policy"]["agent"]["episodes"] == 2  # and the data card's mix
    assert rollouts.collection("nothing-here") == {}
    save_agent(wm_root / "checkpoints" / "controller" / "gas.pt", spec, params * 2)  # another controller
    with pytest.raises(ValueError, match="agent_sha256"):
        collect(cfg, progress=False, make_policy=make_policy)
    with pytest.raises(FileNotFoundError, match="agent file 'missing.pt' not found"):
        collect(small(name="agent2", policy="agent", agent="missing.pt"), progress=False)


def test_mixed_policy_draws_a_controller_per_episode_through_the_agents_world_model(world_model, wm_root):
    """Half the episodes the agent perturbed, a quarter random controllers, a quarter constant actions."""
    from worldmodels.agent.files import AgentSpec, save_agent
    from worldmodels.agent.policy import AGENT_POLICY_CLASSES, CONSTANT_ACTIONS
    from worldmodels.agent.policy import make_policy as agent_policies
    from worldmodels.core.config import ControllerConfig
    from worldmodels.world.policies import AGENT_POLICIES

    assert set(AGENT_POLICY_CLASSES) == set(AGENT_POLICIES)
    spec = AgentSpec.build(*world_model, ControllerConfig())
    save_agent(wm_root / "checkpoints" / "controller" / "a.pt", spec, np.zeros(867))
    cfg = small(name="mixed", policy="mixed", agent="checkpoints/controller/a.pt", action_noise=0.0,
                episodes=8, steps=15)
    files = collect(cfg, progress=False, make_policy=agent_policies)
    assert json.loads((files[0].parent / "manifest.json").read_text())["data"]["policy"] == "mixed"
    constants = [tuple(np.clip(a, [-1, 0, 0], 1)) for a in CONSTANT_ACTIONS.values()]
    kinds = []
    for f in files:
        ep = load_episode(f)
        draw = np.random.default_rng([int(ep["seed"]), 0x5EED]).random()  # what the policy drew first
        kinds.append("agent" if draw < 0.5 else "random" if draw < 0.75 else "constant")
        if kinds[-1] == "constant":  # one action, held: one of the constant actions, to within the squash
            assert np.ptp(ep["action"], axis=0).max() == 0
            assert min(np.abs(ep["action"][0] - c).max() for c in constants) < 0.01
    assert {"agent", "random", "constant"} <= set(kinds)
