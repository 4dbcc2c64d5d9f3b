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
# # 03 · A discrete V: Gumbel-softmax or straight-through, and continuous vs discrete
#
# Seed 004 asks whether World Models works with a *discrete* code, a step towards symbolic planning. The
# encoder is the same conv stack as the ConvVAE; the code is N = 32 categorical variables of K = 32 classes,
# each a one-hot vector $c_n$ drawn from the encoder's probabilities $q_n = \mathrm{softmax}(\ell_n)$ over its
# logits $\ell_n \in \mathbb{R}^K$. Acting always uses the hard code: the one-hot of each variable's most
# likely class. A sample has no gradient, so training needs an *estimator*; this notebook trains two.
#
# **Gumbel-softmax** (seed 004). Add Gumbel noise $g_k = -\log(-\log u_k)$, $u_k \sim U(0, 1)$, and soften
# the argmax with a temperature $\tau$ (annealed from 1 to 0.5):
#
# $$\tilde c_{n,k} = \frac{\exp((\ell_{n,k} + g_k) / \tau)}{\sum_j \exp((\ell_{n,j} + g_j) / \tau)}.$$
#
# The decoder learns from these blends of classes, which it never sees when acting.
#
# **Straight-through with unimix** (DreamerV3). Mix the probabilities with $\epsilon = 1\%$ uniform, draw a
# real one-hot sample, and let the gradient pass through the probabilities ($\mathrm{sg}$ stops a gradient):
#
# $$p_n = (1 - \epsilon)\,\mathrm{softmax}(\ell_n / \tau) + \epsilon / K, \qquad
#   c_n = \mathrm{onehot}(k \sim p_n) + p_n - \mathrm{sg}(p_n).$$
#
# The forward pass is exactly one-hot, as when acting; $\tau$ falls to 0.1, so late samples are nearly the
# argmax. Both minimise the reconstruction error plus a KL to the uniform prior $U$ above some free nats:
#
# $$\mathcal{L} = \lVert x - D(c) \rVert^2 + \max\big(\textstyle\sum_n \mathrm{KL}(q_n \,\|\, U),\ \text{free}\big),$$
#
# with 16 free nats (0.5 a variable, as the continuous VAE) for Gumbel-softmax, and DreamerV3's 1 nat for
# straight-through.

# %% tags=["parameters"]
# Parameters. TRAIN=False loads checkpoints/gumbel/<RELEASE>.pt, checkpoints/gumbel/<ST_RELEASE>.pt and
# checkpoints/vae/<RELEASE>.pt.
from worldmodels.core.presets import STRAIGHT_THROUGH, env_scale, env_switch

SCALE = env_scale("WM_SCALE")  # smoke, book or paper
TRAIN = env_switch("WM_TRAIN")  # 0 (unset): load the shipped checkpoints; 1: train
RELEASE = "book"
ST_RELEASE = "book_st"  # the straight-through V, trained with the gumbel settings of presets.STRAIGHT_THROUGH

# %%
import numpy as np
from IPython.display import Markdown, display

import worldmodels as wm
from worldmodels import compare, results, viz, widgets
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
#
# *Try this:* run the cell below with `tau=2.0`, then `tau=0.1`: a hot relaxed sample smears each row over many
# classes, a cold one is almost the hard one-hot. Training lowers tau in the same way (the `tau` curve above).

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
# largest change). *Try this:* move the top slider through its classes and watch which part of the road redraws.

# %%
explorer = widgets.CategoryExplorer(model, frames[0])
explorer.show()
print(explorer.influence_summary())

# %%
top = explorer.variables[0]
explorer.set(top, (int(explorer.classes[top]) + 1) % model.cfg.num_classes)
print(f"variable {top}, one class on: the frame moved by {explorer.difference.mean():.1f}/255 on average, "
      f"{int(explorer.difference.max())}/255 at most")
explorer.reset()

# %% [markdown]
# ## The straight-through V
#
# The same network trained with the straight-through estimator (`python -m worldmodels train-gumbel --run st
# --estimator straight_through --unimix 0.01 --kl-tolerance 0.03125 --tau-min 0.1 --tau-decay 0.0005`).

