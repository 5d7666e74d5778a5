"""Label encodings: one-hot targets and the even/odd binary targets of Fig. 5c."""
from __future__ import annotations

import numpy as np

from l2lab import _checks

__all__ = ["one_hot", "even_odd_labels"]


def one_hot(y, num_classes: int) -> np.ndarray:
    """One-hot encode integer labels ``y (N,)`` as float32 ``(N, num_classes)``."""
    num_classes = _checks.positive_int("num_classes", num_classes)
    y = _checks.class_labels("y", y)
    if y.size and y.max() >= num_classes:
        raise ValueError(f"`y` has label {y.max()} >= num_classes={num_classes}")
    out = np.zeros((y.shape[0], num_classes), dtype=np.float32)
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def even_odd_labels(y) -> np.ndarray:
    """Binary targets of Fig. 5c: float32 ``(N,)``, ``+1`` for even digits, ``-1`` for odd."""
    y = _checks.class_labels("y", y)
    return np.where(y % 2 == 0, 1.0, -1.0).astype(np.float32)
