"""The agent (V + M + C) in the real env: batching, cut-offs, agent files and the evaluation protocol."""

import numpy as np
import pytest
import torch

from worldmodels.agent import evaluation as evaluation_lib
from worldmodels.agent import files as agent_files
from worldmodels.agent.acting import WorldModelAgent, run_episodes
from worldmodels.agent.episodes import make_agent_env, record_episode
from worldmodels.agent.files import AgentSpec
from worldmodels.core.checkpoint import CheckpointError
from worldmodels.core.config import ControllerConfig, EvaluationConfig, ParallelConfig
from worldmodels.core.parallel import TaskPool
from worldmodels.models.controller import LinearController
from worldmodels.world.env import make_env


@pytest.fixture
def spec(world_model):
    return AgentSpec.build(*world_model, ControllerConfig())


def braking_params(n: int = 867) -> np.ndarray:
    """No gas, full brake: the car never reaches a new tile."""
    p = np.zeros(n)
    p[-2], p[-1] = -20.0, 20.0  # biases of gas and brake
    return p


def test_spec_reads_sizes_from_v_and_m_and_stores_portable_paths(spec):
    assert spec.latent == "vae" and spec.latent_size == 32 and spec.hidden_size == 256
    assert spec.vision == "checkpoints/vae/book.pt" and len(spec.vision_sha256) == 64
    assert AgentSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="needs an MDN-RNN"):
        AgentSpec.build(spec.vision, None, ControllerConfig())


def test_each_env_keeps_its_own_hidden_state(spec):
    """Acting on a subset of rows advances only their h; the other rows keep theirs."""
    agent = WorldModelAgent(spec)
    env = make_env(seed=3)
    frame = env.step(np.array([0, 1, 0], np.float32))[0]
    params = np.random.default_rng(0).normal(0, 0.1, (3, 867))
    agent.reset(3)
    agent.act(np.stack([frame] * 3), params)
    before = agent.state[0].clone()
    agent.act(frame[None], params[1:2], rows=np.array([1]))
    after = agent.state[0]
    assert np.array_equal(after[:, [0, 2]].numpy(), before[:, [0, 2]].numpy())
    assert not np.array_equal(after[:, 1].numpy(), before[:, 1].numpy())


def test_batched_episodes_are_deterministic_and_finite(spec):
    agent = WorldModelAgent(spec)
    envs = [make_env() for _ in range(3)]
    params = np.random.default_rng(1).normal(0, 0.1, (3, 867))
    a = run_episodes(agent, envs, params, np.array([5, 6, 7]), max_steps=25)
    b = run_episodes(agent, envs, params, np.array([5, 6, 7]), max_steps=25)
    assert np.array_equal(a["returns"], b["returns"]) and np.all(np.isfinite(a["returns"]))
    assert a["steps"].tolist() == [25, 25, 25] and not a["cut"].any()


def test_tile_cutoff_ends_a_stuck_car_and_charges_the_steps_left(spec):
    agent = WorldModelAgent(spec)
    out = run_episodes(agent, [make_env()], braking_params()[None], np.array([5]), max_steps=200, tile_cutoff=40)
    steps = int(out["steps"][0])
    assert out["cut"][0] and steps == 41  # the start tile counts at step 1, then 40 steps without one
    plain = run_episodes(agent, [make_env()], braking_params()[None], np.array([5]), max_steps=steps)
    assert out["returns"][0] == pytest.approx(plain["returns"][0] - 0.1 * (200 - steps))


def test_z_only_agent_needs_no_mdnrnn(world_model):
    spec = AgentSpec.build(world_model[0], None, ControllerConfig(inputs="z"))
    agent = WorldModelAgent(spec)
    assert agent.mdnrnn is None
    out = run_episodes(agent, [make_env()], np.zeros((1, 99)), np.array([1]), max_steps=5)
    assert out["steps"][0] == 5


def test_agent_file_round_trip_and_refusals(spec, world_model, wm_root):
    params = np.random.default_rng(2).normal(0, 0.1, 867)
    path = agent_files.save_agent(wm_root / "agent.pt", spec, params)
    loaded_spec, loaded, _ = agent_files.load_agent_file(path)
    assert loaded_spec == spec and np.array_equal(loaded, params)
    with pytest.raises(ValueError, match="expects 867 parameters"):
        agent_files.save_agent(wm_root / "bad.pt", spec, params[:-1])
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="agent.pt: unreadable"):
        agent_files.load_agent_file(path)
    path = agent_files.save_agent(wm_root / "agent.pt", spec, params)
    with open(world_model[1], "ab") as f:  # M changes after the controller was trained
        f.write(b"\0")
    with pytest.raises(CheckpointError, match="vae_book.pt is not the file this controller was trained with"):
        agent_files.load_agent_file(path)
    world_model[1].unlink()
    with pytest.raises(CheckpointError, match="vae_book.pt, which is missing"):
        agent_files.load_agent_file(path)


