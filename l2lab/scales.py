"""The one switch between the default *tiny* scale and the paper's scale.

Chapters and command lines read ``L2LAB_SCALE`` (``tiny`` by default, ``paper`` for the
paper's sizes, which want a GPU/TPU) and look their sizes up in a dict keyed by scale.
"""
from __future__ import annotations

import os

SCALES = ("tiny", "paper")

__all__ = ["SCALES", "current", "pick"]


def current(default: str = "tiny") -> str:
    """The scale named by the environment variable ``L2LAB_SCALE`` (or ``default``)."""
    value = os.environ.get("L2LAB_SCALE", default).strip().lower()
    if value not in SCALES:
        raise ValueError(f"L2LAB_SCALE must be one of {SCALES}, got {value!r}")
    return value


def pick(options: dict, scale: str | None = None):
    """``options[scale]`` for the current scale, e.g. ``pick({"tiny": 48, "paper": 512})``."""
    if not isinstance(options, dict) or set(options) != set(SCALES):
        raise ValueError(f"options must be a dict with exactly the keys {SCALES}")
    return options[current() if scale is None else scale]
