"""A benchmark's record: the tables it measured, with the command, the date and the machine that gave them.

Every script in ``benchmarks/`` builds a ``Record``, prints each table as it goes and, at the end, writes
``benchmarks/results/<name>.json`` (atomically). ``python -m worldmodels.docsite`` renders those records into
``docs/benchmarks.md`` and their headline figures into the README, so no benchmark figure is typed by hand. A
record is small JSON::

    {"name": "renderers", "command": "python benchmarks/renderers.py --rounds 7", "date": "2026-12-07",
     "machine": {"cpu": "...", "cores": 2, "bf16": true, "python": "3.11.9", "torch": "2.13.0+cpu"},
     "tables": [{"title": "...", "columns": ["renderer", "steps/s"], "rows": [["stock", "203"], ...]}],
     "notes": ["..."], "headlines": [{"what": "...", "figure": "..."}]}

Cells are the strings the benchmark printed, so the page shows exactly what the run printed.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .core import paths
from .core.storage import load_json, save_json

KEYS = ("name", "command", "date", "machine", "tables", "notes", "headlines")


def results_dir() -> Path:
    """``benchmarks/results/``: one record per benchmark, committed with the page they make."""
    return paths.root() / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    """What the figures depend on: the CPU's model, the cores this process may use, whether the CPU has bf16
    units (``avx512_bf16`` or AMX: bf16 autocast is fast only with them), and the Python and torch versions."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    import torch  # here, not at import: the docs generator reads records without torch's start-up

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
            "python": platform.python_version(), "torch": torch.__version__}


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


@dataclass
class Record:
    """What one run of one benchmark measured (see the module docstring for the file it becomes)."""

    name: str
    command: str
    date: str
    machine: dict[str, Any]
    tables: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headlines: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def start(cls, name: str) -> Record:
        """A record of this process's run: the command is ``python benchmarks/<script> <its arguments>``."""
        command = shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
        return cls(name, command, datetime.date.today().isoformat(), machine())

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Keep a table (cells as printed) and print it."""
        cells = [[str(c) for c in row] for row in rows]
        if any(len(row) != len(columns) for row in cells):
            raise ValueError(f"benchmark {self.name}, table {title!r}: every row needs {len(columns)} cells")
        self.tables.append({"title": title, "columns": list(columns), "rows": cells})
        print(f"\n{title}\n{markdown_table(columns, cells)}")

    def note(self, text: str) -> None:
        """Keep a sentence the run measured (printed under the tables)."""
        self.notes.append(text)
        print(text)

    def headline(self, what: str, figure: str) -> None:
        """A figure for the README's speed table: ``what`` was measured, ``figure`` is what it gave."""
        self.headlines.append({"what": what, "figure": figure})

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the record (default ``benchmarks/results/<name>.json``) atomically; returns the path."""
        path = Path(path) if path else results_dir() / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_json(path, asdict(self))
        print(f"\nrecord: {path}")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Record:
        """A record written by ``save``, or a ValueError naming the file and what is wrong with it."""
        data = load_json(path)
        fix = f"run the benchmark again ({Path(path).stem}: python benchmarks/{Path(path).stem}.py)"
        if not isinstance(data, dict) or set(data) != set(KEYS):
            raise ValueError(f"{path}: not a benchmark record (keys {sorted(KEYS)}); {fix}")
        for table in data["tables"]:
            if not {"title", "columns", "rows"} <= set(table) or any(
                    len(row) != len(table["columns"]) for row in table["rows"]):
                raise ValueError(f"{path}: table {table.get('title')!r} is malformed; {fix}")
        return cls(**data)

    def markdown(self) -> str:
        """The record's tables and notes, each table under its title in bold."""
        parts = [f"**{t['title']}**\n\n{markdown_table(t['columns'], t['rows'])}" for t in self.tables]
        return "\n\n".join(parts + self.notes)

    def machine_line(self) -> str:
        """The date and the machine, as one sentence."""
        m = self.machine
        units = "with" if m.get("bf16") else "without"
        return (f"Measured on {self.date}, {m['cpu']} ({m['cores']} cores, {units} bf16 units), Python {m['python']}, "
                f"torch {m['torch']}.")

    def measured(self) -> str:
        """When, where and by what command the figures were measured, as one sentence."""
        return f"{self.machine_line()[:-1]}: `{self.command}`"
