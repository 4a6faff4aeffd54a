/* Readable search summaries (loaded on every page by _ext/book_html.py).
 *
 * Sphinx's search shows, under each result, text around the first place the search term occurs
 * in the page's [role=main] element. Two things went wrong with this theme: the stemmed term
 * ("woodburi" for "Woodbury") is often not in the text, and then the summary fell back to the
 * start of [role=main], which is the page's button bar, so the reader saw "....ipynb".
 * Here the text comes from the article itself (its prose and outputs; code cells are left out),
 * the place is found with the words the reader typed (then their stems), formulas are written
 * in plain symbols, and a page without a match shows its opening lines.
 */
(function () {
  "use strict";

  // Formulas are TeX in the fetched page (MathJax has not run there). A summary shows them in
  // plain words and symbols: \Delta -> Δ, \bar A -> Ā, \frac{a}{b} -> (a)/(b), x_{k-1} -> x_k-1.
  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", zeta: "ζ",
    eta: "η", theta: "θ", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ", pi: "π",
    rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", varphi: "φ", chi: "χ", psi: "ψ", omega: "ω",
    Gamma: "Γ", Delta: "Δ", Theta: "Θ", Lambda: "Λ", Xi: "Ξ", Pi: "Π", Sigma: "Σ", Phi: "Φ",
    Psi: "Ψ", Omega: "Ω", sum: "Σ", prod: "Π", int: "∫", infty: "∞", partial: "∂",
    nabla: "∇", cdot: "·", cdots: "…", ldots: "…", dots: "…", times: "×", le: "≤", leq: "≤",
    ge: "≥", geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "~", equiv: "≡", to: "→",
    rightarrow: "→", leftarrow: "←", Rightarrow: "⇒", mapsto: "↦", in: "∈", subset: "⊂",
    pm: "±", mp: "∓", circledast: "⊛", ast: "*", star: "*", sqrt: "√", prime: "′",
    langle: "⟨", rangle: "⟩", lvert: "|", rvert: "|", lVert: "‖", rVert: "‖", Vert: "‖",
    mid: "|", quad: " ", qquad: " ", log: "log", exp: "exp", sin: "sin", cos: "cos",
    max: "max", min: "min", det: "det", dim: "dim", mathbb: "", top: "ᵀ", dagger: "†",
  };
  const BARRED = { bar: "\u0304", hat: "\u0302", tilde: "\u0303", vec: "\u20d7", dot: "\u0307" };

  function plainMath(tex) {
    let t = tex;
    t = t.replace(/\\begin\{[^}]*\}|\\end\{[^}]*\}/g, " ");
    t = t.replace(/\\(?:text|mathrm|mathbf|mathit|mathcal|mathsf|operatorname|textbf|boldsymbol|mathbb)\s*\{([^{}]*)\}/g, "$1");
    for (let i = 0; i < 3; i++)
      t = t.replace(/\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)");
    t = t.replace(/\\\\/g, "; ");
    t = t.replace(/\\(bar|hat|tilde|vec|dot|overline)(?![A-Za-z])\s*\{?\s*([A-Za-z])\s*\}?/g,
                  (m, accent, letter) => letter + (BARRED[accent] || "\u0304"));
    t = t.replace(/\\([A-Za-z]+)/g, (m, name) => (name in SYMBOLS ? SYMBOLS[name] : ""));
    t = t.replace(/\\[,;:!> ]/g, " ").replace(/\\([{}%$#&_|])/g, "$1");
    t = t.replace(/[{}]/g, "").replace(/&/g, " ").replace(/[\^_](?=\S)/g, (m) => (m === "^" ? "^" : "_"));
    return t.replace(/\s+/g, " ").trim();
  }

  function articleText(htmlString, anchor) {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".headerlink, script, style, .toggle-details, .cell_input")
      .forEach((el) => el.remove());
    doc.querySelectorAll(".math").forEach((el) => {
      const tex = (el.textContent || "").replace(/^\s*\\[(\[]|\\[)\]]\s*$/g, "");
      el.textContent = " " + plainMath(tex) + " ";
    });
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
    const text = articleText(htmlText, anchor).replace(/\s+/g, " ").trim();
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
