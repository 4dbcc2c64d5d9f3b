"""The documentation pages that are written from the cards and the code, never by hand.

``python -m worldmodels.docsite`` writes them (``make docs`` does, before MkDocs builds the site); ``--check``
exits 1 naming every page that differs from what it would write, which ``tests/test_docs.py`` holds:

- ``docs/results.md``: the results table, every shipped agent's card beside the published numbers
  (``results.markdown``); the same table sits in the README between two markers;
- ``docs/agents.md``: one entry per shipped agent card (score, lineage by part, the commands that made it) and a
  table of the shipped world models (V and M cards: held-out metrics, dream-check);
- ``docs/cli.md``: each command's ``--help``, as tyro prints it from the config at 100 columns;
- ``docs/api.md``: the API reference, every module of the package by layer (mkdocstrings renders the docstrings);
- ``docs/benchmarks.md``: each script of ``benchmarks/`` (its docstring) with the tables of its last record,
  ``benchmarks/results/<name>.json`` (``worldmodels.benchmark``); their headline figures sit in the README's
  speed table, between two markers;
- ``docs/index.md``: the README, its links pointed inside the site.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any

import worldmodels

from . import cli, results
from .benchmark import Record, markdown_table, results_dir
from .core import paths
from .core.storage import atomic_write, load_json

WIDTH = "100"  # columns of the --help text in docs/cli.md, whatever the terminal
README_MARKERS = ("<!-- results table: written by python -m worldmodels.docsite -->", "<!-- end of results table -->")
SPEED_MARKERS = ("<!-- speed table: written by python -m worldmodels.docsite -->", "<!-- end of speed table -->")
BENCHMARKS = ("renderers", "collection", "vae", "dream", "controller", "iterate")  # benchmarks/<name>.py, page order
GENERATED = "<!-- written by `python -m worldmodels.docsite` from the cards and the code: do not edit -->\n"


def _cards(kind: str) -> list[tuple[str, dict[str, Any]]]:
    folder = paths.checkpoint_dir() / kind
    return [(p.stem, load_json(p)) for p in sorted(folder.glob("*.json"))]


def results_table() -> str:
    """The README's and the results page's table."""
    return results.markdown(results.agent_rows())


def results_page() -> str:
    return (f"{GENERATED}# Results\n\n"
            "Every shipped agent's protocol score (100 held-out tracks, seeds 900,000 to 900,099, the stock "
            "renderer; `python -m worldmodels evaluate AGENT --update-card`) beside the published numbers. \"Real "
            "env steps\" counts the agent's whole lineage: its own evolution, its V's and M's data, the agents "
            "that drove those data and their evolution, and every real episode spent choosing its M. How each "
            "agent was made: [Shipped agents](agents.md); the story behind them: [Research log](research-log.md).\n\n"
            f"{results_table()}\n")


def _agent_entry(name: str, card: dict[str, Any]) -> list[str]:
    e, lineage, training = card.get("evaluation"), card.get("lineage", {}), card["training"]
    steps = "" if e is None or e.get("max_steps", 1000) == 1000 else f" of {e['max_steps']} steps"
    score = (f"**{e['mean']:.1f} +/- {e['std']:.1f}** over {e['episodes']} episodes{steps} ({e['renderer']} renderer, "
             f"seeds {e['seeds'][0]:,} to {e['seeds'][1]:,}; min {e['min']:.1f}, max {e['max']:.1f})"
             if e else "not evaluated")
    world = card.get("world_model", {})
    lines = [f"## `{name}`", "", f"{results.describe(card)}: {score}.", "",
             (f"- files: `checkpoints/controller/{name}.pt` and its card `{name}.json`; V `{world.get('vision')}`, "
              f"M `{world.get('mdnrnn')}`"),
             (f"- training: {training['generations']} generations, {training['real_env_steps']:,} real env steps of "
              f"its own, {training['dream_steps']:,} dream steps, {training['seconds'] / 3600:.2f} h; parameters "
              f"shipped: `{card.get('which', 'mean')}` of {card['parameters']:,}")]
    others = [("the same parameters on other unseen tracks", card["evaluation_other_tracks"])] \
        if "evaluation_other_tracks" in card else []
    others += [("its recipe run again (another seed), on the protocol", r) for r in card.get("replicates", [])]
    for label, e in others:
        lines.append(f"- {label}: {results.score(e)}, seeds {e['seeds'][0]:,} to {e['seeds'][1]:,}: `{e['command']}`")
    if "chosen" in card:
        lines.append(f"- chosen: {card['chosen']}")
    if lineage:
        lines += [f"- lineage: **{lineage['real_env_steps']:,} real env steps** in all", "",
                  "| part of the lineage | real env steps |", "|---|---|"]
        lines += [f"| {part} | {n:,} |" for part, n in lineage["parts"].items()]
    lines += ["", "Made by (the commands its run was started and resumed with, each once):", "", "```bash",
              *dict.fromkeys(card.get("commands", [card.get("command", "")])), "```", ""]
    return lines


def _world_model_rows() -> list[str]:
    rows = ["| file | kind | data | held-out metrics | dream-check (Spearman; h-free) |", "|---|---|---|---|---|"]
    for kind in ("vae", "gumbel", "mdnrnn"):
        for name, card in _cards(kind):
            held = card.get("metrics", {}).get("held_out", {})
            if kind == "mdnrnn":
                metrics = (f"latent NLL {held.get('latent_nll', float('nan')):.3f}, reward R2 "
                           f"{held.get('reward_r2', float('nan')):.2f}, tile recall "
                           f"{held.get('tile_recall', float('nan')):.2f}")
            else:
                metrics = f"MSE per pixel {held.get('mse_per_pixel', float('nan')):.5f}"
            check = card.get("dream_check")
            check = f"{check['spearman']:.3f}; {check['spearman_h_free']:.3f}" if check else "-"
            source = card.get("config", {}).get("latents") or card.get("data", {}).get("rollouts") or "-"
            data = ", ".join(map(str, source)) if isinstance(source, list) else str(source)
            rows.append(f"| `{kind}/{name}` | {kind} | {data} | {metrics} | {check} |")
    return rows


def agents_page() -> str:
    lines = [GENERATED.rstrip(), "", "# Shipped agents and world models", "",
             ("Every entry is read from a card in `checkpoints/`. The scores are the protocol's; the story of each "
             "agent, with what was tried and did not ship, is in the [Research log](research-log.md)."), ""]
    for name, card in _cards("controller"):
        lines += _agent_entry(name, card)
    lines += ["## World models", "", *_world_model_rows(), ""]
    return "\n".join(lines)


def command_help(name: str) -> str:
    """``python -m worldmodels NAME --help``, as tyro prints it at ``WIDTH`` columns."""
    old, buffer = os.environ.get("COLUMNS"), io.StringIO()
    os.environ["COLUMNS"] = WIDTH
    try:
        with contextlib.redirect_stdout(buffer):
            try:
                cli.parse([name, "--help"])
            except SystemExit:
                pass
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(line.rstrip() for line in buffer.getvalue().strip("\n").splitlines())


def cli_page() -> str:
    lines = [GENERATED.rstrip(), "", "# Command line", "",
             ("`python -m worldmodels COMMAND --help` lists every flag of a command. The flags are generated (with "
             "[tyro](https://brentyi.github.io/tyro/)) from the config dataclasses in `worldmodels/core/config.py`: "
             "one flag per field, named after it, its docstring as help and the preset of `--scale` as default "
             "(below: `book`). Every numeric field is range-checked, so `--trials 0`, `--sigma0 nan` or "
             "`--episodes -3` stop at once with the flag named. Every `--release NAME` writes the model and its "
             "JSON card together and refuses to replace an existing release unless `--force` is given."), ""]
    for name in cli.COMMANDS:
        lines += [f"## `{name}`", "", "```text", command_help(name), "```", ""]
    return "\n".join(lines)


LAYERS = (("Command line and pipeline", ("cli", "commands", "reproduce", "recipes", "docsite")),
          ("Measures, results, benchmark records, plots, widgets",
           ("benchmark", "compare", "results", "viz", "widgets", "film")),
          ("training: loops, evolution, dream-check, the iterative loop", ("training",)),
          ("agent: acting, episodes, evaluation, dreams", ("agent",)),
          ("models: V, M, C", ("models",)),
          ("world: the environment and the data", ("world",)),
          ("core: config, paths, storage, parallelism", ("core",)))


def api_page() -> str:
    """Every module of the package, top layer first, as mkdocstrings blocks."""
    modules = sorted(m.name for m in pkgutil.walk_packages(worldmodels.__path__, "worldmodels.")
                     if not m.ispkg and not m.name.endswith("__main__"))
    lines = [GENERATED.rstrip(), "", "# API reference", "",
             ("Written from the docstrings. The layers import only downwards (`make lint` checks it): a module uses "
             "the ones below its own section, never those above."), ""]
    for title, names in LAYERS:
        lines += [f"## {title}", ""]
        for module in modules:
            part = module.split(".")[1]
            if part in names:
                lines += [f"::: {module}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


def _benchmark_doc(name: str) -> tuple[str, str, str]:
    """(title, usage line, the rest) of ``benchmarks/<name>.py``'s docstring, in markdown."""
    path = paths.root() / "benchmarks" / f"{name}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(), str(path))) or ""
    title, _, rest = doc.replace("``", "`").partition("\n\n")
    usage, _, body = rest.partition("\n\n")
    return title.rstrip(".").replace("\n", " "), usage.strip(), body.strip()


