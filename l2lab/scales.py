"""The one switch between the default *tiny* scale and the paper's scale, and the smoke switch.

Chapters and command lines read ``L2LAB_SCALE`` (``tiny`` by default, ``paper`` for the
paper's sizes, which want a GPU/TPU) and look their sizes up in a dict keyed by scale.

``L2LAB_SMOKE=1`` (:func:`smoke`) keeps the paper's architectures, data formats, sharding and
figures but shrinks what costs time (a few steps per run, small batches, a few evaluation
batches, a small grid): the paper path executed on a CPU in minutes, as CI does
(``make smoke``). Its results mean nothing; they only show that the path runs.
"""
from __future__ import annotations

import os

SCALES = ("tiny", "paper")
SMOKE_VALUES = ("0", "1")

__all__ = ["SCALES", "SMOKE_VALUES", "current", "pick", "smoke"]


def current(default: str = "tiny") -> str:
    """The scale named by the environment variable ``L2LAB_SCALE`` (or ``default``)."""
    value = os.environ.get("L2LAB_SCALE", default).strip().lower()
    if value not in SCALES:
        raise ValueError(f"L2LAB_SCALE must be one of {SCALES}, got {value!r}")
    return value


def smoke() -> bool:
    """Whether ``L2LAB_SMOKE`` asks for a smoke run: ``"1"`` yes; ``"0"``, empty or unset no.

    Raises:
      ValueError: any other value (naming ``L2LAB_SMOKE`` and the allowed values), so that a
        typo such as ``L2LAB_SMOKE=yes`` never silently starts a paper-size run.
    """
    value = os.environ.get("L2LAB_SMOKE", "").strip()
    if value == "":
        return False
    if value not in SMOKE_VALUES:
        raise ValueError(f"L2LAB_SMOKE must be '1' (smoke run), '0' or unset, got {value!r}")
    return value == "1"


def pick(options: dict, scale: str | None = None):
    """``options[scale]`` for the current scale, e.g. ``pick({"tiny": 48, "paper": 512})``.

    ``options`` may also hold a ``"smoke"`` entry: the value a smoke run of the paper scale
    (``L2LAB_SCALE=paper L2LAB_SMOKE=1``) uses instead of ``"paper"``, for the sizes that cost
    time and do not pass through a preset (a loop's steps, a width of a theory chapter), e.g.
    ``pick({"tiny": 150, "paper": 2000, "smoke": 3})``. Without it a smoke run gets ``"paper"``.
    """
    if not isinstance(options, dict) or set(options) not in (set(SCALES), {*SCALES, "smoke"}):
        raise ValueError(f"options must be a dict with exactly the keys {SCALES} "
                         f"(and optionally 'smoke')")
    scale = current() if scale is None else scale
    if scale == "paper" and "smoke" in options and smoke():
        return options["smoke"]
    return options[scale]
