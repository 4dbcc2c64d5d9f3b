# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · M: the MDN-RNN, and dreams
#
# M is an LSTM (256 units) that reads the current latent z and action and predicts the next z as a mixture
# of 5 Gaussians per dimension, plus the reward and whether the episode ends. Run on its own samples, it
# *dreams*: a CarRacing that exists only inside the model. tau scales the dream's randomness.
#
# **The mixture.** From $h_t = \mathrm{LSTM}(z_t, a_t, h_{t-1})$ a linear head gives, for every dimension $j$ of
# the next code and every component $k = 1..5$, a weight $\pi_{jk}$ (a softmax over $k$), a mean $\mu_{jk}$ and
# a spread $\sigma_{jk}$:
#
# $$p(z_{t+1} \mid h_t) = \prod_{j=1}^{Z} \sum_{k=1}^{5} \pi_{jk}\, \mathcal{N}\big(z_{t+1,j};\ \mu_{jk},
# \sigma_{jk}^2\big).$$
#
# Training minimises $-\log p(z_{t+1} \mid h_t)$ (per dimension, `latent_nll`) on the recorded episodes,
# plus the squared error of the predicted reward and the cross-entropy of the predicted end. A mixture, not
# one Gaussian, because the future forks: the road may bend left or right.
#
# **Sampling with temperature $\tau$.** A dream step picks a component from $\mathrm{softmax}(\log \pi_j /
# \tau)$ and draws $z_{t+1,j} = \mu_{jk} + \sigma_{jk} \sqrt{\tau}\, \varepsilon$. At $\tau \to 0$ the
# dream follows the most likely component with no noise; at $\tau > 1$ unlikely futures become likely.
#
# **A dream** is that loop run on its own output: $z_0$ from a real frame, then $z_{t+1} \sim p(\cdot \mid
# h_t)$, the action from whoever drives (you, below, or a controller), and the reward and the end from M's
# heads. No frame is rendered and no physics runs: V's decoder is only needed to *look* at a dream.

# %% tags=["parameters"]
# Parameters. TRAIN=False loads checkpoints/mdnrnn/<latent>_<RELEASE>.pt and the V releases it was trained on.
from worldmodels.core.presets import env_scale, env_switch

SCALE = env_scale("WM_SCALE")  # smoke, book or paper
TRAIN = env_switch("WM_TRAIN")  # 0 (unset): load the shipped checkpoints; 1: train
RELEASE = "book"

# %%
import numpy as np
import torch
from IPython.display import Markdown, Video, display

import worldmodels as wm
from worldmodels import results, viz, widgets
from worldmodels.agent import dream
from worldmodels.core import paths
from worldmodels.core.video import write_video
from worldmodels.models.registry import codes_at
from worldmodels.training import memory, vision
from worldmodels.world import datasets, rollouts

cfg = wm.get_config(SCALE)
rollouts.collect(cfg.collect)
vae, _ = vision.train_or_load("vae", cfg, train_now=TRAIN, release_name=RELEASE)
source = paths.vision_run("vae", cfg.collect.name) / "last.pt" if TRAIN else paths.vision_release("vae", RELEASE)
latents = datasets.LatentSequences.load(vision.latents_for(vae, cfg.collect.name, source))  # mu, logvar per frame
print({k: v.shape for k, v in latents.items()})

# %%
model, history = memory.train_or_load("vae", cfg, train_now=TRAIN, release_name=RELEASE)
fig = viz.loss_curves(history, parts=("loss", "latent_nll", "reward_mse", "done_bce"), title="MDN-RNN (continuous z)")
viz.save_figure(fig, "04_mdnrnn_loss", cfg.figures)

# %% [markdown]
# ## Predicting the next frame
#
# Fed the real codes of a held-out episode, M predicts each next z (the mean of its most likely component);
# decoded through V, the predictions sit beside the real next frames.

# %%
_, held_out = memory.split(cfg, latents)
episode = held_out[0]
predicted = dream.decode(vae, memory.predict_next(model, latents, episode))
seed = int(latents["seed"][episode])
real = datasets.load_episode(rollouts.episode_path(paths.rollout_dir(cfg.collect.name), seed))["obs"][1:]
steps = np.linspace(0, len(predicted) - 1, 8).astype(int)
fig = viz.reconstruction_pairs(real[steps], predicted[steps], labels=("real next frame", "M's prediction"))
viz.save_figure(fig, "04_next_frame_predictions", cfg.figures)

