"""Agent files: a controller's parameters and the V and M it sees through, pinned by SHA-256.

An agent file (``kind: "controller"``) holds the controller's config and flat parameters, and the V and M
files it was trained with, by path and SHA-256: loading refuses a V or M that has changed since.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import checkpoint
from ..core.config import ControllerConfig, from_dict, to_dict
from ..core.provenance import portable, resolve, sha256
from ..models.controller import LinearController
from ..models.mdnrnn import MDNRNN
from ..models.mdnrnn import load as load_mdnrnn
from ..models.registry import load_vision
from ..models.vision import Vision


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    """Which V and M an agent sees through, checked by hash; everything a worker needs to rebuild it."""

    latent: str
    """the kind of V: ``vae`` (z = mu of the continuous VAE) or ``gumbel`` (the discrete VAE's codes)"""
    vision: str
    """V checkpoint (relative to the project root when inside it)"""
    vision_sha256: str
    mdnrnn: str | None
    """M checkpoint, or None for a z-only controller"""
    mdnrnn_sha256: str | None
    controller: ControllerConfig
    latent_size: int
    """C's latent input, read from V: Z, or N * K for the discrete V's codes"""
    hidden_size: int
    """C's h input, read from M: its LSTM units H (0 without an M)"""

    @staticmethod
    def build(vision: str | Path, mdnrnn: str | Path | None, controller: ControllerConfig) -> AgentSpec:
        """Hash the files and size the controller from the models they hold."""
        vision_model, mdnrnn_model = load_models(str(vision), str(mdnrnn) if mdnrnn else None)
        if controller.inputs == "z_h" and mdnrnn is None:
            raise ValueError("a [z, h] controller needs an MDN-RNN: pass mdnrnn, or use ControllerConfig(inputs='z')")
        if controller.code_input == "soft" and not vision_model.soft_codes:
            raise ValueError(f"{vision}: code_input='soft' needs a V with class probabilities (a {vision_model.latent} "
                             f"has none); use code_input='hard' (the default)")
        hidden = mdnrnn_model.cfg.hidden_size if mdnrnn_model is not None else 0
        return AgentSpec(vision_model.latent, portable(vision), sha256(vision), portable(mdnrnn) if mdnrnn else None,
                         sha256(mdnrnn) if mdnrnn else None, controller, vision_model.code_size, hidden)

    def make_controller(self, params: np.ndarray | None = None) -> LinearController:
        """C sized for this V and M, with ``params`` (num_params,) or zeros."""
        return LinearController(self.controller, params, latent_size=self.latent_size, hidden_size=self.hidden_size)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "controller": to_dict(self.controller)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> AgentSpec:
        """From ``to_dict``'s output, or an older file's, whose controller config held the two sizes
        (``latent_size``, ``hidden_state_size``)."""
        sizes = {k: d[k] for k in ("latent_size", "hidden_size") if k in d}
        if len(sizes) < 2:
            c = d["controller"]
            sizes = {"latent_size": c.get("latent_size", 32),
                     "hidden_size": c.get("hidden_state_size", 256) if d.get("mdnrnn") else 0}
        return AgentSpec(**{**d, **sizes, "controller": from_dict({"controller": d["controller"]}).controller})

    def check_files(self, where: str) -> None:
        """Refuse to run if V or M has changed since the controller was trained on them."""
        for path, expected in ((self.vision, self.vision_sha256), (self.mdnrnn, self.mdnrnn_sha256)):
            if path is None:
                continue
            file = resolve(path)
            if not file.exists():
                raise checkpoint.CheckpointError(f"{where}: needs {file}, which is missing; restore it (git checkout "
                                                 f"{path}) or retrain the controller on the V and M you have")
            if sha256(file) != expected:
                raise checkpoint.CheckpointError(f"{where}: {file} is not the file this controller was trained with "
                                                 f"(SHA-256 differs); restore it or retrain the controller")


@dataclasses.dataclass(frozen=True)
class Agent:
    """A controller's parameters (num_params,) and the spec of the world model they act through."""

    spec: AgentSpec
    params: np.ndarray

    @staticmethod
    def load(path: str | Path) -> Agent:
        """The agent of a file, with V and M checked by hash."""
        spec, params, _ = load_agent_file(path)
        return Agent(spec, params)


def load_models(vision: str, mdnrnn: str | None, device: torch.device | str = "cpu") -> tuple[Vision, MDNRNN | None]:
    """V and M (None when not given) from their files; refuses an M that does not model this V's codes."""
    vision_model = load_vision(resolve(vision), device=device)
    mdnrnn_model = load_mdnrnn(resolve(mdnrnn), device=device) if mdnrnn else None
    if mdnrnn_model is not None:
        m, m_shape = mdnrnn_model.cfg, mdnrnn_model.code_shape
        if m.latent != vision_model.latent or m_shape != tuple(vision_model.code_shape):
            raise ValueError(f"{mdnrnn} models {m.latent} codes of shape {m_shape}, but {vision} gives "
                             f"{vision_model.latent} codes of shape {tuple(vision_model.code_shape)}: pass the M trained "
                             f"on this V's codes (an M's card names its V under data.encoded_by)")
    return vision_model, mdnrnn_model


def agent_payload(spec: AgentSpec, params: np.ndarray, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an agent file holds: the controller's flat parameters, its spec (V, M, hashes, config) and ``extra``
    (plain types). Refuses a wrong number of parameters or non-finite values."""
    spec.make_controller(params)
    return {"kind": "controller", "model": {"params": torch.from_numpy(np.asarray(params))},
            "spec": spec.to_dict(), "config": {"controller": to_dict(spec.controller)}, **(extra or {})}


def save_agent(path: str | Path, spec: AgentSpec, params: np.ndarray, extra: dict[str, Any] | None = None) -> Path:
    """An agent file (``agent_payload``), written atomically."""
    return checkpoint.save(path, agent_payload(spec, params, extra))


def _spec_of(path: str | Path, d: Any) -> AgentSpec:
    """The ``spec`` of an agent file, its structure checked, or a ``CheckpointError`` naming the file."""
    fields = {f.name for f in dataclasses.fields(AgentSpec)}
    problem = None
    if not isinstance(d, dict):
        problem = "no 'spec' (the V and M it acts through and the controller's config)"
    elif set(d) not in (fields, fields - {"latent_size", "hidden_size"}):  # an older file's spec lacks the sizes
        problem = f"a 'spec' with keys {sorted(d)}, expected {sorted(fields)}"
    elif not isinstance(d["vision"], str) or not isinstance(d["vision_sha256"], str) \
            or not isinstance(d["mdnrnn"], (str, type(None))) or not isinstance(d["mdnrnn_sha256"], (str, type(None))) \
            or (d["mdnrnn"] is None) != (d["mdnrnn_sha256"] is None) or not isinstance(d["controller"], dict):
        problem = "a 'spec' whose V, M or their hashes are not paths and hex digests"
    if problem is None:
        try:
            return AgentSpec.from_dict(d)
        except (TypeError, ValueError, KeyError) as e:
            problem = f"a 'spec' whose controller config is malformed ({e})"
    raise checkpoint.CheckpointError(f"{path}: an agent file with {problem}; {checkpoint.remedy(Path(path))}")


def load_agent_file(path: str | Path) -> tuple[AgentSpec, np.ndarray, dict[str, Any]]:
    """(spec, params (num_params,), the whole payload) of an agent file, with V and M checked by hash."""
    payload = checkpoint.load(path, kind="controller")
    spec = _spec_of(path, payload.get("spec"))
    params = payload["model"].get("params")
    if params is None or params.ndim != 1 or not params.is_floating_point():
        raise checkpoint.CheckpointError(f"{path}: an agent file whose 'model' has no flat float 'params' (the "
                                         f"controller's parameters); {checkpoint.remedy(Path(path))}")
    params = params.numpy().astype(np.float64)
    try:
        spec.make_controller(params)
    except ValueError as e:
        raise checkpoint.CheckpointError(f"{path}: {e}") from e
    spec.check_files(str(path))
    return spec, params, payload
