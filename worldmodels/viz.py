"""Plotting functions for the notebooks: pure (data in, Figure out) plus ``save_figure``.

Frames are uint8 (H, W, 3) arrays as stored in the rollouts.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation

from .core import paths
from .core.storage import atomic_write

ACTION_NAMES = ("steer", "gas", "brake")


def frame_grid(frames: np.ndarray, ncols: int = 8, titles: Sequence[str] | None = None, size: float = 1.4):
    """A grid of frames (N, H, W, 3) with optional titles."""
    n = len(frames)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(frames[i], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def filmstrip(frames: np.ndarray, every: int = 10, max_frames: int = 16, size: float = 1.2):
    """Every ``every``-th frame of one episode (T + 1, H, W, 3) in a row, labelled by step."""
    steps = np.arange(0, len(frames), every)[:max_frames]
    fig, axes = plt.subplots(1, len(steps), figsize=(len(steps) * size, size * 1.3), squeeze=False)
    for ax, t in zip(axes[0], steps):
        ax.imshow(frames[t], interpolation="nearest")
        ax.set_title(f"t={t}", fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


def action_reward_traces(action: np.ndarray, reward: np.ndarray, title: str = ""):
    """Actions (T, 3) and rewards (T,) of one episode against time, with the running return."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    for i, name in enumerate(ACTION_NAMES):
        axes[0].plot(action[:, i], label=name, lw=1.2)
    axes[0].set_ylabel("action")
    axes[0].set_ylim(-1.1, 1.1)
    axes[0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[1].plot(reward, lw=1.0, color="tab:gray", label="reward")
    twin = axes[1].twinx()
    twin.plot(np.cumsum(reward), color="tab:red", lw=1.4, label="return so far")
    twin.set_ylabel("return so far", color="tab:red")
    axes[1].set_ylabel("reward")
    axes[1].set_xlabel("step")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def steering_traces(actions: dict[str, np.ndarray], steps: int = 300):
    """The steering of several agents (name -> actions (T, 3)) over their first ``steps`` steps, one row each."""
    fig, axes = plt.subplots(len(actions), 1, figsize=(8, 1.6 * len(actions) + 0.4), sharex=True, squeeze=False)
    for ax, (name, action) in zip(axes[:, 0], actions.items()):
        steer = action[:steps, 0]
        ax.plot(steer, lw=1.0)
        ax.set_ylim(-1.1, 1.1)
        ax.set_ylabel("steer")
        ax.set_title(f"{name}: mean |change| per step {np.abs(np.diff(steer)).mean():.3f}", fontsize=9)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return fig


def renderer_comparison(frames: dict[str, np.ndarray]):
    """Frames of the same state from several renderers, and |difference| to the first."""
    names = list(frames)
    base = frames[names[0]].astype(np.int16)
    fig, axes = plt.subplots(2, len(names), figsize=(2.4 * len(names), 5))
    for j, name in enumerate(names):
        axes[0, j].imshow(frames[name], interpolation="nearest")
        axes[0, j].set_title(name)
        diff = np.abs(frames[name].astype(np.int16) - base).max(-1)
        axes[1, j].imshow(diff, cmap="magma", vmin=0, vmax=64, interpolation="nearest")
        axes[1, j].set_title(f"|{name} - {names[0]}|, mean {np.abs(frames[name] - base).mean():.2f}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def animate(frames: np.ndarray, fps: int = 25, scale: float = 3.0):
    """A matplotlib animation of frames (T, H, W, 3); show with ``HTML(anim.to_jshtml())``."""
    h, w = frames.shape[1:3]
    fig = plt.figure(figsize=(w * scale / 100, h * scale / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    image = ax.imshow(frames[0], interpolation="nearest")
    anim = FuncAnimation(fig, lambda i: [image.set_data(frames[i])], frames=len(frames), interval=1000 / fps)
    plt.close(fig)
    return anim


def save_figure(fig, name: str, folder: str = "figures") -> None:
    """Write ``fig`` as ``<folder>/<name>.png`` atomically; ``folder`` is the preset's ``Config.figures``
    (``paths.figure_dir(folder)``). Returns nothing, so a notebook cell that ends with it shows the figure and no
    ``Out: PosixPath(...)`` line."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write(paths.figure_dir(folder) / f"{name}.png", lambda f: f.write(buffer.getvalue()))


def loss_curves(history: list[dict], parts: Sequence[str] = ("loss", "reconstruction", "kl"), title: str = ""):
    """Train and validation curves per epoch from a training history (``train.fit``)."""
    fig, axes = plt.subplots(1, len(parts), figsize=(3.6 * len(parts), 3))
    epochs = [row["epoch"] for row in history]
    for ax, part in zip(np.atleast_1d(axes), parts):
        for split, style in (("train", "-o"), ("val", "--s")):
            key = f"{split}_{part}"
            if key in history[0]:
                ax.plot(epochs, [row[key] for row in history], style, ms=3, label=split)
        ax.set_title(part)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def reconstruction_pairs(frames: np.ndarray, reconstructions: np.ndarray, ncols: int = 8,
                         labels=("frame", "reconstruction")):
    """Originals (top) above their reconstructions (bottom), uint8 (N, H, W, 3) each."""
    n = min(len(frames), ncols)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.3), squeeze=False)
    for i in range(n):
        for row, images in enumerate((frames, reconstructions)):
            axes[row, i].imshow(images[i], interpolation="nearest")
            axes[row, i].axis("off")
        if i == 0:
            axes[0, 0].set_title(labels[0], fontsize=8, loc="left")
            axes[1, 0].set_title(labels[1], fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def latent_heatmaps(frames: np.ndarray, z: np.ndarray, reconstructions: np.ndarray, shape=(4, 8), limit: float = 3.0):
    """Seed 004's picture: each frame, its z as a 4x8 heat map, and its reconstruction. z (N, 32)."""
    n = len(frames)
    fig, axes = plt.subplots(3, n, figsize=(1.5 * n, 4.2), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(frames[i], interpolation="nearest")
        image = axes[1, i].imshow(z[i].reshape(shape), cmap="coolwarm", vmin=-limit, vmax=limit)
        axes[2, i].imshow(reconstructions[i], interpolation="nearest")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("frame")
    axes[1, 0].set_ylabel("z (4x8)")
    axes[2, 0].set_ylabel("decoded")
    fig.colorbar(image, ax=axes[1, :].tolist(), shrink=0.8, pad=0.01)
    return fig


def traversal_grid(images: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], title: str = ""):
    """A grid of decoded frames (R, C, H, W, 3): one latent dimension per row, one value per column."""
    R, C = images.shape[:2]
    fig, axes = plt.subplots(R, C, figsize=(1.2 * C, 1.25 * R), squeeze=False)
    for r in range(R):
        for c in range(C):
            axes[r, c].imshow(images[r, c], interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if c == 0:
                axes[r, c].set_ylabel(row_labels[r], fontsize=8)
            if r == 0:
                axes[r, c].set_title(column_labels[c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def gumbel_panels(frame, reconstruction, logits, softmax, sample, hard, title: str = ""):
    """Seed 004's per-frame figure: input, reconstruction, logits, softmax, Gumbel sample, hard sample.

    The (N, K) arrays are drawn as images: one row per categorical variable, one column per class.
    """
    fig, axes = plt.subplots(1, 6, figsize=(15, 2.8))
    axes[0].imshow(frame, interpolation="nearest")
    axes[1].imshow(reconstruction, interpolation="nearest")
    for ax, array, name, cmap in ((axes[2], logits, "logits", "viridis"), (axes[3], softmax, "softmax", "magma"),
                                  (axes[4], sample, "Gumbel sample", "magma"), (axes[5], hard, "hard sample", "gray")):
        ax.imshow(array, cmap=cmap, interpolation="nearest", aspect="auto")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("class")
    axes[0].set_title("input", fontsize=9)
    axes[1].set_title("reconstruction (hard)", fontsize=9)
    axes[2].set_ylabel("variable")
    for ax in axes[:2]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def code_trajectories(vae_codes: np.ndarray, gumbel_classes: np.ndarray):
    """How codes move along one episode: VAE mu (T, Z) and Gumbel argmax classes (T, N), as images over time."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    axes[0].imshow(vae_codes.T, aspect="auto", cmap="coolwarm", vmin=-3, vmax=3, interpolation="nearest")
    axes[0].set_ylabel("z dimension")
    axes[0].set_title("continuous: mu over time")
    axes[1].imshow(gumbel_classes.T, aspect="auto", cmap="tab20", interpolation="nearest")
    axes[1].set_ylabel("variable")
    axes[1].set_title("discrete: argmax class over time")
    axes[1].set_xlabel("step")
    fig.tight_layout()
    return fig


def evolution_curves(history: list[dict], title: str = ""):
    """CMA-ES learning curves (``evolve`` history): mean, max and min fitness per generation, against
    generations and against the env steps spent (dream steps for a dream run); evaluations of the ES mean
    on fresh episodes, when the run made them, as dots."""
    steps_key = "env_steps" if history[-1].get("env_steps") else "dream_steps"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, key in zip(axes, ("generation", steps_key)):
        x = np.array([row[key] for row in history], dtype=float)
        for part, style in (("max", "-"), ("mean", "-"), ("min", ":")):
            ax.plot(x, [row[part] for row in history], style, lw=1.4, label=f"{part} of the population")
        scored = [(x_, row["mean_score"]) for x_, row in zip(x, history) if "mean_score" in row]
        if scored:
            ax.plot(*zip(*scored), "ko", ms=4, label="ES mean on fresh episodes")
        ax.set_xlabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("return (mean over trials)")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def score_curves(histories: dict[str, list[dict]], title: str = ""):
    """Several runs' ES-mean scores on fresh episodes (``mean_score`` of ``evolve`` histories) against the real
    env steps spent, on one axis: which run learns more per env step. Runs that never scored are skipped."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, history in histories.items():
        scored = [(row["env_steps"] / 1e6, row["mean_score"]) for row in history if row.get("mean_score") is not None]
        if scored:
            ax.plot(*zip(*scored), "o-", ms=3, lw=1.2, label=name)
    ax.set_xlabel("real env steps, millions")
    ax.set_ylabel("ES mean on fresh tracks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _spread_labels(y: Sequence[float], gap: float) -> list[float]:
    """Label heights for points at heights ``y`` (one column of labels): each at least ``gap`` from the next,
    moved as little as that allows (a cluster's labels are centred on its points'); returned in ``y``'s order."""
    order = sorted(range(len(y)), key=lambda i: y[i])
    groups: list[list[int]] = []  # runs of labels packed at ``gap``, each with its centre's height
    for i in order:
        groups.append([i])
        while len(groups) > 1:
            low, high = groups[-2], groups[-1]
            low_top = np.mean([y[j] for j in low]) + gap * (len(low) - 1) / 2
            high_bottom = np.mean([y[j] for j in high]) - gap * (len(high) - 1) / 2
            if high_bottom - low_top >= gap:
                break
            groups[-2:] = [low + high]
    placed = [0.0] * len(y)
    for group in groups:
        centre = np.mean([y[j] for j in group])
        for k, j in enumerate(group):
            placed[j] = centre + gap * (k - (len(group) - 1) / 2)
    return placed


def score_by_lineage(rows: list[dict], anchors: Sequence[tuple[str, float, float, float]] = (),
                     budget: float = 2e7):
    """Every evaluated agent's protocol score (mean, and its standard deviation as a bar) against the real env steps
    of its whole lineage (``results.agent_rows``), beside published ``anchors`` (who, mean, std, steps) as squares:
    how much driving each score cost. The axis is linear to a little past ``budget`` (issue 30's 20 M steps, dotted),
    where the agents crowd; anchors beyond it are drawn as a dashed line at their score, marked at the right edge.
    Points carry numbers (agents, best first) and letters (anchors), spread apart where they crowd; the key beside
    the axes names each with its score and steps."""
    fig, (ax, key) = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [2.2, 1]})
    scored = sorted((r for r in rows if r["mean"] is not None), key=lambda r: -r["mean"])
    right = max([budget] + [r["real_env_steps"] for r in scored]) * 1.12
    points = []  # (label, x, y, std, colour, marker, key line)
    for n, r in enumerate(scored, 1):
        dream = "dream" in r["what"]
        colour = "tab:purple" if dream else ("tab:blue" if "continuous" in r["what"] else "tab:orange")
        points.append((str(n), r["real_env_steps"], r["mean"], r["std"], colour, "o",
                       f"{r['agent']}: {r['mean']:.0f} \u00b1 {r['std']:.0f}, {r['real_env_steps'] / 1e6:.1f} M"))
    for n, (who, mean, std, steps) in enumerate(anchors):
        points.append((chr(ord("A") + n), min(steps, right), mean, std, "black", "s",
                       f"{who}: {mean:.0f} \u00b1 {std:.0f}, "
                       + (f"{steps / 1e9:.1f} G" if steps >= 1e9 else f"{steps / 1e6:.1f} M")))
    for label, x, y, std, colour, marker, _ in points:
        if marker == "s" and x >= right:  # off the axis: its score as a line, its square on the edge
            ax.axhline(y, color="black", lw=0.6, ls="--")
            ax.errorbar(x, y, yerr=std, fmt=">", ms=6, capsize=2, color="black", clip_on=False)
            continue
        ax.errorbar(x, y, yerr=std, fmt=marker, ms=5 if marker == "o" else 6, capsize=2,
                    alpha=0.8 if marker == "o" else 1.0, color=colour)
    ax.axvline(budget, color="grey", lw=0.8, ls=":")
    ax.set_xlim(0, right)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1e6:.0f} M")
    ax.set_xlabel("real env steps of the whole lineage")
    ax.set_ylabel("protocol score (100 tracks)")
    ax.set_title("score against real env steps (blue: continuous, orange: discrete, purple: trained in the dream; "
                 "squares: published)", fontsize=8)
    ax.grid(alpha=0.3)
    # labels to the right of their points (left of the edge's); points in the same 4% of the axis share
    # a column, whose labels are spread to at least 4.5% of the score axis apart, with a thin line where one moved
    low, high = ax.get_ylim()
    columns: dict[int, list[int]] = {}
    for i, p in enumerate(points):
        columns.setdefault(int(p[1] / (0.04 * right)), []).append(i)
    for members in columns.values():
        heights = _spread_labels([points[i][2] for i in members], 0.045 * (high - low))
        for i, height in zip(members, heights):
            label, x, y, _, colour, _, _ = points[i]
            side = -1 if x >= right else 1
            moved = abs(height - y) > 1e-6 * (high - low)
            ax.annotate(label, (x, y), xytext=(x + side * 0.02 * right, height), fontsize=6.5, color=colour,
                        va="center", ha="left" if side > 0 else "right",
                        arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey", "shrinkA": 0, "shrinkB": 3}
                        if moved else None)
    key.axis("off")
    for row, (label, *_, colour, _, line) in enumerate(points):
        key.text(0.0, 1 - row / max(len(points), 22), f"{label:>2}  {line}", fontsize=6.5, color=colour,
                 transform=key.transAxes, va="top", family="monospace")
    fig.tight_layout()
    return fig


def spread_curves(spread: dict[str, np.ndarray]):
    """How far dreams from one start drift apart, one line per temperature (``dream.spread_by_tau``): the code's
    spread across dreams on the left, the decoded picture's on the right."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for k, tau in enumerate(spread["tau"]):
        for ax, part in zip(axes, ("code", "pixels")):
            ax.plot(spread["t"], spread[part][k], "o-", ms=3, lw=1.2, label=f"tau {tau:g}")
    for ax, label in zip(axes, ("code: std across dreams", "picture: std across dreams (0..255)")):
        ax.set_xlabel("dream step")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def dream_check_scatter(checks: dict[str, dict]):
    """Dream return against real return for each controller of dream-check's panel, one panel per M
    (``checks``: label -> a dream-check result, e.g. an M card's ``dream_check``), with its Spearman correlation.
    Members that ignore h (their real return is the same for every M) are drawn as filled circles, the others
    as crosses."""
    fig, axes = plt.subplots(1, len(checks), figsize=(4.2 * len(checks), 3.8), squeeze=False)
    for ax, (label, check) in zip(axes[0], checks.items()):
        real = np.array([row["real"] for row in check["panel"]])
        dreamt = np.array([row["dream"] for row in check["panel"]])
        free = np.array([bool(row.get("h_free")) for row in check["panel"]])
        ax.scatter(real[free], dreamt[free], s=20, label="ignores h (same real return for every M)")
        ax.scatter(real[~free], dreamt[~free], s=24, marker="x", label="reads this M's h")
        for row in check["panel"]:
            if "dream" in row["name"] or row["name"] in ("full_gas", "idle") or row["name"].endswith("vonly"):
                ax.annotate(row["name"], (row["real"], row["dream"]), fontsize=6, alpha=0.8)
        low, high = min(real.min(), dreamt.min()), max(real.max(), dreamt.max())
        ax.plot([low, high], [low, high], "k:", lw=0.8)
        h_free = check.get("spearman_h_free")
        ax.set_title(f"{label}\nSpearman {check['spearman']:.2f}" + (f", h-free {h_free:.2f}" if h_free is not None
                                                                       else ""), fontsize=9)
        ax.set_xlabel("real return (mean over tracks)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("dream return")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def loop_curves(rounds: list[dict]):
    """The iterative loop round by round (``iterate.summary`` rows): the controller's dream fitness and its real
    score on the monitor tracks, and M's dream-check after the round's fine-tune."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    x = [r["round"] for r in rounds]
    axes[0].plot(x, [r["dream_fitness"] for r in rounds], "o-", label="dream fitness (population mean)")
    axes[0].plot(x, [r["real_monitor"] for r in rounds], "s-", label="ES mean on the monitor tracks (real)")
    axes[0].set_ylabel("return")
    axes[1].plot(x, [r["dream_check"] for r in rounds], "o-", color="C2")
    axes[1].set_ylabel("dream-check of M after the round (Spearman)")
    for ax in axes:
        ax.set_xlabel("round")
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def world_model_diagram():
    """The paper's Figure: the frame goes through V to z, M carries h forward, C maps [z, h] to the action."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(8, 3.6))
    boxes = {  # name: (x, y, width, height, colour, label)
        "env": (0.2, 1.6, 1.6, 1.0, "#dddddd", "environment\n(CarRacing)"),
        "V": (2.6, 1.6, 1.4, 1.0, "#9ecae1", "V\nVAE\n64x64 -> z"),
        "M": (4.9, 0.2, 1.6, 1.0, "#a1d99b", "M\nMDN-RNN\nh -> next z"),
        "C": (4.9, 2.9, 1.6, 1.0, "#fdae6b", "C\nlinear\n[z, h] -> action"),
    }
    for x, y, w, h, colour, label in boxes.values():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="black"))
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=9)

    def arrow(start, end, label="", rad=0.0, offset=(0.0, 0.15)):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.4,
                                     connectionstyle=f"arc3,rad={rad}"))
        if label:
            ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], label,
                    ha="center", fontsize=9, style="italic")

    arrow((1.8, 2.1), (2.6, 2.1), "frame")
    arrow((4.0, 2.3), (4.9, 3.3), "z", offset=(-0.2, 0.1))
    arrow((4.0, 1.9), (4.9, 0.8), "z", offset=(-0.2, -0.3))
    arrow((5.7, 1.2), (5.7, 2.9), "h", offset=(0.2, 0.0))
    arrow((6.5, 3.6), (7.6, 3.6), "action", offset=(0.0, 0.12))
    arrow((7.6, 3.3), (6.5, 0.9), "action (to M)", rad=-0.3, offset=(0.55, -0.1))
    ax.annotate("", xy=(1.0, 2.6), xytext=(7.6, 3.9), arrowprops={"arrowstyle": "-|>", "lw": 1.4,
                                                                       "connectionstyle": "arc3,rad=0.25"})
    ax.text(4.2, 4.55, "action to the environment", ha="center", fontsize=9, style="italic")
    ax.set_xlim(0, 8.2)
    ax.set_ylim(0, 4.8)
    ax.axis("off")
    ax.set_title("World Models: V sees, M remembers and predicts, C acts")
    fig.tight_layout()
    return fig
