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

# %% tags=["parameters"]
# Parameters. TRAIN=False loads checkpoints/gumbel/<RELEASE>.pt and checkpoints/vae/<RELEASE>.pt.
import os

SCALE = os.environ.get("WM_SCALE", "book")
TRAIN = os.environ.get("WM_TRAIN", "0") == "1"
RELEASE = "book"

# %% [markdown]
# # 03 · A discrete V: the Gumbel-softmax VAE, and continuous vs discrete
#
# Seed 004 asks whether World Models works with a *discrete* code, a step towards symbolic planning. The
# encoder is the same conv stack as the ConvVAE; the code is N = 32 categorical variables of K = 32 classes.
# Training samples it with the Gumbel-softmax relaxation (temperature tau annealed from 1 to 0.5); acting
# uses the hard one-hot of each variable's most likely class.

# %%
import numpy as np
from IPython.display import Markdown, display

import worldmodels as wm
from worldmodels import compare, viz, widgets
from worldmodels.training import vision
from worldmodels.world import datasets, rollouts

cfg = wm.get_config(SCALE)
files = rollouts.collect(cfg.collect)
train_files, held_out = vision.split(cfg, "gumbel")

# %%
model, history = vision.train_or_load("gumbel", cfg, train_now=TRAIN, release_name=RELEASE)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {len(history)} epochs")
fig = viz.loss_curves(history, parts=("loss", "reconstruction", "kl", "tau"), title="Gumbel-softmax VAE")
viz.save_figure(fig, "03_gumbel_loss", cfg.figures)

# %% [markdown]
# ## Inside one frame
#
# Seed 004's figure: the input, the reconstruction from the hard code, and the N x K arrays of logits,
# softmax probabilities, a relaxed Gumbel sample (tau = 0.5) and the hard one-hot sample.

# %%
frames = np.concatenate([datasets.load_episode(f)["obs"] for f in held_out[:4]])
frames = frames[np.random.default_rng(1).choice(len(frames), size=8, replace=False)]
for i in (0, 1):
    d = model.details(frames[i], tau=0.5, seed=i)
    fig = viz.gumbel_panels(frames[i], d["reconstruction"], d["logits"], d["softmax"], d["sample"], d["hard"])
    viz.save_figure(fig, f"03_gumbel_panels_{i}", cfg.figures)

# %%
fig = viz.reconstruction_pairs(frames, model.reconstruct(frames), labels=("frame", "hard-code reconstruction"))
viz.save_figure(fig, "03_gumbel_reconstructions", cfg.figures)

# %%
fig = viz.frame_grid(model.sample_prior(16, seed=0), ncols=8)
viz.save_figure(fig, "03_gumbel_prior_samples", cfg.figures)

# %% [markdown]
# ## Explore the code: the variables that draw the most
#
# Not every variable matters for every frame. For each variable the explorer measures its *influence*: how far
# the decoded frame moves, on average over the other classes, when that variable alone changes class. It gives
# sliders to the eight most influential, and the right-hand map shows where the frame changed (white: the
# largest change). Try this: move the top slider through its classes and watch which part of the road redraws.

# %%
explorer = widgets.CategoryExplorer(model, frames[0])
display(explorer.widget)
ranked = np.sort(explorer.influence)[::-1]
print(f"influence (mean change, /255): top variable {ranked[0]:.1f}, 8th {ranked[7]:.1f}, "
      f"median {np.median(ranked):.2f}")

# %%
top = explorer.variables[0]
explorer.set(top, (int(explorer.classes[top]) + 1) % model.cfg.num_classes)
print(f"variable {top}, one class on: the frame moved by {explorer.difference.mean():.1f}/255 on average, "
      f"{int(explorer.difference.max())}/255 at most")
explorer.reset()

# %% [markdown]
# ## Continuous vs discrete on the same held-out episodes
#
# - **mse_per_pixel**: reconstruction error (frames in [0, 1]); VAE from mu, Gumbel VAE from the hard code.
# - **rate_bits**: KL to the prior per frame, in bits: how much the encoder says about each frame.
#   **capacity_bits**: the most a code can hold (32 x log2 32 = 160 bits for the discrete one).
# - **smoothness**: code change between consecutive frames relative to two random frames (0 frozen, 1 random);
#   **flips_per_step**: variables whose class changes from one frame to the next.

# %%
vae, _ = vision.train_or_load("vae", cfg, train_now=TRAIN, release_name=RELEASE)
results = compare.comparison(vae, model, held_out)
display(Markdown(compare.markdown_table(results)))

# %%
episode = datasets.load_episode(held_out[0])["obs"]
fig = viz.code_trajectories(vae.encode_frames(episode)["mu"],
                            model.encode_frames(episode)["logits"].argmax(-1))
viz.save_figure(fig, "03_code_trajectories", cfg.figures)
