"""The rendered book in a real browser: build (if needed), serve, crawl every page once.

The crawl runs headless Chromium (Debian's ``chromium`` package, driven by Playwright through its
``executable_path``; no browser is ever downloaded) over ``_build/html`` served on 127.0.0.1.
Every request that leaves localhost is blocked and recorded, so the pages are tested offline.
One session-wide crawl collects, per page, what the tests in ``test_book_in_browser.py`` assert.
It reads every page in four views: a desktop (1400 x 900) and a phone (390 x 844, touch, overlay
scroll bars), each in the light and the dark theme; the layout checks (widths, scroll cues, code
that never wraps, one search box, sliders) run in all four, and a full-page screenshot of each
view lands under ``_build/screenshots/<view>/``.

Environment:
    BOOK_HTML       folder of the built book (default: _build/html of the repository; built with
                    ``jupyter-book build . -W -n --keep-going`` when it has no index.html)
    CHROMIUM        path of the Chromium binary (default: chromium or chromium-browser on PATH)
    CI              when "true", a missing browser fails the suite instead of skipping it
    BOOK_PAGES      comma-separated pages to read (e.g. book/03_hippo_ode.html), to try a change
                    quickly; the suite then fails its check that every page was read
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# (name, browser-context options): the first is the full check (animations, figure sizes, links,
# search); every view gets the layout checks and a screenshot.
VIEWS = [
    ("desktop-light", {"viewport": {"width": 1400, "height": 900}, "color_scheme": "light"}),
    ("desktop-dark", {"viewport": {"width": 1400, "height": 900}, "color_scheme": "dark"}),
    ("phone-light", {"viewport": {"width": 390, "height": 844}, "color_scheme": "light",
                     "is_mobile": True, "has_touch": True, "device_scale_factor": 2}),
    ("phone-dark", {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark",
                    "is_mobile": True, "has_touch": True, "device_scale_factor": 2}),
]

SEARCH_TERMS = {  # a term and the chapter whose text must come up for it
    "Legendre": "book/01_functions_as_vectors.html",
    "Woodbury": "book/06_s4_kernel.html",
}
# Raw TeX that MathJax should have replaced: delimiters, environments, or a $...$ holding a macro.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\\end\{|\$[^$\n]{0,200}\\[A-Za-z]+[^$\n]{0,200}\$")


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(message: str):
    """Skip with a clear message on a person's machine; fail under CI, where nothing may skip."""
    if _on_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


# ----------------------------------------------------------------------------------------------
# What the crawl collects


@dataclass
class PageReport:
    path: str  # relative to the html root, e.g. "book/01_functions_as_vectors.html"
    title: str = ""
    final_url: str = ""
    console_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    formulas: int = 0
    untypeset: list = field(default_factory=list)  # .math elements without a rendered formula
    math_errors: list = field(default_factory=list)  # MathJax error boxes
    raw_tex: list = field(default_factory=list)  # TeX left in the page's text
    images: int = 0
    broken_images: list = field(default_factory=list)
    transparent_figures: list = field(default_factory=list)
    shrunk_figures: list = field(default_factory=list)
    outputs: int = 0
    code_blocks: int = 0
    display_formulas: int = 0
    column_width: float = 0.0
    code_chars_per_line: int = 0
    too_wide: list = field(default_factory=list)
    page_scrolls_sideways: bool = False
    sideways_views: list = field(default_factory=list)  # views in which the page scrolls sideways
    no_scroll_cue: list = field(default_factory=list)  # boxes that scroll without showing it
    wrapped_code: list = field(default_factory=list)  # code blocks whose lines wrap
    split_identifiers: list = field(default_factory=list)  # a name broken across two lines
    search_boxes: list = field(default_factory=list)  # "view: n" where n != 1
    sliders: int = 0
    slider_failures: list = field(default_factory=list)
    small_figure_text: list = field(default_factory=list)
    animations: int = 0
    animation_failures: list = field(default_factory=list)
    links: list = field(default_factory=list)  # internal hrefs (absolute URLs)
    external_links: int = 0
    unresolved_xrefs: list = field(default_factory=list)
    download_links: list = field(default_factory=list)
    launch_links: list = field(default_factory=list)
    text_chars: int = 0
    screenshots: list = field(default_factory=list)
    code_lines: int = 0  # lines of code a reader sees without opening anything
    code_asserts: int = 0  # of those, lines that start with `assert`
    listing_lines: int = 0  # lines of package source shown as output (show_source)
    uncaptioned_figures: list = field(default_factory=list)


