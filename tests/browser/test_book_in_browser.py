"""The book as a reader meets it, checked in headless Chromium, offline, page by page.

Each test asserts one claim over every page of the built book and lists every page that breaks
it. The crawl itself (and what is measured how) is in conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _failures(crawl, attribute):
    return {rel: getattr(r, attribute) for rel, r in crawl.pages.items() if getattr(r, attribute)}


def _fmt(failures: dict) -> str:
    lines = []
    for rel, items in failures.items():
        items = items if isinstance(items, list) else [items]
        lines.append(f"{rel}: {len(items)}")
        lines += [f"    {item}" for item in items[:25]]
        if len(items) > 25:
            lines.append(f"    ... and {len(items) - 25} more")
    return "\n".join(lines)


def _toc_files() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [f.removesuffix(".md").removesuffix(".ipynb") for f in files]


def _chapters(crawl):
    """Pages built from a chapter notebook (book/NN_name)."""
    return {rel: r for rel, r in crawl.pages.items() if re.match(r"book/\d\d_", rel)}


def test_every_page_of_the_table_of_contents_was_checked(crawl):
    missing = [f for f in _toc_files() if f"{f}.html" not in crawl.pages]
    assert not missing, f"pages of _toc.yml missing from the build: {missing}"
    assert len(crawl.pages) >= len(_toc_files())


def test_no_console_errors(crawl):
    failures = _failures(crawl, "console_errors")
    assert not failures, "console errors:\n" + _fmt(failures)


def test_every_request_is_served_by_the_book(crawl):
    failures = _failures(crawl, "failed_requests")
    assert not failures, "requests that failed (404 or similar):\n" + _fmt(failures)


def test_nothing_is_fetched_from_outside(crawl):
    outside = {}
    for page, url in crawl.blocked_requests:
        outside.setdefault(str(page), []).append(url)
    assert not outside, "the book fetched from outside localhost (blocked):\n" + _fmt(outside)


def test_every_formula_is_typeset(crawl):
    assert sum(r.formulas for r in crawl.pages.values()) > 0, "no formula typeset anywhere"
    for name in ("untypeset", "math_errors", "raw_tex"):
        failures = _failures(crawl, name)
        assert not failures, f"formulas not typeset ({name}):\n" + _fmt(failures)


def test_every_image_loads(crawl):
    failures = _failures(crawl, "broken_images")
    assert not failures, "images that did not load:\n" + _fmt(failures)


def test_figures_have_an_opaque_background(crawl):
    """A transparent figure shows black text on the dark theme's dark background."""
    failures = _failures(crawl, "transparent_figures")
    assert not failures, "figures with a transparent background:\n" + _fmt(failures)


def test_figures_are_not_shrunk_below_legibility(crawl):
    """A figure wider than the column is scaled down, and its text with it (keep figures at most
    about 9.5 in wide at 100 dpi, or 950 px)."""
    failures = _failures(crawl, "shrunk_figures")
    assert not failures, "figures scaled below 70 % of their size:\n" + _fmt(failures)


def test_nothing_is_wider_than_the_column(crawl):
    failures = _failures(crawl, "too_wide")
    sideways = [rel for rel, r in crawl.pages.items() if r.page_scrolls_sideways]
    fits = max((r.code_chars_per_line for r in crawl.pages.values()), default=0)
    assert not failures, (
        f"wider than the text column (cut off or scrolled; a code or output line fits {fits} "
        "characters):\n" + _fmt(failures))
    assert not sideways, f"pages that scroll sideways: {sideways}"


def test_animations_play(crawl):
    failures = _failures(crawl, "animation_failures")
    assert not failures, "animations:\n" + _fmt(failures)


def test_internal_links_and_cross_references_resolve(crawl):
    assert crawl.checked_links > 0
    assert not crawl.broken_links, "broken internal links:\n  " + "\n  ".join(crawl.broken_links)
    failures = _failures(crawl, "unresolved_xrefs")
    assert not failures, "unresolved cross-references:\n" + _fmt(failures)


@pytest.mark.parametrize("term", ["Legendre", "Woodbury"])
def test_search_finds_a_chapter_with_readable_text(crawl, term):
    found = crawl.search[term]["results"]
    assert found, f"search for {term!r} found nothing"
    expected = crawl.search[term]["expected"]
    hits = [r for r in found if r["href"].split("#")[0].endswith(expected)]
    assert hits, f"search for {term!r} did not list {expected}: {[r['href'] for r in found]}"
    summary = hits[0]["summary"]
    assert term.lower() in summary.lower() and len(summary) >= 40, (
        f"search summary for {term!r} on {expected} is not readable text: {summary!r}")
    unreadable = [r["summary"] for r in found if r["summary"].rstrip(".").endswith("ipynb")
                  or re.fullmatch(r"[.\s]*\w*\.ipynb[.\s]*", r["summary"])]
    assert not unreadable, f"summaries that are file names: {unreadable}"


def test_front_page_is_not_empty(crawl):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((crawl.root / "index.html").read_text(encoding="utf8"), "html.parser")
    assert soup.title and soup.title.get_text(strip=True), "index.html has no title"
    assert soup.get_text(" ", strip=True), "index.html shows no text"
    assert soup.find("a", href=True), "index.html links nowhere"
    index = crawl.pages["index.html"]
    assert index.final_url.endswith(".html") and index.final_url != "/index.html", index.final_url
    assert index.text_chars > 200, "the page index.html leads to is empty"


def test_chapters_offer_the_notebook_and_launch_buttons(crawl):
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf8"))
    repo_url = config["repository"]["url"].rstrip("/")
    owner_repo = repo_url.split("github.com/")[1]
    problems = {}
    chapters = _chapters(crawl)
    assert chapters, "no chapter pages (book/NN_*.html)"
    for rel, r in chapters.items():
        name = Path(rel).stem
        issues = []
        if not any(h.endswith(f"{name}.ipynb") for h in r.download_links):
            issues.append(f"no download link to {name}.ipynb")
        if not any("colab" in h and owner_repo in h and h.endswith(f"{name}.ipynb") for h in r.launch_links):
            issues.append("no Colab launch button for this notebook in the repository")
        if not any("binder" in h and owner_repo in h for h in r.launch_links):
            issues.append("no Binder launch button for the repository")
        if issues:
            problems[rel] = issues
    assert not problems, "chapter pages:\n" + _fmt(problems)


def test_screenshots_were_saved(crawl):
    missing = [s for r in crawl.pages.values() for s in r.screenshots if not Path(s).is_file()]
    assert not missing, missing
    assert sum(len(r.screenshots) for r in crawl.pages.values()) == 2 * len(crawl.pages)
