"""Plumbing on fakes: batching, task pools and the evaluation protocol with a CarRacing-shaped env and tiny,
untrained V and M files (no Box2D physics, no shipped checkpoint). test_agent.py runs the same paths on the
real env and the shipped models."""

import numpy as np
import pytest
from fakes import FakeCarRacing, tiny_world_model

from worldmodels.agent import evaluation
from worldmodels.agent.acting import WorldModelAgent, run_episodes
from worldmodels.agent.episodes import record_episode, run_many
from worldmodels.agent.files import Agent, AgentSpec, load_agent_file, save_agent
from worldmodels.core.config import ControllerConfig
from worldmodels.core.parallel import TaskPool


@pytest.fixture
def spec(wm_root):
    return AgentSpec.build(*tiny_world_model(wm_root), ControllerConfig())


def gas(n: int, throttle: float) -> np.ndarray:
    """Parameters of a controller that holds the gas at about ``throttle``: only the gas bias is set."""
    p = np.zeros(n)
    p[-2] = np.arctanh(2 * throttle - 1)
    return p


def test_the_fake_env_pays_tiles_and_ends_like_carracing():
    env = FakeCarRacing()
    env.reset(seed=1)
    steps = []
    while not steps or not (steps[-1][2] or steps[-1][3]):
        steps.append(env.step(np.array([0, 1, 0], np.float32)))
    assert steps[-1][2] and len(steps) < 1000  # full gas finishes the lap
    assert sum(s[1] for s in steps) == pytest.approx(1000 - 0.1 * len(steps))
    assert env.observation_space.contains(steps[-1][0])
    stuck = FakeCarRacing()
    stuck.reset(seed=1)
    assert all(stuck.step(np.array([0, 0, 1], np.float32))[1] == pytest.approx(-0.1) for _ in range(20))


def test_sizes_come_from_the_files_and_episodes_are_batched_per_env(spec):
    assert spec.latent_size == 32 and spec.hidden_size == 16
    n = 32 * 3 + 16 * 3 + 3
    agent = WorldModelAgent(spec)
    params = np.stack([gas(n, 0.9), gas(n, 0.1), gas(n, 0.9)])
    together = run_episodes(agent, [FakeCarRacing() for _ in range(3)], params, np.array([4, 4, 5]), max_steps=60)
    for i in range(3):  # each row's episode is the one it would be alone
        alone = run_episodes(agent, [FakeCarRacing()], params[i : i + 1], np.array([[4, 4, 5][i]]), max_steps=60)
        assert alone["returns"][0] == together["returns"][i]
    assert together["returns"][0] > together["returns"][1] and together["steps"].tolist() == [60, 60, 60]


def test_tile_cutoff_charges_the_steps_left(spec):
    n = 32 * 3 + 16 * 3 + 3
    agent = WorldModelAgent(spec)
    braking = np.zeros((1, n))
    braking[0, -2], braking[0, -1] = -20.0, 20.0
    out = run_episodes(agent, [FakeCarRacing()], braking, np.array([3]), max_steps=200, tile_cutoff=30)
    assert out["cut"][0] and out["steps"][0] == 30
    assert out["returns"][0] == pytest.approx(-0.1 * 200)


def test_every_backend_and_pool_size_gives_the_same_numbers(spec):
    """The task split depends only on the episodes and envs_per_task, never on the backend or the workers."""
    n = 32 * 3 + 16 * 3 + 3
    params = np.random.default_rng(0).normal(0, 0.3, (6, n))
    seeds = np.arange(6) + 100
    results = []
    for backend, workers in (("serial", 1), ("process", 2)):
        with TaskPool(backend, workers) as pool:
            results.append(run_many(pool, spec, params, seeds, FakeCarRacing, max_steps=40, envs_per_task=4))
    for key in ("returns", "steps", "cut"):
        assert np.array_equal(results[0][key], results[1][key])


def test_the_protocol_takes_an_agent_object_and_its_file(spec, wm_root):
    n = 32 * 3 + 16 * 3 + 3
    path = save_agent(wm_root / "fast.pt", spec, gas(n, 0.9))
    agent = Agent.load(path)
    assert np.array_equal(agent.params, load_agent_file(path)[1])
    with TaskPool("serial") as pool:
        result = evaluation.evaluate(agent, np.arange(900_000, 900_004), pool, renderer=FakeCarRacing, max_steps=50)
    assert result["renderer"] == "FakeCarRacing" and result["episodes"] == 4 and result["env_steps"] == 200
    assert result["mean"] == pytest.approx(np.mean(result["returns"]), abs=0.01) and not result["solved"]
    episode = record_episode(agent, seed=900_000, max_steps=5, renderer=FakeCarRacing)
    assert episode["frames"].shape == (6, 400, 600, 3) and len(episode["rewards"]) == 5
    filmed = record_episode(agent, seed=900_000, max_steps=5, renderer=FakeCarRacing, progress=True)  # with a bar
    assert np.array_equal(filmed["actions"], episode["actions"])
