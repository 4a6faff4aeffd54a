"""The rendered book as a reader meets it: offline, one copy of each script, a real front page.

A Sphinx extension loaded from ``_config.yml`` (``sphinx.local_extensions``). It changes only the
HTML the build writes, never a notebook:

* Animation outputs made by matplotlib (``to_jshtml``, used through celluloid) start with a
  ``<link>`` to an icon font on a CDN. The book's theme already ships Font Awesome, which draws the
  same icons, so the link is dropped and the page stays offline.
* sphinx-thebe registers its configuration script (``const THEBE_JS_URL = ...``) once per build
  pass, so a page could carry it twice and the browser reported "already declared". Each script
  is kept once.
* Search results showed "....ipynb" instead of text: Sphinx's summary looked for the stemmed
  term in the theme's whole main block, whose first text is the button bar. ``book_search.js``
  (in book/_static) takes the summary from the article, found by the words the reader typed.
* ``index.html`` at the root of the build was a bare redirect: a blank page where redirects are
  off. It becomes a small page with the book's title and a link to the first chapter (and still
  redirects).
* ``book_layout.js`` (with ``book.css``) lets wide code, formulas and tables scroll inside their
  own box with a shadow as a cue; a wide SVG figure (the road of chapters) is wrapped in such a
  box, so on a phone it keeps a legible size instead of shrinking.
* The download menu's ".pdf" printed the current page. It now says so ("print this page"), and
  when the whole-book PDF has been built (``scripts/build_pdf.sh``, into ``_build/latex``) the
  menu links to it, and the PDF is copied into the site.
* The PDF (LaTeX builder) gets SVG figures converted to PDF with ``rsvg-convert`` (Debian's
  librsvg2-bin, installed by scripts/install_latex.sh) instead of ImageMagick's ``convert``.
* One search box per page: the theme's header search button is removed (the sidebar has the
  search field), and on the search page the sidebar's field too (the page has its own).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms.images import ImageConverter

_CDN_STYLESHEET = re.compile(
    r"<link\b[^>]*\bhref=[\"']https?://[^\"']*font-awesome[^\"']*[\"'][^>]*>\s*",
    re.IGNORECASE,
)


def drop_cdn_icon_font(app, doctree, docname):
    """Remove the icon-font stylesheet link from raw HTML outputs (matplotlib animations)."""
    for node in list(doctree.findall(nodes.raw)):
        if "html" not in node.get("format", "").split():
            continue
        text = node.astext()
        cleaned = _CDN_STYLESHEET.sub("", text)
        if cleaned != text:
            node.replace_self(nodes.raw(cleaned, cleaned, **node.attributes))


def one_copy_of_each_script(app, pagename, templatename, context, doctree):
    """Keep the first of identical script entries (same file, same inline body)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # An inline script has no file: sphinx-thebe's two copies carry None and "".
        key = (str(getattr(script, "filename", script) or ""), attributes.get("body", ""))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


