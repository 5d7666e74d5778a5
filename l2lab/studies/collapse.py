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
           "TOLERANCES", "PerImage", "per_image_run", "bootstrap_t_star", "BootstrapRow", "load_bootstrap",
           "SeedSummary", "by_seed", "seeds_verdict", "SeedDifference", "seed_difference", "at_budget_end",
           "FitTime", "fit_time", "FitLimit", "fit_limit", "Plateau", "plateau_verdict"]

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


# --- Seeds (issue 20): a sweep's verdict and a difference, seed by seed -------------------------

#: The collapse verdicts from the strongest to the weakest support of the paper.
_ORDER = ("reproduced", "partly", "not at this scale", "contradicted")


class SeedSummary(NamedTuple):
    """One seed of a sweep: seed, n_runs, n_trained (peak accuracy at least ``min_accuracy``),
    spread (:class:`Spread` of ``c'`` at ``tol``), slope (of ``log t*`` against ``log(eta lam)``)
    and verdict (:func:`verdict` on that seed's runs alone)."""

    seed: int
    n_runs: int
    n_trained: int
    spread: Spread
    slope: float
    verdict: Verdict


def by_seed(records: Sequence[Any], tol: float = 0.005, *, min_accuracy: float = 0.5) -> List[SeedSummary]:
    """:func:`diagnose` each seed's records on their own (``record.config.seed``) and summarise
    them at ``tol`` (the paper's 0.5% by default), sorted by seed. :func:`verdict` is taken with
    ``tol`` as the paper's tolerance and the tightest of :data:`TOLERANCES` as the tight one."""
    if not isinstance(records, (list, tuple)) or not records:
        raise _checks.bad_value("records", "must be a non-empty sequence of sweep records")
    tol = _checks.real("tol", tol, minimum=0.0, maximum=1.0, open_maximum=True)
    tols = tuple(sorted(set(TOLERANCES) | {tol}, reverse=True))
    seeds: Dict[int, list] = {}
    for r in records:
        if not hasattr(r, "config"):
            raise _checks.bad_type("records", "must hold sweep records (l2lab.engine.Record)")
        seeds.setdefault(int(r.config.seed), []).append(r)
    out = []
    for seed, rs in sorted(seeds.items()):
        runs = diagnose(rs, tols, min_accuracy=min_accuracy)
        out.append(SeedSummary(seed, len(runs), sum(d.trained for d in runs), spread(runs, tol),
                               slope(runs, tol), verdict(runs, paper_tol=tol, tight_tol=min(tols))))
    return out


def seeds_verdict(verdicts: Sequence[Verdict], *, min_seeds: int = 3) -> Verdict:
    """The verdict that every seed supports: the weakest of the seeds' verdicts (order
    reproduced, partly, not at this scale, contradicted), one verdict per seed. Fewer than
    ``min_seeds`` seeds cannot reproduce a result: their "reproduced" becomes "partly". The
    reason says on how many seeds that word is the verdict and then gives the reason of the
    first seed that has it."""
    if not isinstance(verdicts, (list, tuple)) or not verdicts:
        raise _checks.bad_value("verdicts", "must be a non-empty sequence of Verdict")
    if not all(isinstance(v, Verdict) and v.word in _ORDER for v in verdicts):
        raise _checks.bad_type("verdicts", f"must hold Verdict with a word in {_ORDER}")
    min_seeds = _checks.positive_int("min_seeds", min_seeds)
    word = max((v.word for v in verdicts), key=_ORDER.index)
    first = next(v for v in verdicts if v.word == word)
    k = sum(v.word == word for v in verdicts)
    where = "on every seed" if k == len(verdicts) else f"on {k} of {len(verdicts)} seeds, better on the others"
    if word == "reproduced" and len(verdicts) < min_seeds:
        n = len(verdicts)
        return Verdict("partly", f"reproduced on {'one seed' if n == 1 else f'{n} seeds'}, fewer than "
                                 f"{min_seeds}: {first.reason}")
    return Verdict(word, f"{where}: {first.reason}")


class SeedDifference(NamedTuple):
    """``a - b`` seed by seed: differences (one per seed), median, low, high (their range) and
    holds: every seed's difference is positive (a exceeds b on every seed); n_holds: on how many."""

    differences: tuple
    median: float
    low: float
    high: float
    holds: bool
    n_holds: int


def seed_difference(a: Sequence[float], b: Sequence[float]) -> SeedDifference:
    """Paired per-seed values ``a[i]``, ``b[i]`` (the same seed ``i``): does ``a`` exceed ``b``
    on every seed, and by how much (the range of the differences is the seed spread that a claim
    resting on the difference must carry). A NaN value (a seed with no such number, e.g. no run
    that trained) makes median, low and high NaN and ``holds`` false: the claim is not shown."""
    a, b = _checks.curve("a", list(a), allow_empty=True), _checks.curve("b", list(b), allow_empty=True)
    if a.size == 0 or a.shape != b.shape:
        raise _checks.bad_value("b", f"must have one value per seed as a does ({a.size}), got {b.size}")
    if np.any(np.isinf(a)) or np.any(np.isinf(b)):
        raise _checks.bad_value("a", "values must be finite or NaN (no value), not infinite")
    d = a - b
    if np.any(np.isnan(d)):
        return SeedDifference(tuple(float(x) for x in d), math.nan, math.nan, math.nan, False,
                              int(np.sum(d > 0)))
    return SeedDifference(tuple(float(x) for x in d), float(np.median(d)), float(d.min()), float(d.max()),
                          bool(np.all(d > 0)), int(np.sum(d > 0)))


