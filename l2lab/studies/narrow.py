"""A narrow network where the ``t* ~ 1/lam`` scaling fails (SM D, Figure S7).

SM D trains a fully connected network of width 64 and depth 3 on CIFAR-10 and finds that the
peak test accuracy has a maximum at some ``lam_opt != 0``, and that ``t*`` scales like
``1/lam`` only for ``lam >~ lam_opt`` and is flat (equal to its ``lam = 0`` value) below it.

* :func:`split_sizes` -- as many MNIST-5k training images as a test set of ``n_test`` leaves.
* :func:`narrow_spec` -- the :class:`l2lab.sweep.SweepSpec` of such a sweep, with its arguments
  checked (a width below 1 is a ValueError naming ``width``).
* :func:`optimal_lam`, :func:`loglog_slope`, :func:`scaling_regimes` -- where the peak accuracy is
  best and how ``t*`` scales with ``lam`` above and below that point.
* :func:`by_seed` -- a sweep's ``t*``, peak accuracy and fit step as (seeds, lams) arrays.
* :func:`optimum_verdict`, :func:`regimes_verdict` -- the chapter's verdicts on SM D's two
  claims (``lam_opt != 0``; ``t*`` flat below it and ``~ 1/lam`` above), criteria in the
  docstrings.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

from l2lab import _checks

__all__ = ["split_sizes", "narrow_spec", "optimal_lam", "loglog_slope", "Regimes", "scaling_regimes",
           "accuracy_standard_error", "SeedTable", "by_seed", "OptimumVerdict", "optimum_verdict",
           "regimes_verdict"]

MNIST5K_SIZE = 5000      # len(l2lab.data.mnist5k().y): 500 images of each digit


def split_sizes(n_test: int = 1000, total: int = MNIST5K_SIZE) -> Tuple[int, int]:
    """``(n_train, n_test)`` with ``n_train = total - n_test``: every image not held out trains.

    n_test: 1 <= n_test < total (ints); total: the dataset size (MNIST-5k: 5000).
    """
    total = _checks.positive_int("total", total)
    n_test = _checks.positive_int("n_test", n_test)
    if n_test >= total:
        raise _checks.bad_value("n_test", f"must be < total={total} (leave training images), got {n_test}")
    return total - n_test, n_test


def narrow_spec(width: int = 64, depth: int = 3, *, eta: float, lams: Sequence[float], steps: int,
                n_test: int = 1000, batch_size: int = 512, points_per_octave: int = 8,
                t_star_tol: float = 0.005, seed: int = 0):
    """The sweep of SM D on MNIST-5k: FC with ``depth`` hidden ReLU layers of ``width`` units,
    softmax cross-entropy, plain SGD at one learning rate ``eta``, every ``lam`` of ``lams``
    (0 included) for the same ``steps`` (a ``"steps:N"`` budget, which ``lam = 0`` needs).

    width, depth: ints >= 1; eta > 0; lams: non-empty, each >= 0, distinct; steps >= 1;
    n_test: held-out images (the rest train, :func:`split_sizes`); batch_size >= 1 (SM A: 512);
    points_per_octave >= 1; t_star_tol >= 0 (the paper's 0.005). Returns a
    :class:`l2lab.sweep.SweepSpec` (checked by the sweep's own rules too).
    """
    from l2lab import sweep as _sweep

    width = _checks.positive_int("width", width)
    depth = _checks.positive_int("depth", depth)
    eta = _checks.positive_float("eta", eta)
    if isinstance(lams, (str, bytes)) or not isinstance(lams, Sequence) or len(lams) == 0:
        raise _checks.bad_value("lams", f"must be a non-empty sequence of numbers >= 0, got {lams!r}")
    lams = tuple(_checks.nonneg_float("lams", v) for v in lams)
    if len({f"{v:.6g}" for v in lams}) != len(lams):
        raise _checks.bad_value("lams", f"must be distinct, got {lams}")
    steps = _checks.positive_int("steps", steps)
    n_train, n_test = split_sizes(n_test)
    spec = _sweep.SweepSpec(arch="fc", model_kwargs={"widths": (width,) * depth}, dataset="mnist5k",
                            n_train=n_train, n_test=n_test, etas=(eta,), lams=lams, seeds=(seed,),
                            budget=f"steps:{steps}", batch_size=_checks.positive_int("batch_size", batch_size),
                            points_per_octave=_checks.positive_int("points_per_octave", points_per_octave),
                            t_star_tol=_checks.nonneg_float("t_star_tol", t_star_tol), bucket=1.0)
    _sweep.expand(spec)      # the sweep's own checks (seed, batch size, ...)
    return spec


def _pairs(lams, values, name: str) -> Tuple[np.ndarray, np.ndarray]:
    lam = _checks.curve("lams", lams)
    v = _checks.curve(name, values)
    _checks.same_length("lams", lam, name, v)
    if not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise _checks.bad_value("lams", "must be finite and >= 0")
    return lam, v


def optimal_lam(lams, peak_accuracy) -> Tuple[float, float]:
    """``(lam_opt, best)``: the lam with the highest peak test accuracy (the smallest such lam on
    a tie) and that accuracy. lams: (L,) >= 0; peak_accuracy: (L,) (NaN ignored).
    ValueError if no accuracy is finite."""
    lam, acc = _pairs(lams, peak_accuracy, "peak_accuracy")
    ok = np.flatnonzero(np.isfinite(acc))
    if ok.size == 0:
        raise _checks.bad_value("peak_accuracy", "has no finite entry")
    best = np.max(acc[ok])
    i = min(ok[acc[ok] == best], key=lambda j: lam[j])
    return float(lam[i]), float(best)


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` over the entries where both are finite
    and > 0 (``y ~ x^slope``); NaN with fewer than two such entries or one distinct x.
    x, y: (n,) arrays of equal length (n = 0 allowed: NaN)."""
    xs = _checks.curve("x", x, allow_empty=True)
    ys = _checks.curve("y", y, allow_empty=True)
    _checks.same_length("x", xs, "y", ys)
    ok = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
    if ok.sum() < 2 or np.unique(xs[ok]).size < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])


