"""Showing a message to the reader: rendered in a notebook, as text on stderr elsewhere.

Used where library code speaks to the person running a chapter (a sentence of the prose that a
paper-scale run does not support, what a sweep is about to run), so a page shows it as part of
the page and a script or a test sees plain text.
"""
from __future__ import annotations

import sys

__all__ = ["in_notebook", "show"]


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (an IPython shell without a kernel does not count)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def show(text: str, *, html: str | None = None, markdown: bool = False) -> None:
    """``html`` (or ``text`` as Markdown when ``markdown``) in a notebook; ``text`` on stderr
    elsewhere."""
    if not in_notebook():
        print(text, file=sys.stderr, flush=True)
        return
    from IPython.display import HTML, Markdown, display
    display(HTML(html) if html is not None else Markdown(text) if markdown else text)
