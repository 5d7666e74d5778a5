"""The theory chapters' verdicts: measurements against closed forms, criteria on built cases."""
import math

import numpy as np
import pytest

from l2lab import claims, theory
from l2lab.theory import verdicts as v

LAM = 0.01


@pytest.mark.parametrize("k", [0.0, 1.0, 2.0, 3.0])
def test_decay_rate_of_the_exact_kernel_decay_is_2_k_minus_1_lam(k):
    t = np.linspace(0, 3 / LAM, 13)
    ratio = theory.kernel_decay(t, LAM, k)            # exp(-2(k-1) lam t), Eq. (2)
    assert v.decay_rate(t, ratio, 0.5 / LAM) == pytest.approx(2 * (k - 1) * LAM, abs=1e-12)


def test_decay_rate_uses_only_the_window():
    t = np.linspace(0, 300, 13)
    ratio = np.where(t <= 50, np.exp(-0.02 * t), 1.0)  # leaves the law after t = 50
    assert v.decay_rate(t, ratio, 50) == pytest.approx(0.02)
    assert v.decay_rate(t, ratio, 300) < 0.01
    snapped = np.array([0.0, 25.0, 50.2, 75.0])      # 50.2: a time snapped to a step
    assert v.decay_rate(snapped, [1, np.exp(-0.5), np.exp(-0.02 * 50.2) * 1.1, 0.01], 50) \
        == pytest.approx((25 * 0.5 + 50.2 * (0.02 * 50.2 - np.log(1.1))) / (25**2 + 50.2**2))
    assert math.isnan(v.decay_rate(t, ratio, 1.0))     # no record inside (0, 1]
    with pytest.raises(ValueError, match="t_end"):
        v.decay_rate(t, ratio, 0.0)


def test_agreement_until():
    t = np.arange(6.0)
    assert v.agreement_until(t, [1, 1.01, 1.04, 1.06, 1.0, 1.0]) == 2.0
    assert v.agreement_until(t, np.ones(6)) == 5.0
    assert math.isnan(v.agreement_until(t, [2.0, 1, 1, 1, 1, 1]))
    assert v.agreement_until(t, [1, 1, np.nan, 1, 1, 1]) == 1.0   # NaN leaves the band


def _runs(rates):
    t = np.linspace(0, 3 / LAM, 13)
    return {f"k={k}": (k, t, np.exp(-r * t)) for k, r in rates}


def test_kernel_decay_verdict_criterion():
    exact = v.kernel_decay_verdict(_runs([(2, 2 * LAM), (3, 4 * LAM)]), LAM)
    assert exact.verdict == "reproduced" and exact.worst == pytest.approx(0, abs=1e-9)
    assert [f.predicted for f in exact.fits] == pytest.approx([0.02, 0.04])
    # one network at 30% off its predicted rate: partly; both off: contradicted
    assert v.kernel_decay_verdict(_runs([(2, 2 * LAM), (3, 2.8 * LAM)]), LAM).verdict == "partly"
    assert v.kernel_decay_verdict(_runs([(2, LAM), (3, 2 * LAM)]), LAM).verdict == "contradicted"
    # 8% off passes at the default 10%, fails at 5%
    near = _runs([(2, 2.16 * LAM)])
    assert v.kernel_decay_verdict(near, LAM).verdict == "reproduced"
    assert v.kernel_decay_verdict(near, LAM, tol=0.05).verdict == "contradicted"
    with pytest.raises(TypeError, match="runs"):
        v.kernel_decay_verdict({}, LAM)
    with pytest.raises(ValueError, match="lam"):
        v.kernel_decay_verdict(near, 0.0)


def test_rise_and_fall_times_of_closed_forms():
    t = np.geomspace(1e-3, 1e3, 20001)
    g = 2.0
    f = 1 - np.exp(-g * t)                  # half at ln 2 / g
    assert v.rise_time(t, f) == pytest.approx(math.log(2) / g, rel=1e-3)
    assert math.isnan(v.fall_time(t, f))    # never falls
    h = np.exp(-t / 50) * f                  # falls to half its peak at 50 ln(2 / peak)
    assert v.fall_time(t, h) == pytest.approx(50 * math.log(2 / h.max()), rel=1e-3)
    assert math.isnan(v.rise_time(t, -f))


