"""Conventions every chapter notebook keeps, so the book reads and runs the same everywhere.

* The first cell installs the package when it is missing (Colab, a fresh Jupyter), from the one
  repository URL of ``_config.yml``, and is hidden from the rendered page (tag ``remove-cell``).
* Every code chapter (each numbered notebook but 00_setup) ends with ``## Exercises``: two to four titled exercises in
  sphinx-exercise's form (an ``{exercise}`` cell labelled ``ex-N-k``, then ``{solution-start}``
  with ``:class: dropdown``, the solution's cells, ``{solution-end}``). Every solution has code that
  uses ``s4_minimal`` and asserts its answer; at least one per chapter is worked on paper
  (a markdown cell with math in the solution).
* No printed line is wider than 76 characters (the rendered column shows about that many).
* The notebook was executed top to bottom in one kernel: execution counts are 1..n.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
# Numbered chapters, then the appendices (install cell, line widths and execution order only).
NOTEBOOKS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb")) + sorted(BOOK.glob("appendix_*.ipynb"))
MAX_LINE = 76
MODULES = sorted(p.stem for p in (REPO / "s4_minimal").glob("[a-z]*.py"))
USES_PACKAGE = re.compile(r"\b(s4_minimal|" + "|".join(MODULES) + r")\.\w")


def repository_url() -> str:
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf8"))
    return config["repository"]["url"]


def install_cell(url: str) -> str:
    return (
        "# Opened in Colab or a fresh Jupyter? Install the book's package when it is missing.\n"
        "import importlib.util, subprocess, sys\n"
        'if importlib.util.find_spec("s4_minimal") is None:\n'
        f'    REPO = "{url}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{REPO}"], check=True)'
    )


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _ids(paths):
    return [p.name for p in paths]


def test_there_are_chapter_notebooks():
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]


def test_repository_url_is_the_projects():
    url = repository_url()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_first_cell_installs_the_package_from_the_repository(path):
    first = _read(path).cells[0]
    assert first.cell_type == "code", "the first cell must be the install cell (code)"
    assert "remove-cell" in _tags(first), "the install cell must be tagged remove-cell"
    expected = install_cell(repository_url())
    got = "\n".join(line.rstrip() for line in first.source.strip().splitlines())
    assert got == expected, (
        "the first cell must be exactly the install cell of COORD.md with the repository URL of "
        f"_config.yml:\n{expected}\n--- found ---\n{got}")


CODE_CHAPTERS = [p for p in NOTEBOOKS if p.name[:2].isdigit() and not p.name.startswith("00_")]


EXERCISE = re.compile(r"\A```\{exercise\} (?P<title>\S[^\n]*)\n:label: (?P<label>ex-\d+-\d+)\n")
SOLUTION_START = re.compile(r"\A```\{solution-start\} (?P<label>ex-\d+-\d+)\n:class: dropdown\n```\Z")
SOLUTION_END = "```{solution-end}\n```"


def _exercises(cells):
    """The chapter's exercises as (title, label, solution cells), read from the cell layout
    sphinx-exercise renders: an ``{exercise}`` cell, then ``{solution-start}``, the solution's
    cells, ``{solution-end}``."""
    found, k = [], 0
    while k < len(cells):
        match = EXERCISE.match(cells[k].source) if cells[k].cell_type == "markdown" else None
        if not match:
            k += 1
            continue
        start = SOLUTION_START.match(cells[k + 1].source.strip()) if k + 1 < len(cells) else None
        assert start and start["label"] == match["label"], (
            f"{match['label']}: the next cell must open its solution: "
            f"```{{solution-start}} {match['label']} / :class: dropdown")
        end = next((j for j in range(k + 2, len(cells)) if cells[j].source.strip() == SOLUTION_END),
                   None)
        assert end is not None, f"{match['label']}: no {{solution-end}} cell"
        found.append((match["title"], match["label"], cells[k + 2:end]))
        k = end + 1
    return found


@pytest.mark.parametrize("path", CODE_CHAPTERS, ids=_ids(CODE_CHAPTERS))
def test_chapter_ends_with_exercises_and_checked_solutions(path):
    cells = _read(path).cells
    chapter = int(path.name[:2])
    heads = [i for i, c in enumerate(cells)
             if c.cell_type == "markdown" and re.search(r"^## Exercises\s*$", c.source, re.M)]
    assert heads, "no '## Exercises' section"
    start = heads[-1]
    later_sections = [i for i, c in enumerate(cells[start + 1:], start + 1)
                      if c.cell_type == "markdown" and re.search(r"^#{1,2} ", c.source, re.M)]
    assert not later_sections, "'## Exercises' must be the last section of the chapter"
    exercises = _exercises(cells[start + 1:])
    assert 2 <= len(exercises) <= 4, f"2 to 4 exercises, found {len(exercises)}"
    on_paper = 0
    for k, (title, label, solution) in enumerate(exercises, 1):
        assert label == f"ex-{chapter}-{k}", f"exercise {k}: label {label}, expected ex-{chapter}-{k}"
        assert len(title) >= 4 and "TITLE" not in title, f"{label}: a real title, found {title!r}"
        code = [c for c in solution if c.cell_type == "code"]
        assert code, f"{label}: the solution has a code cell that checks the answer"
        source = "\n".join(c.source for c in code)
        assert USES_PACKAGE.search(source), (
            f"{label}: the solution calls s4_minimal (s4_minimal.x or a module name)")
        assert "assert" in source, f"{label}: the solution asserts its answer"
        assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])), (
            f"{label}: the solution raised")
        worked = [c for c in solution if c.cell_type == "markdown" and "$" in c.source]
        on_paper += bool(worked)
    assert on_paper >= 1, ("at least one exercise is done on paper: its solution has a worked "
                           "derivation (a markdown cell with math) before the code that checks it")


@pytest.mark.parametrize("path", CODE_CHAPTERS, ids=_ids(CODE_CHAPTERS))
def test_exercise_references_stay_in_their_chapter(path):
    """{ref}/{numref} to an exercise of another chapter resolves in HTML but not in the PDF
    (LaTeX prints '??'): name such an exercise in words and link to its chapter instead."""
    if not path.name[:2].isdigit():
        return
    chapter = int(path.name[:2])
    text = "\n".join(c.source for c in _read(path).cells if c.cell_type == "markdown")
    others = [m for m in re.findall(r"ref\}`(?:[^`<]*<)?ex-(\d+)-\d+>?`", text)
              if int(m) != chapter]
    assert not others, f"references to exercises of chapters {sorted(set(others))}"


def _printed_lines(cell):
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            yield from output.get("text", "").splitlines()
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "text/plain" in data and not ({"text/html", "image/png", "image/svg+xml"} & set(data)):
                yield from data["text/plain"].splitlines()
        elif kind == "error":
            yield from output.get("traceback", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_printed_line_is_wider_than_the_column(path):
    wide = []
    for index, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        for line in _printed_lines(cell):
            if len(line) > MAX_LINE:
                wide.append(f"cell {index}: {len(line)} chars: {line[:90]}")
    assert not wide, f"printed lines over {MAX_LINE} characters:\n" + "\n".join(wide)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_executed_top_to_bottom_in_one_kernel(path):
    counts = [c.get("execution_count") for c in _read(path).cells
              if c.cell_type == "code" and c.source.strip()]
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts}"
