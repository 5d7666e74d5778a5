"""l2lab.narrow: the SM D sweep spec and its argument checks, and the regime measurements
against synthetic t*(lam) curves with known exponents."""
from __future__ import annotations

import math

import numpy as np
import pytest

from l2lab import models, sweep
from l2lab.studies import narrow


def test_split_keeps_every_image_that_is_not_held_out():
    assert narrow.split_sizes() == (4000, 1000)
    assert narrow.split_sizes(1, total=10) == (9, 1)
    with pytest.raises(ValueError, match="n_test"):
        narrow.split_sizes(5000)
    with pytest.raises(ValueError, match="n_test"):
        narrow.split_sizes(0)
    with pytest.raises(TypeError, match="n_test"):
        narrow.split_sizes(10.0)


def test_spec_is_the_sm_d_network_on_all_training_images():
    spec = narrow.narrow_spec(eta=0.5, lams=(0.0, 1e-3), steps=100)
    assert spec.model_kwargs == {"widths": (64, 64, 64)} and spec.arch == "fc"
    assert (spec.n_train, spec.n_test, spec.batch_size, spec.loss) == (4000, 1000, 512, "xent")
    assert spec.momentum == 0 and spec.optimizer == "sgd" and spec.budget == "steps:100"
    configs, dropped = sweep.expand(spec)
    assert [c.lam for c in configs] == [0.0, 1e-3] and not dropped      # lam = 0 is kept
    assert all(c.steps == 100 for c in configs)
    m = models.make_model("fc", num_classes=10, **narrow.narrow_spec(
        width=8, depth=2, eta=1.0, lams=(0.0,), steps=5).model_kwargs)
    assert tuple(m.widths) == (8, 8)


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(width=0), ValueError, "width"),
    (dict(width=-3), ValueError, "width"),
    (dict(width=64.0), TypeError, "width"),
    (dict(depth=0), ValueError, "depth"),
    (dict(eta=0.0), ValueError, "eta"),
    (dict(lams=()), ValueError, "lams"),
    (dict(lams=(0.0, -1e-3)), ValueError, "lams"),
    (dict(lams=(1e-3, 0.001)), ValueError, "lams"),
    (dict(steps=0), ValueError, "steps"),
    (dict(n_test=5000), ValueError, "n_test"),
    (dict(batch_size=0), ValueError, "batch_size"),
])
def test_spec_rejects_bad_arguments_naming_them(kwargs, error, name):
    args = dict(eta=0.5, lams=(0.0, 1e-3), steps=100)
    args.update(kwargs)
    with pytest.raises(error, match=name):
        narrow.narrow_spec(**args)


def test_models_fc_rejects_a_width_below_one_itself():
    with pytest.raises(ValueError, match="widths"):
        models.FC(widths=(0, 64, 64))


def test_optimal_lam_and_loglog_slope():
    assert narrow.optimal_lam([0, 1e-4, 1e-3, 1e-2], [0.80, 0.82, 0.85, 0.83]) == (1e-3, 0.85)
    assert narrow.optimal_lam([0, 1e-3, 1e-2], [0.85, 0.85, np.nan]) == (0.0, 0.85)   # tie: smallest
    with pytest.raises(ValueError, match="peak_accuracy"):
        narrow.optimal_lam([0, 1], [np.nan, np.nan])
    with pytest.raises(ValueError, match="lams"):
        narrow.optimal_lam([0, 1], [0.5])
    x = np.geomspace(1e-4, 1e-1, 7)
    assert narrow.loglog_slope(x, 3.0 / x) == pytest.approx(-1.0)
    assert narrow.loglog_slope(x, 2.0 * x ** 0.5) == pytest.approx(0.5)
    assert narrow.loglog_slope(x, np.full(7, 40.0)) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(narrow.loglog_slope([1.0, 1.0], [2.0, 3.0]))
    assert math.isnan(narrow.loglog_slope([1.0, 2.0], [np.nan, 3.0]))


