"""The house rule: every import in the package points down a layer, and no module imports itself back.

Layers, top to bottom: cli > commands | reproduce > film > benchmark | compare | results | viz | widgets > training > agent > models > world >
core (the import-linter contract in pyproject.toml). The cycle check covers modules inside one layer too.
"""

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent


def test_the_layers_contract_holds():
    lint_imports = str(Path(sys.executable).parent / "lint-imports")
    out = subprocess.run([lint_imports], cwd=REPO, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


def test_no_module_imports_itself_back():
    graph = grimp.build_graph("worldmodels")
    modules = sorted(graph.modules)
    edges = {m: {t for t in graph.find_modules_directly_imported_by(m) if t.startswith("worldmodels")} for m in modules}
    # a package's __init__ may import its children without making a cycle
    edges = {m: {t for t in ts if not t.startswith(m + ".") and not m.startswith(t + ".")} for m, ts in edges.items()}
    cycles = []
    for start in modules:  # depth-first search for a path back to start
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
