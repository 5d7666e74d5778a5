"""Decoupled and early weight decay: the summaries of the chapter "Decoupled and early weight decay".

Two questions from *Understanding Decoupled and Early Weight Decay* (Bjorck et al. 2020) and
van Laarhoven (2017), measured with the engine of :mod:`l2lab.sweep` and the per-step traces of
:func:`l2lab.studies.tracker.track` (their figures: :mod:`l2lab.figures.weight_decay`):

* **Coupled against decoupled** (Adam + L2 in the loss against AdamW): on an ``eta x lam``
  grid of test accuracies (:func:`accuracy_grid`), the best lam at each eta with the band of
  lams within 0.1% of it (:func:`best_lam_per_eta`, built on
  :func:`l2lab.applications.tuning.tuned_lambda`), how fast the best lam moves with eta
  (:func:`eta_exponent`: the slope of ``log lam*`` against ``log eta``; 0 means independent of
  eta, -1 means ``lam* ~ 1/eta``), and the lams that are within the band at *every* eta
  (:func:`common_lams`).
* **Early decay** (lam for the first E steps, then 0) against decay throughout and none, for the
  scale-invariant kernels of the batch-norm CNN (:data:`CNN_BN_SCALE_INVARIANT`):
  :func:`phase_means` averages a per-step quantity (e.g. the angular update) before and after
  E, and :func:`cumulative_angle` adds up the rotation of a kernel's direction.

* **Seeds and verdicts**: :func:`seed_grids` and :func:`seed_mean` (the seed-mean grid and the
  noise of its gains), :func:`decoupling_verdict`; :func:`seed_accuracies`,
  :func:`resolved_pairs` (orders that every seed shows beyond :func:`accuracy_resolution`),
  :func:`early_wd_verdict` and :func:`measure_verdict`. Each verdict's docstring states its
  criterion.

Everything here is numpy on the host: no training happens in this module.
"""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Sequence

import numpy as np

from l2lab import _checks
from l2lab import tuning as _tuning

__all__ = ["AccuracyGrid", "accuracy_grid", "BestLam", "best_lam_per_eta", "eta_exponent",
           "seed_grids", "SeedMean", "seed_mean", "TuningVerdict", "decoupling_verdict",
           "seed_accuracies", "resolved_pairs", "accuracy_resolution", "orders_like", "EARLY_RUNS", "early_wd_verdict",
           "measure_verdict",
           "common_lams", "phase_means", "cumulative_angle", "CNN_BN_SCALE_INVARIANT", "STATISTICS",
           "check_grid"]

STATISTICS = ("peak", "final")

#: Kernels of ``l2lab.models.CNN(batch_norm=True)`` that feed a batch-norm layer, hence enter the
#: loss only through their direction (the fourth convolution and the two Dense layers do not:
#: SM A's architecture has no Act after the fourth convolution). Checked in the tests with
#: :func:`l2lab.studies.scale_invariance.loss_under_kernel_scaling`.
CNN_BN_SCALE_INVARIANT = ("Conv_0/kernel", "Conv_1/kernel", "Conv_2/kernel")


class AccuracyGrid(NamedTuple):
    """Test accuracies of an ``eta x lam`` grid.

    etas: float64 (E,) increasing; lams: float64 (L,) increasing (>= 0; the lam axis the
    records were swept on, or ``eta * lam`` with ``per_step=True``); accuracy: float64 (E, L),
    NaN where the grid has no run or the run diverged.
    """

    etas: np.ndarray
    lams: np.ndarray
    accuracy: np.ndarray


def _value(record: Any, statistic: str) -> float:
    if record.result.diverged:
        return float("nan")
    if statistic == "peak":
        return float(record.peak_accuracy)
    acc = np.asarray(record.result.test_accuracy, np.float64)
    return float(acc[-1]) if acc.size else float("nan")


