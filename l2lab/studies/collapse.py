"""Why ``t* eta lam`` does or does not collapse: the diagnosis of a sweep's t* (Sec. 2, Fig. 2a).

The paper reports that ``c' = t* eta lam`` is roughly constant over six decades of ``eta lam``
for its FC network (t* within 0.5% of the peak test accuracy). :func:`diagnose` reads, for every
run of a sweep, the quantities that decide whether a sweep shows that collapse:

* t* at several tolerances (the paper's absolute 0.5%, and tighter ones);
* the step at which the training set is fitted (zero training error), the time after which only
  the L2 term moves the network (Sec. 1.1), and the *late gain*: how much test accuracy the run
  gains after that step. When the late gain is below the tolerance, t* at that tolerance is the
  fit time, not ``c / (eta lam)``: a floor that does not grow as ``eta lam`` shrinks;
* t* read off the test loss (its minimum) instead of the accuracy;
* the sampling noise of one test accuracy, the binomial standard error ``sqrt(p (1 - p) / n)``
  (:func:`accuracy_noise`): a tolerance near it measures the test set's noise as much as the run.

:func:`spread` summarises ``c'`` over a set of runs (max / min, and the decades of ``eta lam``
they span). Pure functions of records; nothing is trained here.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, NamedTuple, Sequence

import numpy as np

from l2lab import _checks
from l2lab import measure as _measure

__all__ = ["RunDiagnosis", "diagnose", "Spread", "spread", "slope", "accuracy_noise", "verdict", "Verdict",
           "TOLERANCES", "PerImage", "per_image_run", "bootstrap_t_star", "BootstrapRow", "load_bootstrap"]

TOLERANCES = (0.005, 0.002, 0.001)     # the paper's 0.5%, and tighter ones


class RunDiagnosis(NamedTuple):
    """One run. eta, lam, steps (its budget), peak_accuracy; t_star: ``{tol: steps}`` (NaN: no
    peak); c_prime: ``{tol: t* eta lam}``; fit_step: first measured step with zero training
    error (NaN: never fitted); accuracy_at_fit: test accuracy there; late_gain: peak minus that
    (NaN when never fitted); t_star_loss: step of the test-loss minimum; trained: peak accuracy
    at least ``min_accuracy`` (a run that stays near chance has no meaningful t*)."""

    eta: float
    lam: float
    steps: int
    peak_accuracy: float
    t_star: Dict[float, float]
    c_prime: Dict[float, float]
    fit_step: float
    accuracy_at_fit: float
    late_gain: float
    t_star_loss: float
    trained: bool


def _diagnose_one(record: Any, tols: Sequence[float], min_accuracy: float) -> RunDiagnosis:
    res, cfg = record.result, record.config
    steps = np.asarray(res.steps, np.float64)
    acc = np.asarray(res.test_accuracy, np.float64)
    t_star = {tol: _measure.steps_to_peak(steps, acc, tol) for tol in tols}
    fit = _measure.steps_to_fit(steps, res.train_error)
    at_fit = float(acc[np.searchsorted(steps, fit)]) if math.isfinite(fit) else math.nan
    peak = _measure.peak_accuracy(acc)
    loss = np.asarray(res.test_loss, np.float64)
    t_loss = float(_measure.time_of_min(steps, loss)) if np.isfinite(loss).any() else math.nan
    return RunDiagnosis(
        eta=float(cfg.eta), lam=float(cfg.lam), steps=int(cfg.steps), peak_accuracy=peak,
        t_star=t_star, c_prime={tol: t * cfg.eta * cfg.lam for tol, t in t_star.items()},
        fit_step=fit, accuracy_at_fit=at_fit, late_gain=peak - at_fit, t_star_loss=t_loss,
        trained=bool(math.isfinite(peak) and peak >= min_accuracy and not res.diverged))


def diagnose(records: Sequence[Any], tols: Sequence[float] = TOLERANCES, *,
             min_accuracy: float = 0.5) -> List[RunDiagnosis]:
    """A :class:`RunDiagnosis` per sweep record (``l2lab.engine.Record``), sorted by (eta, lam).

    tols: absolute accuracy tolerances of t* (each in (0, 1)); min_accuracy: the peak test
    accuracy in [0, 1] below which a run counts as not trained.
    """
    if not isinstance(records, (list, tuple)) or not records:
        raise _checks.bad_value("records", "must be a non-empty sequence of sweep records")
    if not all(hasattr(r, "result") and hasattr(r, "config") for r in records):
        raise _checks.bad_type("records", "must hold sweep records (l2lab.engine.Record)")
    tols = tuple(_checks.real("tols", t, minimum=0.0) for t in tols)
    if not tols or any(not 0 < t < 1 for t in tols):
        raise _checks.bad_value("tols", f"must be accuracies in (0, 1), got {tols!r}")
    min_accuracy = _checks.real("min_accuracy", min_accuracy, minimum=0.0, maximum=1.0)
    out = [_diagnose_one(r, tols, min_accuracy) for r in records]
    return sorted(out, key=lambda d: (d.eta, d.lam))


class Spread(NamedTuple):
    """``c'`` over runs at one tolerance: n runs, median, ratio max/min, and the decades of
    ``eta lam`` they span. NaN fields when fewer than two runs have a finite positive c'."""

    tol: float
    n: int
    median: float
    ratio: float
    decades: float