def test_evaluate_and_record_an_episode(spec, wm_root, capsys):
    path = agent_files.save_agent(wm_root / "agent.pt", spec, np.zeros(867))
    cfg = EvaluationConfig(episodes=3, renderer="fast", max_steps=20, envs_per_task=2)
    result = evaluation_lib.evaluate_file(path, cfg, progress=True, parallel=ParallelConfig("serial"))
    assert "evaluating on 3 tracks" in capsys.readouterr().err
    assert evaluation_lib.evaluate_file(path, cfg, parallel=ParallelConfig("serial"))["returns"] == result["returns"]
    assert len(result["returns"]) == 3 and result["seeds"] == [900_000, 900_002]
    assert result["mean"] == pytest.approx(np.mean(result["returns"]), abs=0.01) and not result["solved"]
    assert result["env_steps"] == 60 and result["agent"] == "agent.pt"
    # the protocol takes objects too: an agent, seeds and a pool (any backend gives the same numbers)
    with TaskPool("process", workers=2) as pool:
        again = evaluation_lib.evaluate(agent_files.Agent.load(path), np.arange(900_000, 900_003), pool,
                                        renderer="fast", max_steps=20, envs_per_task=2)
    assert again["returns"] == result["returns"]
    episode = record_episode(agent_files.Agent.load(path), seed=900_000, max_steps=5, renderer="fast")
    assert episode["frames"].shape == (6, 400, 600, 3) and episode["actions"].shape == (5, 3)


def test_a_filmed_episode_is_cached_by_agent_seed_and_steps(spec, wm_root, monkeypatch):
    from worldmodels.agent import episodes

    agent = agent_files.Agent(spec, np.zeros(867))
    first = record_episode(agent, seed=900_000, max_steps=5, renderer="fast", cache=True)
    cached = list((wm_root / "data" / "cache" / "episodes").glob("*.npz"))
    assert len(cached) == 1
    with monkeypatch.context() as m:
        m.setattr(episodes, "_drive", lambda *a: pytest.fail("drove again instead of reading the cache"))
        again = record_episode(agent, seed=900_000, max_steps=5, renderer="fast", cache=True)
    assert all(np.array_equal(first[k], again[k]) for k in ("frames", "actions", "rewards"))
    assert again["return"] == first["return"]
    # another seed, step limit or set of parameters is another episode
    record_episode(agent, seed=900_001, max_steps=5, renderer="fast", cache=True)
    record_episode(agent, seed=900_000, max_steps=6, renderer="fast", cache=True)
    record_episode(agent_files.Agent(spec, braking_params()), seed=900_000, max_steps=5, renderer="fast", cache=True)
    assert len(list(cached[0].parent.glob("*.npz"))) == 4
    # a torn cache file is driven again and replaced, not trusted
    cached[0].write_bytes(cached[0].read_bytes()[:100])
    mended = record_episode(agent, seed=900_000, max_steps=5, renderer="fast", cache=True)
    assert np.array_equal(mended["frames"], first["frames"]) and cached[0].stat().st_size > 100


def test_evaluation_seeds_are_disjoint_from_training_and_collection():
    assert evaluation_lib.EVALUATION_SEED + 10_000 < evaluation_lib.TRAIN_SEEDS[0]
    assert EvaluationConfig().seed == evaluation_lib.EVALUATION_SEED
    assert evaluation_lib.EVALUATION_SEED > 10_000  # the paper preset collects seeds 0..9,999