def accuracy_grid(records: Sequence[Any], *, statistic: str = "peak", per_step: bool = False,
                  digits: int = 6) -> AccuracyGrid:
    """The ``eta x lam`` grid of ``records`` (sweep :class:`l2lab.sweep.Record` s, from one sweep
    or several concatenated).

    Args:
      records: non-empty sequence of records with ``.config.eta``, ``.config.lam``,
        ``.peak_accuracy`` and ``.result`` (``test_accuracy``, ``diverged``); one per
        ``(eta, lam)`` pair (several seeds: pass one seed's records).
      statistic: ``"peak"`` (the maximum test accuracy during the run, the book's convention,
        SM A) or ``"final"`` (at the end of the budget).
      per_step: the lam axis is ``eta * lam`` (AdamW's weight decay per step, the lam of
        Loshchilov & Hutter, for optax's ``adamw`` which multiplies the decay by the learning
        rate) instead of the records' lam.
      digits: eta and lam values equal to this many significant digits are the same grid point
        (``eta * lam`` is not exact in floating point).
    Returns:
      :class:`AccuracyGrid` with (E,) etas, (L,) lams and (E, L) accuracies.
    """
    if isinstance(records, (str, bytes)) or not hasattr(records, "__iter__"):
        raise _checks.bad_type("records", f"must be a sequence of sweep records, got {records!r}")
    records = list(records)
    if not records:
        raise _checks.bad_value("records", "must not be empty")
    for r in records:
        if not (hasattr(r, "config") and hasattr(r, "result") and hasattr(r, "peak_accuracy")):
            raise _checks.bad_type("records", f"must hold sweep records, got {type(r).__name__}")
    _checks.one_of("statistic", statistic, STATISTICS)
    _checks.boolean("per_step", per_step)
    digits = _checks.positive_int("digits", digits)
    key = lambda v: float(f"{v:.{digits}g}")
    cells: Dict[tuple, float] = {}
    for r in records:
        eta = float(r.config.eta)
        lam = float(r.config.lam) * (eta if per_step else 1.0)
        k = (key(eta), key(lam))
        if k in cells:
            raise _checks.bad_value("records", f"holds two runs at eta={eta:g}, "
                                               f"{'eta*lam' if per_step else 'lam'}={lam:g}")
        cells[k] = _value(r, statistic)
    etas = np.array(sorted({k[0] for k in cells}), np.float64)
    lams = np.array(sorted({k[1] for k in cells}), np.float64)
    acc = np.full((etas.size, lams.size), np.nan)
    for (e, l), v in cells.items():
        acc[np.searchsorted(etas, e), np.searchsorted(lams, l)] = v
    return AccuracyGrid(etas, lams, acc)


def check_grid(grid: Any) -> AccuracyGrid:
    if not isinstance(grid, AccuracyGrid):
        raise _checks.bad_type("grid", f"must be an AccuracyGrid, got {type(grid).__name__}")
    etas, lams = _checks.curve("grid.etas", grid.etas), _checks.curve("grid.lams", grid.lams)
    acc = np.asarray(grid.accuracy, np.float64)
    if acc.shape != (etas.size, lams.size):
        raise _checks.bad_value("grid", f"accuracy must have shape (E, L) = {(etas.size, lams.size)}, "
                                        f"got {acc.shape}")
    return AccuracyGrid(etas, lams, acc)


class BestLam(NamedTuple):
    """Best lam at each eta of a grid. etas, lam, low, high, accuracy: float64 (E,) -- the best lam,
    the smallest and largest lam within ``band`` of its accuracy, and that accuracy (NaN
    everywhere in a row without a finite accuracy); band: the tolerance (absolute accuracy)."""

    etas: np.ndarray
    lam: np.ndarray
    low: np.ndarray
    high: np.ndarray
    accuracy: np.ndarray
    band: float


def best_lam_per_eta(grid: AccuracyGrid, band: float = _tuning.BAND) -> BestLam:
    """:func:`l2lab.applications.tuning.tuned_lambda` on every row (eta) of ``grid``.

    Args:
      grid: :class:`AccuracyGrid` (E etas x L lams).
      band: absolute accuracy tolerance of the band (default 0.001: Figure 4b's 0.1%).
    Returns:
      :class:`BestLam`, arrays (E,). Ties go to the smallest lam (``tuned_lambda``'s rule).
    """
    grid = check_grid(grid)
    band = _checks.nonneg_float("band", band)
    out = np.full((4, grid.etas.size), np.nan)
    for i, row in enumerate(grid.accuracy):
        if not np.isfinite(row).any():
            continue
        t = _tuning.tuned_lambda(grid.lams, row, band)
        out[:, i] = (t.lam, t.low, t.high, t.accuracy)
    return BestLam(grid.etas.copy(), out[0], out[1], out[2], out[3], band)


