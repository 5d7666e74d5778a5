"""The dataset type every l2lab loader returns: images and integer labels held in memory.

Array conventions (all loaders):

* ``Dataset.x``: ``float32``, shape ``(N, H, W, C)`` (channels last), values in ``[0, 1]``.
* ``Dataset.y``: ``int32``, shape ``(N,)``, class labels ``0 .. num_classes - 1``.

Argument checks of a Dataset live in :func:`l2lab._checks.image_dataset`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Dataset"]


class Dataset(NamedTuple):
    """An image classification data set held in memory.

    Attributes:
      x: ``float32`` array ``(N, H, W, C)``, channels last, values in ``[0, 1]``.
      y: ``int32`` array ``(N,)`` of class labels ``0 .. num_classes - 1``.
      name: a short human-readable name (e.g. ``"mnist5k-train"``).
      num_classes: number of classes ``K``.
    """
    x: np.ndarray
    y: np.ndarray
    name: str
    num_classes: int
