"""Sentences of the book's prose, checked against the runs that are supposed to support them.

A chapter states a result in words ("t* eta lam spreads more than tenfold") and, in a hidden
cell right after the computation, checks it::

    claims.check("t* eta lam spreads more than tenfold over the grid", spread > 10)

When a rerun stops supporting the sentence, :func:`check` raises :class:`ClaimFailed` whose
message is the sentence, so the build fails and names it (the book builds with errors fatal).
Numbers in the prose come from :func:`glue` (myst-nb's ``glue``; the page writes
``{glue:text}`name:.2f```), never typed.

A chapter's verdicts on the paper's results (:class:`Verdict`) go to
:func:`record_verdicts`, which glues them for the findings box and writes them, with
provenance, where the intro's *results at a glance* table (``book/_ext/l2lab_results.py``)
reads them after the build has executed every chapter.
"""
from __future__ import annotations

import os
import re
from typing import NamedTuple, Sequence

import numpy as np

from l2lab import _checks

__all__ = ["ClaimFailed", "VERDICTS", "Verdict", "check", "glue", "record_verdicts",
           "unsupported_note", "verdict_file"]

#: The verdicts a findings box may give, from strongest to weakest support of the paper.
VERDICTS = ("reproduced", "partly", "not at this scale", "contradicted")


class ClaimFailed(AssertionError):
    """A sentence of the prose that the runs no longer support (the message is the sentence)."""


def check(sentence: str, holds) -> None:
    """Raise :class:`ClaimFailed` with ``sentence`` unless ``holds`` is true. ``holds`` must be
    a bool (numpy bools too): a number or an array would make the check mean something else.

    The prose is written for the book's own build, the tiny scale. At another scale
    (``L2LAB_SCALE=paper``, :mod:`l2lab.scales`, with or without ``L2LAB_SMOKE``) a sentence that
    the runs do not support is shown to the reader as a note instead (:func:`unsupported_note`),
    and the page goes on."""
    from l2lab import scales

    _checks.string("sentence", sentence, nonempty=True)
    if not isinstance(holds, (bool, np.bool_)):
        raise _checks.bad_type("holds", f"must be a bool, got {type(holds).__name__}")
    if holds:
        return
    if scales.current() == "tiny":
        raise ClaimFailed(f"the runs no longer support this sentence of the page: {sentence!r}")
    from l2lab import display

    display.show(unsupported_note(sentence), markdown=True)


def unsupported_note(sentence: str) -> str:
    """What a page at another scale than the book's shows for a sentence its runs do not
    support."""
    from l2lab import scales

    return (f"**Note** (scale `{scales.current()}`): the prose was written for the book's tiny "
            f"build, and these runs do not support its sentence \"{sentence}\".")


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


class Verdict(NamedTuple):
    """One result of the paper as a chapter judges it (a row of the intro's table).

    ``result``: the paper's result, naming its equation, figure or section ("Fig. 2a-c:
    t* = c/(eta lam), FC"); ``verdict``: one of :data:`VERDICTS`; ``deciding``: the deciding
    numbers in a short phrase built from the run's values ("t* eta lam spreads x117 at 0.5%"),
    never typed; ``scale``: what ran ("tiny: FC 3x256, 512 MNIST images, 1 seed")."""
    result: str
    verdict: str
    deciding: str
    scale: str


_CHAPTER = re.compile(r"^[a-z]+/[0-9]{2}_[a-z0-9_]+$")


def verdict_file(folder, chapter: str) -> str:
    """The file of ``chapter``'s verdicts in ``folder`` (``experiments/01_fc_mnist`` ->
    ``folder/experiments__01_fc_mnist.json``)."""
    return os.path.join(os.fspath(folder), chapter.replace("/", "__") + ".json")


def record_verdicts(folder, chapter: str, verdicts: Sequence[Verdict]) -> None:
    """Glue ``chapter``'s verdicts (``verdict``, ``verdict_1``, ... and ``deciding``, ...: the
    first without a number) and write them with provenance to :func:`verdict_file` (atomically),
    for the intro's table. ``chapter``: the page's path under ``book/`` without ``.md``."""
    from l2lab.engine import records

    _checks.string("chapter", chapter, nonempty=True)
    if not _CHAPTER.match(chapter):
        raise _checks.bad_value("chapter", f"must look like 'experiments/01_fc_mnist', got {chapter!r}")
    if not isinstance(verdicts, (list, tuple)) or not verdicts:
        raise _checks.bad_type("verdicts", "must be a non-empty list of Verdict")
    for i, v in enumerate(verdicts):
        if not isinstance(v, Verdict):
            raise _checks.bad_type("verdicts", f"item {i} is a {type(v).__name__}, not a Verdict")
        for field in Verdict._fields:
            _checks.string(f"verdicts[{i}].{field}", getattr(v, field), nonempty=True)
        if v.verdict not in VERDICTS:
            raise _checks.bad_value("verdicts", f"item {i}: verdict {v.verdict!r} is not one of {VERDICTS}")
    for i, v in enumerate(verdicts):
        suffix = "" if i == 0 else f"_{i}"
        glue("verdict" + suffix, v.verdict)
        glue("deciding" + suffix, v.deciding)
    records.write_json(verdict_file(folder, chapter), {
        "chapter": chapter, "verdicts": [v._asdict() for v in verdicts],
        "provenance": records.provenance()})
