"""The ES of an evolution run and its file, ``state.npz``: numbers and JSON only, never a pickle.

A pickled ``cma.CMAEvolutionStrategy`` can run code when it is loaded (and pycma evaluates string
options), so a copied or downloaded run folder must not hold one. The ES is deterministic given
its start and what it was told, so the file keeps exactly that:

    x0        (n,)    the start (zeros, or the ``--init`` agent's parameters)
    fitness   (G, P)  every generation's candidate scores, as told (negated) to the ES
    best      (n,)    the best single candidate so far; ``best_mean`` (n,) the best-scoring mean
    es_mean   (n,)    the ES's mean after generation G, and ``es_sigma`` its step size
    meta      JSON    config, spec, history, step counts, commands, the scores of best and best_mean

``load_state`` rebuilds the ES from the run's own settings and replays the G ask/tell pairs
(``Randn`` draws the same candidates again), then checks the replayed mean and step size against
the saved ones bit for bit. The replay costs about 45 ms a generation for a full covariance over
867 parameters (the book's C), 4 ms for a diagonal one.

Runs saved by earlier versions as ``state.pkl`` are refused with what to do instead.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..core import checkpoint
from ..core.config import EvolutionConfig, from_dict
from ..core.storage import atomic_write, load_error, load_npz

STATE = "state.npz"
LEGACY_STATE = "state.pkl"
_META_KEYS = ("config", "spec", "history", "env_steps", "dream_steps", "commands")


class Randn:
    """pycma's ``randn`` option backed by our own generator, so the candidates depend only on the run's seed."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng([seed, 0xC3A])

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


def make_es(x0: np.ndarray, cfg: EvolutionConfig):
    """A fresh ``cma.CMAEvolutionStrategy`` at ``x0`` (n,) with the run's population, step size, covariance and seed."""
    import cma

    options = {"popsize": cfg.population, "randn": Randn(cfg.seed), "CMA_diagonal": cfg.covariance == "diagonal",
               "verbose": -9, "verb_disp": 0, "verb_log": 0}
    return cma.CMAEvolutionStrategy(np.asarray(x0, dtype=np.float64), cfg.sigma0, options)


def new_state(x0: np.ndarray, cfg: EvolutionConfig, config: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The state of a run before its first generation (``config`` and ``spec`` as JSON-ready dicts)."""
    x0 = np.asarray(x0, dtype=np.float64)
    return {"config": config, "spec": spec, "x0": x0, "es": make_es(x0, cfg), "fitness": [], "history": [],
            "best": None, "best_mean": None, "env_steps": 0, "dream_steps": 0, "commands": []}


def tell(state: dict[str, Any], candidates: np.ndarray, fitness: np.ndarray) -> None:
    """Tell the ES one generation's scores (higher is better; (P,)) and keep them for the replay."""
    fitness = np.asarray(fitness, dtype=np.float64)
    state["es"].tell(list(candidates), (-fitness).tolist())
    state["fitness"].append(fitness)


def save_state(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` (``state.npz``) atomically."""
    import cma

    es = state["es"]
    population = es.popsize
    meta = {k: state[k] for k in _META_KEYS}
    meta["scores"] = {k: (state[k][0] if state[k] is not None else None) for k in ("best", "best_mean")}
    meta["cma"] = cma.__version__
    arrays = {"meta": np.array(json.dumps(meta)), "x0": state["x0"],
              "fitness": np.asarray(state["fitness"], dtype=np.float64).reshape(-1, population),
              "es_mean": np.asarray(es.mean, dtype=np.float64), "es_sigma": np.float64(es.sigma)}
    for k in ("best", "best_mean"):
        if state[k] is not None:
            arrays[k] = np.asarray(state[k][1], dtype=np.float64)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON part of a ``state.npz`` (config, history, ...) without replaying the ES."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    try:
        with load_npz(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return arrays, json.loads(str(arrays["meta"]))
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise checkpoint.CheckpointError(f"{path}: unreadable evolution state ({load_error(e)}); "
                                         f"delete {path.parent} to start over") from e


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a run's ``state.npz`` and rebuild its ES by replay (see the module docstring); a clear error names
    the file when it is missing, from an earlier version, unreadable, or does not replay to what was saved."""
    path = Path(path)
    legacy = path.with_name(LEGACY_STATE)
    if not path.exists() and legacy.exists():
        raise checkpoint.CheckpointError(
            f"{legacy}: a run state pickled by an earlier version; a pickle can run code when it is loaded, so this "
            f"version does not read one. The run's agents ({path.parent}/mean.pt, best.pt, best_mean.pt) and "
            f"history.csv still load: to go on from it, start a new run with --init {path.parent}/mean.pt")
    arrays, meta = _read(path)
    try:
        fitness = arrays["fitness"]
        state = {k: meta[k] for k in _META_KEYS}
        state["x0"] = arrays["x0"]
        for k in ("best", "best_mean"):
            state[k] = (meta["scores"][k], arrays[k]) if meta["scores"][k] is not None else None
    except (KeyError, TypeError) as e:  # a readable file without a state's entries
        raise checkpoint.CheckpointError(f"{path}: unreadable evolution state ({type(e).__name__}: {e}); "
                                         f"delete {path.parent} to start over") from e
    if fitness.ndim != 2 or len(fitness) != len(state["history"]) or not np.all(np.isfinite(fitness)):
        raise checkpoint.CheckpointError(f"{path}: its scores ({fitness.shape}) do not match its history of "
                                         f"{len(state['history'])} generations, or are not finite; delete "
                                         f"{path.parent} to start over")
    cfg = from_dict({"evolution": state["config"]["evolution"]}).evolution
    es = make_es(state["x0"], cfg)
    for scores in fitness:  # as the run did: ask, then tell the negated scores of the asked candidates
        es.tell(list(np.asarray(es.ask())), (-scores).tolist())
    if not (np.array_equal(es.mean, arrays["es_mean"]) and float(es.sigma) == float(arrays["es_sigma"])):
        import cma

        raise checkpoint.CheckpointError(
            f"{path}: replaying its {len(fitness)} generations does not give the ES it saved (saved with cma "
            f"{meta.get('cma')}, this is cma {cma.__version__}); resume with the cma version it was saved with, or "
            f"start a new run with --init {path.parent}/mean.pt")
    state["es"], state["fitness"] = es, list(fitness)
    return state
