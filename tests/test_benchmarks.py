"""Benchmark records: what a benchmark writes, what the docs page reads, and the refusal of a broken record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from worldmodels import docsite
from worldmodels.benchmark import Record

ROOT = Path(__file__).resolve().parents[1]


def test_a_record_round_trips_and_renders(tmp_path):
    record = Record("demo", "python benchmarks/demo.py --rounds 1", "2026-12-07",
                    {"cpu": "a CPU", "cores": 2, "bf16": True, "python": "3.11", "torch": "2.13.0"})
    record.table("speed", ["what", "steps/s"], [["a", 1200], ["b", "2,400"]])
    record.note("b is twice a.")
    record.headline("b's speed", "2,400 steps/s")
    loaded = Record.load(record.save(tmp_path / "demo.json"))
    assert loaded == record
    assert "| b | 2,400 |" in loaded.markdown() and loaded.markdown().endswith("b is twice a.")
    assert "`python benchmarks/demo.py --rounds 1`" in loaded.measured()
    assert "with bf16 units" in loaded.measured()


def test_a_row_of_the_wrong_width_is_refused():
    record = Record("demo", "python benchmarks/demo.py", "2026-12-07", {})
    with pytest.raises(ValueError, match="demo.*2 cells"):
        record.table("speed", ["what", "steps/s"], [["a"]])


@pytest.mark.parametrize("content", ['{"name": "x"}', "[1, 2]", "{not json"])
def test_a_broken_record_is_refused_naming_the_file(tmp_path, content):
    path = tmp_path / "renderers.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="renderers.json"):
        Record.load(path)


def test_a_table_with_a_short_row_in_the_file_is_refused(tmp_path):
    record = Record("demo", "python benchmarks/demo.py", "2026-12-07", {"cpu": "c", "cores": 1})
    record.table("speed", ["what", "steps/s"], [["a", "1"]])
    path = record.save(tmp_path / "demo.json")
    data = json.loads(path.read_text())
    data["tables"][0]["rows"][0].pop()
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="demo.json: table 'speed' is malformed"):
        Record.load(path)


def test_the_dream_benchmark_writes_a_record_the_page_can_render(tmp_path):
    out = tmp_path / "dream.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/dream.py"), "--rounds", "1", "--steps", "2", "--record",
                    str(out)], check=True, capture_output=True, cwd=ROOT, timeout=300)
    record = Record.load(out)
    assert record.name == "dream" and record.command == f"python benchmarks/dream.py --rounds 1 --steps 2 --record {out}"
    table = record.tables[0]
    assert [row[0] for row in table["rows"]][:2] == ["agent, stock env", "agent, fast env"]
    assert all(float(row[1].replace(",", "")) > 0 for row in table["rows"])
    assert record.headlines and record.machine["cores"] >= 1


def test_every_benchmark_has_a_section_and_its_record_on_the_page():
    page = docsite.benchmarks_page()
    for name in docsite.BENCHMARKS:
        assert (ROOT / "benchmarks" / f"{name}.py").exists()
        title, usage, body = docsite._benchmark_doc(name)
        assert f"## {title}" in page and usage.startswith(f"python benchmarks/{name}.py") and body
        assert (ROOT / "benchmarks" / "results" / f"{name}.json").exists(), f"{name}: no record committed"
