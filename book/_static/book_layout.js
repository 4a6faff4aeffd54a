/* Boxes that scroll sideways say so, and inline code breaks only between words.
 *
 * Loaded on every page by _ext/book_html.py, together with book.css.
 *
 * - A code block, an output, a display formula or a table wider than its column scrolls inside
 *   its own box (book.css). On a phone the scroll bar is hidden until one scrolls, so each such
 *   box gets data-scroll="right", "left" or "left right": the sides where more is hidden, which
 *   book.css draws as a shadow on that edge. A ResizeObserver keeps it true when the width
 *   changes, a formula is typeset or a collapsed cell opens. An inline formula wider than its
 *   line (it cannot wrap) becomes such a box too.
 * - A wide SVG figure (the road of chapters) has a one-column version NAME_phone.svg, written
 *   by _ext/book_html.py; on a narrow screen it is shown instead (the wide one, if that is
 *   missing, keeps a legible size and scrolls).
 * - Inline code such as `s4_minimal.kernels.kernel_dplr(Lambda, P, Q, B, Ct, dt, L)` may break
 *   after a dot, comma, opening parenthesis or equals sign (a <wbr> is placed there), never
 *   inside a name.
 */
(function () {
  "use strict";

  const BOXES = [
    "div.highlight pre",
    ".cell_output pre",
    ".cell_output .output",
    "div.math",
    "mjx-container[display=\"true\"]",
    ".pst-scrollable-table-container",
    ".table-wrapper",
    ".book-wide-figure",
  ].join(", ");

  function mark(box) {
    const hidden = box.scrollWidth - box.clientWidth;
    if (hidden <= 1 || box.clientWidth === 0) {
      box.removeAttribute("data-scroll");
      return;
    }
    const sides = [];
    if (box.scrollLeft > 1) sides.push("left");
    if (box.scrollLeft < hidden - 1) sides.push("right");
    box.setAttribute("data-scroll", sides.join(" ") || "none");
  }

  const observer = "ResizeObserver" in window
    ? new ResizeObserver((entries) => entries.forEach((e) => mark(e.target)))
    : null;
  const watched = new WeakSet();

  function watch(root) {
    (root || document).querySelectorAll(BOXES).forEach((box) => {
      if (watched.has(box)) {
        mark(box);
        return;
      }
      watched.add(box);
      box.addEventListener("scroll", () => mark(box), { passive: true });
      if (observer) observer.observe(box);
      mark(box);
    });
  }

  const BREAK_AFTER = /([.,(=])(?=\S)/g;

  function breakInlineCode(root) {
    (root || document).querySelectorAll("article code.literal, article p code, article li code, article td code")
      .forEach((code) => {
        if (code.closest("pre") || code.dataset.breaks) return;
        code.dataset.breaks = "1";
        if ((code.textContent || "").length < 16) return;
        const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
        const nodes = [];
        for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
        nodes.forEach((node) => {
          const parts = node.textContent.split(BREAK_AFTER);
          if (parts.length < 2) return;
          const fragment = document.createDocumentFragment();
          for (let i = 0; i < parts.length; i++) {
            if (parts[i] === "") continue;
            fragment.appendChild(document.createTextNode(parts[i]));
            if (i % 2 === 1) fragment.appendChild(document.createElement("wbr"));
          }
          node.parentNode.replaceChild(fragment, node);
        });
      });
  }

  const narrow = window.matchMedia("(max-width: 600px)");

  function phoneFigures() {
    document.querySelectorAll(".book-wide-figure img").forEach((img) => {
      const wide = img.dataset.wideSrc || img.getAttribute("src");
      if (!/\.svg$/.test(wide) || img.dataset.noPhone) return;
      img.dataset.wideSrc = wide;
      const want = narrow.matches ? wide.replace(/\.svg$/, "_phone.svg") : wide;
      if (img.getAttribute("src") === want) return;
      if (narrow.matches) {
        img.onerror = () => {
          img.dataset.noPhone = "1";
          img.removeAttribute("data-phone");
          img.setAttribute("src", wide);
        };
        img.setAttribute("data-phone", "1");
      } else {
        img.removeAttribute("data-phone");
      }
      img.setAttribute("src", want);
    });
  }

  // An inline formula cannot wrap: one wider than its line (a long one on a phone) becomes a
  // box of its own that scrolls, marked data-wide.
  function wideInlineMath() {
    document.querySelectorAll('article mjx-container[jax="CHTML"]:not([display="true"])').forEach((m) => {
      const block = m.parentElement && m.parentElement.closest("p, li, dd, dt, td, th, div, section");
      if (!block) return;
      const style = getComputedStyle(block);
      const room = block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      m.removeAttribute("data-wide");
      m.removeAttribute("data-scroll");
      if (m.getBoundingClientRect().width > room + 1) {
        m.setAttribute("data-wide", "1");
        if (!watched.has(m)) {
          watched.add(m);
          m.addEventListener("scroll", () => mark(m), { passive: true });
        }
        mark(m);
      }
    });
  }

  function start() {
    phoneFigures();
    if (narrow.addEventListener) narrow.addEventListener("change", phoneFigures);
    breakInlineCode();
    watch();
    const all = () => { wideInlineMath(); watch(); };
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(all);
    }
    window.addEventListener("load", all);
    window.addEventListener("resize", all);
    document.addEventListener("toggle", () => watch(), true);
  }

  window.bookLayout = { refresh: () => { breakInlineCode(); wideInlineMath(); watch(); } };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
