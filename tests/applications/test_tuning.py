"""l2lab.tuning and l2lab.application_figures: the tuned lam and its band on hand-made
accuracies; the budget sweep against independent runs of each budget (truncation for a constant
learning rate, one sweep per budget with the paper's schedule); the predicted runs at c/T, 2c/T
and c/T1; AutoL2 against constant lam; the figures drawn from those results."""
import numpy as np
import pytest

from l2lab import application_figures as F
from l2lab import measure as Me
from l2lab import predict as P
from l2lab import sweep as S
from l2lab import tuning as U
from toy_data import toy as _toy


SPEC = S.SweepSpec(arch="fc", model_kwargs={"widths": (8, 8)}, etas=(2.0,), lams=(0.003, 0.03, 0.1),
                   budget="steps:10", batch_size=64, points_per_octave=4, bucket=4.0)
DATA = dict(zip(("train_ds", "test_ds"), _toy()))


# ----------------------------------------------------------------------------- tuned_lambda

def test_tuned_lambda_best_and_band():
    lams, acc = [1e-2, 1e-4, 1e-3, 3e-3], [0.80, 0.895, 0.90, 0.8995]
    t = U.tuned_lambda(lams, acc)                         # band 0.001: 3e-3 (0.8995) is inside
    assert (t.lam, t.accuracy, t.low, t.high) == (1e-3, 0.90, 1e-3, 3e-3)
    np.testing.assert_array_equal(t.lams, [1e-4, 1e-3, 3e-3, 1e-2])       # sorted by lam
    np.testing.assert_array_equal(t.accuracies, [0.895, 0.90, 0.8995, 0.80])
    wide = U.tuned_lambda(lams, acc, band=0.01)
    assert (wide.low, wide.high) == (1e-4, 3e-3)
    exact = U.tuned_lambda(lams, acc, band=0.0)
    assert exact.low == exact.high == 1e-3
    nan = U.tuned_lambda([1e-3, 1e-2], [np.nan, 0.5])    # a diverged run is ignored
    assert (nan.lam, nan.low, nan.high) == (1e-2, 1e-2, 1e-2)
    assert U.tuned_lambda([0.0, 1e-3], [0.7, 0.6]).lam == 0.0