def at_budget_end(runs: Sequence[RunDiagnosis], tol: float, *, fraction: float = 0.9) -> List[RunDiagnosis]:
    """The trained runs of ``runs`` whose t* at ``tol`` lies in the last ``1 - fraction`` of their
    budget (``t* >= fraction * steps``): they may not have peaked yet, so their t* (and c') is a
    lower bound."""
    fraction = _checks.real("fraction", fraction, minimum=0.0, maximum=1.0)
    if not all(isinstance(r, RunDiagnosis) for r in runs):
        raise _checks.bad_type("runs", "must hold RunDiagnosis (see diagnose)")
    if any(tol not in r.t_star for r in runs):
        raise _checks.bad_value("tol", f"{tol!r} is not one of the tolerances the runs were diagnosed at")
    return [r for r in runs if r.trained and r.t_star[tol] >= fraction * r.steps]


# --- The time to fit the training set (SM C.1) ------------------------------------------------

class FitTime(NamedTuple):
    """slowdown: the largest, over the learning rates, of steps to fit at the largest lam over
    steps at lam = 0; eta_spread: max / min over the learning rates of steps * eta at lam = 0
    (1 for an exact 1/eta law); n_unfit: runs that never fit; verdict."""

    slowdown: float
    eta_spread: float
    n_unfit: int
    verdict: Verdict


def fit_time(steps: Dict[tuple, float], *, mild: float = 2.0, band: float = 2.0) -> FitTime:
    """The verdict on SM C.1, "the steps to training accuracy 1 depend only mildly on lam and
    scale like 1/eta", from ``steps[(lam, eta)]`` (NaN: never fitted; lam = 0 needed at every
    eta, at least two etas and one lam > 0).

    Criterion: **reproduced** when every run fits, the largest lam takes at most ``mild`` (x2)
    times the steps of lam = 0 at every eta, and ``steps * eta`` at lam = 0 varies by at most
    ``band`` (x2) over the etas; **partly** when every run fits and one of the two holds;
    **not at this scale** otherwise.
    """
    if not isinstance(steps, dict) or not steps:
        raise _checks.bad_value("steps", "must be a non-empty dict (lam, eta) -> steps")
    mild, band = _checks.real("mild", mild, minimum=1.0), _checks.real("band", band, minimum=1.0)
    lams = sorted({float(k[0]) for k in steps})
    etas = sorted({float(k[1]) for k in steps})
    if len(etas) < 2 or lams[0] != 0.0 or len(lams) < 2 or len(steps) != len(lams) * len(etas):
        raise _checks.bad_value("steps", "needs every (lam, eta) of a grid with lam = 0, another lam, two etas")
    v = {(float(k[0]), float(k[1])): float(t) for k, t in steps.items()}
    n_unfit = sum(not math.isfinite(t) for t in v.values())
    slow = max(v[(lams[-1], e)] / v[(0.0, e)] for e in etas)
    prod = [v[(0.0, e)] * e for e in etas]
    spread_eta = max(prod) / min(prod)
    mild_ok, eta_ok = bool(slow <= mild), bool(spread_eta <= band)
    reason = (f"lam = {lams[-1]:g} takes up to x{slow:.2f} the steps of lam = 0 (at most x{mild:g}); "
              f"steps * eta varies x{spread_eta:.2f} over eta (at most x{band:g})")
    if n_unfit:
        word, reason = "not at this scale", f"{n_unfit} runs never fit"
    else:
        word = {2: "reproduced", 1: "partly", 0: "not at this scale"}[mild_ok + eta_ok]
    return FitTime(slow, spread_eta, n_unfit, Verdict(word, reason))


class FitLimit(NamedTuple):
    """lam_fits: the largest lam at which every run fits its training set (NaN: none);
    lam_never: the smallest lam at which no run does (NaN: none); verdict."""

    lam_fits: float
    lam_never: float
    verdict: Verdict


