import numpy as np
import pytest


@pytest.fixture
def wm_root(tmp_path, monkeypatch):
    """An empty project root: data/ and figures/ go to a temporary folder."""
    monkeypatch.setenv("WM_ROOT", str(tmp_path))
    return tmp_path


def random_actions(n: int, seed: int, refresh: int = 20) -> np.ndarray:
    """The book's policy: uniform actions held for ``refresh`` steps. (n, 3) float32."""
    rng = np.random.default_rng(seed)
    held = rng.uniform([-1, 0, 0], [1, 1, 1], size=(n // refresh + 1, 3)).astype(np.float32)
    return np.repeat(held, refresh, axis=0)[:n]


def driving_actions(n: int, seed: int) -> np.ndarray:
    """Driving-like actions: gentle gas, slowly wandering steering, rare braking. (n, 3) float32."""
    rng = np.random.default_rng(seed)
    steer = np.clip(np.cumsum(rng.normal(0, 0.08, n)), -1, 1)
    gas = np.full(n, 0.3)
    brake = (rng.random(n) < 0.03) * 0.5
    return np.stack([steer, gas, brake], axis=1).astype(np.float32)


REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture
def world_model(wm_root):
    """The shipped book V and M (continuous) copied into the temporary project root: (vision, mdnrnn) paths."""
    import shutil

    out = []
    for rel in ("checkpoints/vae/book.pt", "checkpoints/mdnrnn/vae_book.pt"):
        (wm_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, wm_root / rel)
        out.append(wm_root / rel)
    return tuple(out)
