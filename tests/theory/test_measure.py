"""l2lab.measure on hand-built curves with known answers."""
import numpy as np
import pytest

from l2lab import measure as ms


def test_steps_to_peak_hand_built():
    steps = np.array([0, 1, 2, 4, 8, 16, 32])
    acc = np.array([0.1, 0.5, 0.80, 0.896, 0.90, 0.899, 0.7])
    assert ms.steps_to_peak(steps, acc) == 4.0          # 0.896 >= 0.90 - 0.005
    assert ms.steps_to_peak(steps, acc, tol=0.0) == 8.0
    assert ms.steps_to_peak(steps, acc, tol=0.2) == 2.0
    assert ms.peak_accuracy(acc) == pytest.approx(0.90)


def test_steps_to_peak_nan_safe_and_t_over_lambda():
    steps = np.array([0, 10, 20, 30, 40])
    acc = np.array([0.2, 0.6, 0.9, np.nan, np.nan])       # diverged after step 20
    assert ms.steps_to_peak(steps, acc) == 20.0
    assert np.isnan(ms.steps_to_peak(steps, np.full(5, np.nan)))
    assert np.isnan(ms.peak_accuracy([np.nan]))
    # synthetic curves peaking at t = c / lam: the fitted c recovers the value
    c = 0.7
    t = np.unique(np.round(np.geomspace(1, 1e6, 400)))
    ts = []
    lams = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    for lam in lams:
        acc = 0.9 - 0.1 * np.log(t * lam / c) ** 2
        ts.append(ms.steps_to_peak(t, acc, tol=1e-4))
    fit = ms.fit_c(ts, lams)
    assert fit.n == 4 and fit.n_dropped == 0
    assert fit.median == pytest.approx(c, rel=0.05) and fit.spread < 1.1


def test_fit_c_summary_and_eta_version():
    t = np.array([100.0, 200.0, np.nan, 50.0, 400.0])
    lam = np.array([0.01, 0.01, 0.01, 0.0, 0.001])
    fit = ms.fit_c(t, lam)
    np.testing.assert_allclose(np.sort(fit.values), [0.4, 1.0, 2.0])
    assert fit.median == pytest.approx(1.0)
    assert fit.geomean == pytest.approx((0.4 * 1.0 * 2.0) ** (1 / 3))
    assert (fit.min, fit.max, fit.spread) == pytest.approx((0.4, 2.0, 5.0))
    assert fit.n == 3 and fit.n_dropped == 2
    fit2 = ms.fit_c(t, lam, eta=0.5)
    assert fit2.median == pytest.approx(0.5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="same shape"):
        ms.steps_to_peak([0, 1], [0.1])
    with pytest.raises(ValueError, match="tol"):
        ms.steps_to_peak([0, 1], [0.1, 0.2], tol=-0.1)
    with pytest.raises(ValueError, match="steps"):
        ms.steps_to_peak([2, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="acc"):
        ms.peak_accuracy(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="lam"):
        ms.fit_c([1.0, 2.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="eta"):
        ms.fit_c([1.0, 2.0], [0.1, 0.2], eta=[1.0])
    with pytest.raises(ValueError, match="no finite"):
        ms.fit_c([np.nan], [0.1])


def test_steps_to_fit():
    from l2lab.measure import steps_to_fit

    steps = np.array([0, 1, 2, 4, 8, 16])
    err = np.array([0.9, 0.5, np.nan, 0.01, 0.0, 0.0])
    assert steps_to_fit(steps, err) == 8.0
    assert steps_to_fit(steps, err, threshold=0.05) == 4.0
    assert np.isnan(steps_to_fit(steps, np.full(6, 0.2)))
    with pytest.raises(ValueError, match="threshold"):
        steps_to_fit(steps, err, threshold=2.0)
    with pytest.raises(ValueError, match="same shape"):
        steps_to_fit(steps, err[:3])


@pytest.mark.parametrize("call,word", [
    (lambda: ms.steps_to_peak([], []), "steps"),
    (lambda: ms.steps_to_peak([0, 1], []), "acc"),
    (lambda: ms.steps_to_peak([], [0.5]), "steps"),
    (lambda: ms.peak_accuracy([]), "acc"),
    (lambda: ms.steps_to_fit([], []), "steps"),
    (lambda: ms.steps_to_fit([0, 1], []), "train_error"),
    (lambda: ms.fit_c([], []), "t_star"),
    (lambda: ms.fit_c([], 0.1), "t_star"),
    (lambda: ms.fit_c([1.0], []), "lam"),
    (lambda: ms.fit_c([1.0], [0.1], eta=[]), "eta"),
])
def test_empty_inputs_raise_naming_the_argument(call, word):
    with pytest.raises(ValueError, match=f"`{word}`.*empty"):
        call()


@pytest.mark.parametrize("call,word", [
    (lambda: ms.steps_to_peak([0, 1, 2], [0.1, 0.2]), "steps.*acc.*same shape"),
    (lambda: ms.steps_to_fit([0, 1], [0.1, 0.2, 0.3]), "steps.*train_error.*same shape"),
    (lambda: ms.fit_c([1.0, 2.0], [0.1]), "lam.*t_star"),
    (lambda: ms.fit_c([1.0, 2.0], 0.1, eta=[1.0, 2.0, 3.0]), "eta.*t_star"),
    (lambda: ms.steps_to_peak([0, np.nan], [0.1, 0.2]), "steps.*finite"),
    (lambda: ms.steps_to_peak([0, 1], [0.1, 0.2], tol=float("nan")), "tol"),
    (lambda: ms.steps_to_fit([0, 1], [0.1, 0.2], threshold=-0.1), "threshold"),
    (lambda: ms.steps_to_fit([0, 1], [0.1, 0.2], threshold=float("nan")), "threshold"),
    (lambda: ms.steps_to_fit([1, 0], [0.1, 0.2]), "steps.*non-decreasing"),
])
def test_mismatched_or_bad_values_raise(call, word):
    with pytest.raises(ValueError, match=word):
        call()


@pytest.mark.parametrize("call,word", [
    (lambda: ms.steps_to_peak(["a", "b"], [0.1, 0.2]), "steps"),
    (lambda: ms.peak_accuracy([None, 0.5]), "acc"),
    (lambda: ms.steps_to_peak([0, 1], [0.1, 0.2], tol="0.1"), "tol"),
    (lambda: ms.steps_to_peak([0, 1], [0.1, 0.2], tol=True), "tol"),
    (lambda: ms.steps_to_fit([0, 1], [0.1, 0.2], threshold=None), "threshold"),
    (lambda: ms.fit_c([1.0], "x"), "lam"),
])
def test_non_numeric_inputs_raise_type_error(call, word):
    with pytest.raises(TypeError, match=word):
        call()


def test_all_nan_curve_of_a_diverged_run_stays_nan():
    steps = np.array([0, 1, 2])
    nan = np.full(3, np.nan)
    assert np.isnan(ms.steps_to_peak(steps, nan))
    assert np.isnan(ms.peak_accuracy(nan))
    assert np.isnan(ms.steps_to_fit(steps, nan))
    # a single-point curve is valid: its only step is the peak
    assert ms.steps_to_peak([7], [0.3]) == 7.0
    # scalar t_star and scalar lam/eta broadcast
    assert ms.fit_c(100.0, 0.01).median == pytest.approx(1.0)
    assert ms.fit_c([100.0, 200.0], 0.01, eta=0.5).values.tolist() == pytest.approx([0.5, 1.0])
