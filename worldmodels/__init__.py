"""worldmodels: World Models (Ha & Schmidhuber 2018) on gymnasium's CarRacing.

The package is a house of layers; a module imports only from the layers below its own (an import-linter
contract in ``pyproject.toml``, checked by ``make lint`` and ``tests/test_layers.py``):

``cli``, ``commands``, ``reproduce``
    the command line (its arguments, in ``commands``, generated from the config dataclasses with tyro) and the
    whole pipeline in one command
``compare``, ``results``, ``viz``, ``widgets``
    continuous-vs-discrete measures, the results table, plots and ipywidgets explorers for the notebooks
``training``
    ``loop`` (the one training loop), ``vision`` and ``memory`` (V and M: train, encode, release), ``evolve`` and
    ``evaluators`` (CMA-ES, scoring candidates in the real env or the dream), ``dream_check`` (does M's dream rank
    controllers as the env does), ``release`` (a model file and its card, written together)
``agent``
    ``files`` (agent files, V and M pinned by SHA-256), ``acting`` (V + M + C batched over envs), ``episodes``
    (many episodes on a task pool), ``evaluation`` (the protocol), ``policy`` (the ``agent`` collection policy),
    ``dream`` (the dream environment)
``models``
    ``vision`` (the V interface), ``vae``, ``gumbel_vae``, ``registry`` (the kinds of V: build, load), ``mdnrnn``
    (M, with a mixture or a categorical head), ``controller`` (C)
``world``
    ``env``, ``renderers`` and ``geometry`` (CarRacing, stock / exact / fast), ``frames`` (frame conversion, in one place),
    ``policies`` and ``rollouts`` (resumable collection), ``datasets`` (episodes and latent sequences)
``core``
    ``config``, ``validation`` and ``presets`` (range-checked dataclasses, the smoke / book / paper scales),
    ``paths``, ``provenance`` (hashes, versions), ``storage`` and ``checkpoint`` (atomic writes, safe loads),
    ``parallel`` (serial / process / Ray pools), ``video``
"""

from .core.presets import get_config

__version__ = "0.1.0"
__all__ = ["__version__", "get_config"]