def eta_exponent(etas, lams) -> float:
    """Least-squares slope ``b`` of ``log lam = a + b log eta`` over the entries with a finite
    ``lam > 0`` (NaN if fewer than two distinct etas remain).

    ``b = 0``: the best lam does not depend on eta; ``b = -1``: it scales like ``1/eta`` (as a
    product ``eta lam`` fixed at the optimum would make it). Decades moved over the grid:
    ``b * log10(max eta / min eta)``.

    Args:
      etas: (E,) learning rates > 0; lams: (E,) best lams (0 or NaN entries are left out).
    Returns:
      float.
    """
    etas = _checks.curve("etas", etas)
    lams = _checks.curve("lams", lams)
    _checks.same_length("etas", etas, "lams", lams)
    if np.any(~np.isfinite(etas)) or np.any(etas <= 0):
        raise _checks.bad_value("etas", "must be finite and > 0")
    keep = np.isfinite(lams) & (lams > 0)
    x, y = np.log(etas[keep]), np.log(lams[keep])
    if np.unique(x).size < 2:
        return float("nan")
    x = x - x.mean()
    return float(np.sum(x * (y - y.mean())) / np.sum(x * x))


def common_lams(grid: AccuracyGrid, band: float = _tuning.BAND) -> np.ndarray:
    """The lams whose accuracy is within ``band`` of the best of its row at *every* eta.

    Args:
      grid: :class:`AccuracyGrid`; rows without a finite accuracy are ignored.
      band: absolute accuracy tolerance (>= 0).
    Returns:
      float64 (C,) sorted, possibly empty: a single lam good at every eta exists iff C > 0.
    """
    grid = check_grid(grid)
    band = _checks.nonneg_float("band", band)
    ok = np.ones(grid.lams.size, bool)
    for row in grid.accuracy:
        if not np.isfinite(row).any():
            continue
        best = np.nanmax(row)
        ok &= np.isfinite(row) & (row >= best - band)
    return grid.lams[ok]


def phase_means(values, until: int, *, start: int = 0) -> tuple:
    """Means of a per-step quantity before and after step ``until``.

    Args:
      values: (T,) one value per update (e.g. ``Trace.angular_update[path]``).
      until: the first update of the second phase (``E`` of ``"early:E"``), ``1 <= until < T``.
      start: skip the updates before it in the first phase (``0 <= start < until``).
    Returns:
      ``(mean of values[start:until], mean of values[until:])`` as floats (NaN-aware means).
    """
    v = _checks.curve("values", values)
    until = _checks.positive_int("until", until)
    start = _checks.nonneg_int("start", start)
    if until >= v.size:
        raise _checks.bad_value("until", f"must be < len(values) = {v.size}, got {until}")
    if start >= until:
        raise _checks.bad_value("start", f"must be < until = {until}, got {start}")
    with np.errstate(invalid="ignore"):
        return float(np.nanmean(v[start:until])), float(np.nanmean(v[until:]))


def cumulative_angle(angles) -> np.ndarray:
    """Total rotation ``Phi_t = sum_{s < t} delta_s`` of a kernel's direction after ``t`` updates.

    Args:
      angles: (T,) per-step angles ``delta_s`` (radians, >= 0; ``Trace.angular_update[path]``).
    Returns:
      float64 (T+1,), ``Phi_0 = 0``. Path length on the unit sphere: it bounds the angle between
      ``w_0`` and ``w_t`` from above (triangle inequality) and is unchanged by any rescaling of
      the kernel.
    """
    a = _checks.curve("angles", angles)
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise _checks.bad_value("angles", "must be finite and >= 0 (radians)")
    return np.concatenate([[0.0], np.cumsum(a)])


# ----------------------------------------------------------------------------- seeds and verdicts

def seed_grids(records: Sequence[Any], *, per_step: bool = False,
               statistic: str = "peak") -> Dict[int, AccuracyGrid]:
    """:func:`accuracy_grid` of each seed's records (``record.config.seed``), ``{seed: grid}``
    sorted by seed; every seed must cover the same ``eta x lam`` grid."""
    if isinstance(records, (str, bytes)) or not hasattr(records, "__iter__"):
        raise _checks.bad_type("records", f"must be a sequence of sweep records, got {records!r}")
    by_seed: Dict[int, list] = {}
    for r in records:
        if not hasattr(r, "config"):
            raise _checks.bad_type("records", f"must hold sweep records, got {type(r).__name__}")
        by_seed.setdefault(int(getattr(r.config, "seed", 0)), []).append(r)
    if not by_seed:
        raise _checks.bad_value("records", "must not be empty")
    out = {s: accuracy_grid(by_seed[s], per_step=per_step, statistic=statistic)
           for s in sorted(by_seed)}
    first = next(iter(out.values()))
    for s, g in out.items():
        if g.accuracy.shape != first.accuracy.shape or not (
                np.allclose(g.etas, first.etas) and np.allclose(g.lams, first.lams)):
            raise _checks.bad_value("records", f"seed {s} covers another grid than the others")
    return out


