"""Rollout collection: data-collection policies and ``collect(cfg)``.

Each episode ``i`` of a collection is reset with seed ``cfg.seed + i`` and written
to ``data/rollouts/<name>/<seed>.npz`` (atomically) holding::

    obs        uint8   (T + 1, S, S, 3)  preprocessed frames; obs[t] is seen before action[t]
    action     float32 (T, 3)            steer in [-1, 1], gas and brake in [0, 1]
    reward     float32 (T,)              reward after action[t]
    terminated bool    (T,)
    truncated  bool    (T,)
    seed       int64   ()

T is ``cfg.steps`` unless the env ended the episode first. ``manifest.json`` records
the env, versions, policy and preprocessing. Re-running ``collect`` with the same
settings keeps finished episodes (each checked whole: ``is_complete``) and collects only the missing
ones. One ``collect`` at a time holds a folder (``run_lock``); a second is refused.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.config import LOCAL, CollectConfig, ParallelConfig, to_dict
from ..core.hardware import resolve_precision
from ..core.parallel import default_workers, run_unordered
from ..core.provenance import resolve, sha256, versions
from ..core.storage import load_card, open_zip, remove_stale_temporaries, run_lock, save_json, save_npz
from . import datacard
from .datasets import MANIFEST, read_manifest
from .env import ENV_ID, make_env
from .frames import CROP_ROWS, InputSpec, preprocess
from .policies import AGENT_POLICIES, Policy, PolicyFactory
from .policies import make_policy as builtin_policy

log = logging.getLogger(__name__)
# settings that change what an episode file holds: a resumed run must match them
_DATA_KEYS = ("steps", "policy", "action_refresh", "brownian_sigma", "renderer", "frame_size", "crop")


# -- one episode ----------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeSummary:
    seed: int
    path: str
    steps: int
    total_reward: float


def episode_path(folder: Path, seed: int) -> Path:
    return Path(folder) / f"{seed:06d}.npz"


def run_episode(env, policy: Policy, seed: int, cfg: CollectConfig) -> dict[str, np.ndarray]:
    """Play one episode; returns the arrays of an episode file (see the module docstring), frames included."""
    obs, _ = env.reset(seed=seed)
    car_racing = env.unwrapped
    record = policy.reset(np.random.default_rng([seed, 0x5EED]), car_racing)
    frames = [_frame(obs, cfg)]
    actions, rewards, terminated, truncated, speed, on_grass = [], [], [], [], [], []
    for t in range(cfg.steps):
        action = np.asarray(policy.act(obs, t), dtype=np.float32)
        if action.shape != (3,) or not np.all(np.isfinite(action)):
            raise ValueError(f"policy {cfg.policy!r} returned {action!r} at step {t} of seed {seed}: expected 3 finite floats")
        obs, reward, term, trunc, _ = env.step(action)
        frames.append(_frame(obs, cfg))
        actions.append(action)
        rewards.append(reward)
        terminated.append(term)
        truncated.append(trunc)
        speed.append(math.hypot(*car_racing.car.hull.linearVelocity))
        on_grass.append(not any(wheel.tiles for wheel in car_racing.car.wheels))
        if term or trunc:
            break
    return {
        "obs": np.stack(frames),  # (T + 1, S, S, 3)
        "action": np.asarray(actions, dtype=np.float32).reshape(-1, 3),
        "reward": np.asarray(rewards, dtype=np.float32),
        "terminated": np.asarray(terminated, dtype=bool),
        "truncated": np.asarray(truncated, dtype=bool),
        "speed": np.asarray(speed, dtype=np.float32),
        "on_grass": np.asarray(on_grass, dtype=bool),
        "policy": np.array(json.dumps(record, sort_keys=True)),
        "seed": np.int64(seed),
    }


def _frame(obs: np.ndarray, cfg: CollectConfig) -> np.ndarray:
    """The stored frame of an observation: the direct renderer's is V's input already, a state is preprocessed."""
    return obs if cfg.renderer == "direct" else preprocess(obs, cfg.frame_size, cfg.crop)


Encoder = Callable[[np.ndarray], dict[str, np.ndarray]]
"""V's encoder for collection: frames uint8 (T + 1, S, S, 3) -> its posterior's arrays, float16 (T + 1, ...)"""
EncoderFactory = Callable[[CollectConfig], Encoder]
_WORKER_ENVS: dict[tuple, object] = {}  # one env per renderer and frame, kept for the life of a worker


def keeps_frames(cfg: CollectConfig, seed: int) -> bool:
    """Whether the episode of ``seed`` keeps its frames (every one without an encoder; see ``frames_every``)."""
    return not cfg.encoder or (cfg.frames_every > 0 and seed % cfg.frames_every == 0)


def _collect_task(task: tuple[dict, int, str, PolicyFactory, EncoderFactory | None]) -> EpisodeSummary:
    cfg_dict, seed, path, make_policy, make_encoder = task
    cfg = config_from_dict(cfg_dict)
    key = (cfg.renderer, cfg.frame_size, cfg.crop)
    env = _WORKER_ENVS.get(key)
    if env is None:
        extra = {"frame_size": cfg.frame_size, "crop": cfg.crop} if cfg.renderer == "direct" else {}
        env = _WORKER_ENVS[key] = make_env(renderer=cfg.renderer, **extra)
    episode = run_episode(env, make_policy(cfg), seed, cfg)
    if cfg.encoder:
        posterior = make_encoder(cfg)(episode["obs"])
        broken = [k for k, v in posterior.items() if not np.all(np.isfinite(v))]
        if broken:
            raise FloatingPointError(f"{cfg.encoder}: encoding seed {seed} gave non-finite {broken}; the V is broken "
                                     f"(NaN weights?): collect with a working --encoder")
        episode.update(posterior)
        if not keeps_frames(cfg, seed):
            del episode["obs"]
    save_npz(path, **episode)
    return EpisodeSummary(seed, path, len(episode["action"]), float(episode["reward"].sum()))


def config_from_dict(d: dict) -> CollectConfig:
    """A ``CollectConfig`` from ``to_dict`` output (JSON lists back to the tuples the fields hold)."""
    return CollectConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# -- the collection -------------------------------------------------------------
def manifest_for(cfg: CollectConfig) -> dict:
    data = {k: v for k, v in to_dict(cfg).items() if k in _DATA_KEYS}
    if cfg.policy in ("pilot", "blend"):
        data.update({k: list(getattr(cfg, k)) for k in ("pilot_speed", "pilot_gain", "pilot_noise")})
        if cfg.pilot_caution != (0.0, 1.0):  # recorded when set, so manifests from before the flag still match
            data["pilot_caution"] = list(cfg.pilot_caution)
        if cfg.pilot_throttle != (0.0, 0.0):  # likewise
            data["pilot_throttle"] = list(cfg.pilot_throttle)
    if cfg.policy == "blend":
        data["blend"] = list(cfg.blend)
    if cfg.policy in AGENT_POLICIES:  # which controller drove, down to its bytes
        path = resolve(cfg.agent) if cfg.agent else None
        if path is None or not path.exists():
            raise FileNotFoundError(f"policy 'agent': agent file {cfg.agent!r} not found; pass --agent with an "
                                    f"agent file (checkpoints/controller/<latent>_<name>.pt)")
        data.update(agent=cfg.agent, agent_sha256=sha256(path), action_noise=cfg.action_noise)
    if cfg.encoder:  # which V made the stored latents, down to its bytes
        path = resolve(cfg.encoder)
        if not path.is_file():
            raise FileNotFoundError(f"--encoder {cfg.encoder}: no such V file; pass a V release "
                                    f"(checkpoints/vae/<name>.pt) or a training run's last.pt")
        data.update(encoder=cfg.encoder, encoder_sha256=sha256(path), encoder_precision=resolve_precision(cfg.encoder_precision),
                    frames_every=cfg.frames_every)
    resize = "none: the direct renderer draws the frame" if cfg.renderer == "direct" else "cv2.INTER_AREA"
    return {
        "env_id": ENV_ID,
        "episodes": cfg.episodes,
        "seeds": [cfg.seed, cfg.seed + cfg.episodes - 1],
        "file_pattern": "<seed:06d>.npz",
        "preprocessing": {"frame_size": cfg.frame_size, "crop_rows": CROP_ROWS if cfg.crop else None, "resize": resize},
        "data": data,
        "versions": versions(),
    }


def collection_data(name: str) -> dict:
    """The ``data`` section of the manifest of ``data/rollouts/<name>`` (how it was collected); ``{}`` when the
    folder has no readable manifest."""
    data = _read_manifest(paths.rollout_dir(name)).get("data", {})
    return data if isinstance(data, dict) else {}


def collection(name: str) -> dict:
    """How the rollouts ``data/rollouts/<name>`` were really collected, read from their manifest, for cards:
    ``policy``, ``steps``, ``episodes``, ``seeds`` (and ``agent``, ``agent_sha256``, ``action_noise`` for
    the agent policy; ``encoder``, ``encoder_sha256`` for a collection encoded as collected), and ``mix``, the data
    card's summary by policy (``worldmodels.world.datacard``) where the folder has one. ``{}`` when the folder has
    no readable manifest."""
    folder = paths.rollout_dir(name)
    manifest = _read_manifest(folder)
    if not manifest:
        return {}
    data = manifest.get("data", {})
    keys = ("policy", "steps", "renderer", "agent", "agent_sha256", "action_noise", "encoder", "encoder_sha256")
    out = {"rollouts": f"data/rollouts/{name}", **{k: data[k] for k in keys if k in data},
           "episodes": manifest.get("episodes"), "seeds": manifest.get("seeds")}
    try:
        card = load_card(folder / datacard.CARD)
        out["mix"] = {k: card[k] for k in ("all", "by_policy", "bytes_per_step")}
        out["mix"].update({k: card[k] for k in ("wall_seconds", "subset_of") if k in card})  # a subset has no time
    except (OSError, ValueError, KeyError, TypeError):
        pass  # collected before data cards, or not finished
    return out


def input_spec(name: str) -> InputSpec:
    """How the frames of ``data/rollouts/<name>`` were preprocessed (their manifest), for the V trained on them."""
    path = paths.rollout_dir(name) / MANIFEST
    manifest = read_manifest(path.parent)
    if manifest is None:
        raise FileNotFoundError(f"{path}: no manifest; run `python -m worldmodels collect --name {name}`")
    try:
        return InputSpec.from_manifest(manifest)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: unreadable manifest ({type(e).__name__}: {e}); collect into a new --name") from e


def _check_manifest(folder: Path, new: dict) -> None:
    """Refuse to mix episodes made with different settings in one folder (``new``: the manifest this run writes)."""
    path = folder / MANIFEST
    if not path.exists():
        orphans = sorted(folder.glob("[0-9]*.npz"))
        if orphans:
            raise ValueError(f"{folder} holds {len(orphans)} episode files but no {MANIFEST}, so how they were "
                             f"collected is unknown; restore {path}, or collect into another --name")
        return
    old_manifest = read_manifest(folder)
    if old_manifest.get("subset_of"):
        raise ValueError(f"{folder} is a subset of data/rollouts/{old_manifest['subset_of'].get('rollouts')} (made "
                         f"by `worldmodels subset`), not a collection to add episodes to; collect into another --name")
    old = old_manifest["data"]
    new = new["data"]
    diff = {k: (old.get(k), new[k]) for k in new if _jsonable(old.get(k)) != _jsonable(new[k])}
    if diff:
        parts = ", ".join(f"{k}: folder has {a!r}, asked {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"{folder} holds episodes collected with other settings ({parts}); "
                         f"use another --name or delete {folder}")


def _jsonable(x):
    return json.loads(json.dumps(x))


def expected_members(cfg: CollectConfig, seed: int, posterior_keys: tuple[str, ...] = ()) -> set[str]:
    """The arrays the episode file of ``seed`` must hold: frames where it keeps them, the posterior with an encoder."""
    members = {"action.npy", "reward.npy"}
    if keeps_frames(cfg, seed):
        members.add("obs.npy")
    return members | {f"{k}.npy" for k in posterior_keys}


def is_complete(path: Path, members: set[str] = frozenset({"obs.npy", "action.npy", "reward.npy"})) -> bool:
    """Whether an episode file is a whole, undamaged archive holding ``members``: every member is read and its
    CRC-32 checked (a flipped bit fails), without unpacking the arrays (measured: 7 ms for a 300-step episode, 24 ms
    for 1000)."""
    try:
        with open_zip(path) as z:
            return set(members) <= set(z.namelist()) and z.testzip() is None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError):
        return False


def pending_seeds(folder: Path, cfg: CollectConfig, posterior_keys: tuple[str, ...] = ()) -> list[int]:
    """Seeds of the requested episodes that have no complete file yet.

    A file that is not a complete archive (damaged outside ``collect``, which writes
    atomically) is renamed ``*.corrupt`` and its episode collected again.
    """
    todo = []
    for seed in range(cfg.seed, cfg.seed + cfg.episodes):
        path = episode_path(folder, seed)
        if path.exists() and not is_complete(path, expected_members(cfg, seed, posterior_keys)):
            log.warning("%s is damaged; moved to %s.corrupt and collecting it again", path, path.name)
            path.replace(path.with_suffix(".npz.corrupt"))
        if not path.exists():
            todo.append(seed)
    return todo


def collect(cfg: CollectConfig, folder: str | Path | None = None, progress: bool = True,
            make_policy: PolicyFactory = builtin_policy, make_encoder: EncoderFactory | None = None,
            parallel: ParallelConfig = LOCAL) -> list[Path]:
    """Collect ``cfg.episodes`` episodes in parallel; resume if some exist.

    Args:
        cfg: collection settings (``get_config(scale).collect``).
        folder: where to write; default ``data/rollouts/<cfg.name>``.
        progress: show a tqdm progress bar.
        make_policy: ``CollectConfig -> Policy``, a module-level function (workers receive it pickled);
            the default knows ``random``, ``brownian``, ``pilot`` and ``blend``,
            ``worldmodels.agent.policy.make_policy`` also ``agent`` and ``mixed``.
        make_encoder: ``CollectConfig -> Encoder`` for ``cfg.encoder``, a module-level function
            (``worldmodels.models.encoder.collection_encoder``; the command line passes it).
        parallel: where the episodes run (``get_config(scale).parallel``); the episodes are the same on any.

    Returns:
        the paths of all requested episodes, in seed order. The folder's ``manifest.json`` then lists every
        episode's policy record, and ``card.json`` describes the data (``worldmodels.world.datacard``).
    """
    if cfg.encoder and make_encoder is None:
        raise ValueError(f"--encoder {cfg.encoder}: collect needs make_encoder="
                         f"worldmodels.models.encoder.collection_encoder to encode (the command line passes it)")
    folder = Path(folder) if folder is not None else paths.rollout_dir(cfg.name)
    cfg = dataclasses.replace(cfg, encoder_precision=resolve_precision(cfg.encoder_precision))  # workers run this
    with run_lock(folder):
        return _collect(cfg, folder, progress, make_policy, make_encoder, parallel)


def _collect(cfg: CollectConfig, folder: Path, progress: bool, make_policy: PolicyFactory,
             make_encoder: EncoderFactory | None, parallel: ParallelConfig) -> list[Path]:
    started = time.perf_counter()
    manifest = manifest_for(cfg)
    _check_manifest(folder, manifest)
    # the policy (an agent file, for the agent policies) and V load here first, before the manifest is written: a
    # bad --agent or --encoder stops the run without leaving a manifest that would refuse the corrected command
    make_policy(cfg)
    posterior_keys = tuple(make_encoder(cfg)(np.zeros((1, cfg.frame_size, cfg.frame_size, 3), np.uint8))) \
        if cfg.encoder else ()
    remove_stale_temporaries(folder)
    previous = _read_manifest(folder)
    files = [episode_path(folder, s) for s in range(cfg.seed, cfg.seed + cfg.episodes)]
    todo = pending_seeds(folder, cfg, posterior_keys)
    if not todo and previous.get("seeds") == manifest["seeds"] and "episode_policies" in previous \
            and (folder / datacard.CARD).exists():
        return files  # complete, and described: the manifest is left as it is (a subset names it by its SHA-256)
    manifest["runs"] = previous.get("runs", [])  # the wall time of every run that collected here
    this_run = {"started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "seconds": 0.0,
                "episodes": 0, "workers": parallel.workers or default_workers(), "backend": parallel.backend}
    manifest["runs"].append(this_run)
    save_json(folder / MANIFEST, manifest)
    if todo:
        cfg_dict = to_dict(cfg)
        tasks = [(cfg_dict, seed, str(episode_path(folder, seed)), make_policy, make_encoder) for seed in todo]
        results = run_unordered(_collect_task, tasks, parallel.backend, parallel.workers, parallel.ray_address)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=cfg.episodes, initial=cfg.episodes - len(todo),
                           desc=f"collect {folder.name}", unit="episode")
        last_save = time.perf_counter()
        for _ in results:
            this_run["episodes"] += 1
            if time.perf_counter() - last_save > RUN_RECORD_EVERY:  # a killed run still counts its time
                this_run["seconds"] = round(time.perf_counter() - started, 1)
                save_json(folder / MANIFEST, manifest)
                last_save = time.perf_counter()
    card = datacard.describe(files)
    manifest["episode_policies"] = card.pop("episode_policies")
    this_run["seconds"] = round(time.perf_counter() - started, 1)
    save_json(folder / MANIFEST, manifest)
    card["wall_seconds"] = round(sum(r["seconds"] for r in manifest["runs"]), 1)
    card["runs"] = manifest["runs"]
    card["collection"] = manifest["data"]
    save_json(folder / datacard.CARD, card)
    return files


RUN_RECORD_EVERY = 10.0  # seconds between updates of the running collection's record in the manifest


def _read_manifest(folder: Path) -> dict:
    """The folder's manifest (``read_manifest``, which refuses a malformed one by name), ``{}`` where it has none."""
    return read_manifest(folder) or {}
