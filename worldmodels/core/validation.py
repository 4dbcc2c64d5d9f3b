"""Range checks for the config dataclasses: every numeric field has a range, every choice its options.

A config class declares each number's range next to the field, as ``Annotated`` metadata that tyro passes by
(``trials: Annotated[int, Between(1, 10_000)] = 16``; for a tuple, every entry), and its choices as
``typing.Literal`` annotations; ``check(self)`` in its ``__post_init__`` refuses a value outside them, NaN and
infinities included, with a message that names the field and its command-line flag.
A field annotated ``Name`` (or ``Name | None``) names a folder or file under ``WM_ROOT``: ``check`` refuses any
value that is not one safe path component (``name_problem``), so no name reaches outside the data folder.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing
from typing import Annotated, Any


@dataclasses.dataclass(frozen=True)
class Between:
    """``Annotated`` metadata: the field's number (each entry, for a tuple) lies in [low, high]."""

    low: float
    high: float


class ConfigError(ValueError):
    """A config value out of range; the message names the field, its flag and what is allowed."""


class _NameMark:
    """``Annotated`` metadata: the field is a name (``Name``)."""

    def __repr__(self) -> str:
        return "Name"


NAME_MARK = _NameMark()
Name = Annotated[str, NAME_MARK]
"""a run, rollout or release name: one path component of letters, digits and ``_ . + -`` (``name_problem``)"""
MAX_NAME = 100  # characters: with the longest prefix and suffix a path adds, well inside a file system's 255 bytes
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def name_problem(value: Any) -> str | None:
    """Why ``value`` is not a name, or None: a name is one folder or file name of ASCII letters, digits and
    ``_ . + -``, starting with a letter or digit, at most ``MAX_NAME`` characters (so never ``..``, a slash, a
    space or an absolute path)."""
    if not isinstance(value, str):
        return f"expected a name (text), got {type(value).__name__}"
    if len(value) > MAX_NAME:
        return f"a name has at most {MAX_NAME} characters, this one {len(value)}"
    if not _NAME.fullmatch(value):
        return ("a name is one folder or file name: ASCII letters, digits and _ . + -, starting with a letter or "
                "digit (no /, .., spaces or absolute paths)")
    return None


def check_name(value: Any, where: str) -> str:
    """``value`` if it is a name (``name_problem``), else a ``ConfigError`` that begins with ``where``."""
    problem = name_problem(value)
    if problem:
        raise ConfigError(f"{where} {value!r}: {problem}")
    return value


@functools.cache
def _names(cls: type) -> frozenset[str]:
    """The fields of ``cls`` annotated ``Name`` or ``Name | None`` (or a tuple of names)."""

    def marked(hint: Any) -> bool:
        if typing.get_origin(hint) is Annotated:
            return any(m is NAME_MARK for m in hint.__metadata__)
        return any(marked(a) for a in typing.get_args(hint))

    return frozenset(n for n, hint in typing.get_type_hints(cls, include_extras=True).items() if marked(hint))


@functools.cache
def ranges(cls: type) -> dict[str, Between]:
    """The range of every field of ``cls`` annotated ``Annotated[..., Between(low, high)]``."""
    found = {}
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        marks = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Between)]
        if marks:
            found[name] = marks[-1]
    return found


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
    limits = ranges(cls)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"{cls.__name__}.{f.name}={value!r} ({flag(f.name)})"
        if f.name in _names(cls) and value is not None:
            for v in value if isinstance(value, tuple) else (value,):
                problem = name_problem(v)
                if problem:
                    raise ConfigError(f"{where}: {problem}")
        options = _choices(cls).get(f.name)
        if options and value not in options:
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, options))}")
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{where}: must be a finite number")
        if f.name not in limits or value is None:  # None: an optional number left to its default
            continue
        low, high = limits[f.name].low, limits[f.name].high
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{where}: expected a number")
            if v < low:
                raise ConfigError(f"{where}: must be at least {low}")
            if v > high:
                raise ConfigError(f"{where}: must be at most {high}")