class SeedMean(NamedTuple):
    """The seed mean of several grids and its noise. grid: :class:`AccuracyGrid` of the mean
    accuracy; noise: the median over cells (lam > 0) of the standard error of the seed mean of
    ``acc(eta, lam) - acc(eta, 0)`` (the gain of a decay over none, the quantity whose argmax
    is the best lam); seeds: how many."""

    grid: AccuracyGrid
    noise: float
    seeds: int


def seed_mean(grids: Sequence[AccuracyGrid]) -> SeedMean:
    """:class:`SeedMean` of ``grids`` (two or more seeds' grids of one sweep, same axes, the first
    lam column ``0``: the reference without decay).

    The noise is measured on the differences to the no-decay run of the same seed and eta,
    since whatever shifts a whole row (the initial weights) does not move its best lam."""
    if isinstance(grids, dict):
        grids = list(grids.values())
    grids = [check_grid(g) for g in grids]
    if len(grids) < 2:
        raise _checks.bad_value("grids", f"needs at least two seeds' grids, got {len(grids)}")
    first = grids[0]
    if first.lams[0] != 0:
        raise _checks.bad_value("grids", "the first lam column must be 0 (the run without decay)")
    for g in grids[1:]:
        if g.accuracy.shape != first.accuracy.shape or not np.allclose(g.lams, first.lams):
            raise _checks.bad_value("grids", "must all have the same eta and lam axes")
    acc = np.stack([g.accuracy for g in grids])                    # (S, E, L)
    gain = acc[:, :, 1:] - acc[:, :, :1]
    with np.errstate(invalid="ignore"):
        se = np.nanstd(gain, axis=0, ddof=1) / np.sqrt(len(grids))
    noise = float(np.nanmedian(se)) if np.isfinite(se).any() else float("nan")
    mean = AccuracyGrid(first.etas.copy(), first.lams.copy(), np.mean(acc, axis=0))
    return SeedMean(mean, noise, len(grids))


class TuningVerdict(NamedTuple):
    """:func:`decoupling_verdict`'s answer. verdict: one of ``l2lab.claims.VERDICTS``;
    coupled, decoupled: float64 arrays of the values within ``band`` of the best at every eta
    (:func:`common_lams`); band: the accuracy tolerance used."""

    verdict: str
    coupled: np.ndarray
    decoupled: np.ndarray
    band: float


def decoupling_verdict(coupled: AccuracyGrid, decoupled: AccuracyGrid,
                       band: float) -> TuningVerdict:
    """Does decoupling make the best decay independent of the learning rate (Loshchilov & Hutter;
    Bjorck et al. 2020)?

    Criterion: a decay "does not move with eta" when one value of it is within ``band`` of the
    best accuracy at every eta (:func:`common_lams`; pass the seed-mean grids and a band of at
    least twice their noise, :func:`seed_mean`, so that the best cell of a row is not noise).
    The claim predicts that the coupled lam moves and the decoupled per-step decay does not:

    * **reproduced**: no common coupled lam, a common decoupled decay;
    * **not at this scale**: both have a common value (neither moves over this eta range);
    * **partly**: neither has one;
    * **contradicted**: a common coupled lam but no common decoupled decay.
    """
    coupled, decoupled = check_grid(coupled), check_grid(decoupled)
    band = _checks.nonneg_float("band", band)
    c, d = common_lams(coupled, band), common_lams(decoupled, band)
    verdict = {(False, True): "reproduced", (True, True): "not at this scale",
               (False, False): "partly", (True, False): "contradicted"}[(c.size > 0, d.size > 0)]
    return TuningVerdict(verdict, c, d, band)


def seed_accuracies(runs: Dict[str, Sequence[Any]], statistic: str = "peak") -> Dict[str, np.ndarray]:
    """``{run name: (S,) accuracy per seed}`` (sorted by seed) of ``{run name: records}``, one
    record per seed for each name and the same seeds for every name; ``statistic`` as in
    :func:`accuracy_grid` (NaN for a diverged run)."""
    if not isinstance(runs, dict) or not runs:
        raise _checks.bad_type("runs", "must be a non-empty dict name -> sweep records")
    _checks.one_of("statistic", statistic, STATISTICS)
    out, seeds = {}, None
    for name, recs in runs.items():
        by = {int(r.config.seed): _value(r, statistic) for r in recs}
        if len(by) != len(list(recs)):
            raise _checks.bad_value("runs", f"{name!r} has two records of one seed")
        if seeds is None:
            seeds = sorted(by)
        if sorted(by) != seeds or not seeds:
            raise _checks.bad_value("runs", f"{name!r} has seeds {sorted(by)}, not {seeds}")
        out[name] = np.array([by[s] for s in seeds], np.float64)
    return out


