"""Tuning lam by a sweep, per training budget, and testing the prediction against it (Sec. 3).

The paper's Figures 1b, 4b, S3 and S4 compare, for each training budget ``T``, the lam that a
sweep finds best with ``lam_pred = c/T`` (``c/T1`` with a learning-rate schedule) and ``2c/T``
(SM C.3). Performance at a budget is "the maximum performance during training" (SM A), i.e. the
peak test accuracy within the first ``T`` steps.

* :func:`tuning_sweep` -- the sweep for several budgets: with a constant learning rate one run per
  lam of the longest budget gives every shorter one for free (:func:`l2lab.sweep.truncate`); with
  the paper's schedule (which depends on ``T``) one sweep per budget.
* :func:`predicted_runs` -- one run per budget at each predicted lam.
* :func:`fixed_budget_runs` -- a sweep's configurations at one fixed budget, cut from longer
  runs where there are some (Figure 2b/2c's fixed budget), trained only where there are none.
* :func:`tuned_lambda` -- the best lam of a sweep at one budget, with the band of lams within
  ``band`` of the best accuracy (Figure 4b's error bars: 0.1%).
* :func:`compare` / :func:`comparison_table` -- tuned against predicted, per budget, with the cost
  of the prediction as a fraction of the sweep it replaces.
* :func:`prediction_verdict` -- the paper's claim for ``factor * c/T``: the tuned accuracy
  within 0.4% at every budget.
* :func:`autol2_verdict` -- Figure 1c: AutoL2 as good as the tuned constant lam, per initial lam.
* :func:`budget_verdict` -- Figures 2b/2c: what a fixed budget costs the smallest lam against
  a budget proportional to 1/(eta lam).
* :func:`autol2_runs`, :func:`compare_autol2` / :func:`autol2_table` -- AutoL2 (SM E) against the
  best constant lam of a sweep at the same budget (Figures 1c, S9-S11).
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from l2lab import _checks
from l2lab import engine as _sweep
from l2lab.applications import predict as _predict

__all__ = ["TunedLambda", "tuned_lambda", "tuning_sweep", "predicted_runs", "fixed_budget_runs", "Comparison",
           "compare", "comparison_table", "summary", "autol2_runs", "AutoL2Comparison", "compare_autol2",
           "autol2_table", "BAND", "BudgetVerdict", "budget_verdict", "PredictionVerdict",
           "prediction_verdict", "autol2_verdict"]

BAND = 0.001     # Figure 4b: "the spread of values that achieve within 0.1% of the optimal test accuracy"


class TunedLambda(NamedTuple):
    """Best lam of a sweep at one budget. lam, accuracy: the best; low, high: the smallest and
    largest lam whose accuracy is within ``band`` of the best; lams, accuracies: (L,) the sweep,
    sorted by lam (NaN = diverged)."""

    lam: float
    accuracy: float
    low: float
    high: float
    lams: np.ndarray
    accuracies: np.ndarray


def tuned_lambda(lams, accuracies, band: float = BAND) -> TunedLambda:
    """The lam of highest accuracy and the band of lams within ``band`` (absolute, >= 0) of it.

    lams: (L,) distinct L2 parameters >= 0; accuracies: (L,) their accuracies (NaN for a diverged
    run is ignored). ValueError if no accuracy is finite.
    """
    lam = _checks.curve("lams", lams)
    acc = _checks.curve("accuracies", accuracies)
    _checks.same_length("lams", lam, "accuracies", acc)
    band = _checks.nonneg_float("band", band)
    if np.any(~np.isfinite(lam)) or np.any(lam < 0) or len(np.unique(lam)) != len(lam):
        raise _checks.bad_value("lams", "must be distinct finite numbers >= 0")
    finite = np.isfinite(acc)
    if not finite.any():
        raise _checks.bad_value("accuracies", "has no finite entry (every run diverged)")
    order = np.argsort(lam)
    lam, acc, finite = lam[order], acc[order], finite[order]
    best = int(np.nanargmax(np.where(finite, acc, -np.inf)))
    within = lam[finite & (acc >= acc[best] - band)]
    return TunedLambda(float(lam[best]), float(acc[best]), float(within.min()), float(within.max()), lam, acc)


def _budgets(budgets) -> Tuple[int, ...]:
    if isinstance(budgets, (str, bytes)) or not hasattr(budgets, "__iter__"):
        raise _checks.bad_type("budgets", f"must be a sequence of step counts, got {budgets!r}")
    out = tuple(_checks.positive_int("budgets", b) for b in budgets)
    if not out or len(set(out)) != len(out):
        raise _checks.bad_value("budgets", f"must be distinct step counts, at least one, got {budgets!r}")
    return tuple(sorted(out))


def tuning_sweep(spec: _sweep.SweepSpec, budgets: Sequence[int], runs_dir, *, train_ds=None,
                 test_ds=None, progress: bool = False) -> Dict[int, List[_sweep.Record]]:
    """Train ``spec`` (its etas x lams) for every budget in ``budgets`` (steps) and return
    ``{T: records}``, each record as if trained for ``T`` steps.

    Constant learning rate: one sweep with ``budget="steps:max(budgets)"``, truncated to each
    budget. ``spec.schedule == "paper"``: one sweep per budget. Each sweep lives in
    ``runs_dir/tune-<spec_id>`` and resumes from there (:func:`l2lab.sweep.run_sweep`, which
    also takes ``train_ds``/``test_ds``: your own data instead of the spec's dataset).
    """
    if not isinstance(spec, _sweep.SweepSpec):
        raise _checks.bad_type("spec", f"must be a SweepSpec, got {type(spec).__name__}")
    budgets = _budgets(budgets)
    runs_dir = _checks.path("runs_dir", runs_dir)
    _checks.boolean("progress", progress)

    def run(steps: int) -> List[_sweep.Record]:
        s = spec._replace(budget=f"steps:{steps}")
        return _sweep.run_sweep(s, runs_dir / f"tune-{_sweep.spec_id(s)}", train_ds=train_ds,
                                test_ds=test_ds, progress=progress)

    if spec.schedule == "constant":
        longest = run(budgets[-1])
        return {t: [_sweep.truncate(r, t) for r in longest] for t in budgets}
    return {t: run(t) for t in budgets}


def fixed_budget_runs(spec: _sweep.SweepSpec, longer: Sequence[_sweep.Record], steps: int, runs_dir, *,
                      train_ds=None, test_ds=None, progress: bool = False) -> List[_sweep.Record]:
    """Every configuration of ``spec`` (its etas x lams) trained for ``steps`` steps, sorted by
    (eta, lam).

    A configuration with a run in ``longer`` (records of the same setup, matched by eta, lam and
    seed) of at least ``steps`` steps is that run cut at ``steps`` (:func:`l2lab.sweep.truncate`:
    with a constant learning rate, the same records as training it for ``steps``); the others are
    one sweep of their lams, ``runs_dir/fixed-<spec_id>`` (resumable). ``spec.schedule`` must be
    ``"constant"``. train_ds, test_ds: as in :func:`tuning_sweep`.
    """
    if not isinstance(spec, _sweep.SweepSpec):
        raise _checks.bad_type("spec", f"must be a SweepSpec, got {type(spec).__name__}")
    if spec.schedule != "constant":
        raise _checks.bad_value("spec", f"must have a constant learning rate, got schedule {spec.schedule!r} "
                                        "(its runs depend on the budget: use tuning_sweep)")
    steps = _checks.positive_int("steps", steps)
    runs_dir = _checks.path("runs_dir", runs_dir)
    if not all(isinstance(r, _sweep.Record) for r in longer):
        raise _checks.bad_type("longer", "must be a sequence of sweep Records")
    fixed = spec._replace(budget=f"steps:{steps}")
    wanted = {(c.eta, c.lam, c.seed): c for c in _sweep.expand(fixed)[0]}
    cut = {}
    for r in longer:
        key = (r.config.eta, r.config.lam, r.config.seed)
        if key in wanted and r.config.steps >= steps:
            if r.config._replace(steps=steps) != wanted[key]:
                raise _checks.bad_value("longer", f"run {r.id} is not a run of spec's setup: {r.config} "
                                                  f"against {wanted[key]}")
            cut[key] = _sweep.truncate(r, steps)
    rest = sorted({k[1] for k in wanted if k not in cut})
    out = list(cut.values())
    if rest:
        todo = fixed._replace(lams=tuple(rest))
        trained = _sweep.run_sweep(todo, runs_dir / f"fixed-{_sweep.spec_id(todo)}", train_ds=train_ds,
                                   test_ds=test_ds, progress=progress)
        out += [r for r in trained if (r.config.eta, r.config.lam, r.config.seed) not in cut]
    return sorted(out, key=lambda r: (r.config.eta, r.config.lam, r.config.seed))


def _predicted_lams(c: float, t: int, schedule: str, factors: Sequence[float]) -> Tuple[float, ...]:
    first = _predict.first_decay_step(t, schedule) if schedule == "paper" else None
    return tuple(_predict.predict_lambda(f * c, t, first) for f in factors)


def predicted_runs(spec: _sweep.SweepSpec, c: float, budgets: Sequence[int], runs_dir, *,
                   factors: Sequence[float] = (1.0, 2.0), train_ds=None, test_ds=None,
                   progress: bool = False) -> Dict[Tuple[int, float], _sweep.Record]:
    """One run of ``T`` steps at ``lam = f c / T`` (``f c / T1`` with the paper's schedule, see
    :func:`l2lab.predict.first_decay_step`) for every budget ``T`` and factor ``f``, at the
    single learning rate of ``spec``. Returns ``{(T, f): record}``. train_ds, test_ds: as in
    :func:`tuning_sweep`.
    """
    if not isinstance(spec, _sweep.SweepSpec) or len(spec.etas) != 1:
        raise _checks.bad_value("spec", "must be a SweepSpec with one learning rate (etas of length 1)")
    c = _checks.positive_float("c", c)
    budgets = _budgets(budgets)
    factors = tuple(_checks.positive_float("factors", f) for f in factors)
    if not factors or len(set(factors)) != len(factors):
        raise _checks.bad_value("factors", f"must be distinct positive numbers, got {factors!r}")
    runs_dir = _checks.path("runs_dir", runs_dir)
    out = {}
    for t in budgets:
        lams = _predicted_lams(c, t, spec.schedule, factors)
        s = spec._replace(lams=lams, budget=f"steps:{t}")
        recs = _sweep.run_sweep(s, runs_dir / f"pred-{_sweep.spec_id(s)}", train_ds=train_ds,
                                test_ds=test_ds, progress=progress)
        by_lam = {r.config.lam: r for r in recs}
        out.update({(t, f): by_lam[lam] for f, lam in zip(factors, lams)})
    return out


class Comparison(NamedTuple):
    """One budget: ``tuned`` (:class:`TunedLambda`), and for each factor f (1: c/T, 2: 2c/T) the
    predicted lam and its peak accuracy within the budget; ``sweep_steps``: the SGD steps of a
    sweep that tunes lam at this budget alone (lams x T)."""

    budget: int
    tuned: TunedLambda
    predicted_lam: Dict[float, float]
    predicted_accuracy: Dict[float, float]
    sweep_steps: int


def compare(tuning: Dict[int, List[_sweep.Record]], predicted: Dict[Tuple[int, float], _sweep.Record],
            band: float = BAND) -> List[Comparison]:
    """Tuned against predicted lam per budget, from :func:`tuning_sweep` and :func:`predicted_runs`."""
    if not isinstance(tuning, dict) or not tuning:
        raise _checks.bad_type("tuning", "must be the non-empty dict of tuning_sweep")
    rows = []
    for t in sorted(tuning):
        recs = tuning[t]
        tuned = tuned_lambda([r.config.lam for r in recs], [r.peak_accuracy for r in recs], band)
        mine = {f: r for (tt, f), r in predicted.items() if tt == t}
        rows.append(Comparison(t, tuned, {f: r.config.lam for f, r in mine.items()},
                               {f: r.peak_accuracy for f, r in mine.items()}, len(recs) * int(t)))
    return rows


def comparison_table(rows: Sequence[Comparison], measurement_steps: int, budget_name: str = "T") -> str:
    """The comparison as text: per budget the tuned lam (band), its accuracy, c/T and 2c/T with
    their accuracies, and ``measurement_steps`` (of :func:`l2lab.predict.measure_c`) over the
    sweep's steps. ``budget_name`` labels the prediction's denominator (``"T1"`` with a schedule)."""
    measurement_steps = _checks.positive_int("measurement_steps", measurement_steps)
    budget_name = _checks.string("budget_name", budget_name, nonempty=True)
    head = (f"{'T':>6}  {'tuned lam':>9} {'(band)':>19}  {'acc':>6}  "
            f"{'c/' + budget_name:>8} {'acc':>6}  {'2c/' + budget_name:>8} {'acc':>6}  {'cost/sweep':>10}")
    lines = [head]
    for r in rows:
        band = f"[{r.tuned.low:.2g}, {r.tuned.high:.2g}]"
        p1, p2 = r.predicted_lam.get(1.0, np.nan), r.predicted_lam.get(2.0, np.nan)
        a1, a2 = r.predicted_accuracy.get(1.0, np.nan), r.predicted_accuracy.get(2.0, np.nan)
        lines.append(f"{r.budget:>6}  {r.tuned.lam:>9.2g} {band:>19}  {r.tuned.accuracy:6.4f}  "
                     f"{p1:8.2g} {a1:6.4f}  {p2:8.2g} {a2:6.4f}  {measurement_steps / r.sweep_steps:10.3g}")
    return "\n".join(lines)


def summary(rows: Sequence[Comparison], factor: float = 1.0, *, within: float = 0.004,
            name: str = "c/T") -> str:
    """The paper's two claims about the prediction ``factor * c/T``, checked per budget: within
    an order of magnitude of the tuned lam (Sec. 3, Figure 4b), and an accuracy within ``within``
    of the tuned one (Figure 1b: 0.4%). One line, e.g. ``"c/T: within 10x of the tuned lam at
    5 of 6 budgets (...), accuracy within 0.4% at 4 of 6 (...)"``."""
    rows = list(rows)
    if not rows:
        raise _checks.bad_value("rows", "must hold at least one Comparison")
    factor = _checks.positive_float("factor", factor)
    within = _checks.nonneg_float("within", within)
    ratio = np.array([r.predicted_lam[factor] / r.tuned.lam if r.tuned.lam > 0 else np.inf for r in rows])
    loss = np.array([r.tuned.accuracy - r.predicted_accuracy[factor] for r in rows])
    near, close = (ratio <= 10) & (ratio >= 0.1), loss <= within
    t = [r.budget for r in rows]
    return (f"{name}: within 10x of the tuned lam at {near.sum()} of {len(rows)} budgets "
            f"(pred/tuned {', '.join(f'{x:.2g}' for x in ratio)} at T = {', '.join(map(str, t))}); "
            f"accuracy within {within:.1%} of the tuned one at {close.sum()} of {len(rows)} "
            f"(losses {', '.join(f'{x:+.2%}' for x in loss)})")


# ----------------------------------------------------------------------------- AutoL2 against the sweep

def autol2_runs(spec: _sweep.SweepSpec, inits: Sequence[float], budget: int, runs_dir, *,
                train_ds=None, test_ds=None, progress: bool = False) -> List[_sweep.Record]:
    """AutoL2 (:mod:`l2lab.autol2`, measurements every ``spec.autol2_every`` steps) from each
    initial lam in ``inits`` for ``budget`` steps, at the etas of ``spec``; records carry the
    lam curve and its changes. Sweep folder ``runs_dir/autol2-<spec_id>`` (resumable);
    train_ds, test_ds: as in :func:`tuning_sweep`."""
    if not isinstance(spec, _sweep.SweepSpec):
        raise _checks.bad_type("spec", f"must be a SweepSpec, got {type(spec).__name__}")
    inits = tuple(_checks.positive_float("inits", v) for v in inits)
    if not inits:
        raise _checks.bad_value("inits", "must hold at least one initial lam")
    budget = _checks.positive_int("budget", budget)
    runs_dir = _checks.path("runs_dir", runs_dir)
    s = spec._replace(lams=inits, lam_schedule="autol2", budget=f"steps:{budget}")
    return _sweep.run_sweep(s, runs_dir / f"autol2-{_sweep.spec_id(s)}", train_ds=train_ds,
                            test_ds=test_ds, progress=progress)


class AutoL2Comparison(NamedTuple):
    """AutoL2 against the best constant lam at the same budget. best_lam, best_accuracy,
    best_t_star: the constant run of highest peak accuracy (t* within its record's tolerance);
    auto_init, auto_accuracy, auto_t_star: the AutoL2 run; steps_to_best: first measured step at
    which AutoL2 reaches ``best_accuracy`` (NaN: never within the budget); final_lam: AutoL2's
    last lam; changes: the steps at which it decayed lam; best_shrink, auto_shrink: the
    smallest ``||theta||`` of each run over its initial one (how far L2 shrank the weights)."""

    best_lam: float
    best_accuracy: float
    best_t_star: float
    auto_init: float
    auto_accuracy: float
    auto_t_star: float
    steps_to_best: float
    final_lam: float
    changes: np.ndarray
    best_shrink: float
    auto_shrink: float


def _shrink(record: _sweep.Record) -> float:
    norm = np.asarray(record.result.param_norm, float)
    return float(np.nanmin(norm) / norm[0]) if norm.size and norm[0] > 0 else float("nan")


def compare_autol2(constant: Sequence[_sweep.Record], auto: _sweep.Record) -> AutoL2Comparison:
    """:class:`AutoL2Comparison` of an AutoL2 record with constant-lam records of its budget."""
    from l2lab import measure as _measure

    if not constant:
        raise _checks.bad_value("constant", "must hold at least one constant-lam record")
    if not isinstance(auto, _sweep.Record) or auto.config.lam_schedule != "autol2" or auto.result.lam is None:
        raise _checks.bad_type("auto", "must be a sweep record of an AutoL2 run (with a lam curve)")
    ok = [r for r in constant if np.isfinite(r.peak_accuracy)]
    if not ok:
        raise _checks.bad_value("constant", "every run diverged")
    best = max(ok, key=lambda r: r.peak_accuracy)
    res = auto.result
    reach = _measure.steps_to_reach(res.steps, res.test_accuracy, best.peak_accuracy)
    return AutoL2Comparison(float(best.config.lam), float(best.peak_accuracy), float(best.t_star),
                            float(auto.config.lam), float(auto.peak_accuracy), float(auto.t_star),
                            reach, float(res.lam[-1]), np.asarray(res.lam_changes), _shrink(best),
                            _shrink(auto))


def autol2_table(comparisons: Dict[str, AutoL2Comparison]) -> str:
    """``name -> comparison`` as text, one line each."""
    if not isinstance(comparisons, dict) or not comparisons:
        raise _checks.bad_type("comparisons", "must be a non-empty dict name -> AutoL2Comparison")
    w = max(len(n) for n in comparisons)
    lines = [f"{'':<{w}}  {'best constant lam':<27} | AutoL2",
             f"{'':<{w}}  {'lam':>7} {'acc':>6} {'t*':>5} {'shrink':>6} | {'acc':>6} {'t*':>5} {'shrink':>6} "
             f"{'reaches best at':>15}  lam decays at"]
    for name, c in comparisons.items():
        reach = "never" if not np.isfinite(c.steps_to_best) else f"{c.steps_to_best:.0f}"
        lines.append(f"{name:<{w}}  {c.best_lam:>7.2g} {c.best_accuracy:6.4f} {c.best_t_star:5.0f} "
                     f"{c.best_shrink:6.2f} | {c.auto_accuracy:6.4f} {c.auto_t_star:5.0f} {c.auto_shrink:6.2f} "
                     f"{reach:>15}  {', '.join(str(int(s)) for s in c.changes) or '-'}")
    lines.append("shrink: smallest ||theta|| / initial; reaches best at: AutoL2's first step at the "
                 "best constant accuracy")
    return "\n".join(lines)


class BudgetVerdict(NamedTuple):
    """:func:`budget_verdict`'s answer: ``word`` (reproduced / partly / not at this scale),
    ``reason`` (a phrase with the numbers), ``lam`` (the lam compared), ``loss`` (its peak accuracy
    with the scaled budget minus with the fixed one), ``noise`` (the binomial standard error)."""
    word: str
    reason: str
    lam: float
    loss: float
    noise: float


def budget_verdict(scaled: Sequence[_sweep.Record], fixed: Sequence[_sweep.Record],
                   n_test: int) -> BudgetVerdict:
    """Figures 2b/2c: with a budget ``t = c/(eta lam)`` a small lam reaches its (higher) peak; a
    fixed budget stops it before the peak and loses accuracy.

    Criterion, at the smallest lam that both lists hold: ``loss`` = peak accuracy of its
    ``scaled`` run minus that of its ``fixed`` run. *reproduced* when ``loss`` exceeds two
    standard errors of a test accuracy on ``n_test`` images (binomial, at the scaled peak),
    *partly* when it is positive but within that, *not at this scale* otherwise."""
    from l2lab.studies import collapse

    n_test = _checks.positive_int("n_test", n_test)
    by_lam = {float(r.config.lam): r for r in fixed}
    common = sorted(lam for lam in (float(r.config.lam) for r in scaled) if lam in by_lam)
    if not common:
        raise _checks.bad_value("fixed", "no lam of `scaled` has a fixed-budget run")
    lam = common[0]
    long = next(r for r in scaled if float(r.config.lam) == lam)
    loss = float(long.peak_accuracy - by_lam[lam].peak_accuracy)
    noise = collapse.accuracy_noise(float(long.peak_accuracy), n_test)
    if loss > 2 * noise:
        word = "reproduced"
    elif loss > 0:
        word = "partly"
    else:
        word = "not at this scale"
    reason = (f"the fixed budget costs lam = {lam:.0e} {loss:.2%} of test accuracy "
              f"(two standard errors: {2 * noise:.2%})")
    return BudgetVerdict(word, reason, lam, loss, noise)


class PredictionVerdict(NamedTuple):
    """:func:`prediction_verdict`'s answer: ``word``, ``close`` (budgets within ``within`` of the
    tuned accuracy), ``near`` (budgets whose predicted lam is within 10x of the tuned one),
    ``n`` (budgets), ``worst`` (the largest accuracy loss)."""
    word: str
    close: int
    near: int
    n: int
    worst: float


def prediction_verdict(rows: Sequence[Comparison], factor: float = 1.0, *,
                       within: float = 0.004) -> PredictionVerdict:
    """The paper's claim for ``factor * c/T`` (Figure 1b: "within 0.4% of the tuned accuracy";
    Figure 4b: within an order of magnitude of the tuned lam), over the budgets of ``rows``.

    Criterion (on the accuracy, what a user of the prediction gets): *reproduced* when the
    accuracy at the predicted lam is within ``within`` of the tuned one at every budget,
    *partly* when at least half of them, *not at this scale* otherwise. ``near`` counts the
    budgets within 10x in lam, for the record."""
    rows = list(rows)
    if not rows:
        raise _checks.bad_value("rows", "must hold at least one Comparison")
    factor = _checks.positive_float("factor", factor)
    within = _checks.nonneg_float("within", within)
    loss = np.array([r.tuned.accuracy - r.predicted_accuracy[factor] for r in rows])
    ratio = np.array([r.predicted_lam[factor] / r.tuned.lam for r in rows])
    close, near, n = int(np.sum(loss <= within)), int(np.sum((ratio >= 0.1) & (ratio <= 10))), len(rows)
    word = "reproduced" if close == n else "partly" if 2 * close >= n else "not at this scale"
    return PredictionVerdict(word, close, near, n, float(loss.max()))


def autol2_verdict(gaps: Dict[float, Sequence[float]], spread: float, paper_init: float = 0.1) -> str:
    """Figure 1c (and S9-S11): AutoL2, started from a large lam, reaches the accuracy of the tuned
    constant lam. ``gaps``: for each initial lam, AutoL2's peak accuracy minus the best constant
    one's, one value per seed; ``spread``: the seeds' own spread of that best accuracy.

    Criterion: an initial lam *matches* when every seed's gap is at least ``-spread`` (AutoL2
    no further below than the seeds scatter). *reproduced* when ``paper_init`` (the paper's 0.1)
    matches, *partly* when another initial lam does, *not at this scale* when none does."""
    if not isinstance(gaps, dict) or not gaps:
        raise _checks.bad_value("gaps", "must be a non-empty dict {initial lam: [gap per seed]}")
    spread = _checks.nonneg_float("spread", spread)
    matches = {float(k): bool(np.all(np.asarray(v, float) >= -spread)) for k, v in gaps.items()}
    if matches.get(float(paper_init)):
        return "reproduced"
    return "partly" if any(matches.values()) else "not at this scale"
