"""worldmodels: World Models (Ha & Schmidhuber 2018) on gymnasium's CarRacing.

Modules, one idea each:

- ``config``    dataclass configs and the ``smoke`` / ``book`` / ``paper`` presets
- ``paths``     where data, checkpoints and figures live
- ``env``       ``make_env(seed, renderer)`` with stock / exact / fast renderers; ``preprocess``
- ``rollouts``  data-collection policies and parallel, resumable ``collect``
- ``data``      validated episode loading, streaming frame dataset, ``verify``
- ``parallel``  serial / process / Ray task pools
- ``storage``   atomic file writes
- ``vae``       the paper's ConvVAE and the conv stack both VAEs share
- ``gumbel_vae``  the Gumbel-softmax VAE (N categoricals x K classes)
- ``train``     one training loop for every model: checkpoints, history, resume
- ``checkpoint``  atomic save / safe load of model files
- ``vision``    V end to end: train, release, load, reconstruct, encode
- ``compare``   continuous vs discrete latents: reconstruction, information, smoothness
- ``mdnrnn``    M: LSTM + mixture-density head (continuous) or categorical head (discrete)
- ``memory``    M end to end: train, release, load, next-latent prediction
- ``dream``     batched dream environment, dream decoding and videos
- ``controller``  C: the linear controller with flat parameters for CMA-ES
- ``agent``     V + M + C acting in the real env, batched over envs; agent files; the evaluation protocol
- ``evolve``    CMA-ES (pycma) in the real env or the dream: resumable runs, logs, releases
- ``viz``, ``widgets``  plotting functions and ipywidgets explorers for the notebooks
"""

from .config import get_config

__version__ = "0.1.0"
__all__ = ["__version__", "get_config"]
