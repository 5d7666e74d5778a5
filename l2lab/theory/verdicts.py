"""Verdicts of the theory chapters on the paper's section 4 (Eqs. 1-3, Figure 5, SM B.1).

Each ``*_verdict`` function states its criterion in its docstring and returns one of
:data:`l2lab.claims.VERDICTS` with the numbers that decided it, so a chapter computes its verdict
instead of typing it. The measurements behind them (a fitted decay rate, the time a ratio stays
near 1, the rise and fall times of a curve, the spread of ``t lam``) are plain functions of
arrays, tested against closed forms.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from l2lab import _checks

__all__ = [
    "decay_rate", "agreement_until", "RateFit", "KernelDecayVerdict", "kernel_decay_verdict",
    "rise_time", "fall_time", "ModeTimes", "mode_times", "ModesVerdict", "modes_verdict",
    "LawVerdict", "inverse_lambda_verdict", "WindowVerdict", "inverse_lambda_window_verdict",
    "interior_minimum", "Fig5cVerdict", "fig5c_verdict",
    "FixedPointVerdict", "fixed_point_verdict", "past_minimum_verdict",
]


def _curve_pair(t, f, name="f"):
    t = _checks.curve("t", t)
    f = _checks.curve(name, f)
    _checks.same_length("t", t, name, f)
    return t, f


def decay_rate(t, ratio, t_end: float) -> float:
    """The rate ``r`` of the best exponential ``ratio = exp(-r t)`` (least squares of
    ``log ratio`` through the origin, ``ratio(0) = 1``) over the records with ``0 < t <= t_end``
    (with 1% slack: recorded times are snapped to gradient-descent steps, ``t_end = 50`` keeps a
    record at 50.2).

    Args:
      t: ``(R,)`` times; ratio: ``(R,)`` positive measured decay factors (``tr Theta_t / tr
      Theta_0``); t_end: the end of the fitted window (> 0).
    Returns:
      the rate (NaN when the window holds no finite positive record).
    """
    t, ratio = _curve_pair(t, ratio, "ratio")
    t_end = _checks.positive_float("t_end", t_end)
    ok = (t > 0) & (t <= 1.01 * t_end) & np.isfinite(ratio) & (ratio > 0)
    if not ok.any():
        return math.nan
    tt, lr = t[ok], np.log(ratio[ok])
    return float(-np.sum(tt * lr) / np.sum(tt * tt))


def agreement_until(t, ratio, tol: float = 0.05) -> float:
    """The last time up to which ``ratio`` (measured over predicted) stays within ``tol`` of 1
    from the first record on: the record before the first one that leaves the band (the last
    record when none does, NaN when the first already does)."""
    t, ratio = _curve_pair(t, ratio, "ratio")
    tol = _checks.positive_float("tol", tol)
    off = np.flatnonzero(~(np.abs(ratio - 1.0) <= tol))
    if not off.size:
        return float(t[-1])
    return math.nan if off[0] == 0 else float(t[off[0] - 1])


class RateFit(NamedTuple):
    """One network's kernel decay: degree ``k``, fitted ``rate`` and ``predicted`` ``2(k-1) lam``,
    ``error`` = |rate - predicted| / (max(2|k-1|, 1) lam)."""
    label: str
    k: float
    rate: float
    predicted: float
    error: float


class KernelDecayVerdict(NamedTuple):
    verdict: str
    fits: tuple
    worst: float      # the largest relative error of a fitted rate


def kernel_decay_verdict(runs: Mapping[str, tuple], lam: float, *, window: float = 0.5,
                         tol: float = 0.1) -> KernelDecayVerdict:
    """Verdict on Eq. (2), ``Theta_t = exp(-2(k-1) lam t) Theta_0``, for finite networks.

    ``runs``: ``label -> (k, t, ratio)`` with ``ratio`` the measured ``tr Theta_t / tr
    Theta_0`` at the times ``t`` (pass the widest network of each ``k``: the theorem is about
    infinite width). The decay rate is fitted over ``lam t <= window`` (:func:`decay_rate`).
    Criterion: **reproduced** when every fitted rate is within ``tol`` (10%) of ``2(k-1) lam``
    (relative to ``max(2|k-1|, 1) lam``); **partly** when some are; **contradicted** when none is.
    """
    lam = _checks.positive_float("lam", lam)
    window = _checks.positive_float("window", window)
    tol = _checks.positive_float("tol", tol)
    if not isinstance(runs, Mapping) or not runs:
        raise _checks.bad_type("runs", "must be a non-empty mapping label -> (k, t, ratio)")
    fits = []
    for label, (k, t, ratio) in runs.items():
        k = _checks.nonneg_float("k", k)
        rate = decay_rate(t, ratio, window / lam)
        pred = 2.0 * (k - 1.0) * lam
        fits.append(RateFit(str(label), k, rate, pred, abs(rate - pred) / (max(2 * abs(k - 1), 1) * lam)))
    good = [bool(f.error <= tol) for f in fits]
    verdict = "reproduced" if all(good) else "partly" if any(good) else "contradicted"
    return KernelDecayVerdict(verdict, tuple(fits), float(max(f.error for f in fits)))


def rise_time(t, f) -> float:
    """The first time ``f`` reaches half its maximum (linear interpolation between records;
    ``t[0]`` when it starts there). NaN when the maximum is not positive."""
    t, f = _curve_pair(t, f)
    peak = np.nanmax(f)
    if not peak > 0:
        return math.nan
    i = int(np.argmax(f >= peak / 2))
    if i == 0:
        return float(t[0])
    return float(np.interp(peak / 2, [f[i - 1], f[i]], [t[i - 1], t[i]]))


def fall_time(t, f) -> float:
    """The first time after its maximum at which ``f`` falls to half the maximum (linear
    interpolation); NaN when it never does or the maximum is not positive."""
    t, f = _curve_pair(t, f)
    j = int(np.nanargmax(f))
    peak = f[j]
    if not peak > 0:
        return math.nan
    after = np.flatnonzero(f[j:] <= peak / 2)
    if not after.size:
        return math.nan
    i = j + int(after[0])
    return float(np.interp(peak / 2, [f[i], f[i - 1]], [t[i], t[i - 1]]))


class ModeTimes(NamedTuple):
    """One mode of Eq. (3): ``ratio`` = gamma/lam, ``learn`` = rise time x gamma, ``decay`` =
    fall time x lam, ``peak`` = max f / y, ``linear_end`` = the linear model's f at the last
    time over its plateau ``gamma y / (gamma + lam)``."""
    ratio: float
    learn: float
    decay: float
    peak: float
    linear_end: float


def mode_times(ratio: float, lam: float, k: float, *, t_max_over_lam: float = 30.0,
               num: int = 4000) -> ModeTimes:
    """:class:`ModeTimes` of the mode ``gamma = ratio lam`` with ``y = 1``, ``f(0) = 0``, from
    Eq. (3) on a log grid from ``1e-3 / max(gamma, lam)`` to ``t_max_over_lam / lam``."""
    from l2lab.theory.modes import mse_mode

    ratio = _checks.positive_float("ratio", ratio)
    lam = _checks.positive_float("lam", lam)
    gamma = ratio * lam
    t = np.geomspace(1e-3 / max(gamma, lam), _checks.positive_float("t_max_over_lam", t_max_over_lam) / lam,
                     _checks.integer("num", num, minimum=10))
    f = mse_mode(t, gamma, lam, k, 1.0, 0.0)
    lin = mse_mode(t[-1:], gamma, lam, 1.0, 1.0, 0.0)[0]
    return ModeTimes(ratio, rise_time(t, f) * gamma, fall_time(t, f) * lam, float(np.max(f)),
                     float(lin / (gamma / (gamma + lam))))


class ModesVerdict(NamedTuple):
    verdict: str
    learners: tuple   # ModeTimes of the modes with gamma/lam > 1
    slow: tuple       # ModeTimes of the modes with gamma/lam < 1
    passed: tuple     # (learn at 1/gamma, decay at 1/lam, slow never learn, linear settles)


def modes_verdict(lam: float, k: float = 2.0, *, learners: Sequence[float] = (10.0, 100.0, 1e3, 1e4),
                  slow: Sequence[float] = (0.1, 0.3), within: float = 10.0) -> ModesVerdict:
    """Verdict on Theorem 2 / Figure 5a-b: the behaviour of the modes of Eq. (3).

    Criterion, four parts: every mode with ``gamma/lam`` in ``learners`` (> 1) reaches half its
    peak within a factor ``within`` (10, "of order") of ``1/gamma`` and falls back to half its
    peak within a factor ``within`` of ``1/lam``; every mode in ``slow`` (< 1) stays below half
    the label; the linear model (k = 1) of every learner ends (at ``t = 30/lam``) within 1% of its
    plateau ``gamma y/(gamma + lam)``. **reproduced** when all four hold, **partly** when some,
    **contradicted** when none.
    """
    lam = _checks.positive_float("lam", lam)
    k = _checks.nonneg_float("k", k)
    within = _checks.real("within", within, minimum=1.0)
    if any(float(r) <= 1 for r in learners) or any(float(r) >= 1 for r in slow):
        raise _checks.bad_value("learners", "learners must have gamma/lam > 1 and slow < 1")
    ml = tuple(mode_times(r, lam, k) for r in learners)
    ms = tuple(mode_times(r, lam, k) for r in slow)
    near = lambda v: bool(1 / within <= v <= within)  # noqa: E731
    passed = (all(near(m.learn) for m in ml), all(near(m.decay) for m in ml),
              all(m.peak < 0.5 for m in ms), all(abs(m.linear_end - 1) <= 0.01 for m in ml))
    verdict = "reproduced" if all(passed) else "partly" if any(passed) else "contradicted"
    return ModesVerdict(verdict, ml, ms, passed)


class LawVerdict(NamedTuple):
    verdict: str
    spread: float    # max / min of t lam
    decades: float   # decades of lam spanned
    slope: float     # least-squares slope of log t against log lam
    reason: str


def inverse_lambda_verdict(lams, times, *, within: float = 3.0, slope_band: float = 0.25,
                           min_decades: float = 2.0) -> LawVerdict:
    """Verdict on a time that should scale as ``1/lam`` (the loss minimum, the accuracy peak).

    Criterion (the one ``l2lab.studies.collapse.verdict`` applies to the experiments):
    **reproduced** when ``t lam`` varies by at most ``within`` (x3) over at least
    ``min_decades`` (2) decades of ``lam``; **partly** when it varies more but ``log t`` falls
    with ``log lam`` at a slope within ``slope_band`` (0.25) of -1; **contradicted** otherwise;
    **not at this scale** when the finite times span fewer than ``min_decades`` decades.
    """
    lams, times = _checks.curve("lams", lams), _checks.curve("times", times)
    _checks.same_length("lams", lams, "times", times)
    within = _checks.real("within", within, minimum=1.0)
    ok = np.isfinite(times) & (times > 0) & (lams > 0)
    if ok.sum() < 2:
        return LawVerdict("not at this scale", math.nan, 0.0, math.nan, "fewer than two finite times")
    lg, tg = np.log10(lams[ok]), np.log10(times[ok])
    c = times[ok] * lams[ok]
    spread, decades = float(c.max() / c.min()), float(lg.max() - lg.min())
    slope = float(np.polyfit(lg, tg, 1)[0])
    if decades < min_decades:
        return LawVerdict("not at this scale", spread, decades, slope,
                          f"lam spans {decades:.1f} decades, fewer than {min_decades:g}")
    if spread <= within:
        return LawVerdict("reproduced", spread, decades, slope,
                          f"t lam spreads x{spread:.2f} over {decades:.1f} decades (at most x{within:g})")
    v = "partly" if abs(slope + 1) <= slope_band else "contradicted"
    return LawVerdict(v, spread, decades, slope,
                      f"t lam spreads x{spread:.1f} (more than x{within:g}); t falls as lam^{slope:.2f}")


class WindowVerdict(NamedTuple):
    verdict: str
    whole: LawVerdict   # the law over every lam
    lo: float           # the widest run of neighbouring lams over which t lam varies at most x3
    hi: float
    spread: float       # t lam's spread over it


def inverse_lambda_window_verdict(lams, times, *, within: float = 3.0,
                                  min_decades: float = 2.0) -> WindowVerdict:
    """Verdict on ``t ~ 1/lam`` that tells "only over part of the range" apart from "nowhere".

    Criterion: :func:`inverse_lambda_verdict` over every ``lam`` (reproduced, partly, not at
    this scale), except that where it says **contradicted** the verdict is **partly** when the
    widest run of neighbouring ``lam`` (sorted) on which ``t lam`` varies at most ``within``
    (x3) spans at least ``min_decades`` (2) decades: the law holds over part of the range.
    """
    lams, times = _checks.curve("lams", lams), _checks.curve("times", times)
    _checks.same_length("lams", lams, "times", times)
    whole = inverse_lambda_verdict(lams, times, within=within, min_decades=min_decades)
    order = np.argsort(lams)
    lam, c = lams[order], (times * lams)[order]
    best = (math.nan, math.nan, math.nan)
    for i in range(len(lam)):
        for j in range(i + 1, len(lam)):
            seg = c[i:j + 1]
            if not (np.all(np.isfinite(seg)) and np.all(seg > 0) and seg.max() / seg.min() <= within):
                break
            if np.isnan(best[0]) or lam[j] / lam[i] > best[1] / best[0]:
                best = (float(lam[i]), float(lam[j]), float(seg.max() / seg.min()))
    if whole.verdict != "contradicted":
        verdict = whole.verdict
    else:
        verdict = "partly" if np.log10(best[1] / best[0]) >= min_decades else "contradicted"
    return WindowVerdict(verdict, whole, *best)


def interior_minimum(curve, rise: float = 0.01) -> bool:
    """True when ``curve`` has a minimum before its end that it then rises from by more than
    ``rise`` (relative): a minimum, not a curve still falling or flat at the end."""
    c = _checks.curve("curve", curve)
    c = c[np.isfinite(c)]
    if c.size < 3:
        return False
    i = int(np.argmin(c))
    return bool(i < c.size - 1 and c[-1] > c[i] * (1 + rise))


class Fig5cVerdict(NamedTuple):
    verdict: str
    t_min_theory: float
    t_min_experiment: float
    timing: float       # t_min_experiment / t_min_theory
    deviation: float    # max relative deviation experiment vs theory up to the theory's minimum
    passed: tuple       # (minima: theory and experiment yes, linear no; timing; tracking)


def fig5c_verdict(t, experiment, theory_k, linear, *, within: float = 1.5,
                  track: float = 0.1) -> Fig5cVerdict:
    """Verdict on Figure 5c: the training loss of a wide network against Eq. (1) with its kernel.

    ``t``: times; ``experiment``, ``theory_k``, ``linear``: the trained network's loss, the
    theory with the network's ``k`` and with ``k = 1``. Criterion, three parts: (1) the theory
    and the experiment have an interior loss minimum (:func:`interior_minimum`) and the linear
    model has none; (2) the experiment's minimum is within a factor ``within`` (1.5) of the
    theory's; (3) up to the theory's minimum the experiment stays within ``track`` (10%) of the
    theory. **reproduced**: all three; **partly**: (1) with (2) or (3) failing;
    **contradicted**: (1) fails.
    """
    from l2lab import measure

    t, experiment = _curve_pair(t, experiment, "experiment")
    for name, c in (("theory_k", theory_k), ("linear", linear)):
        _checks.same_length("t", t, name, _checks.curve(name, c))
    theory_k, linear = np.asarray(theory_k, float), np.asarray(linear, float)
    tm_th, tm_ex = measure.time_of_min(t, theory_k), measure.time_of_min(t, experiment)
    upto = t <= tm_th
    dev = float(np.nanmax(np.abs(experiment[upto] / theory_k[upto] - 1)))
    minima = interior_minimum(theory_k) and interior_minimum(experiment) and not interior_minimum(linear)
    passed = (minima, bool(1 / within <= tm_ex / tm_th <= within), dev <= track)
    verdict = "contradicted" if not minima else "reproduced" if all(passed) else "partly"
    return Fig5cVerdict(verdict, float(tm_th), float(tm_ex), float(tm_ex / tm_th), dev, passed)


class FixedPointVerdict(NamedTuple):
    verdict: str
    errors: dict       # label -> max |f - f_*| where the approach is fast
    printed: float     # smallest max |f - (1 + lam sqrt n)| below ``fast``: the printed Eq. (S26)


def fixed_point_verdict(products, finals: Mapping[str, object], *, fast: tuple = (0.85, 1.15),
                        tol: float = 0.02) -> FixedPointVerdict:
    """Verdict on SM B.1: a deep linear network trained with L2 ends at ``f_* = max(0, 1 - lam
    sqrt n)`` (the sign the stationarity conditions give; the paper prints ``lam sqrt n = f - 1``).

    ``products``: the values of ``lam sqrt n``; ``finals``: ``label -> final f`` at those values
    for each width. Near ``lam sqrt n = 1`` the approach slows down without bound, so only the
    products outside ``fast`` count. Criterion: **reproduced** when every width ends within
    ``tol`` (0.02) of ``f_*`` there; **partly** when some widths do; **contradicted** when none.
    """
    p = _checks.curve("products", products)
    tol = _checks.positive_float("tol", tol)
    if not isinstance(finals, Mapping) or not finals:
        raise _checks.bad_type("finals", "must be a non-empty mapping label -> final f")
    away = (p < fast[0]) | (p > fast[1])
    f_star = np.maximum(0.0, 1.0 - p)
    errors, printed = {}, []
    for label, v in finals.items():
        v = _checks.curve(f"finals[{label!r}]", v)
        _checks.same_length("products", p, f"finals[{label!r}]", v)
        errors[str(label)] = float(np.max(np.abs(v - f_star)[away]))
        printed.append(float(np.max(np.abs(v - (1.0 + p))[p < fast[0]])))
    good = [e <= tol for e in errors.values()]
    verdict = "reproduced" if all(good) else "partly" if any(good) else "contradicted"
    return FixedPointVerdict(verdict, errors, min(printed))


def past_minimum_verdict(held: Mapping[str, tuple]) -> str:
    """Verdict on section 4's finite-width remark: Eq. (1) describes a wide network "until after
    the minimum in the loss". ``held``: ``label -> (t_held, t_min)``, the time up to which the
    network's kernel follows Eq. (2) (:func:`agreement_until`) and the time of its training-loss
    minimum. Criterion: **reproduced** when every ``t_held >= t_min``, **partly** when some,
    **contradicted** when none (a NaN time counts as not holding).
    """
    if not isinstance(held, Mapping) or not held:
        raise _checks.bad_type("held", "must be a non-empty mapping label -> (t_held, t_min)")
    good = [bool(float(a) >= float(b)) for a, b in held.values()]
    return "reproduced" if all(good) else "partly" if any(good) else "contradicted"
