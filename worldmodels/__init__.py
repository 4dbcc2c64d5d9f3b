"""worldmodels: World Models (Ha & Schmidhuber 2018) on gymnasium's CarRacing.

Modules, one idea each:

- ``config``    dataclass configs and the ``smoke`` / ``book`` / ``paper`` presets
- ``paths``     where data, checkpoints and figures live
- ``env``       ``make_env(seed, renderer)`` with stock / exact / fast renderers; ``preprocess``
- ``rollouts``  data-collection policies and parallel, resumable ``collect``
- ``data``      validated episode loading, streaming frame dataset, ``verify``
- ``parallel``  serial / process / Ray task backends
- ``storage``   atomic file writes
- ``viz``       plotting functions for the notebooks
"""

from .config import get_config

__version__ = "0.1.0"
__all__ = ["__version__", "get_config"]