@dataclass(repr=False)
class Crawl:
    root: Path
    origin: str
    pages: dict  # path -> PageReport
    blocked_requests: list  # (page, url) that tried to leave localhost
    search: dict  # term -> {"results": [...], "screenshot": path}
    screenshot_dir: Path
    broken_links: list = field(default_factory=list)
    checked_links: int = 0
    unique_link_targets: int = 0
    views: list = field(default_factory=lambda: [name for name, _ in VIEWS])

    def __repr__(self) -> str:  # short, for pytest's failure reports
        return f"Crawl({len(self.pages)} pages of {self.root})"

    def counts(self) -> dict:
        pages = list(self.pages.values())
        return {
            "pages": len(pages),
            "formulas": sum(p.formulas for p in pages),
            "display formulas": sum(p.display_formulas for p in pages),
            "images": sum(p.images for p in pages),
            "outputs": sum(p.outputs for p in pages),
            "code blocks": sum(p.code_blocks for p in pages),
            "animations": sum(p.animations for p in pages),
            "sliders": sum(p.sliders for p in pages),
            "views per page": len(VIEWS),
            "links": self.checked_links,
            "link targets": self.unique_link_targets,
            "screenshots": sum(len(p.screenshots) for p in pages),
        }


_COUNTS: dict = {}


def pytest_terminal_summary(terminalreporter):
    if _COUNTS:
        line = ", ".join(f"{v} {k}" for k, v in _COUNTS.items())
        terminalreporter.write_sep("=", "browser suite")
        terminalreporter.write_line(f"checked: {line}")


# ----------------------------------------------------------------------------------------------
# Build and serve


def _html_root() -> Path:
    return Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()