_FRONT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Refresh" content="0; url={target}">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto;
         padding: 0 1rem; line-height: 1.5; color: #222; background: #fff; }}
  @media (prefers-color-scheme: dark) {{ body {{ color: #ddd; background: #14181e; }}
                                         a {{ color: #8ab4f8; }} }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>The book starts at <a href="{target}">{first_title}</a>.</p>
</main>
</body>
</html>
"""


def write_front_page(app, exception):
    """Write ``index.html`` as a titled page that links (and redirects) to the root document."""
    if exception is not None or app.builder.format != "html":
        return
    index = Path(app.outdir) / "index.html"
    root = app.config.root_doc
    if root == "index":
        return
    target = app.builder.get_target_uri(root)
    title = app.config.html_title or app.config.project
    first_title = app.env.titles[root].astext() if root in app.env.titles else title
    index.write_text(
        _FRONT_PAGE.format(
            target=html.escape(target),
            title=html.escape(title),
            first_title=html.escape(first_title),
        ),
        encoding="utf8",
    )


PDF_NAME = "s4_from_first_principles.pdf"


def _built_pdf(app) -> Path:
    """Where scripts/build_pdf.sh leaves the whole-book PDF: _build/latex beside _build/html."""
    return Path(app.outdir).parent / "latex" / PDF_NAME


def wrap_wide_figures(app, doctree, docname):
    """Put each SVG image (drawn to the column's full width) in a box that scrolls on a phone."""
    if app.builder.format != "html":
        return
    for node in list(doctree.findall(nodes.image)):
        if not node.get("uri", "").endswith(".svg") or isinstance(node.parent, nodes.container):
            continue
        box = nodes.container(classes=["book-wide-figure"])
        node.replace_self(box)
        box += node


_BOX = re.compile(
    r'(<rect x="[^"]*" y="[^"]*" (width="[^"]*" height="[^"]*" rx="[^"]*"[^>]*)/>)\s*'
    r'(<circle[^>]*/>)(<text class="n"[^>]*>[^<]*</text>)\s*'
    r'(<text class="t"[^>]*>[^<]*</text>)\s*(<text class="s"[^>]*>[^<]*</text>)')


def _restack(svg: str) -> str | None:
    """The road of chapters as one column of boxes (for a phone), or None if ``svg`` is not a
    figure of numbered boxes (rect, numbered circle, title, subtitle) in rows."""
    boxes = _BOX.findall(svg)
    head = re.match(r"(<svg[^>]*>\s*<defs>.*?</defs>\s*<style>.*?</style>)", svg, re.DOTALL)
    if len(boxes) < 2 or not head:
        return None
    legend = re.findall(r'<text class="s" x="[^"]*" y="[^"]*" text-anchor="middle">([^<]*)</text>\s*</svg>', svg)
    step, width = 100, 300
    parts = []
    for i, (_, rect_rest, circle, number, title, subtitle) in enumerate(boxes):
        y = 20 + i * step
        dy = y - float(re.search(r'cy="([^"]*)"', circle).group(1)) + 22
        parts.append(f'<rect x="20" y="{y}" {rect_rest}/>')
        parts.append(re.sub(r'cx="[^"]*" cy="[^"]*"', f'cx="42" cy="{y + 22}"', circle))
        for text in (number, title, subtitle):
            x = 42 if "class=\"n\"" in text else 64
            old_y = float(re.search(r' y="([^"]*)"', text).group(1))
            text = re.sub(r' x="[^"]*"', f' x="{x}"', text, count=1)
            parts.append(re.sub(r' y="[^"]*"', f' y="{old_y + dy:g}"', text, count=1))
        if i + 1 < len(boxes):
            dash = ' stroke-dasharray="6 4"' if "stroke-dasharray" in boxes[i + 1][1] else ""
            parts.append(
                f'<line x1="150" y1="{y + 70}" x2="150" y2="{y + step - 4}" stroke="#444" '
                f'stroke-width="2"{dash} marker-end="url(#arrow)"/>')
    height = 20 + len(boxes) * step
    if legend:
        parts.append(f'<text class="s" x="{width / 2:g}" y="{height}" text-anchor="middle">'
                     f"{legend[0].split(' · ')[0]}</text>")
        parts.append(f'<text class="s" x="{width / 2:g}" y="{height + 20}" text-anchor="middle">'
                     f"{' · '.join(legend[0].split(' · ')[1:])}</text>")
        height += 30
    svg_open = re.sub(r'viewBox="[^"]*"', f'viewBox="0 0 {width} {height}"', head.group(1))
    return svg_open + "\n" + "\n".join(parts) + "\n</svg>\n"


def write_phone_figures(app, exception):
    """Beside each wide SVG figure of the site, write NAME_phone.svg, its boxes in one column,
    which book_layout.js shows instead on a narrow screen."""
    if exception is not None or app.builder.format != "html":
        return
    for svg in (Path(app.outdir) / "_images").glob("*.svg"):
        if svg.stem.endswith("_phone"):
            continue
        phone = _restack(svg.read_text(encoding="utf8"))
        if phone:
            svg.with_name(svg.stem + "_phone.svg").write_text(phone, encoding="utf8")


def download_menu(app, pagename, templatename, context, doctree):
    """Say that the theme's ".pdf" prints the page, and offer the whole-book PDF when built."""
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        buttons = group["buttons"]
        for button in buttons:
            if button.get("label") == "download-pdf-button":
                button["text"] = "print this page"
                button["tooltip"] = "Print this page (or save it as a PDF)"
        if _built_pdf(app).is_file() and not any(
                b.get("label") == "download-book-pdf-button" for b in buttons):
            buttons.append({
                "type": "link",
                "url": context["pathto"](PDF_NAME, 1),
                "text": "whole book (.pdf)",
                "tooltip": "Download the whole book as one PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })


def copy_root_files(app, exception):
    """Copy the whole-book PDF (when built) and favicon.ico into the site, beside index.html."""
    if exception is not None or app.builder.format != "html":
        return
    pdf = _built_pdf(app)
    if pdf.is_file():
        shutil.copyfile(pdf, Path(app.outdir) / PDF_NAME)
    icon = Path(app.outdir) / "_static" / "favicon.ico"
    if icon.is_file():
        shutil.copyfile(icon, Path(app.outdir) / "favicon.ico")


class RsvgConverter(ImageConverter):
    """SVG to PDF for the LaTeX builder, with rsvg-convert (before ImageMagick is asked)."""

    default_priority = 190
    conversion_rules = [("image/svg+xml", "application/pdf")]

    def is_available(self) -> bool:
        return shutil.which("rsvg-convert") is not None

    def convert(self, _from: str, _to: str) -> bool:
        subprocess.run(["rsvg-convert", "-f", "pdf", "-o", _to, _from], check=True)
        return True


def no_header_search(app, config):
    """The theme puts a search field in a header bar of its own unless told otherwise; the
    sidebar has one (and, on a narrow screen, the article's header its search button)."""
    config.html_theme_options = dict(config.html_theme_options or {})
    config.html_theme_options.setdefault("navbar_persistent", [])


def one_search_box_on_the_search_page(app, pagename, templatename, context, doctree):
    """The search page has its own search field: no second one in its sidebar."""
    if pagename == "search" and isinstance(context.get("sidebars"), list):
        context["sidebars"] = [s for s in context["sidebars"] if "search" not in s]


def setup(app):
    app.add_post_transform(RsvgConverter)
    app.connect("config-inited", no_header_search)
    app.connect("html-page-context", one_search_box_on_the_search_page, priority=600)
    app.add_js_file("book_search.js", priority=900)
    app.add_js_file("book_layout.js", priority=900)
    app.connect("doctree-resolved", wrap_wide_figures)
    # After sphinx-book-theme's header buttons (priority 501).
    app.connect("html-page-context", download_menu, priority=600)
    app.connect("build-finished", copy_root_files)
    app.connect("build-finished", write_phone_figures)
    app.connect("doctree-resolved", drop_cdn_icon_font)
    app.connect("html-page-context", one_copy_of_each_script, priority=900)
    # Before sphinx-external-toc's handler (priority 500), which writes a bare redirect only
    # when index.html is missing.
    app.connect("build-finished", write_front_page, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
