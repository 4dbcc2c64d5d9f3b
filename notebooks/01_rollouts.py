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
# # 01 · Rollouts: what the world model learns from
#
# World Models learns its vision (V) and memory (M) from recorded play, not from reward. This notebook
# collects that play in gymnasium's `CarRacing-v3` with the book's random policy (a random action held for
# 20 steps), and looks at it: frames, an episode, and its actions and rewards.
#
# **Words these notebooks use**
#
# - **V, M, C**: vision (a VAE that turns a frame into a small code $z$), memory (an MDN-RNN that predicts the
#   next $z$ and keeps a hidden state $h$) and the controller (a linear map from $[z, h]$ to an action).
# - **The book**: the chapter notebook we reproduce ("Chapter 8: Play"). **Seed 004**: the write-up that asks
#   whether a *discrete* code (Gumbel-softmax) can replace the continuous one (notebook 03).
# - **A seed**: the number a CarRacing track is generated from. Rollouts use seeds from 0, evolution from
#   1,000,000; seeds 800,000 to 999,999 are kept for judging and never trained on.
# - **The protocol**: how an agent is scored: its mean return over 100 episodes on the held-out tracks
#   900,000 to 900,099, with gymnasium's own renderer (`python -m worldmodels evaluate`); 900 counts as solved.
# - **A card**: the JSON file beside every shipped model (`checkpoints/<kind>/<name>.json`): its config, its
#   data, its training, its scores, its lineage (every real env step behind it) and the command that made it.
#   The notebooks read scores from cards instead of re-running 100 episodes.
# - **A dream**: M run on its own predictions, with no CarRacing underneath (notebooks 04 and 05).

# %% tags=["parameters"]
# Parameters: WM_SCALE=smoke|book|paper picks the preset (book: 200 episodes x 300 steps, as in the book).
from worldmodels.core.presets import env_scale

SCALE = env_scale("WM_SCALE")  # smoke, book or paper

# %%
import numpy as np
from IPython.display import HTML, display

import worldmodels as wm
from worldmodels import viz
from worldmodels.world import datasets, env, rollouts

cfg = wm.get_config(SCALE)
cfg.collect

# %% [markdown]
# ## The environment and its renderers
#
# A CarRacing step spends almost all its time drawing the 96x96 state. `make_env(renderer=...)` keeps
# gymnasium's physics, rewards and termination and swaps only the drawing: `exact` gives the same pixels
# faster, `fast` draws with OpenCV on a supersampled canvas (a mean difference of about 0.2/255). A fourth,
# `direct`, skips the 96x96 state and draws the agent's 64x64 input itself: what an agent acts on in training.

# %%
frames = {}
for renderer in env.STATE_RENDERERS:
    e = env.make_env(renderer=renderer)
    obs, _ = e.reset(seed=3)
    for _ in range(60):
        obs, *_ = e.step(np.array([0.0, 0.3, 0.0], dtype=np.float32))
    frames[renderer] = obs
fig = viz.renderer_comparison(frames)
viz.save_figure(fig, "01_renderers", cfg.figures)

# %% [markdown]
# ## Collect (or load) the rollouts
#
# `collect` runs the episodes on all cores, one compressed file per episode, and resumes if stopped:
# episodes already on disk are kept, so re-running this cell only loads.

# %%
files = rollouts.collect(cfg.collect)
print(f"{len(files)} episodes in {files[0].parent}")

# %%
episodes = [datasets.load_episode(f) for f in files[:8]]
print({k: (v.shape, v.dtype.name) for k, v in episodes[0].items()})

# %% [markdown]
# ## A grid of frames
#
# Random frames from several episodes, as V will see them (64x64, the indicator bar cropped as in the paper).

# %%
rng = np.random.default_rng(0)
picks = [(i, int(rng.integers(len(episodes[i]["obs"])))) for i in rng.integers(len(episodes), size=24)]
fig = viz.frame_grid(np.stack([episodes[i]["obs"][t] for i, t in picks]), ncols=8,
                     titles=[f"seed {int(episodes[i]['seed'])}, t={t}" for i, t in picks])
viz.save_figure(fig, "01_frame_grid", cfg.figures)

# %% [markdown]
# ## One episode
#
# The first second is the camera zooming in; after that the random policy drives, turns and often leaves the road.

# %%
episode = episodes[0]
fig = viz.filmstrip(episode["obs"], every=max(1, len(episode["obs"]) // 12), max_frames=12)
viz.save_figure(fig, "01_filmstrip", cfg.figures)

# %%
display(HTML(viz.animate(episode["obs"][::2], fps=25).to_jshtml()))

# %% [markdown]
# ## Actions and rewards
#
# Each step costs 0.1; each new road tile visited pays 1000/N for a track of N tiles.

# %%
fig = viz.action_reward_traces(episode["action"], episode["reward"], title=f"seed {int(episode['seed'])}")
viz.save_figure(fig, "01_traces", cfg.figures)

# %%
returns = np.array([datasets.load_episode(f)["reward"].sum() for f in files])
print(f"returns over {len(returns)} episodes: mean {returns.mean():.1f}, "
      f"min {returns.min():.1f}, max {returns.max():.1f}")