class Regimes(NamedTuple):
    """How ``t*`` scales on either side of ``lam_opt`` (:func:`scaling_regimes`).

    lam_opt, peak_opt: best lam and its peak accuracy; peak_zero: the lam = 0 peak accuracy
    (NaN without such a run); interior: lam_opt is neither the smallest nor the largest lam of
    the sweep (with a lam = 0 run: lam_opt != 0 and the peak there is above the lam = 0 one).
    slope_above: log-log slope of t* over the lams >= lam_opt (-1: t* ~ 1/lam), n_above points;
    c_above: median t*·lam there; slope_below, n_below: the same for 0 < lam < lam_opt (0: flat);
    t_zero: t* of the lam = 0 run; below_over_zero: (min, max) of t*(lam)/t*(0) for
    0 < lam < lam_opt. NaN where a regime has too few points.
    """

    lam_opt: float
    peak_opt: float
    peak_zero: float
    interior: bool
    slope_above: float
    n_above: int
    c_above: float
    slope_below: float
    n_below: int
    t_zero: float
    below_over_zero: Tuple[float, float]


def scaling_regimes(lams, t_star, peak_accuracy, *, lam_opt: Optional[float] = None) -> Regimes:
    """Split a lam sweep at ``lam_opt`` (default :func:`optimal_lam` of ``peak_accuracy``) and
    measure the scaling of ``t*`` in each part (SM D: ``t* ~ 1/lam`` above, flat below).

    lams: (L,) >= 0 (0 = the no-L2 run); t_star: (L,) steps (NaN: no peak); peak_accuracy: (L,).
    lam_opt: optional split point (>= 0) instead of the measured optimum.
    """
    lam, t = _pairs(lams, t_star, "t_star")
    _, acc = _pairs(lams, peak_accuracy, "peak_accuracy")
    best_lam, best = optimal_lam(lam, acc)
    if lam_opt is None:
        lam_opt, peak_opt = best_lam, best
    else:
        lam_opt = _checks.nonneg_float("lam_opt", lam_opt)
        at = np.flatnonzero(np.isclose(lam, lam_opt, rtol=1e-9, atol=0))
        peak_opt = float(acc[at[0]]) if at.size else float("nan")
    zero = np.flatnonzero(lam == 0)
    peak_zero = float(acc[zero[0]]) if zero.size else float("nan")
    t_zero = float(t[zero[0]]) if zero.size else float("nan")
    above = (lam > 0) & (lam >= lam_opt)
    below = (lam > 0) & (lam < lam_opt)
    finite_above = above & np.isfinite(t) & (t > 0)
    c_above = float(np.median(t[finite_above] * lam[finite_above])) if finite_above.any() else float("nan")
    ratios = t[below] / t_zero if below.any() and math.isfinite(t_zero) and t_zero > 0 else np.array([])
    ratios = ratios[np.isfinite(ratios)]
    interior = bool(lam.min() < lam_opt < lam.max())
    return Regimes(lam_opt=float(lam_opt), peak_opt=float(peak_opt), peak_zero=peak_zero, interior=interior,
                   slope_above=loglog_slope(lam[above], t[above]), n_above=int(finite_above.sum()),
                   c_above=c_above, slope_below=loglog_slope(lam[below], t[below]),
                   n_below=int((below & np.isfinite(t)).sum()), t_zero=t_zero,
                   below_over_zero=(float(ratios.min()), float(ratios.max())) if ratios.size
                   else (float("nan"), float("nan")))


