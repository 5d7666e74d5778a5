"""Reading the paper's quantities off recorded curves (pure numpy, NaN-safe).

* :func:`steps_to_peak` -- t*, "the minimum time required to be within .5% of the maximum test
  accuracy" (Sec. 2); the tolerance is absolute (0.005 = half a percentage point of accuracy).
* :func:`peak_accuracy` -- the maximum test accuracy reached during training (SM A: "we report the
  maximum performance during training").
* :func:`fit_c` -- the coefficient ``c = t* lam`` of Sec. 1.1 (or ``c' = t* eta lam`` when the
  learning rates are given, the quantity held fixed by the paper's budgets ``t eta lam = 2`` for
  FC and ``0.1`` for WRN), summarised over configurations.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

__all__ = ["steps_to_peak", "peak_accuracy", "fit_c", "CFit"]


def _curve(name: str, a) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def peak_accuracy(acc) -> float:
    """Maximum of ``acc`` (1-D) ignoring NaN; NaN if no finite entry."""
    a = _curve("acc", acc)
    finite = np.isfinite(a)
    return float(np.max(a[finite])) if finite.any() else float("nan")


def steps_to_peak(steps, acc, tol: float = 0.005) -> float:
    """First measured step at which ``acc >= max(acc) - tol`` (NaN entries ignored).

    steps: (M,) increasing step counts; acc: (M,) accuracies in [0, 1]; tol: absolute tolerance
    (>= 0). Returns the step as a float (NaN when ``acc`` has no finite entry).
    """
    s = _curve("steps", steps)
    a = _curve("acc", acc)
    if s.shape != a.shape:
        raise ValueError(f"steps and acc must have the same shape, got {s.shape} and {a.shape}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if s.size and np.any(np.diff(s) < 0):
        raise ValueError("steps must be non-decreasing")
    finite = np.isfinite(a)
    if not finite.any():
        return float("nan")
    best = np.max(a[finite])
    idx = np.flatnonzero(finite & (a >= best - tol))[0]
    return float(s[idx])


class CFit(NamedTuple):
    """Summary of ``c = t* lam`` (or ``c' = t* eta lam``) over the finite, positive entries.

    values: (n,) the per-configuration products used; median, geomean, min, max (floats);
    spread = max / min; n: number of entries used; n_dropped: entries ignored (NaN, inf,
    non-positive t*, lam == 0, diverged).
    """

    values: np.ndarray
    median: float
    geomean: float
    min: float
    max: float
    spread: float
    n: int
    n_dropped: int


def fit_c(t_star, lam, eta=None) -> CFit:
    """``c = t* lam`` (``eta=None``) or ``c' = t* eta lam`` per configuration, then a summary.

    t_star, lam, eta: 1-D arrays of equal length (scalars broadcast). NaN t* (diverged or
    unmeasured runs) and lam = 0 are ignored. Raises ValueError if nothing is left.
    """
    t = np.atleast_1d(np.asarray(t_star, np.float64))
    if t.ndim != 1:
        raise ValueError(f"t_star must be 1-D, got shape {t.shape}")
    lm = np.broadcast_to(np.asarray(lam, np.float64), t.shape) if np.ndim(lam) == 0 else _curve("lam", lam)
    if lm.shape != t.shape:
        raise ValueError(f"lam must have the shape of t_star {t.shape}, got {lm.shape}")
    prod = t * lm
    if eta is not None:
        e = np.broadcast_to(np.asarray(eta, np.float64), t.shape) if np.ndim(eta) == 0 else _curve("eta", eta)
        if e.shape != t.shape:
            raise ValueError(f"eta must have the shape of t_star {t.shape}, got {e.shape}")
        prod = prod * e
    ok = np.isfinite(prod) & (prod > 0)
    vals = prod[ok]
    if vals.size == 0:
        raise ValueError("fit_c: no finite positive t*·lam entries (all diverged, NaN or lam == 0)")
    lo, hi = float(vals.min()), float(vals.max())
    return CFit(values=vals, median=float(np.median(vals)), geomean=float(np.exp(np.mean(np.log(vals)))),
                min=lo, max=hi, spread=hi / lo, n=int(vals.size), n_dropped=int((~ok).sum()))


def steps_to_fit(steps, train_error, threshold: float = 0.0) -> float:
    """First measured step at which the training error is ``<= threshold`` (SM C.1: the time to
    reach training accuracy 1 when ``threshold = 0``). NaN if it never gets there.

    steps: (M,) non-decreasing step counts; train_error: (M,) errors in [0, 1] (NaN ignored).
    """
    s = _curve("steps", steps)
    e = _curve("train_error", train_error)
    if s.shape != e.shape:
        raise ValueError(f"steps and train_error must have the same shape, got {s.shape} and {e.shape}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not np.isfinite(threshold) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    hit = np.flatnonzero(np.isfinite(e) & (e <= threshold))
    return float(s[hit[0]]) if hit.size else float("nan")
