"""DreamEnv's bookkeeping against the env's: every step's reward counts until the dream ends, an end by the done
head pays the env's -100, a dream cut at max_steps keeps its last reward, an ended dream earns nothing more."""

import numpy as np
import pytest
import torch

from worldmodels.agent.dream import DreamEnv, branch_starts
from worldmodels.core.config import MDNRNNConfig
from worldmodels.models.mdnrnn import MDNRNN


def model_with(reward: float, done_logit: float | list[float], hidden: int = 8) -> MDNRNN:
    """An M whose reward head always says ``reward`` and whose done head says ``done_logit`` (per dream, through
    the start latent's first entry when a list is given)."""
    model = MDNRNN(MDNRNNConfig(hidden_size=hidden))
    with torch.no_grad():
        model.reward.weight.zero_()
        model.reward.bias.fill_(reward)
        model.done.weight.zero_()
        model.done.bias.fill_(done_logit if isinstance(done_logit, float) else 0.0)
    return model


def total(env: DreamEnv, batch: int, steps: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    env.reset(batch)
    returns, dones = torch.zeros(batch), []
    for _ in range(steps):
        _, _, reward, done = env.step(torch.zeros(batch, 3))
        returns += reward
        dones.append(done)
    return returns, dones


def test_a_dream_cut_at_max_steps_counts_every_reward():
    env = DreamEnv(model_with(reward=1.0, done_logit=-20.0), torch.zeros(4, 32), max_steps=5)
    returns, dones = total(env, 4, 7)
    assert returns.tolist() == [5.0] * 4  # five steps, five rewards, nothing after the cut
    assert not dones[3].any() and dones[4].all()


def test_an_end_by_the_done_head_pays_the_termination_reward_once_and_nothing_after():
    env = DreamEnv(model_with(reward=1.0, done_logit=20.0), torch.zeros(2, 32), max_steps=10)
    returns, dones = total(env, 2, 4)  # the head fires at every step; only the first counts
    assert returns.tolist() == pytest.approx([1.0 - 100.0] * 2)
    assert all(d.all() for d in dones)
    custom = DreamEnv(model_with(reward=1.0, done_logit=20.0), torch.zeros(2, 32), max_steps=10,
                      termination_reward=-7.0)
    assert total(custom, 2, 3)[0].tolist() == pytest.approx([-6.0] * 2)


def test_dreams_that_end_at_different_steps_are_counted_apart():
    model = model_with(reward=1.0, done_logit=-20.0)
    with torch.no_grad():  # the done head reads h; make it fire for dreams whose start latent has z[0] = 1
        model.lstm.weight_ih_l0.zero_()
        model.lstm.bias_ih_l0.zero_()
        model.lstm.bias_hh_l0.zero_()
        model.lstm.weight_hh_l0.zero_()
        for gate in (0, 16, 24):  # unit 0's input gate, cell input and output gate (blocks i, f, g, o of 8 rows)
            model.lstm.weight_ih_l0[gate, 0] = 50.0
            model.lstm.bias_ih_l0[gate] = -25.0  # open (h[0] = tanh(1)) when z[0] = 1, shut when z[0] = 0
        model.done.weight[0, 0] = 60.0
    starts = torch.zeros(2, 32)
    starts[1, 0] = 1.0
    env = DreamEnv(model, starts, max_steps=3, tau=1e-6)
    env.reset(2)
    env.latent = starts.clone()  # dream 0 from the first start, dream 1 from the second
    _, _, reward, done = env.step(torch.zeros(2, 3))
    assert done.tolist() == [False, True] and reward.tolist() == pytest.approx([1.0, -99.0])


def test_dreams_from_one_start_share_the_start_and_spread_with_tau():
    from worldmodels.agent.dream import dream, dreams, endings_by_tau, spread_by_tau
    from worldmodels.core.config import VAEConfig
    from worldmodels.models.vae import ConvVAE

    torch.manual_seed(0)
    model, vision = MDNRNN(MDNRNNConfig(hidden_size=16)), ConvVAE(VAEConfig())
    start, actions = torch.randn(32), torch.rand(12, 3)
    many = dreams(model, start, actions, tau=1.0, n=5, seed=3)
    assert many.shape == (13, 5, 32)
    assert (many[0] == start).all() and not torch.equal(many[-1, 0], many[-1, 1])  # one start, own noise each
    assert torch.equal(dream(model, start, actions, tau=1.0, seed=3), dreams(model, start, actions, 1.0, 1, 3)[:, 0])
    assert endings_by_tau(model, vision, start, actions, [0.5, 1.0], n=3).shape == (2, 3, 64, 64, 3)
    spread = spread_by_tau(model, vision, start, actions, [0.05, 2.0], n=8, every=4)
    assert spread["t"].tolist() == [0, 4, 8, 12] and spread["code"].shape == spread["pixels"].shape == (2, 4)
    assert (spread["code"][:, 0] == 0).all() and (spread["pixels"][:, 0] == 0).all()  # the shared start
    # the sampler's noise is sigma * sqrt(tau): 40 times the variance drawn at tau 2 as at tau 0.05
    assert (spread["code"][1, 1:] > 2 * spread["code"][0, 1:]).all()


def test_an_ensemble_dreams_each_episode_in_one_member_drawn_per_dream():
    members = [model_with(reward=float(k + 1), done_logit=-20.0) for k in range(3)]
    env = DreamEnv(members, torch.zeros(1, 32), max_steps=4, seed=3)
    returns, _ = total(env, 300, 4)
    assert sorted(set(returns.tolist())) == [4.0, 8.0, 12.0]  # each dream paid by its member alone, all four steps
    counts = [int((returns == 4.0 * (k + 1)).sum()) for k in range(3)]
    assert min(counts) > 60 and env.member.tolist() == [round(r / 4) - 1 for r in returns.tolist()]
    again = DreamEnv(members, torch.zeros(1, 32), max_steps=4, seed=3)
    assert torch.equal(total(again, 300, 4)[0], returns)


def test_one_member_dreams_as_a_single_m_does_and_memory_gives_c_its_h():
    torch.manual_seed(0)
    m = MDNRNN(MDNRNNConfig(hidden_size=8))
    starts = torch.randn(5, 32)
    single, listed = DreamEnv(m, starts, tau=1.0, seed=7), DreamEnv([m], starts, tau=1.0, seed=7)
    for env in (single, listed):
        env.reset(6)
    for _ in range(5):
        a = torch.rand(6, 3)
        out_single, out_listed = single.step(a), listed.step(a)
        assert all(torch.equal(x, y) for x, y in zip(out_single, out_listed))
    memory = MDNRNN(MDNRNNConfig(hidden_size=12))
    env = DreamEnv([m, m], starts, seed=1, memory=memory)
    latent, h = env.reset(4)
    assert h.shape == (4, 12)
    action = torch.rand(4, 3)
    _, h, _, _ = env.step(action)
    expected, _ = memory(latent.unsqueeze(1), action.unsqueeze(1))
    assert torch.allclose(h, expected["h"][:, -1])
    with pytest.raises(ValueError, match="share latent and hidden sizes"):
        DreamEnv([m, memory], starts)


def test_the_penalty_pays_each_dream_its_members_reward_less_their_disagreement():
    import copy

    base = model_with(reward=1.0, done_logit=-20.0)
    members = [copy.deepcopy(base) for _ in range(3)]
    for k, m in enumerate(members):  # the same world, three opinions of its reward: 1, 2 and 3 a step
        with torch.no_grad():
            m.reward.bias.fill_(float(k + 1))
    env = DreamEnv(members, torch.zeros(1, 32), max_steps=4, seed=3, penalty=0.5)
    returns, _ = total(env, 200, 4)
    spread = torch.tensor([1.0, 2.0, 3.0]).std(correction=0)  # the dynamics agree: only the reward's spread counts
    assert torch.allclose(env.disagreement, spread.expand(200))
    assert torch.allclose(returns, 4 * ((env.member + 1).float() - 0.5 * spread))
    agree = DreamEnv([copy.deepcopy(base) for _ in range(2)], torch.zeros(1, 32), max_steps=3, penalty=2.0)
    assert total(agree, 8, 3)[0].tolist() == [3.0] * 8 and (agree.disagreement == 0).all()
    torch.manual_seed(1)
    other = model_with(reward=1.0, done_logit=-20.0)  # the same reward, another world: the next latent disagrees
    apart = DreamEnv([base, other], torch.zeros(1, 32), max_steps=3, penalty=1.0)
    returns, _ = total(apart, 8, 3)
    assert (apart.disagreement > 0).all() and (returns < 3.0).all()
    with pytest.raises(ValueError, match="two or more Ms"):
        DreamEnv(base, torch.zeros(1, 32), penalty=1.0)


@pytest.mark.parametrize("latent", ["vae", "gumbel"])
def test_the_expected_next_latent_is_the_mean_of_the_samples(latent):
    torch.manual_seed(0)
    head = MDNRNN(MDNRNNConfig(latent=latent, hidden_size=8), (32,) if latent == "vae" else (4, 5)).head
    out = head(torch.randn(3, 1, 8))
    draws = torch.stack([head.sample(out, 1.0) for _ in range(4000)]).mean(0)
    assert torch.allclose(draws, head.expected(out), atol=0.08)


def episodes(E: int, T: int, seed: int = 0) -> dict:
    """A latents file's arrays (``LatentSequences.load``) for E random episodes of up to T steps."""
    rng = np.random.default_rng(seed)
    length = rng.integers(T // 2, T + 1, size=E)
    return {"mu": rng.normal(size=(E, T + 1, 32)).astype(np.float16), "logvar": np.zeros((E, T + 1, 32), np.float16),
            "action": rng.uniform(-1, 1, size=(E, T, 3)).astype(np.float32), "length": length,
            "reward": np.zeros((E, T), np.float32), "terminated": np.zeros((E, T), bool)}


def test_branched_starts_carry_the_state_each_m_reaches_on_the_real_steps_before_them():
    torch.manual_seed(0)
    world, memory = [MDNRNN(MDNRNNConfig(hidden_size=8)) for _ in range(2)], MDNRNN(MDNRNNConfig(hidden_size=12))
    data = episodes(E=5, T=40)
    starts = branch_starts(world, memory, data, n=30, seed=1, chunk=7)  # chunks shorter than the gaps: both paths
    assert starts.latent.shape == (30, 32) and starts.memory[0].shape == (1, 30, 12)
    checked = 0
    for row in range(30):  # which (episode, step) is this row? its start code names it
        code = starts.latent[row]
        hits = [(e, t) for e in range(5) for t in range(int(data["length"][e]))
                if torch.equal(torch.from_numpy(data["mu"][e, t].astype(np.float32)), code)]
        assert len(hits) == 1
        e, t = hits[0]
        assert t < data["length"][e]  # a start has an action after it
        for m, (h, c) in [*zip(world, starts.states, strict=True), (memory, starts.memory)]:
            state = None
            for s in range(t):  # the real (code, action) pairs before the start, one step at a time
                z = torch.from_numpy(data["mu"][e, s].astype(np.float32))[None, None]
                a = torch.from_numpy(data["action"][e, s])[None, None]
                state = m(z, a, state)[1]
            want = (torch.zeros(8 if m is not memory else 12),) * 2 if state is None else (state[0][0, 0], state[1][0, 0])
            assert torch.allclose(h[0, row], want[0], atol=1e-5) and torch.allclose(c[0, row], want[1], atol=1e-5)
        checked += t > 0
    assert checked > 20
    again = branch_starts(world, memory, data, n=30, seed=1, chunk=100)  # the same draw, whatever the chunk
    assert torch.equal(again.latent, starts.latent) and torch.allclose(again.states[1][1], starts.states[1][1], atol=1e-6)


def test_a_branched_dream_starts_in_its_own_members_state_and_memory_gives_c_its_h():
    torch.manual_seed(0)
    world, memory = [MDNRNN(MDNRNNConfig(hidden_size=8)) for _ in range(3)], MDNRNN(MDNRNNConfig(hidden_size=12))
    starts = branch_starts(world, memory, episodes(E=4, T=30), n=10, seed=2)
    for penalty in (0.0, 1.0):
        env = DreamEnv(world, starts, seed=5, memory=memory, penalty=penalty, max_steps=3)
        latent, h = env.reset(64)
        pick = [int(((starts.latent - z).abs().sum(1) == 0).nonzero()[0]) for z in latent]
        assert torch.equal(h, starts.memory[0][0, pick])  # C reads the agent's M's state at the branch
        own = env.state[0] if not penalty else torch.stack([s[0][0] for s in env.state])[env.member, range(64)][None]
        assert torch.equal(own[0], torch.stack([starts.states[k][0][0, p] for k, p in zip(env.member.tolist(), pick)]))
        action = torch.rand(64, 3)
        _, h, _, _ = env.step(action)
        expected, _ = memory(latent[:, None], action[:, None], tuple(s[:, pick] for s in starts.memory))
        assert torch.allclose(h, expected["h"][:, -1])
    with pytest.raises(ValueError, match="start states for 2 Ms"):
        DreamEnv(world[:2], starts, memory=memory)
    with pytest.raises(ValueError, match="exactly when a memory M is given"):
        DreamEnv(world, starts)


def test_shared_starts_give_every_candidate_the_same_starts_and_members():
    torch.manual_seed(0)
    world = [MDNRNN(MDNRNNConfig(hidden_size=8)) for _ in range(3)]
    starts = torch.randn(50, 32)
    env = DreamEnv(world, starts, seed=4)
    latent, _ = env.reset(12, shared=3)  # 4 candidates x 3 trials, candidate-major
    assert torch.equal(latent.reshape(4, 3, 32), latent[:3].expand(4, 3, 32))
    assert env.member.reshape(4, 3).unique(dim=0).shape == (1, 3)
    assert len({tuple(row.tolist()) for row in env.reset(12)[0]}) > 3  # without it, each dream draws its own
    with pytest.raises(ValueError, match="shared=5 must divide batch_size=12"):
        env.reset(12, shared=5)


def test_a_held_action_moves_a_dream_and_flips_discrete_codes_only():
    from worldmodels.agent.dream import decode, dream, held_action_response
    from worldmodels.core.config import GumbelConfig, VAEConfig
    from worldmodels.models.gumbel_vae import GumbelVAE
    from worldmodels.models.vae import ConvVAE

    torch.manual_seed(0)
    turn = torch.tensor([[-1.0, 0.3, 0.0]]).repeat(6, 1)
    model, vision, start = MDNRNN(MDNRNNConfig(hidden_size=16)), ConvVAE(VAEConfig()), torch.randn(32)
    moved = held_action_response(model, vision, start, turn, tau=1.0, seed=1)
    frames = decode(vision, dream(model, start, turn, 1.0, seed=1)).astype(float)
    assert moved == {"frame_change": pytest.approx(abs(frames[-1] - frames[0]).mean()), "flips": 0.0, "variables": 0}
    discrete = MDNRNN(MDNRNNConfig(latent="gumbel", hidden_size=16), (4, 3))
    codes = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    gumbel = GumbelVAE(GumbelConfig(num_vars=4, num_classes=3))
    hot = held_action_response(discrete, gumbel, codes, turn, tau=3.0, seed=1)
    cold = held_action_response(discrete, gumbel, codes, turn, tau=1e-4, seed=1)
    assert hot["variables"] == 4 and 0 < hot["flips"] <= 4 and cold["flips"] <= hot["flips"]
