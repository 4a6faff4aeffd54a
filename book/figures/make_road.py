"""Writes book/figures/road.svg: the chapters of the book in three parts, in reading order.

Run from the repository root: python book/figures/make_road.py. The boxes keep the shape that
_ext/book_html.py restacks into one column for a phone (rect, numbered circle, title, subtitle).
"""
W, BW, BH = 900, 260, 70
COLS = [20, 320, 620]
chapters = {
    1: ("Functions as vectors", "Legendre coefficients"),
    2: ("Online approximation", "LegT · LagT · LegS"),
    3: ("The HiPPO ODE", "where A and B come from"),
    4: ("From ODE to RNN", "discretization, stability"),
    5: ("The convolution view", "y = K ∗ u, by FFT"),
    6: ("The S4 kernel", "DPLR · Cauchy · FFT"),
    7: ("S4D", "diagonal state matrices"),
    8: ("The S4 layer", "channels, block, stack"),
    9: ("A model that remembers", "training on long inputs"),
    10: ("Performance", "costs on CPU and GPU"),
    11: ("Recurrence in parallel", "associative scan · S5"),
    12: ("Selection: Mamba", "input-dependent Δ, B, C"),
    13: ("The matrix view", "semiseparable · SSD"),
}
# (part title, colour stroke, fill, rows of (chapter, column))
parts = [
    ("The road to the S4 kernel", "#2c6fbb", "#eaf2fb",
     [[(1, 0), (2, 1), (3, 2)], [(4, 2), (5, 1), (6, 0)]]),
    ("Beyond the kernel", "#1b7f5a", "#e6f4ee",
     [[(7, 0), (8, 1), (9, 2)], [(10, 2)]]),
    ("After S4", "#8a4fb3", "#f2eaf8",
     [[(11, 2), (12, 1), (13, 0)]]),
]
out = []
pos = {}
y = 20
for title, stroke, fill, rows in parts:
    out.append(f'<text class="p" x="{W / 2:g}" y="{y + 20}" text-anchor="middle" '
               f'fill="{stroke}">{title}</text>')
    y += 35
    for row in rows:
        for ch, col in row:
            x = COLS[col]
            pos[ch] = (x, y)
            name, sub = chapters[ch]
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{BW}" height="{BH}" rx="10" '
                       f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>')
            out.append(f'<circle cx="{x + 22:.1f}" cy="{y + 22}" r="14" fill="{stroke}"/>'
                       f'<text class="n" x="{x + 22:.1f}" y="{y + 27}" '
                       f'text-anchor="middle">{ch}</text>')
            out.append(f'<text class="t" x="{x + 44:.1f}" y="{y + 28}">{name}</text>')
            out.append(f'<text class="s" x="{x + 44:.1f}" y="{y + 52}">{sub}</text>')
        y += BH + 40
    y += 0
height = y - 15
arrows = []
for ch in range(1, 13):
    (x0, y0), (x1, y1) = pos[ch], pos[ch + 1]
    if y0 == y1:  # same row
        if x1 > x0:
            arrows.append((x0 + BW, y0 + BH / 2, x1 - 4, y1 + BH / 2))
        else:
            arrows.append((x0, y0 + BH / 2, x1 + BW + 4, y1 + BH / 2))
    else:  # down, same column
        arrows.append((x0 + BW / 2, y0 + BH, x1 + BW / 2, y1 - 4))
lines = [f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{d:.1f}" stroke="#444" '
         f'stroke-width="2" marker-end="url(#arrow)"/>' for a, b, c, d in arrows]
svg = (
    f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" role="img" '
    'aria-label="The chapters of the book in three parts: the road to the S4 kernel (1 to 6), '
    'beyond the kernel (7 to 10), after S4 (11 to 13)">\n'
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
    'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
    'fill="#444"/></marker></defs>\n'
    '<style>text{font-family:Helvetica,Arial,sans-serif} '
    '.t{font-size:16px;font-weight:bold;fill:#1a1a1a} .s{font-size:14px;fill:#333} '
    '.n{font-size:13px;fill:#fff;font-weight:bold} .p{font-size:15px;font-weight:bold}</style>\n'
    f'<rect class="bg" x="0" y="0" width="{W}" height="{height}" fill="#ffffff"/>\n'
    + "\n".join(out) + "\n" + "\n".join(lines) + "\n</svg>\n"
)
open("book/figures/road.svg", "w", encoding="utf8").write(svg)
print(height)