def spread(runs: Sequence[RunDiagnosis], tol: float) -> Spread:
    """:class:`Spread` of ``c'`` at ``tol`` over the trained runs of ``runs`` with a finite,
    positive t* (a run that peaks at step 0 has no t*)."""
    if not all(isinstance(r, RunDiagnosis) for r in runs):
        raise _checks.bad_type("runs", "must hold RunDiagnosis (see diagnose)")
    if any(tol not in r.c_prime for r in runs):
        raise _checks.bad_value("tol", f"{tol!r} is not one of the tolerances the runs were diagnosed at")
    good = [r for r in runs if r.trained and math.isfinite(r.c_prime[tol]) and r.c_prime[tol] > 0]
    if len(good) < 2:
        return Spread(tol, len(good), math.nan, math.nan, math.nan)
    c = np.asarray([r.c_prime[tol] for r in good])
    el = np.asarray([r.eta * r.lam for r in good])
    return Spread(tol, len(good), float(np.median(c)), float(c.max() / c.min()),
                  float(np.log10(el.max() / el.min())))


def accuracy_noise(accuracy: float, n_test: int) -> float:
    """Binomial standard error of a test accuracy ``accuracy`` in [0, 1] measured on ``n_test``
    images: ``sqrt(p (1 - p) / n)``. (A bootstrap of t* itself needs per-image predictions,
    which sweep records do not store.)"""
    p = _checks.real("accuracy", accuracy, minimum=0.0, maximum=1.0)
    n = _checks.positive_int("n_test", n_test)
    return math.sqrt(p * (1.0 - p) / n)


def slope(runs: Sequence[RunDiagnosis], tol: float) -> float:
    """Least-squares slope of ``log10 t*`` against ``log10(eta lam)`` over the runs that
    :func:`spread` uses (the paper's ``t* = c' / (eta lam)`` is slope -1); NaN for fewer than
    three runs."""
    good = [r for r in runs if r.trained and math.isfinite(r.c_prime[tol]) and r.c_prime[tol] > 0]
    if len(good) < 3:
        return math.nan
    x = np.log10([r.eta * r.lam for r in good])
    y = np.log10([r.t_star[tol] for r in good])
    return float(np.polyfit(x, y, 1)[0])


class Verdict(NamedTuple):
    """``word``: ``"reproduced"``, ``"partly"`` or ``"not at this scale"``; ``reason``: one
    sentence with the deciding numbers."""

    word: str
    reason: str