def test_mode_times_of_the_linear_model_match_its_closed_form():
    # k = 1: f = gamma/(gamma + lam) (1 - exp(-(gamma + lam) t)): half at ln 2 / (gamma + lam)
    m = v.mode_times(100.0, LAM, 1.0)
    gamma = 100 * LAM
    assert m.learn == pytest.approx(math.log(2) * gamma / (gamma + LAM), rel=2e-3)
    assert math.isnan(m.decay) and m.linear_end == pytest.approx(1, abs=1e-9)
    assert m.peak == pytest.approx(gamma / (gamma + LAM), rel=1e-6)


def test_modes_verdict_of_eq3():
    r = v.modes_verdict(LAM, 2.0)
    assert r.verdict == "reproduced" and all(r.passed)
    # k = 2 decays at ~ log(gamma / (k lam)) / (2 (k-1) lam): grows with gamma/lam
    assert [m.decay for m in r.learners] == sorted(m.decay for m in r.learners)
    # the linear model never decays: the decay part fails, learning still holds
    lin = v.modes_verdict(LAM, 1.0)
    assert lin.verdict == "partly" and lin.passed[0] and not lin.passed[1]
    with pytest.raises(ValueError, match="learners"):
        v.modes_verdict(LAM, learners=(0.5,))


def test_inverse_lambda_verdict():
    lams = np.array([1e-3, 1e-2, 1e-1])
    assert v.inverse_lambda_verdict(lams, 0.4 / lams).verdict == "reproduced"
    r = v.inverse_lambda_verdict(lams, 0.4 / lams * np.array([1, 5, 1]))
    assert r.verdict == "partly" and r.spread == pytest.approx(5)
    half = v.inverse_lambda_verdict(lams, 1 / np.sqrt(lams))    # t ~ lam^-1/2: x10 spread
    assert half.verdict == "contradicted" and half.slope == pytest.approx(-0.5)
    assert v.inverse_lambda_verdict(lams[:2], 1 / lams[:2]).verdict == "not at this scale"
    assert v.inverse_lambda_verdict(lams, [1e3, np.nan, np.nan]).verdict == "not at this scale"
    assert all(x.verdict in claims.VERDICTS for x in (r, half))


def test_interior_minimum():
    assert v.interior_minimum([3, 2, 1, 2])
    assert not v.interior_minimum([3, 2, 1, 1.001])   # flat within 1%
    assert not v.interior_minimum([3, 2, 1])
    assert v.interior_minimum([3, 1, np.nan, 2])


def test_fig5c_verdict():
    t = np.geomspace(1, 1e3, 50)
    theory_k = 1 / t + t / 500                        # minimum at t = sqrt(500)
    linear = 1 / t
    r = v.fig5c_verdict(t, theory_k * 1.02, theory_k, linear)
    assert r.verdict == "reproduced" and r.timing == 1.0 and r.deviation == pytest.approx(0.02)
    late = 1 / t + t / 5000                           # minimum x3.2 later
    assert v.fig5c_verdict(t, late, theory_k, linear).verdict == "partly"
    assert v.fig5c_verdict(t, linear, theory_k, linear).verdict == "contradicted"
    assert v.fig5c_verdict(t, theory_k, theory_k, theory_k).verdict == "contradicted"


def test_fixed_point_verdict():
    p = np.linspace(0.1, 1.3, 13)
    exact = np.maximum(0, 1 - p)
    slow = exact + np.where(np.abs(p - 1) < 0.1, 0.03, 0)   # off only near 1: not counted
    r = v.fixed_point_verdict(p, {"n=100": exact, "n=400": slow})
    assert r.verdict == "reproduced" and max(r.errors.values()) == 0
    assert r.printed == pytest.approx(2 * 0.8)           # 1 + p misses by 2p at p = 0.8
    assert v.fixed_point_verdict(p, {"a": exact, "b": 1 + p}).verdict == "partly"
    assert v.fixed_point_verdict(p, {"b": 1 + p}).verdict == "contradicted"
    with pytest.raises(ValueError, match="products"):
        v.fixed_point_verdict(p, {"a": exact[:3]})


def test_past_minimum_verdict():
    assert v.past_minimum_verdict({"a": (1.0, 0.4), "b": (0.5, 0.5)}) == "reproduced"
    assert v.past_minimum_verdict({"a": (1.0, 0.4), "b": (0.3, 0.5)}) == "partly"
    assert v.past_minimum_verdict({"a": (np.nan, 0.4)}) == "contradicted"
    with pytest.raises(TypeError, match="held"):
        v.past_minimum_verdict({})


