"""The book as a reader meets it, checked in headless Chromium, offline, page by page.

Each test asserts one claim over every page of the built book and lists every page that breaks
it; the layout claims hold in all four views (desktop and phone, light and dark theme), and a
failure names its view. The crawl itself (and what is measured how) is in conftest.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# Raw TeX in a search summary: a backslash command (\Delta, \frac) or math delimiters (\( \[).
SUMMARY_TEX = re.compile(r"\\(?:[A-Za-z]{2,}|[()\[\]])|\$\$")


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


# Measured on the built book (the table this test prints): at most 1 visible assert in a chapter,
# and at most 4% of a chapter's visible code lines are asserts (setup check: 1 of 25). The bars
# leave room for one more, not for the checks to come back into view. The counts come from the
# HTML, so they do not depend on the processor.
MAX_VISIBLE_ASSERTS = 2
MAX_ASSERT_SHARE = 0.05


def test_chapters_show_the_idea_and_fold_the_checks(crawl, capsys):
    rows = []
    for rel, r in sorted(_chapters(crawl).items()):
        rows.append(f"{rel.split('/')[-1]:28s} {r.code_lines:5d} {r.code_asserts:7d} {r.listing_lines:8d}")
    with capsys.disabled():
        print("\nvisible code per chapter (lines, asserts, listing lines):\n" + "\n".join(rows))
    heavy = {rel: f"{r.code_asserts} asserts in {r.code_lines} visible code lines"
             for rel, r in _chapters(crawl).items()
             if r.code_asserts > MAX_VISIBLE_ASSERTS
             or r.code_asserts > MAX_ASSERT_SHARE * max(r.code_lines, 1)}
    assert not heavy, "chapters whose visible code is dominated by checks:\n" + _fmt(heavy)


def test_every_figure_has_a_caption(crawl):
    failures = _failures(crawl, "uncaptioned_figures")
    assert not failures, "figures without a caption:\n" + _fmt(failures)


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
    """No element is wider than its column unless it scrolls inside its own box (which then
    shows a cue), at desktop and phone width, in both themes."""
    failures = _failures(crawl, "too_wide")
    sideways = {rel: r.sideways_views for rel, r in crawl.pages.items() if r.sideways_views}
    fits = max((r.code_chars_per_line for r in crawl.pages.values()), default=0)
    assert not failures, (
        f"wider than the text column (cut off or scrolled; a code or output line fits {fits} "
        "characters):\n" + _fmt(failures))
    assert not sideways, f"pages that scroll sideways: {sideways}"


def test_boxes_that_scroll_sideways_show_it(crawl):
    """A phone shows no scroll bar until one scrolls: a box that hides part of its content
    (code, formula, table, figure) shows a shadow on the side where more is."""
    failures = _failures(crawl, "no_scroll_cue")
    assert not failures, "boxes that scroll sideways with no visible cue:\n" + _fmt(failures)


def test_code_lines_never_wrap(crawl):
    """A wrapped code line restarts at column 0 and reads as code with the wrong indentation."""
    failures = _failures(crawl, "wrapped_code")
    assert not failures, "code blocks whose lines wrap:\n" + _fmt(failures)


def test_no_name_is_split_across_lines(crawl):
    failures = _failures(crawl, "split_identifiers")
    assert not failures, "inline code broken inside a name:\n" + _fmt(failures)


def test_one_search_box_per_page(crawl):
    failures = _failures(crawl, "search_boxes")
    assert not failures, "pages without exactly one visible search box:\n" + _fmt(failures)


def test_svg_figures_have_legible_text(crawl):
    """The road of chapters (an SVG drawn to the column's width) keeps legible text on a phone."""
    failures = _failures(crawl, "small_figure_text")
    assert not failures, "SVG figures whose text is too small on screen:\n" + _fmt(failures)


def test_sliders_move_their_figures(crawl):
    """Figures a reader moves without a kernel: pressing an arrow key on each slider changes the
    image, the frame and the value shown, in every view."""
    counts = {rel: r.sliders for rel, r in crawl.pages.items() if r.sliders}
    for chapter in ("book/02_online_approximation.html", "book/04_ode_to_rnn.html",
                    "book/05_convolution_view.html"):
        assert counts.get(chapter, 0) >= 1, f"no slider on {chapter}: {counts}"
    failures = _failures(crawl, "slider_failures")
    assert not failures, "sliders:\n" + _fmt(failures)


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
    tex = [r["summary"] for r in found if SUMMARY_TEX.search(r["summary"])]
    assert not tex, f"summaries that show TeX source: {tex}"


def _soup(path: Path):
    from bs4 import BeautifulSoup

    return BeautifulSoup(path.read_text(encoding="utf8"), "html.parser")


def test_every_page_has_a_favicon(crawl):
    """Each page names its icon, so the browser does not ask for a missing /favicon.ico."""
    missing = {}
    for rel in crawl.pages:
        if rel == "index.html":  # the redirect at the root: /favicon.ico (checked below) serves it
            continue
        page = crawl.root / rel
        icons = [link.get("href") for link in _soup(page).find_all("link", rel="icon")]
        if not icons or not (page.parent / icons[0]).is_file():
            missing[rel] = f"icon links: {icons}"
    assert not missing, "pages without a favicon:\n" + _fmt(missing)
    assert (crawl.root / "favicon.ico").is_file(), "no favicon.ico at the root of the site"


def test_no_empty_general_index(crawl):
    """The book defines no index entries: no genindex page and no link to one."""
    index = crawl.root / "genindex.html"
    if index.exists():
        entries = _soup(index).select("table.indextable a")
        assert entries, "genindex.html is empty"
        return
    linking = [rel for rel, r in crawl.pages.items() if any("genindex" in h for h in r.links)]
    assert not linking, f"pages linking to a missing genindex.html: {linking}"


def test_download_menu_offers_the_whole_book_pdf(crawl):
    """The download menu's print entry says it prints the page; the whole book is one PDF."""
    built = (REPO / "_build" / "latex" / "s4_from_first_principles.pdf").is_file()
    if not built and os.environ.get("BOOK_HTML") is None and not _on_ci():
        pytest.skip("no whole-book PDF was built (bash scripts/build_pdf.sh)")
    pdf = crawl.root / "s4_from_first_principles.pdf"
    assert pdf.is_file() and pdf.stat().st_size > 100_000, f"no PDF in the site at {pdf}"
    problems = {}
    for rel in _chapters(crawl):
        soup = _soup(crawl.root / rel)
        links = [a.get("href", "") for a in soup.select(".dropdown-download-buttons a")]
        texts = " ".join(el.get_text(" ", strip=True) for el in soup.select(".dropdown-download-buttons li"))
        if not any(h.endswith("s4_from_first_principles.pdf") for h in links):
            problems[rel] = f"no link to the whole-book PDF in the download menu: {links}"
        elif "print this page" not in texts:
            problems[rel] = f"the print entry does not say it prints the page: {texts!r}"
    assert not problems, "download menus:\n" + _fmt(problems)


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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
    assert sum(len(r.screenshots) for r in crawl.pages.values()) == len(crawl.views) * len(crawl.pages)
