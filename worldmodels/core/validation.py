"""Range checks for the config dataclasses: every numeric field has a range, every choice its options.

A config class lists its limits in ``LIMITS`` (``{"trials": (1, None)}``: at least 1, no upper bound) and
its choices as ``typing.Literal`` annotations; ``check(self)`` in its ``__post_init__`` refuses a value
outside them, NaN and infinities included, with a message that names the field and its command-line flag.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any

Limits = dict[str, tuple[float | None, float | None]]


class ConfigError(ValueError):
    """A config value out of range; the message names the field, its flag and what is allowed."""


def flag(name: str) -> str:
    """The command-line flag of a field: ``tile_cutoff`` -> ``--tile-cutoff``."""
    return "--" + name.replace("_", "-")


@functools.cache
def _choices(cls: type) -> dict[str, tuple[Any, ...]]:
    hints = typing.get_type_hints(cls)
    return {name: typing.get_args(hint) for name, hint in hints.items() if typing.get_origin(hint) is typing.Literal}


def check(obj: Any) -> None:
    """Refuse ``obj``'s out-of-range numbers and unknown choices (see the module docstring)."""
    cls = type(obj)
    limits: Limits = getattr(cls, "LIMITS", {})
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"{cls.__name__}.{f.name}={value!r} ({flag(f.name)})"
        options = _choices(cls).get(f.name)
        if options and value not in options:
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, options))}")
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{where}: must be a finite number")
        if f.name not in limits:
            continue
        low, high = limits[f.name]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{where}: expected a number")
            if low is not None and v < low:
                raise ConfigError(f"{where}: must be at least {low}")
            if high is not None and v > high:
                raise ConfigError(f"{where}: must be at most {high}")