def accuracy_standard_error(accuracy: float, n_test: int) -> float:
    """Binomial standard error ``sqrt(p (1 - p) / n)`` of a test accuracy ``p`` in [0, 1]
    measured on ``n_test`` >= 1 images: the yardstick for calling two peak accuracies different."""
    p = _checks.real("accuracy", accuracy, minimum=0.0, maximum=1.0)
    n = _checks.positive_int("n_test", n_test)
    return math.sqrt(p * (1.0 - p) / n)


class SeedTable(NamedTuple):
    """A lam sweep's runs laid out by seed (:func:`by_seed`): ``seeds (S,)``, ``lams (L,)``
    increasing, and ``(S, L)`` arrays ``t_star``, ``peak_accuracy`` and ``fit_step`` (the first
    measured step with training error 0; NaN: never fitted, or no such run)."""

    seeds: np.ndarray
    lams: np.ndarray
    t_star: np.ndarray
    peak_accuracy: np.ndarray
    fit_step: np.ndarray


def by_seed(records: Sequence) -> SeedTable:
    """:class:`SeedTable` of the sweep records of one learning rate (any seeds and lams)."""
    from l2lab import measure as _measure
    from l2lab import sweep as _sweep

    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence) or not records:
        raise _checks.bad_value("records", "must be a non-empty sequence of l2lab.sweep.Record")
    for r in records:
        if not isinstance(r, _sweep.Record):
            raise _checks.bad_type("records", f"must hold l2lab.sweep.Record, got {type(r).__name__}")
    if len({float(r.config.eta) for r in records}) != 1:
        raise _checks.bad_value("records", "must all have the same eta")
    seeds = np.array(sorted({int(r.config.seed) for r in records}))
    lams = np.array(sorted({float(r.config.lam) for r in records}))
    out = np.full((3, seeds.size, lams.size), np.nan)
    for r in records:
        i, j = np.searchsorted(seeds, int(r.config.seed)), np.searchsorted(lams, float(r.config.lam))
        fit = _measure.steps_to_fit(r.result.steps, r.result.train_error)
        out[:, i, j] = (r.t_star, r.peak_accuracy, fit)
    return SeedTable(seeds, lams, *out)


class OptimumVerdict(NamedTuple):
    """SM D's first claim judged by :func:`optimum_verdict`: ``word``, ``lam_opt`` (best lam of
    the seed-mean peak accuracy), ``gain`` (its mean peak minus the lam = 0 one),
    ``standard_error`` (of one accuracy on the test set) and ``reason`` (the deciding numbers)."""

    word: str
    lam_opt: float
    gain: float
    standard_error: float
    reason: str