def _ensure_built(root: Path) -> None:
    if (root / "index.html").exists():
        return
    if "BOOK_HTML" in os.environ:
        pytest.fail(f"BOOK_HTML={root} has no index.html", pytrace=False)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]
    print("building the book:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server():
    root = _html_root()
    _ensure_built(root)
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def book_pages(root: Path) -> list[str]:
    """Every HTML page of the build (not the theme's or Sphinx's own support folders)."""
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if any(part.startswith("_") or part.startswith(".") for part in rel.parts[:-1]):
            continue
        pages.append(rel.as_posix())
    return pages


# ----------------------------------------------------------------------------------------------
# In-page measurements (JavaScript run by the browser)

_WAIT_FOR_MATH = """
async () => {
  if (!window.MathJax) return 'no MathJax';
  for (let i = 0; i < 200 && !(MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  return 'ok';
}
"""

_OPEN_EVERYTHING = """
async () => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.length;
}
"""

_MEASURE = r"""
(rawTexSource) => {
  const rawTex = new RegExp(rawTexSource);
  const article = document.querySelector('article.bd-article') || document.querySelector('[role=main]') || document.body;
  const style = getComputedStyle(article);
  const box = article.getBoundingClientRect();
  const colLeft = box.left + parseFloat(style.paddingLeft);
  const colRight = box.right - parseFloat(style.paddingRight);
  const describe = (el) => {
    const id = el.closest('[id]');
    const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 70);
    return (id ? '#' + id.id + ': ' : '') + text;
  };
  const visible = (el) => el.getClientRects().length > 0 && el.clientWidth > 0;
  const out = {};
  out.title = document.title;
  out.column = colRight - colLeft;
  out.textChars = (article.innerText || '').length;

  // formulas
  const mjx = Array.from(article.querySelectorAll('mjx-container'));
  out.formulas = mjx.length;
  out.untypeset = Array.from(document.querySelectorAll('.math')).filter(
      m => !m.querySelector('mjx-container') && !m.closest('mjx-container')).map(describe);
  out.mathErrors = Array.from(document.querySelectorAll('mjx-merror, mjx-container [data-mjx-error]')).map(
      e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .MathJax, .math, nav, .bd-sidebar-primary, .bd-sidebar-secondary';
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest(skip)) continue;
    const t = n.textContent;
    const m = t.match(rawTex);
    if (m) raw.push(describe(p).slice(0, 40) + ' ... ' + t.slice(Math.max(0, m.index - 20), m.index + 40));
  }
  out.rawTex = raw;

  // images (the page's content and its outputs; the theme's logos too)
  const imgs = Array.from(document.images);
  out.images = imgs.length;
  out.brokenImages = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(
      i => (i.getAttribute('src') || '').slice(0, 100));

  // width: display formulas, code blocks, outputs must fit in the column
  const tooWide = [];
  const scrolls = (el) => /(auto|scroll)/.test(getComputedStyle(el).overflowX);
  // a box that scrolls sideways must say so: book_layout.js marks the hidden side(s) in
  // data-scroll, and book.css draws a shadow there (a table fades out there instead)
  const hasCue = (el) => {
    const st = getComputedStyle(el);
    const mask = st.maskImage || st.webkitMaskImage || 'none';
    return /(left|right)/.test(el.getAttribute('data-scroll') || '') &&
           (st.boxShadow !== 'none' || mask !== 'none');
  };
  const check = (kind, el) => {
    if (!visible(el)) return;
    const r = el.getBoundingClientRect();
    const overflow = el.scrollWidth - el.clientWidth;
    const past = r.right - colRight;
    // the room it has: its own box (inside a note or a list it is narrower than the column)
    const room = Math.min(el.clientWidth || r.width, colRight - r.left);
    const scrollsInItsBox = overflow > 1 && scrolls(el) && hasCue(el);
    if ((overflow > 1 && !scrollsInItsBox) || past > 1)
      tooWide.push(`${kind} ${Math.round(Math.max(el.scrollWidth, r.width))} px in ${Math.round(room)} px: ${describe(el)}`);
  };
  const display = Array.from(article.querySelectorAll('mjx-container[display="true"]'));
  out.displayFormulas = display.length;
  display.forEach(el => check('formula', el));
  article.querySelectorAll('div.math').forEach(el => check('formula', el));
  const code = Array.from(article.querySelectorAll('div.highlight pre'));
  out.codeBlocks = code.length;
  code.forEach(el => check(el.closest('.cell_output') ? 'output' : 'code', el));
  const outputs = Array.from(article.querySelectorAll('.cell_output > .output, .cell_output > div'));
  out.outputs = outputs.length;
  outputs.forEach(el => check('output', el));
  article.querySelectorAll('.cell_output pre, .cell_output img, .cell_output table').forEach(el => check('output', el));
  // any element at all: past the column only inside a box that scrolls within the column
  const noCue = [];
  const walker2 = document.createTreeWalker(article, NodeFilter.SHOW_ELEMENT, {
    acceptNode: (el) => el.tagName === 'MJX-ASSISTIVE-MML' ? NodeFilter.FILTER_REJECT :
      (el.parentElement && el.parentElement.closest('mjx-container')) ? NodeFilter.FILTER_REJECT :
      NodeFilter.FILTER_ACCEPT});
  for (let el = walker2.nextNode(); el; el = walker2.nextNode()) {
    if (el.getClientRects().length === 0) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (scrolls(el) && el.scrollWidth > el.clientWidth + 1 && !hasCue(el))
      noCue.push(`${el.tagName.toLowerCase()}.${(el.className || '').toString().split(' ')[0]} ` +
                 `${el.scrollWidth} px in ${el.clientWidth} px, no cue: ${describe(el)}`);
    if (r.right > colRight + 1 || r.left < colLeft - 1) {
      let box = el.parentElement;
      while (box && box !== article && !scrolls(box)) box = box.parentElement;
      const inside = box && box !== article && box.getBoundingClientRect().right <= colRight + 1;
      if (!inside)
        tooWide.push(`${el.tagName.toLowerCase()} ${Math.round(r.left - colLeft)}..${Math.round(r.right - colLeft)} px ` +
                     `in a ${Math.round(colRight - colLeft)} px column: ${describe(el)}`);
    }
  }
  out.noCue = Array.from(new Set(noCue));
  out.tooWide = Array.from(new Set(tooWide));
  // code never wraps a line: indentation is kept and no name is split
  out.wrappedCode = Array.from(article.querySelectorAll('div.highlight pre, .cell_output pre'))
    .filter(pre => visible(pre) && getComputedStyle(pre).whiteSpace !== 'pre').map(
      pre => `white-space: ${getComputedStyle(pre).whiteSpace}: ${describe(pre)}`);
  // inline code that wraps may break between words, never inside a name
  const split = [];
  const range = document.createRange();
  for (const code of article.querySelectorAll('code')) {
    if (code.closest('pre') || code.getClientRects().length < 2) continue;
    const texts = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    let prev = null;
    for (let n = texts.nextNode(); n; n = texts.nextNode()) {
      const t = n.textContent;
      for (let i = 0; i < t.length; i++) {
        if (/\s/.test(t[i])) {  // a break at a space (which may have no box of its own) is fine
          if (prev) prev.ch = ' ';
          continue;
        }
        range.setStart(n, i); range.setEnd(n, i + 1);
        const rects = range.getClientRects();
        if (!rects.length) continue;
        const top = rects[0].top;
        if (prev && top > prev.top + 2 && /\w/.test(prev.ch) && /\w/.test(t[i]))
          split.push(`"${(code.textContent || '').slice(0, 60)}" broken between "${prev.ch}" and "${t[i]}"`);
        prev = {ch: t[i], top};
      }
    }
  }
  out.splitIdentifiers = split;
  // one search box: the visible search fields and buttons of the whole page
  const searchSel = 'input[type="search"], input[name="q"], .search-button-field, button.search-button, .search-button__button';
  out.searchBoxes = Array.from(document.querySelectorAll(searchSel)).filter(el => {
    if (el.getClientRects().length === 0) return false;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' || +st.opacity === 0) return false;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2 || r.right <= 0 || r.left >= window.innerWidth) return false;
    return !(el.parentElement && el.parentElement.closest(searchSel));
  }).map(el => (el.tagName + '.' + (el.className || '').toString().split(' ')[0] + ' ' +
                (el.textContent || el.placeholder || '').trim().slice(0, 30)));
  // how many characters of code fit on one line of a code block (for the failure messages)
  out.codeChars = 0;
  const pre = article.querySelector('div.highlight pre');
  if (pre && visible(pre)) {
    const probe = document.createElement('span');
    probe.textContent = '0'.repeat(100);
    pre.appendChild(probe);
    const perChar = probe.getBoundingClientRect().width / 100;
    probe.remove();
    const ps = getComputedStyle(pre);
    out.codeChars = Math.floor((pre.clientWidth - parseFloat(ps.paddingLeft) - parseFloat(ps.paddingRight)) / perChar);
  }
  out.pageScrollsSideways = document.documentElement.scrollWidth > window.innerWidth + 1;

  // links and cross-references
  const anchors = Array.from(document.querySelectorAll('a[href]'));
  out.links = [];
  out.externalLinks = 0;
  for (const a of anchors) {
    const href = a.getAttribute('href');
    if (!href || href.startsWith('javascript:') || href.startsWith('mailto:')) continue;
    const url = new URL(href, document.baseURI);
    if (url.origin === location.origin) out.links.push(url.href);
    else out.externalLinks += 1;
  }
  out.unresolvedXrefs = Array.from(document.querySelectorAll('.xref, .pending_xref')).filter(
      x => !x.closest('a')).map(describe);
  out.downloadLinks = anchors.map(a => a.getAttribute('href')).filter(h => /\.(ipynb|md)$/.test(h) && h.includes('_sources'));
  out.launchLinks = anchors.map(a => a.href).filter(h => /colab|binder/i.test(h));

  // figures: cell-output images must be opaque (a transparent figure is unreadable on the dark theme)
  const transparent = [];
  for (const img of article.querySelectorAll('.cell_output img')) {
    if (!(img.complete && img.naturalWidth > 0)) continue;
    try {
      const c = document.createElement('canvas');
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const corners = [[1, 1], [c.width - 2, 1], [1, c.height - 2], [c.width - 2, c.height - 2]];
      if (corners.some(([x, y]) => ctx.getImageData(x, y, 1, 1).data[3] < 250))
        transparent.push(describe(img.closest('.cell_output') || img) || img.src.slice(0, 60));
    } catch (e) { transparent.push('unreadable pixels: ' + e); }
  }
  out.transparentFigures = transparent;
  // figures shrunk to fit the column shrink their text too: 11 pt at 100 dpi is 15 px, and
  // below 70 % of its natural size it drops under 11 px on screen
  out.shrunkFigures = Array.from(article.querySelectorAll('.cell_output img, div.animation img'))
    .filter(img => img.complete && img.naturalWidth > 0 && visible(img))
    .map(img => [img, img.getBoundingClientRect().width / img.naturalWidth])
    .filter(([img, scale]) => scale < 0.7)
    .map(([img, scale]) => `shown at ${Math.round(100 * scale)} % (${img.naturalWidth} px wide in ${Math.round(colRight - colLeft)} px): ` +
         describe(img.closest('.cell') || img));
  return out;
}
"""

_ANIMATIONS = """
() => Array.from(document.querySelectorAll('div.animation')).map((div, i) => {
  div.setAttribute('data-test-animation', String(i));
  const img = div.querySelector('img');
  const slider = div.querySelector('input[type=range]');
  const buttons = Array.from(div.querySelectorAll('button'));
  const missingIcons = buttons.filter(b => {
    if (b.querySelector('svg')) return false;
    const i = b.querySelector('i');
    if (!i) return (b.textContent || '').trim() === '';
    const before = getComputedStyle(i, '::before');
    const content = before.content;
    return !content || content === 'none' || content === 'normal' || content === '""' ||
           !/Font Awesome|FontAwesome/i.test(before.fontFamily + getComputedStyle(i).fontFamily);
  }).map(b => b.title || b.getAttribute('onclick') || '?');
  return {index: i, src: img ? img.src.slice(-60) : null, frame: slider ? slider.value : null,
          frames: slider ? slider.max : null, missingIcons};
})
"""


_SVG_TEXT = """
async () => {
  // SVG figures: the smallest text as drawn on screen (font-size x shown width / viewBox width)
  const out = [];
  const article = document.querySelector('article.bd-article') || document.body;
  for (const img of article.querySelectorAll('img')) {
    if (!/\\.svg($|[?#])/.test(img.getAttribute('src') || '') || img.getClientRects().length === 0) continue;
    const text = await (await fetch(img.src)).text();
    const svg = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
    const viewBox = (svg.getAttribute('viewBox') || '').split(/[ ,]+/).map(Number);
    const width = viewBox.length === 4 ? viewBox[2] : parseFloat(svg.getAttribute('width'));
    const sizes = Array.from(text.matchAll(/font-size[=:]\\s*"?([0-9.]+)/g)).map(m => +m[1]);
    if (!width || !sizes.length) continue;
    const px = Math.min(...sizes) * img.getBoundingClientRect().width / width;
    out.push({src: img.getAttribute('src'), px});
  }
  return out;
}
"""

# Smallest on-screen text of an SVG figure that is still legible (the book's body text is 16 px).
MIN_FIGURE_TEXT_PX = 9.0

# What a reader sees before opening anything: code cells not folded (hide-input, hide-cell) and
# not inside an exercise's solution; their non-blank, non-comment lines and the asserts among
# them. A figure is an image in a cell's output; outside sliders and animations it must sit in a
# <figure> with a caption (set in the cell's metadata, mystnb.figure.caption).
_STRUCTURE = r"""
() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const folded = '.tag_hide-input, .tag_hide-cell, .solution, details';
  let lines = 0, asserts = 0, listing = 0;
  for (const pre of article.querySelectorAll('.cell_input pre')) {
    if (pre.closest(folded)) continue;
    for (const line of pre.textContent.split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#')) continue;
      lines += 1;
      if (/^assert\b/.test(t)) asserts += 1;
    }
  }
  for (const pre of article.querySelectorAll('.cell_output .highlight-python pre')) {
    if (pre.closest(folded)) continue;
    listing += pre.textContent.split('\n').filter(l => l.trim()).length;
  }
  const uncaptioned = Array.from(article.querySelectorAll('.cell_output img')).filter(img =>
      !img.closest('div.book-slider, div.animation') &&
      !(img.closest('figure') && img.closest('figure').querySelector('figcaption'))
  ).map(img => (img.closest('[id]') ? '#' + img.closest('[id]').id + ' ' : '') +
               (img.getAttribute('src') || '').slice(-40));
  return {lines, asserts, listing, uncaptioned};
}
"""

_SLIDERS = """
() => Array.from(document.querySelectorAll('div.book-slider')).map((div, i) => {
  div.setAttribute('data-test-slider', String(i));
  return {index: i, inputs: div.querySelectorAll('input[type=range]').length,
          frames: +div.getAttribute('data-frames')};
})
"""

_SLIDER_STATE = """(el) => [el.querySelector('img').src, el.getAttribute('data-frame'),
  Array.from(el.querySelectorAll('output')).map(o => o.textContent).join(' | '),
  el.querySelector('img').complete && el.querySelector('img').naturalWidth > 0]"""


def _slider_moves(page, index: int, inputs: int) -> list[str]:
    """Move each range input of slider ``index`` one step with the keyboard, as a reader would;
    return what did not change (the image, the frame, the value shown beside the slider)."""
    problems = []
    div = page.locator(f'div.book-slider[data-test-slider="{index}"]')
    if inputs == 0:
        return [f"slider {index}: no range input"]
    for k in range(inputs):
        handle = div.locator("input[type=range]").nth(k)
        handle.scroll_into_view_if_needed()
        before = div.evaluate(_SLIDER_STATE)
        at_end = handle.evaluate("r => +r.value >= +r.max")
        key, back = ("ArrowLeft", "ArrowRight") if at_end else ("ArrowRight", "ArrowLeft")
        handle.focus()
        handle.press(key)
        page.wait_for_timeout(150)
        after = div.evaluate(_SLIDER_STATE)
        changed = [name for name, a, b in zip(("image", "frame", "value"), before, after) if a != b]
        if len(changed) < 3:
            problems.append(f"slider {index}, input {k}: pressing {key} left "
                            f"{sorted({'image', 'frame', 'value'} - set(changed))} unchanged")
        elif not after[3]:
            problems.append(f"slider {index}, input {k}: the new frame did not load")
        handle.press(back)
        page.wait_for_timeout(50)
        if div.evaluate(_SLIDER_STATE)[1] != before[1]:
            problems.append(f"slider {index}, input {k}: {back} did not go back to frame {before[1]}")
    return problems


def _animation_plays(page, index: int) -> str | None:
    """Press play on animation ``index``; return None if the frame changes, else why not."""
    div = page.locator(f'div.animation[data-test-animation="{index}"]')
    play = div.locator('button[title="Play"], button[onclick*="play_animation"]').first
    if play.count() == 0:
        return "no play button"
    state = "(el) => [el.querySelector('img') ? el.querySelector('img').src : '', " \
            "el.querySelector('input[type=range]') ? el.querySelector('input[type=range]').value : '']"
    before = div.evaluate(state)
    play.scroll_into_view_if_needed()
    play.click()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        now = div.evaluate(state)
        if now[1] != before[1] and now[0] != before[0]:
            pause = div.locator('button[title="Pause"], button[onclick*="pause_animation"]').first
            if pause.count():
                pause.click()
            return None
    return f"frame stayed at {before[1]} after pressing play"


# ----------------------------------------------------------------------------------------------
# The crawl


def _open(page, origin: str, rel: str) -> None:
    """Load a page and wait until its formulas are typeset and every image has loaded."""
    page.goto(f"{origin}/{rel}", wait_until="load")
    if rel == "index.html":  # the front page redirects to the first chapter
        page.wait_for_url(lambda url: not url.endswith("/index.html"), timeout=10000)
        page.wait_for_load_state("load")
    page.evaluate(_WAIT_FOR_MATH)
    page.evaluate(_OPEN_EVERYTHING)
    page.wait_for_timeout(200)


def _screenshot_name(rel: str) -> str:
    return rel.removesuffix(".html").replace("/", "__") + ".png"


def _ids_of(path: Path, cache: dict) -> set:
    if path not in cache:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(path.read_text(encoding="utf8", errors="replace"), "html.parser")
        cache[path] = {el.get("id") for el in soup.find_all(id=True)} | {
            el.get("name") for el in soup.find_all("a", attrs={"name": True})
        }
    return cache[path]


def _check_links(crawl: Crawl) -> None:
    origin_len = len(crawl.origin)
    targets, broken, ids_cache, count = set(), [], {}, 0
    for rel, report in crawl.pages.items():
        for href in report.links:
            count += 1
            parsed = urllib.parse.urlsplit(href[origin_len:])
            target = urllib.parse.unquote(parsed.path).lstrip("/") or "index.html"
            file = crawl.root / target
            if file.is_dir():
                file = file / "index.html"
            targets.add((file, parsed.fragment))
            if not file.is_file():
                broken.append(f"{rel}: {href[origin_len:]} (no such file)")
            elif parsed.fragment and file.suffix == ".html":
                if urllib.parse.unquote(parsed.fragment) not in _ids_of(file, ids_cache):
                    broken.append(f"{rel}: {href[origin_len:]} (no element with that id)")
    crawl.broken_links = sorted(set(broken))
    crawl.checked_links = count
    crawl.unique_link_targets = len(targets)


def _search(page, origin: str, term: str, shots: Path) -> dict:
    page.goto(f"{origin}/search.html?q={urllib.parse.quote(term)}", wait_until="load")
    try:
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results li').length > 0 || "
            "/did not match|no documents/i.test((document.getElementById('search-results') || {}).textContent || '')",
            timeout=20000,
        )
    except Exception:  # noqa: BLE001 - reported by the test as "no results"
        pass
    page.wait_for_timeout(1500)  # summaries are fetched after the list appears
    results = page.evaluate(
        """() => Array.from(document.querySelectorAll('#search-results li')).map(li => ({
             href: (li.querySelector('a') || {}).href || '',
             title: (li.querySelector('a') || {}).textContent || '',
             summary: ((li.querySelector('p.context') || {}).textContent || '').trim()}))"""
    )
    shot = shots / f"search__{term}.png"
    page.screenshot(path=str(shot), full_page=True)
    return {"results": results, "expected": SEARCH_TERMS[term], "screenshot": str(shot)}