def verdict(runs: Sequence[RunDiagnosis], *, paper_tol: float = 0.005, tight_tol: float = 0.001,
            within: float = 3.0, slope_band: float = 0.25, min_decades: float = 2.0) -> Verdict:
    """The verdict on the paper's collapse ``t* ~ c' / (eta lam)`` for a sweep's trained runs.

    Criterion: **reproduced** when ``c'`` at the paper's tolerance (``paper_tol``, 0.5%) varies
    by at most ``within`` (x3) over at least ``min_decades`` decades of ``eta lam``; **partly**
    when it does not, but ``log t*`` falls with ``log(eta lam)`` at a slope within
    ``slope_band`` of -1 at the paper's or a tighter tolerance (``tight_tol``); **not at this
    scale** otherwise. The runs must span ``min_decades`` for any verdict but the last.
    """
    s_paper = spread(runs, paper_tol)
    k_paper, k_tight = slope(runs, paper_tol), slope(runs, tight_tol)
    if not (s_paper.decades >= min_decades):
        return Verdict("not at this scale", f"the trained runs span {s_paper.decades:.1f} decades of eta lam, "
                                            f"fewer than {min_decades:g}")
    if s_paper.ratio <= within:
        return Verdict("reproduced", f"c' spreads x{s_paper.ratio:.1f} over {s_paper.decades:.1f} decades "
                                     f"(at most x{within:g})")
    near = [(tol, k) for tol, k in ((paper_tol, k_paper), (tight_tol, k_tight)) if abs(k + 1) <= slope_band]
    if near:
        tol, k = near[0]
        return Verdict("partly", f"c' spreads x{s_paper.ratio:.0f} at {paper_tol:.1%} (more than x{within:g}), "
                                 f"but t* falls as (eta lam)^{k:.2f} at {tol:.1%}")
    return Verdict("not at this scale", f"c' spreads x{s_paper.ratio:.0f} at {paper_tol:.1%} and t* falls as "
                                        f"(eta lam)^{k_paper:.2f} ({k_tight:.2f} at {tight_tol:.1%})")


class PerImage(NamedTuple):
    """One run with every test image's correctness at every measurement: steps ``(M,)`` int64,
    correct ``(M, N)`` bool (``argmax f == y`` on test image n after ``steps[m]`` updates), and
    the configuration (eta, lam, steps of the budget, seed)."""

    steps: np.ndarray
    correct: np.ndarray
    eta: float
    lam: float
    budget: int
    seed: int


def per_image_run(spec: Any, eta: float, lam: float, *, seed: int = 0) -> PerImage:
    """Train the configuration ``(eta, lam, seed)`` of the sweep ``spec`` (its model, data,
    settings, budget and measurement grid, as :func:`l2lab.engine.run_sweep` would) and keep
    the correctness of every test image at every measurement (a sweep record keeps only the
    accuracy). For :func:`bootstrap_t_star`."""
    import jax
    import jax.numpy as jnp

    from l2lab import engine

    spec = spec._replace(etas=(_checks.positive_float("eta", eta),), lams=(_checks.nonneg_float("lam", lam),),
                         seeds=(_checks.prng_seed("seed", seed),))
    cfg = engine.expand(spec)[0][0]
    train_ds, test_ds = engine.load_data(spec)
    model = engine.make_model(spec.arch, num_classes=int(train_ds.num_classes), **spec.model_kwargs)
    eng = engine.Engine(lambda p, x: model.apply({"params": p}, x), train_ds, test_ds, spec.settings)
    k_init, k_data = engine.seed_keys(cfg.seed)
    params = engine.models.init(model, k_init, (1,) + tuple(np.shape(train_ds.x)[1:]))
    state = eng.init_state(params, cfg.eta, cfg.lam, cfg.steps, k_data)
    advance = jax.jit(lambda s, n, d: jax.lax.fori_loop(0, n, lambda _, s: eng.step(s, d), s))
    right = jax.jit(lambda p, d: jnp.argmax(eng.apply_fn(p, d[2]), -1) == jnp.argmax(d[3], -1))
    grid = engine.measurement_grid(cfg.steps, cfg.points_per_octave)
    rows = [np.asarray(right(state.params, eng.data))]
    for a, b in zip(grid[:-1], grid[1:]):
        state = advance(state, jnp.int32(b - a), eng.data)
        rows.append(np.asarray(right(state.params, eng.data)))
    return PerImage(np.asarray(grid, np.int64), np.stack(rows), cfg.eta, cfg.lam, cfg.steps, cfg.seed)


