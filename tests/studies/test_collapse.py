"""l2lab.studies.collapse against hand-built curves whose t*, fit step and late gain are known."""
from __future__ import annotations

import math

import numpy as np
import pytest

from l2lab.engine import TrainConfig, TrainResult
from l2lab.engine.records import Record
from l2lab.studies import collapse


def _record(eta, lam, acc, err, loss=None, diverged=False):
    steps = np.arange(len(acc), dtype=np.int64) * 10
    acc = np.asarray(acc, float)
    loss = np.linspace(1.0, 0.5, len(acc)) if loss is None else np.asarray(loss, float)
    res = TrainResult(steps, np.zeros(len(acc)), np.asarray(err, float), acc, loss, np.ones(len(acc)),
                      diverged=diverged, diverged_at=-1, wall_time=0.0)
    cfg = TrainConfig(eta=eta, lam=lam, steps=int(steps[-1]))
    return Record("x", 0, cfg, "fc", "toy", {}, res, math.nan, float(np.nanmax(acc)), {}, {})


def test_fit_floor_and_late_gain():
    # fitted at step 20 (accuracy 0.88), then an L2-driven gain of 0.3% peaking at step 60
    acc = [0.1, 0.5, 0.88, 0.881, 0.882, 0.882, 0.883, 0.882]
    err = [0.9, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    loss = [2.0, 1.0, 0.6, 0.5, 0.45, 0.44, 0.46, 0.5]
    d, = collapse.diagnose([_record(1.0, 1e-3, acc, err, loss)])
    assert d.fit_step == 20 and d.accuracy_at_fit == 0.88
    assert d.late_gain == pytest.approx(0.003)
    assert d.t_star[0.005] == 20          # the gain is below the paper's tolerance: t* is the fit time
    assert d.t_star[0.001] == 40          # within 0.1% of 0.883: 0.882 at step 40
    assert d.c_prime[0.001] == pytest.approx(40 * 1e-3)
    assert d.t_star_loss == 50            # the test-loss minimum
    assert d.trained


def test_untrained_and_diverged_runs_are_not_trained():
    near_chance = _record(1.0, 1.0, [0.1, 0.12, 0.11], [0.9, 0.9, 0.9])
    diverged = _record(1.0, 0.1, [0.1, 0.8, np.nan], [0.9, 0.2, np.nan], diverged=True)
    ds = collapse.diagnose([near_chance, diverged])
    assert not any(d.trained for d in ds)
    assert all(math.isnan(d.fit_step) and math.isnan(d.late_gain) for d in ds)


def test_spread_over_the_trained_runs():
    runs = [_record(1.0, lam, [0.1, 0.5, 0.9, 0.9], [0.9, 0.5, 0.0, 0.0]) for lam in (1e-3, 1e-2)]
    runs.append(_record(1.0, 1.0, [0.1, 0.12, 0.11, 0.1], [0.9] * 4))     # not trained: left out
    s = collapse.spread(collapse.diagnose(runs), 0.005)
    assert s.n == 2 and s.ratio == pytest.approx(10.0) and s.decades == pytest.approx(1.0)
    assert s.median == pytest.approx(np.median([20 * 1e-3, 20 * 1e-2]))
    assert math.isnan(collapse.spread(collapse.diagnose(runs[:1]), 0.005).ratio)
    with pytest.raises(ValueError, match="tol"):
        collapse.spread(collapse.diagnose(runs), 0.003)


def test_accuracy_noise_is_the_binomial_standard_error():
    # 4488 test images at 88%: 0.49%, about the paper's tolerance
    assert collapse.accuracy_noise(0.88, 4488) == pytest.approx(math.sqrt(0.88 * 0.12 / 4488))
    assert 0.0048 < collapse.accuracy_noise(0.88, 4488) < 0.0049
    rng = np.random.default_rng(0)
    draws = rng.binomial(4488, 0.88, size=20000) / 4488
    assert np.std(draws) == pytest.approx(collapse.accuracy_noise(0.88, 4488), rel=0.03)
    for bad in ((88.0, 4488), (0.88, 0), (0.88, 1.5)):
        with pytest.raises((ValueError, TypeError)):
            collapse.accuracy_noise(*bad)


def test_bad_arguments_name_themselves():
    r = _record(1.0, 1e-3, [0.1, 0.9], [0.9, 0.0])
    with pytest.raises(ValueError, match="records"):
        collapse.diagnose([])
    with pytest.raises(ValueError, match="tols"):
        collapse.diagnose([r], tols=(5.0,))
    with pytest.raises(TypeError, match="records"):
        collapse.diagnose([object()])


def _runs(ts, etalams):
    return [collapse.RunDiagnosis(eta=1.0, lam=el, steps=10 ** 6, peak_accuracy=0.9,
                                  t_star={0.005: t, 0.001: t}, c_prime={0.005: t * el, 0.001: t * el},
                                  fit_step=1.0, accuracy_at_fit=0.9, late_gain=0.0, t_star_loss=t, trained=True)
            for t, el in zip(ts, etalams)]


def test_slope_and_verdict_follow_their_stated_criterion():
    el = np.logspace(-4, -1, 7)
    exact = _runs(0.3 / el, el)                      # t* = c'/(eta lam): the paper's claim
    assert collapse.slope(exact, 0.005) == pytest.approx(-1.0)
    v = collapse.verdict(exact)
    assert v.word == "reproduced" and "x1.0" in v.reason
    partly = _runs(0.3 / el * np.geomspace(1, 4, 7), el)   # slope -0.8: spread x4 > x3, slope within 0.25
    assert collapse.slope(partly, 0.005) == pytest.approx(-1 + math.log10(4) / 3)
    assert collapse.verdict(partly).word == "partly"
    flat = _runs(np.full(7, 50.0), el)               # t* at the fit time, whatever eta lam
    assert collapse.verdict(flat).word == "not at this scale"
    narrow = _runs(0.3 / el[:3], el[:3])             # one decade only: no verdict but the last
    assert collapse.verdict(narrow).word == "not at this scale"
    assert math.isnan(collapse.slope(exact[:2], 0.005))


def test_bootstrap_of_a_fixed_test_set_and_of_a_noisy_one():
    steps = np.arange(6) * 10
    # every image right from step 20 on: every resample has t* = 20
    correct = np.zeros((6, 50), bool)
    correct[2:] = True
    assert np.all(collapse.bootstrap_t_star(steps, correct, 0.005, n_boot=200) == 20)
    # two late peaks 2 images apart on 400 images (0.5%): resampling moves t* between them
    rng = np.random.default_rng(1)
    base = rng.random(400) < 0.8
    late = base.copy()
    late[np.flatnonzero(~base)[:2]] = True         # +2 images at step 50
    c = np.stack([base] * 5 + [late])
    ts = collapse.bootstrap_t_star(steps, c, 0.001, n_boot=400, seed=3)
    assert set(np.unique(ts)) <= {0.0, 50.0} and 0 < np.mean(ts == 50.0) < 1
    with pytest.raises(ValueError, match="correct"):
        collapse.bootstrap_t_star(steps, c.astype(int))


def test_per_image_run_agrees_with_the_sweeps_accuracy(tmp_path):
    from l2lab import engine
    spec = engine.preset("fc", "tiny")._replace(model_kwargs={"widths": (16, 16, 16)}, etas=(1.0,),
                                                 lams=(0.01,), budget="steps:24", points_per_octave=4)
    rec, = engine.run_sweep(spec, tmp_path / "s", progress=False)
    run = collapse.per_image_run(spec, 1.0, 0.01)
    np.testing.assert_array_equal(run.steps, rec.result.steps)
    n = run.correct.shape[1]
    assert np.max(np.abs(run.correct.mean(axis=1) - rec.result.test_accuracy)) <= 2 / n


def test_load_bootstrap_reads_the_committed_file_back():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "data" / "sweeps" / "h200" / "bootstrap" / "fc-per-image.json"
    if not path.exists():
        pytest.skip("no committed bootstrap file")
    rows = collapse.load_bootstrap(path, 0.005)
    assert len(rows) == 13 and rows == sorted(rows, key=lambda b: (b.eta, b.lam))
    for b in rows:
        assert b.low <= b.high and b.ratio == pytest.approx(b.high / b.low)
    tight = collapse.load_bootstrap(path, 0.001)
    assert all(t.high >= b.low for t, b in zip(tight, rows))      # a tighter tolerance peaks no earlier
    with pytest.raises(ValueError, match="tol"):
        collapse.load_bootstrap(path, 0.003)


# --- seeds, budget ends and the fit time (additions for the CNN, WRN and fit-time chapters) ---

def _peaking_at(eta, lam, t_peak, seed, n=40, peak=0.9):
    """A run measured every 10 steps whose accuracy rises linearly to ``peak`` at step t_peak and
    then falls: t* at 0.5% is the step of the peak (the rise is steeper than 0.5% a step)."""
    steps = np.arange(n) * 10
    acc = np.where(steps <= t_peak, 0.1 + (peak - 0.1) * steps / t_peak, peak - 0.02 * (steps - t_peak) / 10)
    rec = _record(eta, lam, np.clip(acc, 0.0, 1.0), np.where(steps >= t_peak, 0.0, 0.5))
    return rec._replace(config=rec.config._replace(seed=seed))


def test_by_seed_diagnoses_each_seed_alone_and_the_weakest_verdict_wins():
    lams = (1e-3, 1e-2, 1e-1)
    # seed 0: t* = 1/lam exactly (c' = 1, collapse); seed 1: t* the same 100 steps for every lam
    recs = [_peaking_at(1.0, lam, round(1 / lam), 0, n=110) for lam in lams]
    recs += [_peaking_at(1.0, lam, 100, 1, n=110) for lam in lams]
    recs.append(_peaking_at(1.0, 1.0, 100, 1, peak=0.3))          # near chance: not trained
    s0, s1 = collapse.by_seed(recs)
    assert (s0.seed, s0.n_runs, s0.n_trained, s1.n_runs, s1.n_trained) == (0, 3, 3, 4, 3)
    assert s0.spread.ratio == pytest.approx(1.0) and s0.spread.decades == pytest.approx(2.0)
    assert s0.slope == pytest.approx(-1.0) and s0.verdict.word == "reproduced"
    assert s1.slope == pytest.approx(0.0, abs=1e-9) and s1.verdict.word == "not at this scale"
    both = collapse.seeds_verdict([s0.verdict, s1.verdict])
    assert both.word == "not at this scale" and both.reason.startswith("on 1 of 2 seeds")
    assert collapse.seeds_verdict([s0.verdict] * 3).reason.startswith("on every seed")
    one = collapse.seeds_verdict([s0.verdict])                     # one seed cannot reproduce
    assert one.word == "partly" and one.reason.startswith("reproduced on one seed, fewer than 3")
    assert collapse.seeds_verdict([s0.verdict], min_seeds=1).word == "reproduced"
    assert collapse.seeds_verdict([s1.verdict]).word == "not at this scale"
    with pytest.raises(ValueError, match="records"):
        collapse.by_seed([])
    with pytest.raises(TypeError, match="verdicts"):
        collapse.seeds_verdict([("reproduced", "x")])


def test_seed_difference_and_runs_peaking_at_the_end_of_their_budget():
    d = collapse.seed_difference([3.0, 2.0, 1.0], [1.0, 1.5, 1.5])
    assert d.differences == (2.0, 0.5, -0.5) and d.median == 0.5
    assert (d.low, d.high, d.holds, d.n_holds) == (-0.5, 2.0, False, 2)
    assert collapse.seed_difference([2, 3], [1, 1]).holds
    with pytest.raises(ValueError, match="b"):
        collapse.seed_difference([1.0, 2.0], [1.0])
    # a seed without a value (NaN): no claim (holds false), the other seeds still counted
    nan = collapse.seed_difference([np.nan, 3.0], [1.0, 1.0])
    assert not nan.holds and nan.n_holds == 1 and np.isnan(nan.median) and np.isnan(nan.low)
    with pytest.raises(ValueError, match="a"):
        collapse.seed_difference([np.inf], [1.0])
    early = _peaking_at(1.0, 1e-3, 100, 0)                          # budget 390 steps
    late = _peaking_at(1.0, 1e-2, 380, 0)
    runs = collapse.diagnose([early, late])
    assert [r.lam for r in collapse.at_budget_end(runs, 0.005)] == [1e-2]
    assert collapse.at_budget_end(runs, 0.005, fraction=0.2) == runs
    with pytest.raises(ValueError, match="tol"):
        collapse.at_budget_end(runs, 0.003)


def test_fit_time_follows_its_stated_criterion():
    etas, inv = (0.5, 1.0, 2.0), lambda c, e: c / e           # steps = c / eta: an exact 1/eta law
    law = {(lam, e): inv(100 * (1 + 5 * lam), e) for lam in (0.0, 0.1) for e in etas}
    f = collapse.fit_time(law)                                   # the largest lam: x1.5 the steps
    assert f.slowdown == pytest.approx(1.5) and f.eta_spread == pytest.approx(1.0)
    assert f.verdict.word == "reproduced" and f.n_unfit == 0
    slow = {k: v * (3.0 if k[0] else 1.0) for k, v in law.items()}
    assert collapse.fit_time(slow).verdict.word == "partly"    # 1/eta holds, lam triples the time
    flat = {k: 100.0 * (3.0 if k[0] else 1.0) for k in law}     # neither holds
    assert collapse.fit_time(flat).verdict.word == "not at this scale"
    unfit = {**law, (0.1, 2.0): math.nan}
    assert collapse.fit_time(unfit).n_unfit == 1
    assert collapse.fit_time(unfit).verdict.word == "not at this scale"
    with pytest.raises(ValueError, match="steps"):
        collapse.fit_time({(0.1, e): 1.0 for e in etas})        # no lam = 0


def test_fit_limit_follows_its_stated_criterion():
    clean = collapse.fit_limit({0.0: [True] * 3, 1e-3: [True, True], 3e-3: [False], 1e-2: [False]})
    assert (clean.lam_fits, clean.lam_never, clean.verdict.word) == (1e-3, 3e-3, "reproduced")
    mixed = collapse.fit_limit({1e-3: [True, False], 3e-3: [False]})
    assert math.isnan(mixed.lam_fits) and mixed.verdict.word == "partly"
    assert collapse.fit_limit({1e-3: [True], 3e-3: [True, False]}).verdict.word == "not at this scale"
    with pytest.raises(TypeError, match="fitted"):
        collapse.fit_limit({1e-3: [1]})


def test_plateau_verdict_follows_its_stated_criterion():
    def recs(final_by_lam):
        return [_record(1.0, lam, [0.1, acc], [0.9, 0.0]) for lam, acc in final_by_lam.items()]
    noise2 = 2 * collapse.accuracy_noise(0.9, 1000)                      # 1.9%
    scaled = recs({1e-3: 0.89, 1e-2: 0.90})                              # drops 1%: within noise
    fixed = recs({1e-3: 0.80, 1e-2: 0.90})                               # drops 10%
    p = collapse.plateau_verdict(scaled, fixed, 1000)
    assert (p.lam, p.verdict.word) == (1e-3, "reproduced")
    assert p.scaled_drop == pytest.approx(0.01) and p.fixed_drop == pytest.approx(0.10)
    assert p.noise == pytest.approx(noise2 / 2)
    assert collapse.plateau_verdict(fixed, fixed, 1000).verdict.word == "partly"
    assert collapse.plateau_verdict(fixed, scaled, 1000).verdict.word == "not at this scale"
    # "peak" reads the peak accuracy (here 0.9 for every run: nothing drops)
    peaky = [_record(1.0, lam, [0.1, 0.9, 0.5], [0.9, 0.0, 0.0]) for lam in (1e-3, 1e-2)]
    assert collapse.plateau_verdict(peaky, fixed, 1000, statistic="peak").scaled_drop == 0.0
    with pytest.raises(ValueError, match="statistic"):
        collapse.plateau_verdict(scaled, fixed, 1000, statistic="mean")
    with pytest.raises(ValueError, match="fixed"):
        collapse.plateau_verdict(scaled, recs({5e-2: 0.9}), 1000)
    other_seed = [r._replace(config=r.config._replace(seed=1)) for r in fixed]
    with pytest.raises(ValueError, match="scaled"):
        collapse.plateau_verdict(scaled, other_seed, 1000)
