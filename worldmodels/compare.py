"""Continuous vs discrete latents on the same frames: reconstruction, information, smoothness.

Measures (all on held-out episodes, frames in [0, 1]):

- ``mse_per_pixel``: squared error of the deterministic reconstruction (VAE: decode mu;
  Gumbel VAE: decode the hard argmax code, as when acting).
- ``rate_bits``: KL(q(z|x) || prior) per frame in bits, the information the encoder
  sends about a frame (an upper bound on I(x; z)). ``capacity_bits``: the most the code
  can hold (Gumbel: N log2 K; the Gaussian code has no finite capacity).
- ``smoothness``: how much the code moves between consecutive frames, relative to two
  random frames of the same episodes (0: frozen, 1: as different as unrelated frames).
  Distance: Euclidean between mu for the VAE, the fraction of variables whose argmax
  class differs for the Gumbel VAE; ``flips_per_step`` is the latter in variables.
- ``input_change``: how much the controller's input moves per step, relative to its size: |z_t+1 - z_t| / |z|
  for the VAE's mu, |c_t+1 - c_t| / |c| for the one-hot code c (N ones), what C's weights turn into action jitter.
- ``confidence`` (Gumbel): the mean probability of the argmax class (1 / K: no idea, 1: certain).
- ``bits_used`` (Gumbel): the entropy, in bits, of how often each class is the argmax over the frames, summed
  over the variables: how much of ``capacity_bits`` the acting codes really spread over (a variable stuck on one
  class uses 0 bits, one spread evenly over K classes log2 K).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from .core import paths
from .core.storage import load_json, load_npz, save_json
from .models.gumbel_vae import GumbelVAE, categorical_kl_to_uniform
from .models.vae import ConvVAE, gaussian_kl
from .training.vision import held_out_metrics
from .world.datasets import load_episode
from .world.frames import frames_to_tensor


def _codes_and_error(model, files: list[Path], bar=None) -> tuple[list[dict[str, np.ndarray]], float]:
    """Each file's codes, and the reconstruction error over all of them (``held_out_metrics``); ``bar`` (a tqdm)
    advances by one per file for each of the two passes."""
    codes = []
    for f in files:
        codes.append(model.encode_frames(load_episode(f)["obs"]))
        if bar is not None:
            bar.update()
    mse = held_out_metrics(model, files)["mse_per_pixel"]
    if bar is not None:
        bar.update(len(files))
    return codes, mse


def _smoothness(codes: list[np.ndarray], distance, seed: int = 0) -> tuple[float, float]:
    """(mean consecutive distance, same relative to random pairs within the episodes)."""
    rng = np.random.default_rng(seed)
    steps, randoms = [], []
    for c in codes:  # (T + 1, ...)
        steps.append(distance(c[1:], c[:-1]))
        i, j = rng.integers(len(c), size=(2, len(c)))
        randoms.append(distance(c[i], c[j]))
    step, random = float(np.concatenate(steps).mean()), float(np.concatenate(randoms).mean())
    return step, step / max(random, 1e-12)


def vae_summary(model: ConvVAE, files: list[Path], bar=None) -> dict[str, float]:
    codes, mse = _codes_and_error(model, files, bar)
    mu = [c["mu"] for c in codes]
    kl = np.concatenate([gaussian_kl(torch.from_numpy(c["mu"]), torch.from_numpy(c["logvar"])).numpy()
                         for c in codes])
    step, relative = _smoothness(mu, lambda a, b: np.linalg.norm(a - b, axis=-1))
    return {
        "mse_per_pixel": mse,
        "rate_bits": float(kl.mean() / math.log(2)),
        "capacity_bits": float("inf"),
        "smoothness": relative,
        "step_distance": step,
        "input_change": step / float(np.mean([np.linalg.norm(m, axis=-1).mean() for m in mu])),
    }


def gumbel_summary(model: GumbelVAE, files: list[Path], bar=None) -> dict[str, float]:
    codes, mse = _codes_and_error(model, files, bar)
    logits = [c["logits"] for c in codes]  # (T + 1, N, K) each
    kl = np.concatenate([categorical_kl_to_uniform(torch.from_numpy(c), model.cfg.unimix).numpy() for c in logits])
    classes = [c.argmax(-1) for c in logits]  # (T + 1, N)
    step, relative = _smoothness(classes, lambda a, b: (a != b).mean(axis=-1))
    N, K = model.cfg.num_vars, model.cfg.num_classes
    return {
        "mse_per_pixel": mse,
        "rate_bits": float(kl.mean() / math.log(2)),
        "capacity_bits": N * math.log2(K),
        "smoothness": relative,
        "step_distance": step,
        "flips_per_step": step * N,
        "input_change": math.sqrt(2 * step),  # |c_t+1 - c_t| = sqrt(2 flips), |c| = sqrt(N)
        "confidence": float(np.mean([torch.from_numpy(c).softmax(-1).amax(-1).mean().item() for c in logits])),
        "classes_used_per_variable": float(np.mean([len(np.unique(np.concatenate(classes)[:, n])) for n in range(N)])),
        "bits_used": bits_used(np.concatenate(classes), K),
    }


def bits_used(classes: np.ndarray, num_classes: int) -> float:
    """Summed over variables, the entropy in bits of each one's class frequencies: classes int (F, N) -> bits."""
    total = 0.0
    for column in classes.T:
        p = np.bincount(column, minlength=num_classes) / len(column)
        p = p[p > 0]
        total -= float((p * np.log2(p)).sum())
    return total


