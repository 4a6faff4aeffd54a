"""Showing the package's real code inside the book.

Chapters never redefine package functions: they display the source that runs,
with :func:`show_source`, then call it and check it.
"""

from __future__ import annotations

import inspect

__all__ = ["show_source"]


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