@pytest.mark.parametrize("args, kw, name", [
    (([1e-3, 1e-3], [0.5, 0.6]), {}, "lams"), (([-1e-3], [0.5]), {}, "lams"),
    (([np.nan], [0.5]), {}, "lams"), (([1e-3, 1e-2], [0.5]), {}, "accuracies"),
    (([1e-3], [np.nan]), {}, "accuracies"), (([1e-3], [0.5]), {"band": -0.1}, "band"),
    (([], []), {}, "lams"),
])
def test_tuned_lambda_bad(args, kw, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        U.tuned_lambda(*args, **kw)


def test_steps_to_reach():
    s, a = [0, 5, 10, 20], [0.1, np.nan, 0.7, 0.9]
    assert Me.steps_to_reach(s, a, 0.7) == 10.0
    assert Me.steps_to_reach(s, a, 0.05) == 0.0
    assert np.isnan(Me.steps_to_reach(s, a, 0.95))
    with pytest.raises(ValueError, match="`target`"):
        Me.steps_to_reach(s, a, np.nan)
    with pytest.raises(ValueError, match="`acc`"):
        Me.steps_to_reach(s, a[:2], 0.5)


# ----------------------------------------------------------------------------- sweeps

def test_constant_budgets_are_the_runs_of_each_budget(tmp_path):
    tuned = U.tuning_sweep(SPEC, (12, 3, 6), tmp_path, progress=False, **DATA)
    assert sorted(tuned) == [3, 6, 12]
    assert len(list(tmp_path.glob("tune-*"))) == 1         # one sweep of the longest budget
    for t in (3, 12):                                       # independent: a sweep of budget t
        own = S.run_sweep(SPEC._replace(budget=f"steps:{t}"), tmp_path / f"own{t}", progress=False, **DATA)
        for a, b in zip(sorted(tuned[t], key=lambda r: r.config.lam), sorted(own, key=lambda r: r.config.lam)):
            assert a.config.lam == b.config.lam and a.result.steps[-1] <= t
            np.testing.assert_allclose(a.result.test_accuracy, b.result.test_accuracy, atol=1e-6)
            assert a.peak_accuracy == pytest.approx(b.peak_accuracy, abs=1e-6)


def test_schedule_budgets_are_separate_sweeps_and_predictions_use_t1(tmp_path):
    spec = SPEC._replace(schedule="paper")
    tuned = U.tuning_sweep(spec, (10, 20), tmp_path, **DATA)
    assert len(list(tmp_path.glob("tune-*"))) == 2
    assert {t: {r.config.steps for r in rs} for t, rs in tuned.items()} == {10: {10}, 20: {20}}
    pred = U.predicted_runs(spec, 0.3, (10, 20), tmp_path, **DATA)
    for t in (10, 20):
        t1 = P.first_decay_step(t)                          # ceil(0.3 T): 3 and 6
        assert t1 == int(np.ceil(0.3 * t))
        assert pred[(t, 1.0)].config.lam == pytest.approx(0.3 / t1)
        assert pred[(t, 2.0)].config.lam == pytest.approx(0.6 / t1)
        assert pred[(t, 1.0)].config.steps == t and pred[(t, 1.0)].config.schedule == "paper"
    rows = U.compare(tuned, pred)
    assert [r.budget for r in rows] == [10, 20]
    for r in rows:
        want = U.tuned_lambda([x.config.lam for x in tuned[r.budget]], [x.peak_accuracy for x in tuned[r.budget]])
        assert r.tuned.lam == want.lam and r.sweep_steps == 3 * r.budget
        assert r.predicted_accuracy[1.0] == pred[(r.budget, 1.0)].peak_accuracy
    table = U.comparison_table(rows, 4, budget_name="T1")
    assert "c/T1" in table and table.splitlines()[1].split()[-1] == f"{4 / 30:.3g}"
    for fig in (F.accuracy_vs_lambda_figure(rows), F.tuned_vs_predicted_figure(rows, budget_name="T1"),
                F.accuracy_vs_budget_figure(rows)):
        assert len(fig.data) >= 2
    bars = F.tuned_vs_predicted_figure(rows).data[0]
    np.testing.assert_allclose(np.asarray(bars.y) + bars.error_y.array, [r.tuned.high for r in rows])


def test_predicted_runs_constant(tmp_path):
    pred = U.predicted_runs(SPEC, 0.12, (4, 8), tmp_path, factors=(1.0, 2.0, 0.5), **DATA)
    assert {k: round(r.config.lam, 9) for k, r in pred.items()} == {
        (4, 1.0): 0.03, (4, 2.0): 0.06, (4, 0.5): 0.015, (8, 1.0): 0.015, (8, 2.0): 0.03, (8, 0.5): 0.0075}
    assert {r.config.steps for k, r in pred.items() if k[0] == 8} == {8}


def test_fixed_budget_cuts_longer_runs_and_trains_the_rest(tmp_path):
    long = S.run_sweep(SPEC._replace(budget="etalam:0.12"), tmp_path / "long", progress=False, **DATA)
    assert sorted(r.config.steps for r in long) == [1, 2, 20]          # 0.12/(2 lam)
    fixed = U.fixed_budget_runs(SPEC, long, 6, tmp_path, **DATA)
    trained, = tmp_path.glob("fixed-*")                                # only lams 0.03 and 0.1
    assert sorted(r.config.lam for r in S.load_sweep(trained)) == [0.03, 0.1]
    own = S.run_sweep(SPEC._replace(budget="steps:6"), tmp_path / "own", progress=False, **DATA)
    assert [r.config.lam for r in fixed] == sorted(SPEC.lams)
    for a, b in zip(fixed, sorted(own, key=lambda r: r.config.lam)):  # as if trained for 6 steps
        assert a.config == b.config
        np.testing.assert_array_equal(a.result.steps, b.result.steps)
        np.testing.assert_allclose(a.result.test_accuracy, b.result.test_accuracy, atol=1e-6)
        assert a.peak_accuracy == pytest.approx(b.peak_accuracy, abs=1e-6)
    with pytest.raises(ValueError, match="`longer`"):                  # runs of another setup
        U.fixed_budget_runs(SPEC._replace(points_per_octave=8), long, 6, tmp_path, **DATA)
    with pytest.raises(ValueError, match="`spec`"):
        U.fixed_budget_runs(SPEC._replace(schedule="paper"), long, 6, tmp_path, **DATA)


@pytest.mark.parametrize("call, name", [
    (lambda d: U.tuning_sweep(SPEC, (), d), "budgets"), (lambda d: U.tuning_sweep(SPEC, (5, 5), d), "budgets"),
    (lambda d: U.tuning_sweep(SPEC, (0,), d), "budgets"), (lambda d: U.tuning_sweep("fc", (5,), d), "spec"),
    (lambda d: U.predicted_runs(SPEC._replace(etas=(1.0, 2.0)), 0.1, (5,), d), "spec"),
    (lambda d: U.predicted_runs(SPEC, -0.1, (5,), d), "c"),
    (lambda d: U.predicted_runs(SPEC, 0.1, (5,), d, factors=()), "factors"),
    (lambda d: U.autol2_runs(SPEC, (), 5, d), "inits"), (lambda d: U.autol2_runs(SPEC, (0.1,), 0, d), "budget"),
    (lambda d: U.comparison_table([], 0), "measurement_steps"),
])
def test_bad_arguments_name_themselves(tmp_path, call, name):
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        call(tmp_path)


def test_autol2_against_constant(tmp_path):
    const = U.tuning_sweep(SPEC, (40,), tmp_path, **DATA)[40]
    auto, = U.autol2_runs(SPEC._replace(autol2_every=2), (0.1,), 40, tmp_path, **DATA)
    assert auto.config.lam_schedule == "autol2" and auto.result.lam is not None
    c = U.compare_autol2(const, auto)
    best = max(const, key=lambda r: r.peak_accuracy)
    assert (c.best_lam, c.best_accuracy) == (best.config.lam, best.peak_accuracy)
    hit = np.flatnonzero(auto.result.test_accuracy >= best.peak_accuracy)     # a second reading
    assert (np.isnan(c.steps_to_best) and hit.size == 0) or c.steps_to_best == auto.result.steps[hit[0]]
    assert c.final_lam == auto.result.lam[-1] == pytest.approx(0.1 / 10.0 ** len(c.changes), rel=1e-6)
    text = U.autol2_table({"toy": c})
    assert text.splitlines()[2].startswith("toy") and f"{c.auto_accuracy:.4f}" in text.splitlines()[2]
    norm = auto.result.param_norm
    assert c.auto_shrink == pytest.approx(norm.min() / norm[0]) and 0 < c.auto_shrink <= 1
    fig = F.autol2_figure(const, [auto], title="toy")
    assert [t.yaxis for t in fig.data][-1] == "y2" and len(fig.data) == len(const) + 2
    with pytest.raises(TypeError, match="`auto`"):
        U.compare_autol2(const, const[0])
    with pytest.raises(ValueError, match="`auto`"):
        F.autol2_figure(const, const)


def test_measurement_figure_marks_c():
    steps = np.array([0, 1, 2, 4, 8, 16])
    acc = np.array([0.1, 0.3, 0.6, 0.8, 0.7, 0.6])
    curve = type("C", (), {"steps": steps, "test_accuracy": acc})()
    m = P.CMeasurement(c=0.04, c_prime=0.08, t_star=4.0, peak_accuracy=0.8, eta=2.0, lam=0.01, momentum=0.0,
                       tol=0.005, curve=curve, steps_run=16, wall_time=1.0, certain=True,
                       hit_max_steps=False, diverged=False)
    fig = F.measurement_figure(m)
    np.testing.assert_allclose(fig.data[0].x, np.maximum(steps, 0.5) * 0.01)
    assert fig.layout.shapes[0].x0 == 0.04
    with pytest.raises(TypeError, match="`m`"):
        F.measurement_figure(object())


def test_summary_checks_the_papers_two_claims():
    t = U.tuned_lambda([1e-3, 1e-2], [0.9, 0.8])
    rows = [U.Comparison(100, t, {1.0: 2e-3, 2.0: 4e-3}, {1.0: 0.898, 2.0: 0.85}, 200),
            U.Comparison(200, t, {1.0: 2e-2, 2.0: 4e-3}, {1.0: 0.89, 2.0: 0.85}, 400)]
    assert U.summary(rows) == ("c/T: within 10x of the tuned lam at 1 of 2 budgets (pred/tuned 2, 20 at "
                               "T = 100, 200); accuracy within 0.4% of the tuned one at 1 of 2 "
                               "(losses +0.20%, +1.00%)")
    assert "at 2 of 2 budgets" in U.summary(rows, 2.0) and "at 0 of 2 (" in U.summary(rows, 2.0)
    with pytest.raises(ValueError, match="`rows`"):
        U.summary([])


def _run(lam, peak):
    from types import SimpleNamespace
    return SimpleNamespace(config=SimpleNamespace(lam=lam), peak_accuracy=peak)


@pytest.mark.parametrize("fixed_peak, word", [(0.80, "reproduced"), (0.895, "partly"),
                                              (0.90, "not at this scale"), (0.91, "not at this scale")])
def test_budget_verdict_against_two_standard_errors(fixed_peak, word):
    # smallest common lam is 1e-4 (1e-5 has no fixed run); 2 SE of 0.9 on 900 images = 2%
    scaled = [_run(1e-5, 0.95), _run(1e-4, 0.90), _run(1e-3, 0.85)]
    fixed = [_run(1e-4, fixed_peak), _run(1e-3, 0.85)]
    v = U.budget_verdict(scaled, fixed, 900)
    assert v.lam == 1e-4 and v.word == word
    assert v.noise == pytest.approx(np.sqrt(0.9 * 0.1 / 900))
    assert v.loss == pytest.approx(0.90 - fixed_peak)
    with pytest.raises(ValueError, match="fixed"):
        U.budget_verdict(scaled, [_run(1e-2, 0.5)], 900)
    with pytest.raises(ValueError, match="n_test"):
        U.budget_verdict(scaled, fixed, 0)


@pytest.mark.parametrize("pred_acc, word, close", [((0.90, 0.899, 0.90), "reproduced", 3),
                                                   ((0.90, 0.85, 0.90), "partly", 2),
                                                   ((0.80, 0.85, 0.90), "not at this scale", 1)])
def test_prediction_verdict_counts_budgets_within_the_papers_04_percent(pred_acc, word, close):
    from types import SimpleNamespace
    rows = [SimpleNamespace(budget=t, tuned=SimpleNamespace(lam=1e-3, accuracy=0.90),
                            predicted_lam={1.0: lam}, predicted_accuracy={1.0: a})
            for t, lam, a in zip((100, 200, 400), (2e-2, 5e-3, 1e-3), pred_acc)]
    v = U.prediction_verdict(rows)
    assert (v.word, v.close, v.n) == (word, close, 3)
    assert v.near == 2                                  # 20x is not within an order of magnitude
    assert v.worst == pytest.approx(0.90 - min(pred_acc))
    with pytest.raises(ValueError, match="rows"):
        U.prediction_verdict([])


def test_autol2_verdict_against_the_seeds_spread():
    within = {0.1: [-0.001, 0.002, -0.003], 0.01: [-0.05, -0.04, -0.06]}
    assert U.autol2_verdict(within, 0.004) == "reproduced"
    assert U.autol2_verdict(within, 0.002) == "not at this scale"   # -0.003 < -0.002 at 0.1
    assert U.autol2_verdict({0.1: [-0.2, -0.3], 0.01: [0.001, -0.004]}, 0.004) == "partly"
    with pytest.raises(ValueError, match="gaps"):
        U.autol2_verdict({}, 0.01)
    with pytest.raises(ValueError, match="spread"):
        U.autol2_verdict(within, -1.0)
