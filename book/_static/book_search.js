/* Readable search summaries (loaded on every page by _ext/book_html.py).
 *
 * Sphinx's search shows, under each result, text around the first place the search term occurs
 * in the page's [role=main] element. Two things went wrong with this theme: the stemmed term
 * ("woodburi" for "Woodbury") is often not in the text, and then the summary fell back to the
 * start of [role=main], which is the page's button bar, so the reader saw "....ipynb".
 * Here the text comes from the article itself, the place is found with the words the reader
 * typed (then their stems), and a page without a match shows its opening lines.
 */
(function () {
  "use strict";

  function articleText(htmlString, anchor) {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".headerlink, script, style, .toggle-details, .cell_input .highlight-none")
      .forEach((el) => el.remove());
    const main = doc.querySelector("article.bd-article") || doc.querySelector('[role="main"]');
    if (!main) return "";
    if (anchor) {
      const section = main.querySelector(anchor);
      if (section) return section.textContent;
    }
    return main.textContent;
  }

  function typedWords() {
    const query = new URLSearchParams(window.location.search).get("q") || "";
    return query.toLowerCase().split(/\s+/).filter((w) => w.length > 1);
  }

  function makeSearchSummary(htmlText, keywords, anchor) {
    // Formulas are TeX in the fetched page (MathJax has not run there): drop the delimiters.
    const text = articleText(htmlText, anchor).replace(/\\[()\[\]]/g, "")
      .replace(/\s+/g, " ").trim();
    if (text === "") return null;
    const lower = text.toLowerCase();
    const words = typedWords().concat([...keywords].map((k) => k.toLowerCase()));
    let at = -1;
    for (const word of words) {
      at = lower.indexOf(word);
      if (at > -1) break;
    }
    const start = at > -1 ? Math.max(at - 120, 0) : 0;
    const summary = document.createElement("p");
    summary.classList.add("context");
    summary.textContent = (start > 0 ? "..." : "") + text.substr(start, 240).trim() +
                          (start + 240 < text.length ? "..." : "");
    return summary;
  }

  function patch() {
    if (typeof Search === "undefined" || Search.bookSummaries) return;
    Search.makeSearchSummary = makeSearchSummary;
    Search.htmlToText = articleText;
    Search.bookSummaries = true;
  }

  patch();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", patch);
})();