# %% [markdown]
# ## Dreams at several temperatures
#
# Start sixteen dreams from the same real frame, give them all the actions the driver really took from there,
# and let each draw its own noise. How fast do they part ways, and how far? The temperature $\tau$ scales
# both kinds of randomness in the sampler above: which component, and how far from its mean.

# %%
t0 = 50 if latents["length"][episode] > 60 else 0  # start mid-episode, where the road is in view
starts = codes_at(latents, held_out, step=t0)
actions = torch.from_numpy(latents["action"][episode, t0 : t0 + 200])  # what the driver did from that frame on
taus = [0.1, 1.0, 2.0]
spread = dream.spread_by_tau(model, vae, starts[0], actions, taus, n=16, every=10)
early = min(2, len(spread["t"]) - 1)  # step 20, or the last one of a short smoke-scale episode
for tau, picture in zip(taus, spread["pixels"]):
    print(f"tau {tau:g}: the pictures differ by {picture[early]:.1f}/255 after {spread['t'][early]} steps, "
          f"{picture[-1]:.1f}/255 after {spread['t'][-1]}")
fig = viz.spread_curves(spread)
viz.save_figure(fig, "04_dream_spread_by_tau", cfg.figures)

# %% [markdown]
# Read the two panels together. On the left, the code: hot dreams scatter at once (each step adds noise of
# standard deviation $\sigma\sqrt{\tau}$), cold ones barely. On the right, the picture: hot dreams do part ways
# sooner, but most of the code's noise falls on the dimensions V's decoder ignores (notebook 02 counted them),
# and every dream stays a plausible road. With the shipped models (book scale), after 20 steps the pictures
# differ three to four times as much at $\tau = 2$ as at $\tau = 0.1$; after 200 they differ about as much at
# every temperature. So the temperature sets how soon dreams diverge more than how far. The paper trains its
# controller at $\tau = 1.15$, so that it meets surprises early and cannot exploit a too-predictable dream.
# Where the dreams end up:

# %%
endings = dream.endings_by_tau(model, vae, starts[0], actions, taus, n=8)
fig = viz.traversal_grid(endings, [f"tau {t:g}" for t in taus], [f"dream {i + 1}" for i in range(8)],
                         title=f"eight dreams from one start, {len(actions)} steps on")
viz.save_figure(fig, "04_dreams_by_tau", cfg.figures)

# %% [markdown]
# *Try this:* set `taus = [0.01, 3.0]` or shorten `actions` to 30 steps and run both cells again; then start
# from another held-out episode (`starts[1]`).

# %% [markdown]
# Move tau and the seed to re-dream:

# %%
viewer = widgets.DreamViewer(model, vae, starts[0], actions[:100], tau=1.0)
viewer.show()

# %% [markdown]
# ## Drive inside the dream yourself
#
# Here M is the whole world. Each step it reads the current code, your action and its memory,
# $(z_t, a_t, h_t)$, and samples the next code from its mixture at temperature $\tau$; V only draws the code
# as a frame. The reward shown is the one M *predicts*, and the dream ends when M's done head says so: no
# CarRacing runs underneath.
#
# *Try this:* hold the gas at 0.3 and press "10 steps" a few times; then steer hard left for 20 steps; then
# raise tau to 1.5 and watch the road dissolve. "agent drives 10" lets the shipped `vae_book` agent (evolved in
# the real env) choose the actions, and the sliders show what it chose.

# %%
from worldmodels.agent.files import Agent

agent_path = paths.controller_release("vae", RELEASE)
agent = Agent.load(agent_path) if not TRAIN and agent_path.exists() else None  # it acts through this V and M
driver = widgets.DreamDriver(model, vae, codes_at(latents, held_out), tau=1.0, agent=agent)
driver.show()

# %% [markdown]
# ## Turning in the dream
#
# The book's experiment: hold a fixed action, steer left with a little gas, and watch the dreamt road bend.

# %%
turn = torch.tensor([[-1.0, 0.3, 0.0]]).repeat(80, 1)
frames = dream.decode(vae, dream.dream(model, starts[0], turn, tau=0.5, seed=1))
fig = viz.filmstrip(frames, every=8, max_frames=10)
viz.save_figure(fig, "04_turning_in_the_dream", cfg.figures)
path = write_video(frames, paths.figure_dir(cfg.figures) / "04_turning_in_the_dream.mp4")
display(Video(str(path), embed=True, width=256))  # the dream as a film (also saved beside the figures)