def resolved_pairs(acc: Dict[str, np.ndarray], min_diff: float = 0.0) -> list:
    """The ordered pairs ``(better, worse)`` of runs whose accuracy differs with the same sign and
    by more than ``min_diff`` on every seed (``acc``: :func:`seed_accuracies`); a pair that
    changes order between seeds, or differs by ``min_diff`` or less on one, is within the noise
    and is left out. ``min_diff``: e.g. :func:`accuracy_resolution` of the test set."""
    if not isinstance(acc, dict) or len(acc) < 2:
        raise _checks.bad_value("acc", "must map at least two run names to per-seed accuracies")
    min_diff = _checks.nonneg_float("min_diff", min_diff)
    names, out = list(acc), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = np.asarray(acc[a], np.float64) - np.asarray(acc[b], np.float64)
            if d.shape != np.shape(acc[names[0]]) or not np.isfinite(d).all():
                raise _checks.bad_value("acc", f"{a!r} and {b!r} need finite accuracies of the same seeds")
            if np.all(d > min_diff):
                out.append((a, b))
            elif np.all(d < -min_diff):
                out.append((b, a))
    return out


def accuracy_resolution(accuracy: float, n_test: int) -> float:
    """Two binomial standard errors of a test accuracy ``accuracy`` measured on ``n_test``
    images, ``2 sqrt(p (1 - p) / n)``: differences between runs below it are not read as an
    order (:func:`resolved_pairs`)."""
    p = _checks.real("accuracy", accuracy, minimum=0.0, maximum=1.0)
    n = _checks.positive_int("n_test", n_test)
    return float(2.0 * np.sqrt(p * (1.0 - p) / n))


def orders_like(pairs: Sequence[tuple], measure: Dict[str, float]) -> bool:
    """Whether ``measure`` (``{run: value}``, larger predicting the better run) ranks the better
    run of every pair of ``pairs`` (:func:`resolved_pairs`) strictly above the worse one."""
    return all(float(measure[a]) > float(measure[b]) for a, b in pairs)


EARLY_RUNS = ("no WD", "WD throughout", "early WD")


def early_wd_verdict(acc: Dict[str, np.ndarray]) -> str:
    """Does weight decay during the first steps only keep the benefit of decay throughout
    (Golatkar et al.; Bjorck et al. 2020)? ``acc``: :func:`seed_accuracies` of the three runs
    named in :data:`EARLY_RUNS`.

    Criterion, with the gain ``G = mean(throughout - none)`` and the shortfall
    ``H = mean(throughout - early)`` over seeds:

    * **not at this scale**: decay throughout does not beat no decay on every seed (no benefit
      to keep);
    * **reproduced**: early decay beats no decay on every seed and ``H <= G / 2`` (it keeps at
      least half of the gain);
    * **partly**: early decay beats no decay on every seed but keeps less than half of the gain;
    * **contradicted**: early decay does not beat no decay on every seed.
    """
    missing = [n for n in EARLY_RUNS if n not in acc]
    if missing:
        raise _checks.bad_value("acc", f"needs the runs {EARLY_RUNS}, missing {missing}")
    none, thr, early = (np.asarray(acc[n], np.float64) for n in EARLY_RUNS)
    if not np.all(thr > none):
        return "not at this scale"
    if not np.all(early > none):
        return "contradicted"
    return "reproduced" if np.mean(thr - early) <= np.mean(thr - none) / 2 else "partly"


def measure_verdict(pairs: Sequence[tuple], angular: Dict[str, float],
                    norm: Dict[str, float]) -> str:
    """Does a scale-invariant measure (the angular update) capture what weight decay does while
    a norm-based one does not (Bjorck et al. 2020)?

    Criterion: over the pairs of runs that the test accuracy orders on every seed (``pairs``,
    :func:`resolved_pairs`, with a noise floor), ``angular`` and ``norm`` (``{run: value}``, larger predicting better;
    for a norm pass minus the norm) either order all of them like the accuracy or not
    (:func:`orders_like`): **reproduced** if only the angular one does, **not at this scale** if
    both do (the runs cannot tell them apart) or there is no resolved pair, **contradicted** if
    only the norm does, **partly** if neither does (the norm fails, as claimed, and so does the
    angular measure).
    """
    if not pairs:
        return "not at this scale"
    a, n = orders_like(pairs, angular), orders_like(pairs, norm)
    return {(True, False): "reproduced", (True, True): "not at this scale",
            (False, True): "contradicted", (False, False): "partly"}[(a, n)]