def _records() -> dict[str, Record | None]:
    """Each benchmark's last record, or None where it has none yet."""
    found = {}
    for name in BENCHMARKS:
        path = results_dir() / f"{name}.json"
        found[name] = Record.load(path) if path.exists() else None
    return found


def benchmarks_page() -> str:
    lines = [GENERATED.rstrip(), "", "# Benchmarks", "",
             ("Each script in `benchmarks/` runs the candidate and its baseline in one process, interleaved, and "
              "prints medians and the ratios taken within a round; then it writes its record to "
              "`benchmarks/results/<name>.json` (`worldmodels.benchmark`). This page is written from those "
              "records, so every figure here is one a command printed. Run a benchmark again (`make bench` runs "
              "them all), then `python -m worldmodels.docsite`. What the figures decided (the renderers, bf16, the "
              "batch of envs, the paper's collection path), and the figures measured before this page was "
              "generated, are in the [Research log](research-log.md)."), ""]
    for name, record in _records().items():
        title, usage, body = _benchmark_doc(name)
        lines += [f"## {title}", "", "```bash", usage, "```", "", body, ""]
        if record is None:
            lines += [f"No record yet: `python benchmarks/{name}.py` writes one.", ""]
        else:
            lines += [record.measured() + ".", "", record.markdown(), ""]
    return "\n".join(lines)