# %% [markdown]
# ## A discrete world model
#
# The same recurrent core over the Gumbel VAE's hard codes, with a categorical head: it dreams in 32 x 32
# one-hot codes. Asked to steer left from the same kind of start frame at tau = 0.5, it mostly repeats the
# current code (about one variable in four steps changes on the book data) and the road barely bends, where the
# continuous model turns: the stickiness of discrete codes that seed 004 saw in its discrete agent.

# %%
gumbel, _ = vision.train_or_load("gumbel", cfg, train_now=TRAIN, release_name=RELEASE)
source = paths.vision_run("gumbel", cfg.collect.name) / "last.pt" if TRAIN else paths.vision_release("gumbel", RELEASE)
codes = datasets.LatentSequences.load(vision.latents_for(gumbel, cfg.collect.name, source))
discrete, _ = memory.train_or_load("gumbel", cfg, train_now=TRAIN, release_name=RELEASE)
start = codes_at(codes, held_out, step=50 if codes["length"][held_out[0]] > 60 else 0)[0]
frames = dream.decode(gumbel, dream.dream(discrete, start, turn, tau=0.5, seed=1))
fig = viz.filmstrip(frames, every=8, max_frames=10)
viz.save_figure(fig, "04_discrete_turning_in_the_dream", cfg.figures)

# %%
# how much each dream moves under the held left turn: frame change first to last (0-255), discrete code flips
for tau in (0.5, 1.0, 1.5):
    c = dream.held_action_response(model, vae, starts[0], turn, tau, seed=1)
    d = dream.held_action_response(discrete, gumbel, start, turn, tau, seed=1)
    print(f"tau {tau}: continuous frame change {c['frame_change']:.1f}, discrete {d['frame_change']:.1f} with "
          f"{d['flips']:.2f} of {d['variables']} variables flipping a step")

# %% [markdown]
# ## Many dreams at once
#
# The dream environment steps a whole batch together: this is what lets a CMA-ES population be evaluated
# in one pass later. 256 dreams with random actions:

# %%
env = dream.DreamEnv(model, codes_at(latents), tau=1.15, seed=0, max_steps=100)
z, h = env.reset(256)
returns = torch.zeros(256)
while not env.done.all():
    z, h, reward, done = env.step(torch.rand(256, 3) * torch.tensor([2.0, 1.0, 1.0]) - torch.tensor([1.0, 0, 0]))
    returns += reward
print(f"256 dreams x {env.t} steps; dreamt return: mean {returns.mean():.1f}, max {returns.max():.1f}")

# %% [markdown]
# ## A dream is judged by the controllers it ranks
#
# A low prediction loss does not make a dream a good teacher. The first controller evolved only in this M's dreams
# earned 124 there and -81 in the real env. It steered right with full gas and the brake on, so the car barely
# moved, and M's reward head, learnt from random-policy data, paid for it anyway. CMA-ES follows the dream's ranking
# of controllers, so notebook 05 judges an M by that ranking: `dream-check` plays a fixed panel of controllers in
# the real env and in M's dream and reports the rank correlation of their returns. The M above ranks them at about
# 0.5. The Ms fine-tuned on the failures of controllers and on agents' own episodes reach 0.8 to 0.9, and still
# their best dream agent, trained in full dreams from the start line, scores 259 on the protocol. Notebook 05
# shows what changed that: more data, an ensemble, and short dreams branched from real states.

# %% [markdown]
# ## A world model fed like the paper's
#
# The M above learnt from 200 random-policy episodes of 300 steps. Every published world model whose dream agent
# drove was fed 4,000 to 10,000 episodes, many of them at speed. `checkpoints/mdnrnn/vae_paper10k_0.pt` is one of
# five Ms (an ensemble, each its own seed and data order), fine-tuned from the paper-scale M on the paper's amount,
# 10,000 episodes of 1,000 steps, collected and encoded on two CPU cores in under an hour. Most of them are driven by
# a scripted pilot that follows the road from the env's own state, at speeds and care drawn per episode, with chance
# on its pedals for part of each episode; the rest are random and brownian driving. Its card:

# %%
paper_m = results.card(paths.mdnrnn_release("vae", "paper10k_0"))
if paper_m:
    display(Markdown(results.summary(paper_m)))