# %%
st_cfg = wm.get_config(SCALE, gumbel=STRAIGHT_THROUGH)
st_model, st_history = vision.train_or_load("gumbel", st_cfg, train_now=TRAIN, release_name=ST_RELEASE, run="st")
fig = viz.loss_curves(st_history, parts=("loss", "reconstruction", "kl", "tau"), title="straight-through VAE")
viz.save_figure(fig, "03_straight_through_loss", cfg.figures)
rows = np.stack([frames, model.reconstruct(frames), st_model.reconstruct(frames)])
fig = viz.traversal_grid(rows, ["frame", "Gumbel-softmax", "straight-through"], [""] * len(frames))
viz.save_figure(fig, "03_estimator_reconstructions", cfg.figures)

# %% [markdown]
# Its code is spread thinner: one variable moves the decoded frame less than the Gumbel V's most influential
# ones do, and the frame is drawn by many variables together. The difference map shows where each one draws.
# *Try this:* move two or three of the top sliders together and compare with moving one.

# %%
st_explorer = widgets.CategoryExplorer(st_model, frames[0])
st_explorer.show()
print(st_explorer.influence_summary())

# %% [markdown]
# ## Continuous vs discrete on the same held-out episodes
#
# - **mse_per_pixel**: reconstruction error (frames in [0, 1]); VAE from mu, the discrete Vs from the hard code.
# - **rate_bits**: KL to the prior per frame, in bits: how much the encoder says about each frame.
#   **capacity_bits**: the most a code can hold (32 x log2 32 = 160 bits for the discrete ones).
# - **bits_used**: the entropy of each variable's argmax class over the frames, summed: how much of the
#   capacity the acting codes really spread over. With a temperature that ends sharp, the straight-through
#   code's rate (measured at tau = 1) understates what its argmax carries; bits_used does not.
# - **smoothness**: code change between consecutive frames relative to two random frames (0 frozen, 1 random);
#   **flips_per_step**: variables whose class changes from one frame to the next.
# - **confidence**: the mean probability of the chosen class (1/32: no idea, 1: certain).

# %%
vae, _ = vision.train_or_load("vae", cfg, train_now=TRAIN, release_name=RELEASE)
table = compare.comparison(vae, [model, st_model], held_out, cache=True, progress=True)  # 06 reuses it
display(Markdown(compare.markdown_table(table)))

# %%
episode = datasets.load_episode(held_out[0])["obs"]
fig = viz.code_trajectories(vae.encode_frames(episode)["mu"],
                            model.encode_frames(episode)["logits"].argmax(-1))
viz.save_figure(fig, "03_code_trajectories", cfg.figures)

# %% [markdown]
# ## Does a discrete agent still stall?
#
# Seed 004's discrete agent stalled (best generation mean about 98). Ours do not, and the estimator decides how
# far they get. Both discrete agents below were evolved with the same recipe, data and controller shape
# (`python -m worldmodels evolve --latent gumbel --covariance diagonal --sigma0 0.02 ...`, 140 generations);
# only V, and the M trained on its codes, differ:
#
# - on the Gumbel-softmax V, C reads codes whose near-uniform posteriors flip about 2 variables a step, and the
#   M on them ranks controllers poorly (dream-check 0.39);
# - on the straight-through V the codes are sharper in use (0.74 flips a step), reconstruct with 43% less
#   error, and the M on them ranks controllers well (dream-check 0.69, 0.88 over the controllers that ignore h).
#
# Then the paper's iterative step, as the continuous model had it: 200 episodes driven by `gumbel_book_st`
# (plus noise), an M retrained on them, and C evolved on from `gumbel_book_st`. For the continuous model that
# step was worth 86 points (755 to 841); for the discrete one it is worth 10 (708 to 719, within the noise),
# though its median passes 800. The discrete agent no longer stalls; what keeps it from 800 is its bad tracks.
#
# The scores, from the agents' cards (100 held-out tracks):

# %%
names = ("gumbel_book", "gumbel_book_st", "gumbel_agent_book_st", "vae_book", "vae_agent_book")
display(Markdown(results.markdown([row for row in results.agent_rows() if row["agent"] in names])))