def fit_limit(fitted: Dict[float, Sequence[bool]]) -> FitLimit:
    """The verdict on "larger lam won't train" (Sec. 2) read as: above some lam the network no
    longer fits its training set. ``fitted[lam]``: one bool per run at that lam (seeds, learning
    rates): did it reach zero training error within its budget.

    Criterion: **reproduced** when the lams split cleanly: every run fits at every lam up to
    ``lam_fits`` and no run fits at any larger lam (and both sides are present); **partly** when
    some runs at the larger lams fit or some at the smaller do not, but a lam exists where none
    fits; **not at this scale** when every lam has a run that fits (the grid does not reach it).
    """
    if not isinstance(fitted, dict) or not fitted:
        raise _checks.bad_value("fitted", "must be a non-empty dict lam -> sequence of bools")
    frac = {}
    for lam, runs in fitted.items():
        runs = [_checks.boolean("fitted", x) for x in runs]
        if not runs:
            raise _checks.bad_value("fitted", f"lam {lam!r} has no runs")
        frac[_checks.nonneg_float("fitted", lam)] = sum(runs) / len(runs)
    lams = sorted(frac)
    all_fit = [lam for lam in lams if frac[lam] == 1.0]
    none_fit = [lam for lam in lams if frac[lam] == 0.0]
    lam_fits = max(all_fit) if all_fit else math.nan
    lam_never = min(none_fit) if none_fit else math.nan
    if not none_fit:
        return FitLimit(lam_fits, lam_never, Verdict("not at this scale", "a run fits at every lam of the grid"))
    clean = bool(all_fit) and all(frac[lam] == 1.0 for lam in lams if lam <= lam_fits) and all(
        frac[lam] == 0.0 for lam in lams if lam > lam_fits)
    if clean:
        return FitLimit(lam_fits, lam_never, Verdict(
            "reproduced", f"every run fits up to lam = {lam_fits:g}, none from lam = {lam_never:g}"))
    return FitLimit(lam_fits, lam_never, Verdict(
        "partly", f"no run fits from lam = {lam_never:g}, but the split below it is not clean"))


# --- Figure 1a: a budget T ~ 1/lam keeps the accuracy as lam shrinks, a fixed T does not -----------

class Plateau(NamedTuple):
    """lam: the smallest lam of both sets; scaled_drop, fixed_drop: the best accuracy of each set
    minus its accuracy at that lam; noise: the binomial standard error of the best accuracy on
    ``n_test`` images; verdict."""

    lam: float
    scaled_drop: float
    fixed_drop: float
    noise: float
    verdict: Verdict


def _accuracy(record: Any, statistic: str) -> float:
    if statistic == "peak":
        return float(record.peak_accuracy)
    acc = np.asarray(record.result.test_accuracy, np.float64)
    return float(acc[-1]) if acc.size and not record.result.diverged else math.nan


def plateau_verdict(scaled: Sequence[Any], fixed: Sequence[Any], n_test: int, *,
                    statistic: str = "final") -> Plateau:
    """Figure 1a (with ``statistic="final"``, the accuracy at the end of the run) or 2e/2f
    (``"peak"``): trained for ``T ~ 1/lam`` (``scaled`` records) the accuracy stays up as lam
    shrinks; trained for a fixed T (``fixed`` records) it falls below an optimal lam. One seed's
    runs: combine the seeds' verdicts with :func:`seeds_verdict`.

    Criterion, at the smallest lam both sets hold, with the drop of each set from its best
    accuracy to that lam's and two binomial standard errors on ``n_test`` test images as the
    noise: **reproduced** when the fixed T's drop exceeds the noise and the scaled T's does not;
    **partly** when only one of the two holds; **not at this scale** when neither does.
    """
    n_test = _checks.positive_int("n_test", n_test)
    statistic = _checks.one_of("statistic", statistic, ("final", "peak"))
    for name, rs in (("scaled", scaled), ("fixed", fixed)):
        if not isinstance(rs, (list, tuple)) or not rs or not all(hasattr(r, "config") for r in rs):
            raise _checks.bad_value(name, "must be a non-empty sequence of sweep records")
    if len({int(r.config.seed) for r in list(scaled) + list(fixed)}) > 1:
        raise _checks.bad_value("scaled", "must hold one seed's runs (judge each seed, then seeds_verdict)")
    acc = {name: {float(r.config.lam): _accuracy(r, statistic) for r in rs}
           for name, rs in (("scaled", scaled), ("fixed", fixed))}
    common = sorted(set(acc["scaled"]) & set(acc["fixed"]))
    if not common:
        raise _checks.bad_value("fixed", "no lam of `scaled` has a fixed-budget run")
    lam = common[0]
    best = {k: max(v for v in a.values() if math.isfinite(v)) for k, a in acc.items()}
    drop = {k: best[k] - acc[k][lam] for k in acc}
    noise = accuracy_noise(min(max(best.values()), 1.0), n_test)
    fixed_loses, scaled_keeps = bool(drop["fixed"] > 2 * noise), bool(drop["scaled"] <= 2 * noise)
    word = {2: "reproduced", 1: "partly", 0: "not at this scale"}[fixed_loses + scaled_keeps]
    reason = (f"from its best to lam = {lam:g} the {statistic} accuracy drops {drop['fixed']:.2%} with the "
              f"fixed T and {drop['scaled']:.2%} with T ~ 1/lam (two standard errors: {2 * noise:.2%})")
    return Plateau(lam, drop["scaled"], drop["fixed"], noise, Verdict(word, reason))
