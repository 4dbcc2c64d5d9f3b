"""CarRacing-v3 with three interchangeable renderers for the 96x96 state.

``make_env(seed, renderer)`` returns gymnasium's ``CarRacing-v3`` (continuous actions, ``TimeLimit`` of 1000
steps) whose physics, rewards, termination, truncation and ``info`` are gymnasium's own: only the drawing of
the state differs.

renderers
    ``stock``  gymnasium's env, untouched.
    ``exact``  bit-identical frames, drawn faster (``worldmodels.world.renderers``).
    ``fast``   OpenCV on a supersampled canvas; a fraction of a pixel from stock (``worldmodels.world.renderers``).
    ``direct`` the fast drawing of V's input frame itself (``frame_size``, ``crop`` as V's ``InputSpec``): the
               observation is (64, 64, 3), not the 96x96 state; what agents act on in evolution.

The renderers rely on private drawing methods of gymnasium's CarRacing, so the gymnasium version is pinned
in ``pyproject.toml`` and checked here.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
from gymnasium.envs.box2d import car_racing as cr

from .renderers import DirectCarRacing, ExactCarRacing, FastCarRacing

ENV_ID = "CarRacing-v3"
GYMNASIUM_VERSION = "1.4.0"
RENDERERS = ("stock", "exact", "fast", "direct")
STATE_RENDERERS = ("stock", "exact", "fast")  # those whose observation is the 96x96 state
ACTION_SIZE = 3  # steer in [-1, 1], gas and brake in [0, 1]

_ENTRY_POINTS = {"stock": cr.CarRacing, "exact": ExactCarRacing, "fast": FastCarRacing, "direct": DirectCarRacing}


def check_gymnasium_version() -> None:
    if gym.__version__ != GYMNASIUM_VERSION:
        raise RuntimeError(
            f"worldmodels.world.env needs gymnasium=={GYMNASIUM_VERSION} (its renderers reuse CarRacing's "
            f"private drawing methods), found {gym.__version__}; run: pip install 'gymnasium[box2d]=={GYMNASIUM_VERSION}'"
        )


def make_env(seed: int | None = None, renderer: str = "fast", render_mode: str | None = None, **kwargs) -> gym.Env:
    """gymnasium ``CarRacing-v3`` (continuous) with the chosen state renderer.

    Args:
        seed: if given, the env is reset once with it (tracks depend only on the
            seed passed to ``reset``); pass ``seed`` to ``reset`` again per episode.
        renderer: ``"stock"``, ``"exact"``, ``"fast"`` or ``"direct"`` (see the module docstring).
        render_mode: gymnasium's, e.g. ``"rgb_array"`` for 600x400 video frames.
        kwargs: forwarded to CarRacing (``lap_complete_percent``, ``domain_randomize``; ``frame_size`` and
            ``crop`` for ``direct``).

    Returns:
        the env wrapped exactly like ``gym.make("CarRacing-v3")`` (TimeLimit 1000).
    """
    if renderer not in _ENTRY_POINTS:
        raise ValueError(f"renderer={renderer!r}: expected one of {RENDERERS}")
    check_gymnasium_version()
    spec = dataclasses.replace(gym.spec(ENV_ID), entry_point=_ENTRY_POINTS[renderer])
    env = gym.make(spec, render_mode=render_mode, continuous=True, **kwargs)
    if seed is not None:
        env.reset(seed=seed)
    return env
