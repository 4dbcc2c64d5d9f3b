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
# # 02 · V: the variational autoencoder
#
# V compresses each 64x64 frame into a 32-number code z, the paper's ConvVAE: four stride-2 convolutions
# down to 1024 features, a Gaussian posterior N(mu, sigma) over z, and transposed convolutions back up.
#
# **The loss.** The encoder gives $\mu(x), \sigma(x) \in \mathbb{R}^{Z}$ ($Z = 32$); a code is drawn as
# $z = \mu + \sigma \odot \varepsilon$, $\varepsilon \sim \mathcal{N}(0, I)$ (so gradients flow through
# $\mu$ and $\sigma$), and the decoder draws $\hat{x}(z)$. Per frame,
#
# $$\mathcal{L}(x) = \sum_{i} \big(x_i - \hat{x}_i\big)^2
#   + \max\Big(\mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, I)\big),\ \kappa Z\Big),
# \qquad \mathrm{KL} = \tfrac{1}{2} \sum_{j=1}^{Z} \big(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\big).$$
#
# The first term asks for a faithful picture (pixels in $[0, 1]$, summed over all $64 \times 64 \times 3$);
# the second keeps codes close to the prior, so that sampled codes decode to plausible frames. The KL
# tolerance $\kappa = 0.5$ gives the encoder $\kappa Z = 16$ nats for free: below that the KL costs nothing,
# so V spends its capacity on the road instead of squeezing the code further.

# %% tags=["parameters"]
# Parameters. WM_SCALE picks the rollouts shown (and trained on when TRAIN); TRAIN=False loads the shipped
# checkpoint checkpoints/vae/<RELEASE>.pt (training at book scale takes about half an hour on 2 cores).
from worldmodels.core.presets import env_scale, env_switch

SCALE = env_scale("WM_SCALE")  # smoke, book or paper
TRAIN = env_switch("WM_TRAIN")  # 0 (unset): load the shipped checkpoints; 1: train
RELEASE = "book"

# %%
import numpy as np

import worldmodels as wm
from worldmodels import viz, widgets
from worldmodels.training import vision
from worldmodels.world import datasets, rollouts

cfg = wm.get_config(SCALE)
files = rollouts.collect(cfg.collect)  # loads what is on disk, collects what is missing
train_files, held_out = vision.split(cfg, "vae")
print(f"{len(train_files)} training and {len(held_out)} held-out episodes")

# %% [markdown]
# ## Train, or load the shipped model

# %%
model, history = vision.train_or_load("vae", cfg, train_now=TRAIN, release_name=RELEASE)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {len(history)} epochs")

# %%
fig = viz.loss_curves(history, title="ConvVAE")
viz.save_figure(fig, "02_vae_loss", cfg.figures)

# %% [markdown]
# ## Reconstructions of held-out frames
#
# The decoder sees only mu, the mean code. Road, grass and the car's position survive; fine texture does not.

# %%
rng = np.random.default_rng(1)
frames = np.concatenate([datasets.load_episode(f)["obs"] for f in held_out[:4]])
frames = frames[rng.choice(len(frames), size=8, replace=False)]
fig = viz.reconstruction_pairs(frames, model.reconstruct(frames))
viz.save_figure(fig, "02_vae_reconstructions", cfg.figures)

# %% [markdown]
# ## The code of a sequence, as a 4x8 heat map
#
# Seed 004's picture: consecutive frames of one episode, their mu drawn as a 4x8 grid, and the decoded frame.

# %%
episode = datasets.load_episode(held_out[0])["obs"]
sequence = episode[40:200:20] if len(episode) > 200 else episode[:: max(1, len(episode) // 8)][:8]
codes = model.encode_frames(sequence)
fig = viz.latent_heatmaps(sequence, codes["mu"], model.reconstruct(sequence))
viz.save_figure(fig, "02_vae_z_heatmaps", cfg.figures)

# %% [markdown]
# ## Samples from the prior
#
# Decoding z ~ N(0, I): what V believes a frame can look like.

# %%
fig = viz.frame_grid(model.sample_prior(16, seed=0), ncols=8)
viz.save_figure(fig, "02_vae_prior_samples", cfg.figures)

# %% [markdown]
# ## Latent traversals
#
# Starting from a real frame's mu, one dimension at a time is swept from -3 to 3. The dimensions with the
# largest spread of mu over the held-out frames are shown: those are the ones V uses.

# %%
spread = model.encode_frames(frames)["mu"].std(axis=0)
dims = [int(d) for d in np.argsort(spread)[::-1][:6]]
values = [-3, -2, -1, 0, 1, 2, 3]
fig = viz.traversal_grid(model.traverse(frames[0], dims, values), [f"z[{d}]" for d in dims],
                         [f"{v:+d}" for v in values])
viz.save_figure(fig, "02_vae_traversals", cfg.figures)

# %% [markdown]
# How many of the 32 dimensions does the decoder actually read? Move each one alone by one prior standard
# deviation from every frame's mu and measure how much the decoded frame changes (`model.influence`):

# %%
influence = model.influence(frames)
print(f"{int((influence > 1).sum())} of {len(influence)} dimensions change the frame by more than 1/255 on average; "
      f"the median one by {np.median(influence):.2f}/255")
print("the most influential:", {f"z[{d}]": round(float(influence[d]), 1) for d in np.argsort(-influence)[:8]})

# %% [markdown]
# Only a handful. The KL term charges for every dimension that departs from the prior, and the tolerance
# $\kappa Z$ is spent on the few that pay for themselves in reconstruction; the others stay close to
# $\mathcal{N}(0, 1)$ for every frame, and the decoder learns to ignore them. M will still have to predict all
# 32, and notebook 04 shows what that means in a dream: noise in the ignored dimensions never reaches the picture.

# %% [markdown]
# ## Explore the latent space
#
# Pick dimensions, move the sliders, and the frame is decoded in place. "back to the frame" resets z.
#
# *Try this:* find the dimension that moves the road left and right, then the one that turns grass into road;
# push one beyond $\pm 2$ (rare under the prior) and see where the decoder stops being sure.

# %%
explorer = widgets.LatentExplorer(model, frames[0], dims=dims)
explorer.show()

# %% [markdown]
# The same controls from code (this is how the tests drive them):

# %%
before = explorer.decoded.copy()
explorer.set(dims[0], 2.5)
print(f"moving z[{dims[0]}] to 2.5 changed {np.mean(np.any(before != explorer.decoded, axis=-1)):.0%} of the pixels")
explorer.reset()