def optimum_verdict(lams, peak_accuracy, n_test: int) -> OptimumVerdict:
    """Has the peak test accuracy a maximum at some ``lam_opt != 0`` (SM D, Figure S7a)?

    lams: (L,) >= 0 with one 0 (the run without L2); peak_accuracy: (L,) or (S, L) for S seeds
    (averaged over seeds; NaN ignored); n_test: test images (>= 1).
    Criterion: ``lam_opt`` is the lam of the best seed-mean peak accuracy (:func:`optimal_lam`)
    and ``gain`` its margin over lam = 0, measured in ``se``, the binomial standard error of one
    accuracy at the best value (:func:`accuracy_standard_error`). ``"reproduced"`` when
    ``lam_opt`` is neither 0 nor the largest lam and the gain exceeds 2 ``se``; ``"partly"`` when
    it is interior with a gain of 1-2 ``se``; ``"not at this scale"`` otherwise (the best lam is
    0 or the largest, or the gain is within one ``se``: no optimum the test set can resolve).
    """
    try:
        acc = np.atleast_2d(np.asarray(peak_accuracy, dtype=np.float64))
    except (TypeError, ValueError):
        raise _checks.bad_type("peak_accuracy", "must be an (L,) or (S, L) array of accuracies") from None
    if acc.ndim != 2:
        raise _checks.bad_value("peak_accuracy", f"must be (L,) or (S, L), got shape {acc.shape}")
    finite = np.isfinite(acc).any(axis=0)
    mean = np.full(acc.shape[1], np.nan)
    mean[finite] = np.nanmean(acc[:, finite], axis=0)
    lam, mean = _pairs(lams, mean, "peak_accuracy")
    zero = np.flatnonzero(lam == 0)
    if zero.size != 1 or not np.isfinite(mean[zero[0]]):
        raise _checks.bad_value("lams", "must hold exactly one 0 (the run without L2) with a finite accuracy")
    lam_opt, best = optimal_lam(lam, mean)
    se = accuracy_standard_error(best, n_test)
    gain = best - float(mean[zero[0]])
    interior = 0 < lam_opt < lam.max()
    word = ("reproduced" if interior and gain > 2 * se else
            "partly" if interior and gain > se else "not at this scale")
    reason = f"best λ {lam_opt:g}, {gain:+.3f} over λ = 0 (se {se:.3f})"
    return OptimumVerdict(word, lam_opt, gain, se, reason)


def regimes_verdict(regimes: Regimes, *, at_optimum: bool, flat: float = 3.0,
                    slope_tol: float = 0.5) -> str:
    """Does ``t*`` have SM D's two regimes on either side of the split of ``regimes``
    (:func:`scaling_regimes`): flat below (equal to ``t*`` at lam = 0), ``~ 1/lam`` above?

    Flat: at least one lam below the split and every ``t*(lam)/t*(0)`` there within
    ``[1/flat, flat]`` (3). One over lam: at least two lams above the split, log-log slope within
    ``slope_tol`` (0.5) of -1. at_optimum: the split is an interior accuracy optimum
    (``lam_opt``), as in SM D, rather than a crossover chosen otherwise.
    Criterion: ``"reproduced"`` when both regimes hold at an optimum; ``"partly"`` when both
    hold at another split, or only one holds; ``"not at this scale"`` when neither does.
    """
    if not isinstance(regimes, Regimes):
        raise _checks.bad_type("regimes", f"must be a Regimes, got {type(regimes).__name__}")
    at_optimum = _checks.boolean("at_optimum", at_optimum)
    flat = _checks.real("flat", flat, minimum=1.0)
    slope_tol = _checks.positive_float("slope_tol", slope_tol)
    lo, hi = regimes.below_over_zero
    is_flat = bool(regimes.n_below >= 1 and 1 / flat <= lo and hi <= flat)
    is_inverse = bool(regimes.n_above >= 2 and abs(regimes.slope_above + 1) <= slope_tol)
    if is_flat and is_inverse:
        return "reproduced" if at_optimum else "partly"
    return "partly" if is_flat or is_inverse else "not at this scale"
