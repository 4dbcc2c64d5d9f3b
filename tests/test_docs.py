"""The documentation cannot drift: generated pages equal what their generator writes, and every function signature
the README or a docs page quotes matches the code."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import worldmodels
from worldmodels import docsite

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
QUOTE = re.compile(r"`((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\(([^`]*)\)`")


def test_every_generated_page_is_what_the_generator_writes():
    stale = docsite.stale(ROOT)
    assert not stale, f"stale pages {[str(p.relative_to(ROOT)) for p in stale]}: run python -m worldmodels.docsite"


def test_a_hand_edited_page_is_found_stale(tmp_path, monkeypatch):
    for name in ("docs", "checkpoints", "benchmarks"):
        (tmp_path / name).symlink_to(ROOT / name)
    readme = (ROOT / "README.md").read_text()
    (tmp_path / "README.md").write_text(readme.replace("| `vae_agent_book` |", "| `vae_agent_book` (edited) |", 1))
    monkeypatch.setenv("WM_ROOT", str(tmp_path))
    assert docsite.stale(tmp_path) == [tmp_path / "README.md"]


def test_the_readme_without_its_markers_is_refused():
    with pytest.raises(ValueError, match="markers"):
        docsite.readme_with_table("# a README with no results table\n")


def _package_objects() -> dict[str, list[tuple[str, object]]]:
    """Every public function and class defined in the package, by name: [(module, object)]."""
    found: dict[str, list[tuple[str, object]]] = {}
    for info in pkgutil.walk_packages(worldmodels.__path__, "worldmodels."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != info.name:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.setdefault(name, []).append((info.name, obj))
            if inspect.isclass(obj):  # methods quoted as Class.method(...) or method(...)
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        found.setdefault(attr, []).append((f"{info.name}.{name}", member))
    return found


def _lookup(quoted: str, objects) -> object | None:
    """The one object a quoted dotted name means: its last part, disambiguated by the parts before it."""
    *qualifiers, name = quoted.split(".")
    candidates = objects.get(name, [])
    if qualifiers:
        candidates = [(m, o) for m, o in candidates if m.endswith("." + ".".join(qualifiers))
                      or m.split(".")[-1] == qualifiers[-1]]
    return candidates[0][1] if len(candidates) == 1 else None


def signature_problems(pages: list[Path]) -> tuple[list[str], int]:
    """(what differs from the code, how many quoted signatures were checked) over ``pages``."""
    objects, problems, checked = _package_objects(), [], 0
    for page in pages:
        for match in QUOTE.finditer(page.read_text()):
            name, args = match.groups()
            obj = _lookup(name, objects)
            if obj is None:
                top = name.split(".")[0]
                spec = importlib.util.find_spec(top)  # a library's own name (torch.load) is not ours to check
                if "." in name and name.split(".")[-1] in objects and (spec is None or spec.origin is None):
                    places = sorted(m for m, _ in objects[name.split(".")[-1]])
                    problems.append(f"{page.name}: `{name}(...)`: no such place; it lives in {places}")
                continue
            try:
                call = ast.parse(f"f({args})", mode="eval").body
                params = inspect.signature(obj).parameters
            except (SyntaxError, ValueError, TypeError):
                continue
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
            where = f"{page.name}: `{name}({args})`"
            for keyword in call.keywords:
                if keyword.arg is not None and keyword.arg not in params and not takes_any:
                    problems.append(f"{where}: no parameter {keyword.arg!r} (it has {list(params)})")
            if all(isinstance(a, ast.Name) and a.id in params for a in call.args):  # a signature, not a call
                for keyword in call.keywords:
                    if keyword.arg in params and isinstance(keyword.value, ast.Constant):
                        default = params[keyword.arg].default
                        if default is not inspect.Parameter.empty and default != keyword.value.value:
                            problems.append(f"{where}: {keyword.arg} defaults to {default!r} in the code")
            checked += 1
    return problems, checked


def test_every_quoted_signature_matches_the_code():
    problems, checked = signature_problems(PAGES)
    assert checked >= 5, f"only {checked} quoted signatures found: the pattern no longer matches the docs"
    assert not problems, "\n".join(problems)


def test_the_signature_check_catches_a_wrong_default_and_a_renamed_parameter(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("`preprocess(frame, size=64, crop=True)`, `make_env(seed=None, renderer=\"fast\")`, "
                    "`frames.preprocess(frame, colour=1)` and `data.load_episode(path)`")
    problems, checked = signature_problems([page])
    assert checked == 3
    assert len(problems) == 3, problems
    assert "crop defaults to False" in problems[0] and "no parameter 'colour'" in problems[1]
    assert "no such place" in problems[2] and "worldmodels.world.datasets" in problems[2]
