"""Showing the package's real code inside the book.

Chapters never redefine package functions: they display the source that runs,
with :func:`show_source`, then call it and check it.
"""

from __future__ import annotations

import inspect

__all__ = ["show_source", "slider", "Slider"]


def show_source(*objects):
    """Render the source of functions, classes or modules as one Python code block.

    Wrapped functions (``jax.jit``, ``functools.wraps``) show the function they wrap.

    In a notebook this returns an ``IPython.display.Markdown`` object (displayed
    as highlighted code); its plain-text form is stable, so nbval can compare it.
    """
    if not objects:
        raise TypeError("show_source: expected at least one function, class or module")
    blocks = []
    for obj in objects:
        obj = inspect.unwrap(obj)  # a jax.jit- or functools.wraps-wrapped function shows its own code
        if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj)):
            raise TypeError(
                f"show_source: argument expected a function, class or module, got {type(obj).__name__}")
        blocks.append(inspect.getsource(obj).rstrip())
    text = "```python\n" + "\n\n\n".join(blocks) + "\n```"
    from IPython.display import Markdown

    return Markdown(text)


class Slider:
    """A figure the reader moves with sliders: precomputed frames, no kernel needed.

    Made by :func:`slider`. In the rendered book and in Jupyter it shows as HTML (the frames
    as PNG images, a range input per parameter, a few lines of plain JavaScript, nothing
    fetched from the network); where HTML is not shown (the PDF) it is its starting frame.
    """

    def __init__(self, frames, params, start, label):
        self.frames, self.params, self.start, self.label = frames, params, start, label

    def _start_index(self):
        index = 0
        for name, values in self.params.items():
            index = index * len(values) + self.start[name]
        return index

    def _repr_mimebundle_(self, include=None, exclude=None):
        import base64
        import hashlib
        import html
        import json

        pngs = [base64.b64encode(f).decode("ascii") for f in self.frames]
        uid = "book-slider-" + hashlib.sha1("".join(pngs).encode()).hexdigest()[:10]
        rows = []
        for k, (name, values) in enumerate(self.params.items()):
            rows.append(
                f'<label class="book-slider-row"><span class="book-slider-name">'
                f"{html.escape(name)}</span>"
                f'<input type="range" min="0" max="{len(values) - 1}" step="1" '
                f'value="{self.start[name]}" data-param="{k}" '
                f'aria-label="{html.escape(name)}">'
                f'<output class="book-slider-value">'
                f"{html.escape(values[self.start[name]])}</output></label>")
        labels = json.dumps([list(v) for v in self.params.values()])
        script = (
            "(function(){var root=document.getElementById('%s');if(!root)return;"
            "var frames=%s,labels=%s,img=root.querySelector('img'),"
            "inputs=root.querySelectorAll('input[type=range]');"
            "function show(){var i=0;inputs.forEach(function(r,k){var v=+r.value;"
            "i=i*labels[k].length+v;r.parentNode.querySelector('output').textContent="
            "labels[k][v];});img.src='data:image/png;base64,'+frames[i];"
            "root.setAttribute('data-frame',String(i));}"
            "inputs.forEach(function(r){r.addEventListener('input',show);});})();"
            % (uid, json.dumps(pngs), labels))
        start = self._start_index()
        text = (
            f'<div class="book-slider" id="{uid}" data-frame="{start}" '
            f'data-frames="{len(pngs)}">'
            f'<div class="book-slider-controls">{"".join(rows)}</div>'
            f'<img src="data:image/png;base64,{pngs[start]}" '
            f'alt="{html.escape(self.label)}">'
            f"<script>{script}</script></div>")
        return {
            "text/html": text,
            "image/png": pngs[start],
            "text/plain": f"<slider: {self.label}; {len(pngs)} frames>",
        }


def slider(fig, update, params, *, label, fmt="{:g}", start=None, dpi=64):
    """Redraw ``fig`` for every combination of ``params`` and return the frames as a :class:`Slider`.

    ``params`` maps a parameter's name to its values (one slider each, in that order);
    ``update(**values)`` redraws ``fig`` for one combination. Each frame is saved as a PNG at
    ``dpi``; ``fmt`` formats the values shown beside the sliders; ``start`` maps names to the
    starting values (default: the first of each). The figure is closed afterwards.
    """
    import io
    import itertools

    import matplotlib.pyplot as plt
    from PIL import Image

    if not params:
        raise ValueError("slider: params must name at least one parameter")
    names = list(params)
    values = [list(params[n]) for n in names]
    if any(len(v) == 0 for v in values):
        raise ValueError("slider: every entry of params needs at least one value")
    start = start or {}
    unknown = set(start) - set(names)
    if unknown:
        raise ValueError(f"slider: start names unknown parameters {sorted(unknown)}")
    for n, v in start.items():
        if v not in params[n]:
            raise ValueError(f"slider: start[{n!r}] = {v!r} is not one of the values of {n!r}")
    frames = []
    for combo in itertools.product(*values):
        update(**dict(zip(names, combo)))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        # A palette of 128 colours keeps line plots sharp at a third of the bytes.
        image = Image.open(buffer).convert("RGB").quantize(colors=128)
        buffer = io.BytesIO()
        image.save(buffer, format="png", optimize=True)
        frames.append(buffer.getvalue())
    plt.close(fig)
    shown = {n: [fmt.format(x) for x in v] for n, v in zip(names, values)}
    first = {n: values[i].index(start[n]) if n in start else 0 for i, n in enumerate(names)}
    return Slider(frames, shown, first, label)