def test_spectrum_loss_minimum_of_one_mode_and_of_a_spectrum():
    from l2lab.theory.modes import mse_mode, spectrum_loss_minimum

    t = np.geomspace(1e-2, 1e5, 3000)
    # one mode: the minimum of (f - 1)^2 is the peak of f (f stays below 1)
    f = mse_mode(t, 1.0, LAM, 2, 1.0, 0.0)
    tm, lm = spectrum_loss_minimum(t, [1.0], LAM, 2)
    assert tm == t[np.argmax(f)] and lm == pytest.approx((1 - f.max()) ** 2)
    # the linear model: the loss falls to its plateau, mean (lam / (gamma + lam))^2, and stays
    plateau = np.mean([(LAM / (1.0 + LAM)) ** 2, (LAM / (0.1 + LAM)) ** 2])
    assert spectrum_loss_minimum(t, [1.0, 0.1], LAM, 1)[1] == pytest.approx(plateau, rel=1e-9)
    # a log-uniform spectrum far wider than lam: t_min scales as 1/lam exactly
    g = np.geomspace(1e-7, 1e4, 400)
    a = spectrum_loss_minimum(t, g, 1e-2, 2)[0] * 1e-2
    b = spectrum_loss_minimum(t * 10, g, 1e-3, 2)[0] * 1e-3
    assert a == pytest.approx(b, rel=0.02)
    with pytest.raises(ValueError, match="gammas"):
        spectrum_loss_minimum(t, [0.0], LAM, 2)


def test_inverse_lambda_window_verdict():
    lams = np.array([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    # the law holds from 1e-3 up; below, t stops growing (a floor at t = 1e3)
    times = np.where(lams >= 1e-3, 0.4 / lams, 1e3)
    r = v.inverse_lambda_window_verdict(lams, times)
    assert r.verdict == "partly" and (r.lo, r.hi) == (1e-3, 1e-1)
    assert r.whole.verdict == "contradicted" and r.spread == pytest.approx(1)
    # the order of the lams does not matter
    assert v.inverse_lambda_window_verdict(lams[::-1], times[::-1])[:4] == r[:4]
    assert v.inverse_lambda_window_verdict(lams, 0.4 / lams).verdict == "reproduced"
    # holds over one decade only: contradicted
    short = np.where(lams >= 1e-2, 0.4 / lams, 1e6)   # slope -1.5: not partly either
    assert v.inverse_lambda_window_verdict(lams, short).verdict == "contradicted"
    assert v.inverse_lambda_window_verdict(lams[:2], [1.0, 2.0]).verdict == "not at this scale"


def test_cross_entropy_accuracy_is_undefined_below_the_solvers_resolution():
    # the logits are -kernel @ w with w known to atol: below atol * (largest row sum) they are
    # solver noise (on the cross-entropy page the test accuracy read 0.0 there, at 1e-12 of the
    # largest logit, just above the round-off cut)
    from l2lab.theory import cross_entropy as ce
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 5))
    kernel = x @ x.T / 5 + 0.1 * np.eye(12)
    y = np.eye(3)[rng.integers(0, 3, 12)]
    lam, atol = 0.1, 1e-6
    t = np.geomspace(0.1, 40 / lam, 200)
    r = theory.cross_entropy_evolution(kernel, y, np.zeros_like(y), lam, 2, t, atol=atol,
                                       kernel_test_train=kernel[:5], y_test=y[:5])
    for f, acc, k in ((r.f, r.accuracy, kernel), (r.f_test, r.test_accuracy, kernel[:5])):
        size = np.abs(f).max(axis=(1, 2))
        dead = size <= atol * np.abs(k).sum(1).max()
        assert dead.any() and (size[dead] > ce.ROUNDOFF * size.max()).any()
        assert np.all(np.isnan(acc[dead])) and np.all(np.isfinite(acc[~dead]))


def test_window_verdict_keeps_a_partly_by_slope():
    lams = np.array([1e-3, 1e-2, 1e-1])
    times = 0.4 / lams * np.array([1, 5, 1])     # x5 spread, slope -1: partly over the whole range
    assert v.inverse_lambda_window_verdict(lams, times).verdict == "partly"