def test_controller_from_a_batch_row_matches_the_single_controller():
    c = LinearController(ControllerConfig(hidden_layer=4))
    rng = np.random.default_rng(0)
    params = rng.normal(0, 1, (5, c.num_params))
    z, h = rng.normal(0, 1, (5, 32)), rng.normal(0, 1, (5, 256))
    batch = c.act_batch(params, z, h)
    for i in range(5):
        c.set_flat(params[i])
        assert np.allclose(batch[i], c.act(z[i : i + 1], h[i : i + 1])[0], atol=1e-6)
    params[2, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        c.act_batch(params, z, h)


@pytest.fixture
def gumbel_files(wm_root):
    """The shipped Gumbel V and its M, copied into the test's project root."""
    import shutil

    from conftest import REPO

    files = []
    for rel in ("checkpoints/gumbel/book.pt", "checkpoints/mdnrnn/gumbel_book.pt"):
        (wm_root / rel).parent.mkdir(parents=True, exist_ok=True)
        files.append(shutil.copy(REPO / rel, wm_root / rel))
    return files


def test_discrete_agent_acts_on_hard_codes(gumbel_files):
    """The Gumbel world model: C reads the 32 x 32 one-hot code (1,024 inputs) and h."""
    spec = AgentSpec.build(*gumbel_files, ControllerConfig())
    assert spec.latent == "gumbel" and spec.latent_size == 1024
    agent = WorldModelAgent(spec)
    code = agent.encode(make_env(seed=2).reset(seed=2)[0][None])
    assert code.shape == (1, 32, 32) and np.all(code.sum(-1).numpy() == 1)
    asked_bf16 = WorldModelAgent(spec, precision="bfloat16")  # bf16 flips argmax codes: a discrete V stays float32
    assert asked_bf16.precision == "float32" and torch.equal(asked_bf16.encode(make_env(seed=2).reset(seed=2)[0][None]), code)
    with TaskPool("serial") as pool:
        result = evaluation_lib.evaluate(agent_files.Agent(spec, np.zeros(spec.make_controller().num_params)),
                                         np.array([4]), pool, "fast", max_steps=3, precision="bfloat16")
    assert "vision_precision" not in result  # recorded only when V really ran in bf16
    n = spec.make_controller().num_params
    out = run_episodes(agent, [make_env(), make_env()], np.zeros((2, n)), np.array([1, 2]), max_steps=5)
    assert n == (1024 + 256) * 3 + 3 and out["steps"].tolist() == [5, 5]


def test_soft_code_input_feeds_c_the_posterior_and_m_the_hard_code(gumbel_files, world_model):
    """code_input='soft': C sees softmax(logits), M still steps on the argmax one-hot (as it was trained)."""
    hard = WorldModelAgent(AgentSpec.build(*gumbel_files, ControllerConfig()))
    soft = WorldModelAgent(AgentSpec.build(*gumbel_files, ControllerConfig(code_input="soft")))
    frames = np.stack([make_env(seed=s).reset(seed=s)[0] for s in (2, 3)])
    m_in, c_in = soft.encode_both(frames)
    assert np.array_equal(m_in.numpy(), hard.encode(frames).numpy())
    probs = c_in.numpy()
    assert probs.shape == (2, 32, 32) and np.allclose(probs.sum(-1), 1, atol=1e-5) and 0 < probs.min() < probs.max() < 1
    assert np.array_equal(probs.argmax(-1), m_in.numpy().argmax(-1))
    # C's weights on the latent act on the probabilities: the same parameters give other actions than on hard codes
    params = np.random.default_rng(0).normal(0, 0.5, (2, soft.spec.make_controller().num_params))
    hard.reset(2)
    soft.reset(2)
    actions = soft.act(frames, params)
    assert not np.allclose(hard.act(frames, params), actions)
    with torch.no_grad():  # M stepped on the hard code and the actions C chose
        _, (h, _) = soft.mdnrnn(m_in[:, None], torch.from_numpy(actions)[:, None], None)
    assert torch.allclose(soft.state[0], h)
    with pytest.raises(ValueError, match="needs a V with class probabilities"):
        AgentSpec.build(*world_model, ControllerConfig(code_input="soft"))
    with pytest.raises(ValueError, match="code_input='bad'"):
        LinearController(ControllerConfig(code_input="bad"))


def test_the_fast_acting_path_encodes_within_a_percent_and_evaluates_on_the_direct_renderer(spec):
    """V in bfloat16 (channels-last) moves z by about 1% of its spread; the direct renderer's 64x64 frames go
    through the agent as they are; an evaluation on that path says so in its result."""
    env = make_agent_env("direct", WorldModelAgent(spec))
    frames = np.stack([env.reset(seed=s)[0] for s in (1, 2, 3)])
    exact, fast = WorldModelAgent(spec), WorldModelAgent(spec, precision="bfloat16")
    z, z_fast = exact.encode(frames), fast.encode(frames)
    assert fast.precision == "bfloat16" and frames.shape == (3, 64, 64, 3) and z_fast.dtype == torch.float32
    assert (z_fast - z).abs().max() < 0.05 * z.std() and not torch.equal(z_fast, z)
    with pytest.raises(ValueError, match="precision='float16'"):
        WorldModelAgent(spec, precision="float16")
    agent = agent_files.Agent(spec, braking_params())
    with TaskPool("serial") as pool:
        result = evaluation_lib.evaluate(agent, np.array([4, 5]), pool, "direct", max_steps=20, envs_per_task=2,
                                         precision="bfloat16")
    assert result["renderer"] == "direct" and result["vision_precision"] == "bfloat16"
    assert result["env_steps"] == 40 and np.all(np.isfinite(result["returns"]))


def test_an_older_agent_file_reads_its_sizes_from_its_controller_config(spec):
    """Agent files written before the sizes moved out of ControllerConfig hold them there; their spec reads the
    same as one built today."""
    old = spec.to_dict()
    old["controller"] |= {"latent_size": old.pop("latent_size"), "hidden_state_size": old.pop("hidden_size")}
    assert AgentSpec.from_dict(old) == spec
    z_only = {**old, "mdnrnn": None, "mdnrnn_sha256": None}
    assert AgentSpec.from_dict(z_only).hidden_size == 0  # no M, no h