def speed_table() -> str:
    """The README's speed table: every record's headline figures, with the command that gave them, and the machine
    and date (one sentence when every record shares them, else a column)."""
    records = [r for r in _records().values() if r]
    where = {r.machine_line() for r in records}
    if len(where) <= 1:
        rows = [[h["what"], h["figure"], f"`{r.command}`"] for r in records for h in r.headlines]
        table = markdown_table(["what", "figure", "measured by"], rows)
        return f"{where.pop()}\n\n{table}" if where else table
    rows = [[h["what"], h["figure"], f"`{r.command}`", r.machine_line()] for r in records for h in r.headlines]
    return markdown_table(["what", "figure", "measured by", "where"], rows)


def index_page(readme: str) -> str:
    """The README as the site's home page: ``docs/x.md`` links become ``x.md``."""
    return GENERATED + readme.replace("](docs/", "](")


def _between(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    if start not in text or end not in text:
        raise ValueError(f"README.md: a generated table's markers are missing ({start!r} ... {end!r})")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def readme_with_table(readme: str) -> str:
    """The README with the text between each pair of markers replaced: today's results table and speed table."""
    return _between(_between(readme, README_MARKERS, results_table()), SPEED_MARKERS, speed_table())


def pages(root: Path | None = None) -> dict[Path, str]:
    """Every generated file (path under ``root``, default the project) and the text it should hold."""
    root = Path(root) if root else paths.root()
    readme = root / "README.md"
    readme_text = readme_with_table(readme.read_text())
    docs = root / "docs"
    return {docs / "results.md": results_page(), docs / "agents.md": agents_page(), docs / "cli.md": cli_page(),
            docs / "api.md": api_page(), docs / "benchmarks.md": benchmarks_page(),
            docs / "index.md": index_page(readme_text), readme: readme_text}


def stale(root: Path | None = None) -> list[Path]:
    """The generated files whose text differs from what ``pages`` writes."""
    return [path for path, text in pages(root).items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worldmodels.docsite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every stale page")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"stale: {path} (run python -m worldmodels.docsite)")
        return 1 if old else 0
    for path, text in pages().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f, text=text: f.write(text), binary=False)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
