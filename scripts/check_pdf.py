"""Check the whole-book PDF that scripts/build_pdf.sh builds.

Reads the PDF with poppler's pdfinfo and pdftotext and the LaTeX log beside it, and fails
(exit 1) when: the PDF has fewer pages than it should, a chapter of _toc.yml is missing from
its text, a figure could not be included, a reference or citation is undefined, or LaTeX
reported an error. Prints what it checked.

Usage: python scripts/check_pdf.py _build/latex/s4_from_first_principles.pdf
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MIN_PAGES = 100  # the book printed around 200 pages when this was written


def chapter_titles() -> list[str]:
    """The first heading of every page in _toc.yml (markdown or notebook)."""
    import nbformat

    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    titles = []
    for name in files:
        for suffix in (".md", ".ipynb"):
            path = REPO / f"{name}{suffix}"
            if path.exists():
                break
        if suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                             if c.cell_type == "markdown")
        else:
            text = path.read_text(encoding="utf8")
        heading = re.search(r"^# (.+)$", text, re.MULTILINE)
        titles.append(heading.group(1).strip())
    return titles


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


def main(pdf: Path) -> int:
    problems = []
    if not pdf.is_file():
        print(f"!! no PDF at {pdf}")
        return 1
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    if pages < MIN_PAGES:
        problems.append(f"only {pages} pages (at least {MIN_PAGES} expected)")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = words(text)
    titles = chapter_titles()
    missing = [t for t in titles if words(t) not in flat]
    if missing:
        problems.append(f"chapters missing from the text: {missing}")
    log_path = pdf.with_suffix(".log")
    log = log_path.read_text(encoding="utf8", errors="replace") if log_path.exists() else ""
    if not log:
        problems.append(f"no LaTeX log at {log_path}")
    checks = {
        "undefined references": r"LaTeX Warning: (Hyper )?[Rr]eference .* undefined",
        "undefined citations": r"LaTeX Warning: Citation .* undefined",
        "missing figures": r"File `[^']*' not found|Unable to load picture|! LaTeX Error: File",
        "LaTeX errors": r"^! ",
        "missing characters": r"Missing character: There is no",
    }
    found = {}
    for name, pattern in checks.items():
        hits = sorted(set(m.group(0)[:160] for m in re.finditer(
            r"^.*(?:%s).*$" % pattern, log, re.MULTILINE)))
        found[name] = len(hits)
        if hits:
            problems.append(f"{name} in the LaTeX log: " + "; ".join(hits[:8]))
    # LaTeX prints an unresolved reference as a lone "??"; runs of question marks inside
    # printed program output (chapter 12's queries, "....????") are not references.
    if re.search(r"(?<![?.\w])\?\?(?![?.\w])", text):
        problems.append("'??' in the text (an unresolved reference)")
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True)
    n_images = max(len(images.stdout.splitlines()) - 2, 0) if images.returncode == 0 else -1
    print(f"PDF {pdf.name}: {pages} pages, {pdf.stat().st_size / 1e6:.1f} MB, "
          f"{n_images} images, {len(titles)} of {len(titles)} chapter titles checked, "
          + ", ".join(f"{v} {k}" for k, v in found.items()))
    if problems:
        print("!! the PDF has problems:\n  " + "\n  ".join(problems))
        return 1
    print("PDF checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else
                       REPO / "_build" / "latex" / "s4_from_first_principles.pdf")))