@pytest.fixture(scope="session")
def crawl(server) -> Crawl:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -r requirements.txt")
    chromium = find_chromium()
    if chromium is None:
        _unavailable(
            "Chromium not found. Install Debian's package (as root: apt-get update && "
            "apt-get install -y chromium), or set CHROMIUM=/path/to/chromium. "
            "scripts/run_tests.sh installs it when it runs as root."
        )
    root, origin = server
    shots = REPO / "_build" / "screenshots"
    if os.environ.get("BOOK_HTML"):
        shots = root.parent / "screenshots"
    for view, _ in VIEWS:
        shutil.rmtree(shots / view, ignore_errors=True)
        (shots / view).mkdir(parents=True, exist_ok=True)

    blocked: list = []
    only = [p for p in os.environ.get("BOOK_PAGES", "").split(",") if p]
    pages = {rel: PageReport(rel) for rel in book_pages(root) if not only or rel in only}
    current = {"page": None, "view": VIEWS[0][0]}

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )

        def route(route_):
            url = route_.request.url
            if url.startswith(origin) or url.startswith("data:") or url.startswith("blob:"):
                route_.continue_()
            else:
                blocked.append((current["page"], url))
                route_.abort()

        def on_console(msg):
            if msg.type == "error" and current["page"] in pages:
                pages[current["page"]].console_errors.append(f"[{current['view']}] {msg.text[:300]}")

        def on_pageerror(err):
            if current["page"] in pages:
                pages[current["page"]].console_errors.append(
                    f"[{current['view']}] uncaught: {str(err)[:300]}")

        def on_response(resp):
            if resp.status >= 400 and current["page"] in pages:
                pages[current["page"]].failed_requests.append(
                    f"[{current['view']}] {resp.status} {resp.url[len(origin):]}")

        def on_failed(req):
            if current["page"] in pages and req.url.startswith(origin):
                pages[current["page"]].failed_requests.append(
                    f"[{current['view']}] failed {req.url[len(origin):]}")

        search = {}
        for view_index, (view, options) in enumerate(VIEWS):
            current["view"] = view
            first = view_index == 0
            context = browser.new_context(**options)
            context.route("**/*", route)
            mode = options["color_scheme"]
            context.add_init_script(
                f"try {{ localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}'); }} catch (e) {{}}")
            page = context.new_page()
            page.set_default_timeout(30000)
            page.on("console", on_console)
            page.on("pageerror", on_pageerror)
            page.on("response", on_response)
            page.on("requestfailed", on_failed)
            for rel, report in pages.items():
                current["page"] = rel
                _open(page, origin, rel)
                m = page.evaluate(_MEASURE, RAW_TEX.pattern)
                tag = f"[{view}] "
                if first:
                    report.final_url = page.url[len(origin):]
                    report.title = m["title"]
                    report.formulas, report.untypeset = m["formulas"], m["untypeset"]
                    report.math_errors, report.raw_tex = m["mathErrors"], m["rawTex"]
                    report.images, report.broken_images = m["images"], m["brokenImages"]
                    report.transparent_figures = m["transparentFigures"]
                    report.shrunk_figures = m["shrunkFigures"]
                    report.outputs, report.code_blocks = m["outputs"], m["codeBlocks"]
                    report.display_formulas, report.column_width = m["displayFormulas"], m["column"]
                    report.code_chars_per_line = m["codeChars"]
                    report.page_scrolls_sideways = m["pageScrollsSideways"]
                    report.links, report.external_links = m["links"], m["externalLinks"]
                    report.unresolved_xrefs = m["unresolvedXrefs"]
                    report.download_links, report.launch_links = m["downloadLinks"], m["launchLinks"]
                    report.text_chars = m["textChars"]
                    structure = page.evaluate(_STRUCTURE)
                    report.code_lines, report.code_asserts = structure["lines"], structure["asserts"]
                    report.listing_lines = structure["listing"]
                    report.uncaptioned_figures = structure["uncaptioned"]
                    animations = page.evaluate(_ANIMATIONS)
                    report.animations = len(animations)
                    for anim in animations:
                        if anim["missingIcons"]:
                            report.animation_failures.append(
                                f"animation {anim['index']}: no icon on buttons {anim['missingIcons']}")
                        why = _animation_plays(page, anim["index"])
                        if why:
                            report.animation_failures.append(f"animation {anim['index']}: {why}")
                # the layout, in every view
                report.too_wide += [tag + x for x in m["tooWide"]]
                report.no_scroll_cue += [tag + x for x in m["noCue"]]
                report.wrapped_code += [tag + x for x in m["wrappedCode"]]
                report.split_identifiers += [tag + x for x in m["splitIdentifiers"]]
                if m["pageScrollsSideways"]:
                    report.sideways_views.append(view)
                if len(m["searchBoxes"]) != 1:
                    report.search_boxes.append(f"{tag}{len(m['searchBoxes'])} search boxes: {m['searchBoxes']}")
                for figure in page.evaluate(_SVG_TEXT):
                    if figure["px"] < MIN_FIGURE_TEXT_PX:
                        report.small_figure_text.append(
                            f"{tag}{figure['src']}: smallest text {figure['px']:.1f} px on screen")
                sliders = page.evaluate(_SLIDERS)
                report.sliders = len(sliders)
                for slider in sliders:
                    report.slider_failures += [tag + x for x in _slider_moves(page, slider["index"], slider["inputs"])]
                shot = shots / view / _screenshot_name(rel)
                page.evaluate("() => window.scrollTo(0, 0)")
                page.screenshot(path=str(shot), full_page=True)
                report.screenshots.append(str(shot))
            if first:
                current["page"] = "search"
                search = {term: _search(page, origin, term, shots / view) for term in SEARCH_TERMS}
            context.close()
        browser.close()

    result = Crawl(root=root, origin=origin, pages=pages, blocked_requests=blocked,
                   search=search, screenshot_dir=shots)
    _check_links(result)
    _COUNTS.clear()
    _COUNTS.update(result.counts())
    report_path = shots / "report.json"
    report_path.write_text(json.dumps(
        {"counts": result.counts(), "broken_links": result.broken_links,
         "blocked_requests": blocked, "search": search,
         "pages": {k: {kk: vv for kk, vv in vars(v).items() if kk != "links"} for k, v in pages.items()}},
        indent=1), encoding="utf8")
    print(f"\nscreenshots and report: {shots}", flush=True)
    return result
