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
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes

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


def setup(app):
    app.add_js_file("book_search.js", priority=900)
    app.connect("doctree-resolved", drop_cdn_icon_font)
    app.connect("html-page-context", one_copy_of_each_script, priority=900)
    # Before sphinx-external-toc's handler (priority 500), which writes a bare redirect only
    # when index.html is missing.
    app.connect("build-finished", write_front_page, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
