"""Reading the paper's quantities off recorded curves (pure numpy, NaN-safe).

* :func:`steps_to_peak` -- t*, "the minimum time required to be within .5% of the maximum test
  accuracy" (Sec. 2); the tolerance is absolute (0.005 = half a percentage point of accuracy).
* :func:`peak_accuracy` -- the maximum test accuracy reached during training (SM A: "we report the
  maximum performance during training").
* :func:`steps_to_reach` -- the first measured step at which a curve reaches a target (for
  example the best constant-lam accuracy, for AutoL2).
* :func:`fit_c` -- the coefficient ``c = t* lam`` of Sec. 1.1 (or ``c' = t* eta lam`` when the
  learning rates are given, the quantity held fixed by the paper's budgets ``t eta lam = 2`` for
  FC and ``0.1`` for WRN), summarised over configurations.
* :func:`time_of_min` / :func:`time_of_max` -- the time of the minimum (maximum) of curves given
  as columns, e.g. the loss minimum at ``t ~ 1/lam`` of Sec. 4 (also exported by
  :mod:`l2lab.theory`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from l2lab import _checks

__all__ = ["steps_to_peak", "peak_accuracy", "steps_to_fit", "steps_to_reach", "fit_c", "CFit",
           "time_of_min", "time_of_max"]

# Every function raises ValueError for an empty curve or curves of different lengths (bad
# input), and TypeError for a non-numeric one; a curve whose entries are all NaN (a run that
# diverged) is valid input and gives NaN.


def _accuracy(name: str, value) -> np.ndarray:
    """An accuracy curve: 1-D, its finite entries in [0, 1] (a percentage, 88.2 for 0.882, is
    refused: every tolerance would mean something else). NaN (a diverged run) is kept."""
    a = _checks.curve(name, value)
    bad = np.isfinite(a) & ((a < 0) | (a > 1))
    if bad.any():
        raise _checks.bad_value(name, f"must be accuracies in [0, 1] (not percentages), got {a[bad][0]:g}")
    return a


def _steps(steps) -> np.ndarray:
    s = _checks.curve("steps", steps)
    if not np.all(np.isfinite(s)):
        raise _checks.bad_value("steps", "must be finite")
    if np.any(np.diff(s) < 0):
        raise _checks.bad_value("steps", "must be non-decreasing")
    return s


def peak_accuracy(acc) -> float:
    """Maximum of ``acc`` (1-D, non-empty) ignoring NaN; NaN if no finite entry."""
    a = _accuracy("acc", acc)
    finite = np.isfinite(a)
    return float(np.max(a[finite])) if finite.any() else float("nan")


def steps_to_peak(steps, acc, tol: float = 0.005) -> float:
    """First measured step at which ``acc >= max(acc) - tol`` (NaN entries ignored).

    steps: (M,) finite, non-decreasing step counts (M >= 1); acc: (M,) accuracies in [0, 1];
    tol: absolute tolerance (finite, >= 0). Returns the step as a float (NaN when ``acc`` has no
    finite entry).
    """
    s = _steps(steps)
    a = _accuracy("acc", acc)
    _checks.same_length("steps", s, "acc", a)
    _checks.nonneg_float("tol", tol)
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


def fit_c(t_star, lam, eta=None, *, allow_empty: bool = False) -> CFit:
    """``c = t* lam`` (``eta=None``) or ``c' = t* eta lam`` per configuration, then a summary.

    t_star, lam, eta: 1-D non-empty arrays of equal length (a scalar ``t_star`` is one entry;
    scalar ``lam``/``eta`` broadcast). NaN t* (diverged or unmeasured runs) and lam = 0 are
    ignored. Raises ValueError for empty or mismatched inputs, or if nothing is left, unless
    ``allow_empty``: then no run with a peak gives a summary of NaNs with ``n = 0`` (a smoke run's
    few steps, say).
    """
    if not isinstance(allow_empty, bool):
        raise TypeError(f"allow_empty must be a bool, got {type(allow_empty).__name__}")
    t = _checks.curve("t_star", np.atleast_1d(t_star) if np.ndim(t_star) == 0 else t_star)
    per = {"t_star": t, "lam": _per_config("lam", lam, t)}
    if eta is not None:
        per["eta"] = _per_config("eta", eta, t)
    for name, v in per.items():          # NaN marks a missing run; a negative value is a mistake
        if np.any(v < 0):
            raise _checks.bad_value(name, f"must be >= 0 (NaN for a run without one), got {v[v < 0][0]:g}")
    prod = t * per["lam"] * (per["eta"] if eta is not None else 1.0)
    ok = np.isfinite(prod) & (prod > 0)
    vals = prod[ok]
    if vals.size == 0 and allow_empty:
        nan = float("nan")
        return CFit(values=vals, median=nan, geomean=nan, min=nan, max=nan, spread=nan, n=0,
                    n_dropped=int((~ok).sum()))
    if vals.size == 0:
        raise ValueError("fit_c: no finite positive t*·lam entries (all diverged, NaN or lam == 0)")
    lo, hi = float(vals.min()), float(vals.max())
    return CFit(values=vals, median=float(np.median(vals)), geomean=float(np.exp(np.mean(np.log(vals)))),
                min=lo, max=hi, spread=hi / lo, n=int(vals.size), n_dropped=int((~ok).sum()))


def _per_config(name: str, value, t: np.ndarray) -> np.ndarray:
    """``value`` (scalar or 1-D) as an array of the shape of ``t`` (``t_star``)."""
    if np.ndim(value) == 0:
        return np.broadcast_to(_checks.curve(name, np.reshape(value, (1,))), t.shape)
    v = _checks.curve(name, value)
    if v.shape != t.shape:
        raise _checks.bad_value(name, f"must have the shape of `t_star` {t.shape}, got {v.shape}")
    return v


def steps_to_fit(steps, train_error, threshold: float = 0.0) -> float:
    """First measured step at which the training error is ``<= threshold`` (SM C.1: the time to
    reach training accuracy 1 when ``threshold = 0``). NaN if it never gets there.

    steps: (M,) finite, non-decreasing step counts (M >= 1); train_error: (M,) errors in
    [0, 1] (NaN ignored); threshold: a number in [0, 1].
    """
    s = _steps(steps)
    e = _checks.curve("train_error", train_error)
    _checks.same_length("steps", s, "train_error", e)
    threshold = _checks.real("threshold", threshold, minimum=0.0, maximum=1.0)
    hit = np.flatnonzero(np.isfinite(e) & (e <= threshold))
    return float(s[hit[0]]) if hit.size else float("nan")


def steps_to_reach(steps, acc, target) -> float:
    """First measured step at which ``acc >= target``; NaN if it never gets there.

    steps: (M,) finite, non-decreasing step counts (M >= 1); acc: (M,) accuracies (NaN
    ignored); target: a finite number (for example another run's :func:`peak_accuracy`).
    """
    s = _steps(steps)
    a = _accuracy("acc", acc)
    _checks.same_length("steps", s, "acc", a)
    target = _checks.finite("target", target)
    hit = np.flatnonzero(np.isfinite(a) & (a >= target))
    return float(s[hit[0]]) if hit.size else float("nan")


def _times_and_curves(t, values) -> tuple[np.ndarray, np.ndarray]:
    """``t`` as a finite 1-D float64 array ``(T,)``, ``T >= 1``, and ``values`` as a float64 array
    ``(T, ...)`` (NaN and inf kept)."""
    t = _checks.curve("t", t)
    if not np.all(np.isfinite(t)):
        raise _checks.bad_value("t", "must be finite")
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):   # ragged nested lists
        raise _checks.bad_type("values", "must be an array of real numbers") from None
    if raw.dtype.kind not in "iuf":
        raise _checks.bad_type("values", f"must be real, got dtype {raw.dtype}")
    if raw.ndim == 0 or raw.shape[0] != t.shape[0]:
        raise _checks.bad_value("values", f"must have shape (T, ...) with T = len(t) = "
                                          f"{t.shape[0]}, got {raw.shape}")
    return t, raw.astype(np.float64, copy=False)


def _time_of_extremum(t, values, sign: float):
    """``t`` at the first minimum of ``sign * values`` along axis 0, NaN skipped (see
    :func:`time_of_min`)."""
    t, values = _times_and_curves(t, values)
    nan = np.isnan(values)
    idx = np.argmin(np.where(nan, np.inf, sign * values), axis=0)
    # a column whose finite entries are all +inf (after the sign) may have picked a NaN
    # position: take its first non-NaN entry, the first of the tied extrema
    picked_nan = np.take_along_axis(nan, idx[None], axis=0)[0]
    idx = np.where(picked_nan, np.argmax(~nan, axis=0), idx)
    out = np.where(nan.all(axis=0), np.nan, t[idx])
    return out[()]          # a numpy float for 1-D values, else an array


def time_of_min(t, values):
    """Time of the (first) minimum of ``values`` along axis 0 (grid resolution), NaN skipped.

    Args:
      t: ``(T,)`` finite times (any order), ``T >= 1``.
      values: ``(T, ...)`` curves as columns, e.g. a loss (NaN marks missing or diverged
        entries; inf is a value like any other).

    Returns:
      ``t[i]`` for the first ``i`` at which each column takes its smallest non-NaN value: a
      ``numpy.float64`` for 1-D ``values``, else a float64 array of shape ``values.shape[1:]``.
      A column whose entries are all NaN gives NaN.

    Raises TypeError for non-real ``values``, ValueError for non-finite or not 1-D ``t`` or a
    ``values`` whose first axis is not ``len(t)``.
    """
    return _time_of_extremum(t, values, 1.0)


def time_of_max(t, values):
    """Time of the (first) maximum of ``values`` along axis 0, NaN skipped, e.g. the accuracy
    peak; arguments, result and errors as :func:`time_of_min` (an all-NaN column gives NaN)."""
    return _time_of_extremum(t, values, -1.0)