def test_scaling_regimes_recovers_one_over_lam_above_and_flat_below():
    lams = np.array([0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    lam_opt = 3e-4
    t = np.where(lams >= lam_opt, 0.6 / np.maximum(lams, 1e-30), 2000.0)      # 0.6/3e-4 = 2000
    acc = np.array([0.80, 0.80, 0.81, 0.82, 0.86, 0.85, 0.84, 0.80])
    r = narrow.scaling_regimes(lams, t, acc)
    assert r.lam_opt == lam_opt and r.interior and r.peak_opt == 0.86 and r.peak_zero == 0.80
    assert r.slope_above == pytest.approx(-1.0) and r.n_above == 4 and r.c_above == pytest.approx(0.6)
    assert r.slope_below == pytest.approx(0.0, abs=1e-12) and r.n_below == 3
    assert r.t_zero == 2000.0 and r.below_over_zero == (1.0, 1.0)
    # the best lam at 0: no interior optimum, every lam > 0 is "above"
    flat = narrow.scaling_regimes(lams, t, acc[::-1] * 0 + np.linspace(0.9, 0.8, 8))
    assert flat.lam_opt == 0.0 and not flat.interior and flat.n_below == 0 and math.isnan(flat.slope_below)
    # an explicit split point
    forced = narrow.scaling_regimes(lams, t, acc, lam_opt=1e-3)
    assert forced.lam_opt == 1e-3 and forced.peak_opt == 0.85 and forced.n_above == 3
    edge = narrow.scaling_regimes(lams[1:], t[1:], np.linspace(0.9, 0.8, 7))   # best at the smallest lam
    assert edge.lam_opt == 1e-5 and not edge.interior and math.isnan(edge.peak_zero)
    with pytest.raises(ValueError, match="t_star"):
        narrow.scaling_regimes(lams, t[:-1], acc)
    with pytest.raises(ValueError, match="lams"):
        narrow.scaling_regimes(-lams, t, acc)


def test_loglog_slope_of_nothing_is_nan():
    assert math.isnan(narrow.loglog_slope([], []))


def test_t_star_regimes_figure():
    from l2lab.figures import related as rf

    lams = [1e-4, 1e-3, 1e-2]
    fig = rf.t_star_regimes_figure({"narrow": (lams, [100, 100, 10]), "wide": (lams, [1e3, 1e2, 10])},
                                   lam_zero={"narrow": 100.0}, fits={"c/λ": (lams[1:], [100, 10])},
                                   lam_opt=1e-3)
    assert [t.name for t in fig.data] == ["narrow", "wide", "c/λ"]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert {round(s.y0 or 0, 6) for s in fig.layout.shapes if s.y0 == s.y1} == {100.0}   # lam = 0 line
    assert any(s.x0 == 1e-3 and s.x1 == 1e-3 for s in fig.layout.shapes)               # lam_opt line
    with pytest.raises(ValueError, match="series"):
        rf.t_star_regimes_figure({"a": ([0.0, 1e-3], [1, 2])})
    with pytest.raises(ValueError, match="lam_zero"):
        rf.t_star_regimes_figure({"a": (lams, [1, 2, 3])}, lam_zero={"b": 1.0})
    with pytest.raises(ValueError, match="lams"):
        rf.t_star_regimes_figure({"a": (lams, [1, 2])})


def test_accuracy_standard_error():
    assert narrow.accuracy_standard_error(0.9, 1000) == pytest.approx(math.sqrt(0.09 / 1000))
    assert narrow.accuracy_standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError, match="accuracy"):
        narrow.accuracy_standard_error(1.5, 10)
    with pytest.raises(ValueError, match="n_test"):
        narrow.accuracy_standard_error(0.5, 0)


LAMS = np.array([0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2])


def test_optimum_verdict_follows_its_criterion():
    n = 1000
    se = narrow.accuracy_standard_error(0.86, n)                  # 0.0110
    peaks = np.array([0.80, 0.80, 0.81, 0.82, 0.86, 0.85, 0.84, 0.80])
    v = narrow.optimum_verdict(LAMS, peaks, n)
    assert (v.word, v.lam_opt) == ("reproduced", 3e-4)
    assert v.gain == pytest.approx(0.06) and v.standard_error == pytest.approx(se)
    assert "3e-04" in v.reason or "0.0003" in v.reason
    small = np.array([0.80, 0.80, 0.81, 0.81, 0.816, 0.81, 0.81, 0.80])   # +0.016: 1.3 se
    assert narrow.optimum_verdict(LAMS, small, n).word == "partly"
    flat = np.array([0.944, 0.944, 0.944, 0.943, 0.93, 0.92, 0.90, 0.80])   # best at lam = 0
    w = narrow.optimum_verdict(LAMS, flat, n)
    assert (w.word, w.lam_opt, w.gain) == ("not at this scale", 0.0, 0.0)
    noise = flat.copy()
    noise[2] = 0.946                                               # +0.002: within one se
    assert narrow.optimum_verdict(LAMS, noise, n).word == "not at this scale"
    edge = np.linspace(0.8, 0.9, 8)                                 # best at the largest lam
    assert narrow.optimum_verdict(LAMS, edge, n).word == "not at this scale"


def test_optimum_verdict_averages_seeds():
    seeds = np.array([[0.80, 0.84, 0.78], [0.80, 0.80, 0.78]])       # means 0.80, 0.82, 0.78
    v = narrow.optimum_verdict([0.0, 1e-4, 1e-3], seeds, 10000)   # se 0.0038
    assert v.lam_opt == 1e-4 and v.gain == pytest.approx(0.02) and v.word == "reproduced"
    with pytest.raises(ValueError, match="lams"):
        narrow.optimum_verdict([1e-5, 1e-4, 1e-3], seeds, 100)
    with pytest.raises(ValueError, match="peak_accuracy"):
        narrow.optimum_verdict([0.0, 1e-4], seeds, 100)
    with pytest.raises(TypeError, match="peak_accuracy"):
        narrow.optimum_verdict([0.0, 1e-4], ["a", "b"], 100)
    with pytest.raises(ValueError, match="n_test"):
        narrow.optimum_verdict([0.0, 1e-4, 1e-3], seeds, 0)


def _regimes(t, lam_opt=3e-4):
    acc = np.array([0.80, 0.80, 0.81, 0.82, 0.86, 0.85, 0.84, 0.80])
    return narrow.scaling_regimes(LAMS, t, acc, lam_opt=lam_opt)


def test_regimes_verdict_follows_its_criterion():
    both = np.where(LAMS >= 3e-4, 0.6 / np.maximum(LAMS, 1e-30), 2000.0)
    assert narrow.regimes_verdict(_regimes(both), at_optimum=True) == "reproduced"
    assert narrow.regimes_verdict(_regimes(both), at_optimum=False) == "partly"
    steep = np.where(LAMS >= 3e-4, 0.6 / np.maximum(LAMS, 1e-30) ** 2 * 3e-4, 2000.0)   # slope -2
    assert narrow.regimes_verdict(_regimes(steep), at_optimum=True) == "partly"
    rising = np.where(LAMS >= 3e-4, 0.6 / np.maximum(LAMS, 1e-30), 2000.0 * (1 + 3e4 * LAMS))
    r = _regimes(rising)                       # below: t*/t*(0) up to 4 > 3, not flat
    assert r.below_over_zero[1] == pytest.approx(4.0)
    assert narrow.regimes_verdict(r, at_optimum=True) == "partly"
    assert narrow.regimes_verdict(r, at_optimum=True, flat=5.0) == "reproduced"
    neither = np.where(LAMS >= 3e-4, 2000.0 * (np.maximum(LAMS, 1e-30) / 3e-4) ** -2.5, 2000.0 * (1 + 3e4 * LAMS))
    assert narrow.regimes_verdict(_regimes(neither), at_optimum=True) == "not at this scale"
    one_above = _regimes(np.where(LAMS >= 1e-2, 20.0, 2000.0), lam_opt=1e-2)   # one lam above
    assert one_above.n_above == 1
    assert narrow.regimes_verdict(one_above, at_optimum=True) == "partly"


def test_regimes_verdict_rejects_bad_arguments():
    r = _regimes(np.full(8, 100.0))
    with pytest.raises(TypeError, match="regimes"):
        narrow.regimes_verdict((1, 2), at_optimum=True)
    with pytest.raises(TypeError, match="at_optimum"):
        narrow.regimes_verdict(r, at_optimum=1)
    with pytest.raises(ValueError, match="flat"):
        narrow.regimes_verdict(r, at_optimum=True, flat=0.5)


def test_by_seed_lays_a_sweep_out_per_seed_and_lam():
    from l2lab import train

    def rec(seed, lam, acc, err):
        steps = np.arange(len(acc))
        res = train.TrainResult(steps, np.ones(len(acc)), np.asarray(err, float), np.asarray(acc, float),
                                np.zeros(len(acc)), np.ones(len(acc)), diverged=False, diverged_at=-1,
                                wall_time=0.0)
        cfg = train.TrainConfig(eta=2.0, lam=lam, steps=len(acc) - 1, seed=seed)
        return sweep.Record("r", 0, cfg, "fc", "mnist5k", {}, res, float(np.argmax(acc)),
                            float(np.max(acc)), {}, {})

    recs = [rec(1, 1e-3, [0.1, 0.9, 0.8], [0.5, 0.1, 0.1]), rec(0, 0.0, [0.1, 0.5, 0.7], [0.5, 0.0, 0.0]),
            rec(0, 1e-3, [0.1, 0.6, 0.6], [0.5, 0.2, 0.0])]
    t = narrow.by_seed(recs)
    assert t.seeds.tolist() == [0, 1] and t.lams.tolist() == [0.0, 1e-3]
    np.testing.assert_allclose(t.t_star, [[2.0, 1.0], [np.nan, 1.0]])
    np.testing.assert_allclose(t.peak_accuracy, [[0.7, 0.6], [np.nan, 0.9]])
    np.testing.assert_allclose(t.fit_step, [[1.0, 2.0], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="records"):
        narrow.by_seed([])
    with pytest.raises(TypeError, match="records"):
        narrow.by_seed([1])
    other = rec(0, 1e-4, [0.1, 0.2, 0.3], [0.5, 0.4, 0.3])
    other = other._replace(config=other.config._replace(eta=1.0))
    with pytest.raises(ValueError, match="eta"):
        narrow.by_seed(recs + [other])
