"""Films: an agent's shipped episode is replayed, not driven again, and anything that does not match drives live."""

import logging

import numpy as np
import pytest

from worldmodels.agent.acting import WorldModelAgent
from worldmodels.agent.episodes import record_episode
from worldmodels.agent.files import Agent, AgentSpec, save_agent
from worldmodels.cli import main
from worldmodels.core.config import ControllerConfig
from worldmodels.film import film, film_path, ship_film

SEED, STEPS = 900_000, 40


@pytest.fixture
def agent_path(world_model, wm_root):
    params = np.zeros(867)
    params[-2], params[0] = 3.0, 0.5  # some gas, and a steer that follows z_0: the car moves and turns
    spec = AgentSpec.build(*world_model, ControllerConfig())
    return save_agent(wm_root / "checkpoints" / "controller" / "vae_t.pt", spec, params)


def test_a_shipped_film_is_replayed_without_running_the_agent(agent_path, monkeypatch):
    live = record_episode(Agent.load(agent_path), SEED, max_steps=STEPS)
    assert ship_film(agent_path, SEED, max_steps=STEPS) == film_path(agent_path)
    assert film_path(agent_path).name == "vae_t.film.npz" and film_path(agent_path).stat().st_size < 20_000
    with monkeypatch.context() as m:
        m.setattr(WorldModelAgent, "act", lambda *a: pytest.fail("ran the agent instead of replaying its actions"))
        episode, video = film(agent_path, SEED, "t", figures="figs", max_steps=STEPS, video=False)
    assert episode["replayed"] and video is None
    assert np.array_equal(episode["frames"], live["frames"]) and np.array_equal(episode["rewards"], live["rewards"])
    assert episode["return"] == live["return"] and (agent_path.parents[2] / "figs" / "t_filmstrip.png").exists()
    # another track or step limit is not the shipped episode: the agent drives
    assert not film(agent_path, SEED + 1, "t", figures="figs", max_steps=STEPS, video=False)[0]["replayed"]
    assert not film(agent_path, SEED, "t", figures="figs", max_steps=STEPS - 1, video=False)[0]["replayed"]


def test_a_film_that_does_not_match_its_agent_or_its_env_drives_live(agent_path, caplog):
    live = record_episode(Agent.load(agent_path), SEED, max_steps=STEPS)
    ship_film(agent_path, SEED, STEPS, episode={**live, "rewards": live["rewards"] + 0.5})  # other rewards
    with caplog.at_level(logging.WARNING):
        episode, _ = film(agent_path, SEED, "t", figures="figs", max_steps=STEPS, video=False)
    assert not episode["replayed"] and "driven live" in caplog.text
    assert np.array_equal(episode["frames"], live["frames"])
    ship_film(agent_path, SEED, STEPS, episode=live)
    save_agent(agent_path, Agent.load(agent_path).spec, np.full(867, 0.01))  # the agent file changed after its film was shipped
    assert not film(agent_path, SEED, "t", figures="figs", max_steps=STEPS, video=False)[0]["replayed"]
    film_path(agent_path).write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING):
        assert not film(agent_path, SEED, "t", figures="figs", max_steps=STEPS, video=False)[0]["replayed"]
    assert "unreadable" in caplog.text


def test_evaluate_ships_a_film_only_from_the_stock_renderer(agent_path, capsys):
    assert main(["evaluate", str(agent_path), "--ship-film", "--renderer", "fast", "--episodes", "1"]) == 2
    assert "--ship-film with --renderer fast" in capsys.readouterr().err and not film_path(agent_path).exists()
