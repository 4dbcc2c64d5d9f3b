"""Notebooks: each .ipynb is paired with its .py (jupytext) and stored without outputs.

They are executed at smoke scale by nbmake in the test command (``make test``).
"""

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.py"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_is_in_sync_and_stripped(script):
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb} missing: run `make sync`"
    py_cells = [c.source for c in jupytext.read(script).cells]
    nb = jupytext.read(ipynb)
    assert [c.source for c in nb.cells] == py_cells, f"{ipynb} and {script} differ: run `make sync`"
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{ipynb} has outputs: strip them"
    title, parameters = nb.cells[0], nb.cells[1]  # a notebook opens with its title, then its one parameters cell
    assert title.cell_type == "markdown" and title.source.startswith("# 0")
    assert "parameters" in parameters.metadata.get("tags", []) and "WM_SCALE" in parameters.source