def label(model: GumbelVAE) -> str:
    """How the comparison names a discrete V: 'discrete (Gumbel, 32x32)', 'discrete (straight-through, 32x32)'."""
    estimator = "Gumbel" if model.cfg.estimator == "gumbel" else "straight-through"
    return f"discrete ({estimator}, {model.cfg.num_vars}x{model.cfg.num_classes})"


def comparison(vae: ConvVAE, gumbel: GumbelVAE | list[GumbelVAE], files: list[Path],
               cache: bool = False, progress: bool = False) -> dict[str, dict[str, float]]:
    """The summaries on the same episode files, one row per V: {"continuous (VAE, z=32)": ..., label(gumbel): ...};
    ``gumbel`` may be several discrete Vs (a repeated label gets its position appended).

    ``cache``: keep the result in ``data/cache/compare/<key>.json``, the key a SHA-256 of every model's weights and
    every file's name, size and modification time, so a notebook that asks again for the same table (06 after 03)
    reads it in milliseconds instead of encoding the episodes again (15 s to 2 minutes at book scale). ``progress``
    shows a bar over the episodes each V encodes."""
    models = [vae, *(gumbel if isinstance(gumbel, list) else [gumbel])]
    path = paths.data_dir() / "cache" / "compare" / f"{_key(models, files)}.json" if cache else None
    if path is not None and path.exists():
        try:
            return load_json(path)
        except ValueError:
            pass  # unreadable: measure again
    from tqdm.auto import tqdm

    with tqdm(total=2 * len(models) * len(files), desc="comparing the Vs", unit="episode", disable=not progress) as bar:
        rows = {"continuous (VAE, z=32)": vae_summary(vae, files, bar)}
        for i, model in enumerate(models[1:]):
            name = label(model)
            rows[name if name not in rows else f"{name} #{i + 1}"] = gumbel_summary(model, files, bar)
    if path is not None:
        save_json(path, rows)
    return rows


def _key(models: list[torch.nn.Module], files: list[Path]) -> str:
    digest = hashlib.sha256()
    for model in models:
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for f in map(Path, files):
        stat = f.stat()
        digest.update(f"{f.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


@torch.no_grad()
def error_by_speed(model, files: list[Path], edges=(0, 20, 40, 60, 80, float("inf")), batch_size: int = 256,
                   on_grass: bool | None = None) -> list[dict[str, float]]:
    """How well V reconstructs frames at each speed of the car: per-pixel squared error of the deterministic
    reconstruction (as ``held_out_metrics``) of every stored frame after a step, grouped by the car's speed after
    that step (episode files record it: collected since the pilot). ``on_grass``: only steps with no wheel on the
    road (True) or on it (False). Rows: {"speed_from", "speed_to", "frames", "mse_per_pixel"}; a V that never saw
    fast driving shows it as a rising error."""
    sums, counts = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1, dtype=np.int64)
    for f in files:
        with load_npz(f) as npz:
            if "speed" not in npz.files or "obs" not in npz.files:
                raise ValueError(f"{f}: no recorded speed or no frames (collected before speeds were recorded, or a "
                                 f"latents-only episode); pass episodes that keep frames, collected now")
            frames, speed, grass = npz["obs"][1:], npz["speed"], npz["on_grass"]
        keep = np.ones(len(speed), bool) if on_grass is None else grass == on_grass
        bins = np.digitize(speed, edges[1:-1])
        for i in range(0, len(frames), batch_size):
            x = frames_to_tensor(frames[i : i + batch_size]).to(model.device)
            out = model.decode(model.code(model.posterior(x)))
            err = (out - x).pow(2).mean(dim=(1, 2, 3)).cpu().numpy()
            k, b = keep[i : i + batch_size], bins[i : i + batch_size]
            np.add.at(sums, b[k], err[k])
            np.add.at(counts, b[k], 1)
    return [{"speed_from": float(lo), "speed_to": float(hi), "frames": int(n),
             "mse_per_pixel": round(float(t / n), 6) if n else None}
            for lo, hi, n, t in zip(edges[:-1], edges[1:], counts, sums, strict=True)]


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    """The comparison as a markdown table, one row per model."""
    columns = ["mse_per_pixel", "rate_bits", "capacity_bits", "bits_used", "smoothness", "flips_per_step",
               "input_change", "confidence"]
    lines = ["| latent | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in results.items():
        cells = []
        for c in columns:
            v = row.get(c)
            cells.append("-" if v is None else ("inf" if v == float("inf") else f"{v:.4g}"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
