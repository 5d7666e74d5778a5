"""Sentences of the book's prose, checked against the runs that are supposed to support them.

A chapter states a result in words ("t* eta lam spreads more than tenfold") and, in a hidden
cell right after the computation, checks it::

    claims.check("t* eta lam spreads more than tenfold over the grid", spread > 10)

When a rerun stops supporting the sentence, :func:`check` raises :class:`ClaimFailed` whose
message is the sentence, so the build fails and names it (the book builds with errors fatal).
Numbers in the prose come from :func:`glue` (myst-nb's ``glue``; the page writes
``{glue:text}`name:.2f```), never typed.
"""
from __future__ import annotations

import numpy as np

from l2lab import _checks

__all__ = ["ClaimFailed", "check", "glue"]


class ClaimFailed(AssertionError):
    """A sentence of the prose that the runs no longer support (the message is the sentence)."""


def check(sentence: str, holds) -> None:
    """Raise :class:`ClaimFailed` with ``sentence`` unless ``holds`` is true. ``holds`` must be
    a bool (numpy bools too): a number or an array would make the check mean something else."""
    _checks.string("sentence", sentence, nonempty=True)
    if not isinstance(holds, (bool, np.bool_)):
        raise _checks.bad_type("holds", f"must be a bool, got {type(holds).__name__}")
    if not holds:
        raise ClaimFailed(f"the runs no longer support this sentence of the page: {sentence!r}")


def glue(name: str, value) -> None:
    """Make ``value`` available to the page's prose as ``{glue:text}`name``` (myst-nb's
    ``glue``, not displayed). Where myst-nb is not installed (Colab), it does nothing."""
    _checks.string("name", name, nonempty=True)
    if isinstance(value, np.generic):         # np.float64(0.25) would show its repr
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=False)