def bootstrap_t_star(steps, correct, tol: float = 0.005, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """t* at tolerance ``tol`` of ``n_boot`` test sets resampled with replacement from the run's
    ``N`` test images (one resample serves every step of the run, as one test set does):
    ``(n_boot,)`` float64 steps. steps ``(M,)``, correct ``(M, N)`` bool. The spread of the result
    is the part of t* that the test set's sampling noise alone produces."""
    steps = np.asarray(steps, np.float64)
    correct = np.asarray(correct)
    if correct.ndim != 2 or correct.shape[0] != steps.shape[0] or correct.dtype != bool:
        raise _checks.bad_value("correct", f"must be bool (M, N) with M = len(steps) = {steps.shape[0]}, got "
                                           f"{correct.dtype} {correct.shape}")
    tol = _checks.real("tol", tol, minimum=0.0, maximum=1.0, open_maximum=True)
    n_boot = _checks.positive_int("n_boot", n_boot)
    rng = np.random.default_rng(_checks.prng_seed("seed", seed))
    n = correct.shape[1]
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).T            # (N, n_boot) ints
    acc = (correct.astype(np.int64) @ counts) / n                                # (M, n_boot), exact
    return np.asarray([_measure.steps_to_peak(steps, acc[:, b], tol) for b in range(n_boot)])


class BootstrapRow(NamedTuple):
    """One run of a committed bootstrap file: eta, lam, budget; t_star: t* of the run's own test
    set; low, high: the 5% and 95% quantiles of t* over the resampled test sets; ratio: high / low."""

    eta: float
    lam: float
    budget: int
    t_star: float
    low: float
    high: float
    ratio: float


def load_bootstrap(path: Any, tol: float = 0.005) -> List[BootstrapRow]:
    """The runs of a bootstrap file written by ``tools/accelerator_runs.py --only bootstrap``
    (``data/sweeps/h200/bootstrap/fc-per-image.json``) at tolerance ``tol``, sorted by (eta, lam)."""
    import base64
    import json
    from pathlib import Path

    raw = json.loads(Path(_checks.path("path", path)).read_text())
    if raw.get("format") != "l2lab.collapse.bootstrap/1":
        raise _checks.bad_value("path", f"{str(path)!r} is not a bootstrap file")
    out = []
    for r in raw["runs"]:
        if str(tol) not in r["bootstrap_t_star"]:
            raise _checks.bad_value("tol", f"{tol!r} is not one of {sorted(r['bootstrap_t_star'])}")
        steps = np.asarray(r["steps"], np.float64)
        packed = np.frombuffer(base64.b64decode(r["correct_packbits"]), np.uint8).reshape(len(steps), -1)
        correct = np.unpackbits(packed, axis=1)[:, : r["n_test"]].astype(bool)
        boot = np.asarray(r["bootstrap_t_star"][str(tol)], np.float64)
        low, high = float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))
        out.append(BootstrapRow(float(r["eta"]), float(r["lam"]), int(r["budget"]),
                                _measure.steps_to_peak(steps, correct.mean(axis=1), tol), low, high,
                                high / low if low > 0 else math.inf))
    return sorted(out, key=lambda b: (b.eta, b.lam))
