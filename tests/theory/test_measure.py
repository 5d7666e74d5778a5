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
        acc = np.clip(0.9 - 0.1 * np.log(t * lam / c) ** 2, 0.0, 1.0)   # accuracies lie in [0, 1]
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
    empty = ms.fit_c([np.nan, 0.0, 5.0], [0.1, 0.1, 0.0], allow_empty=True)  # no run with a peak
    assert empty.n == 0 and empty.n_dropped == 3 and np.isnan(empty.median) and np.isnan(empty.spread)
    assert ms.fit_c([2.0, 4.0], 0.1, allow_empty=True).median == pytest.approx(0.3)
    with pytest.raises(TypeError, match="allow_empty"):
        ms.fit_c([1.0], [0.1], allow_empty=1)


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


# ---------------------------------------------------------------------------------------------
# time_of_min / time_of_max: NaN-safe, against a plain loop
# ---------------------------------------------------------------------------------------------

def _reference_time_of(t, column, better):
    """The first t at which ``column`` takes its best non-NaN value (``better(a, b)``: a is
    better than b)."""
    best_i = None
    for i, v in enumerate(column):
        if np.isnan(v):
            continue
        if best_i is None or better(v, column[best_i]):
            best_i = i
    return np.nan if best_i is None else t[best_i]


def _random_curves(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 10, size=9))
    v = rng.integers(0, 4, size=(9, 6)).astype(float)          # ties are common
    v[rng.random(v.shape) < 0.3] = np.nan
    v[rng.random(v.shape) < 0.1] = np.inf
    v[rng.random(v.shape) < 0.1] = -np.inf
    v[:, 0] = np.nan                                            # an all-NaN column
    v[:, 1] = [np.nan, np.inf, np.nan, np.inf] + [np.nan] * 5    # only +inf besides NaN
    v[:, 2] = [np.nan, -np.inf, np.nan, -np.inf] + [np.nan] * 5  # only -inf besides NaN
    return t, v


@pytest.mark.parametrize("seed", range(20))
def test_time_of_min_max_match_a_plain_loop(seed):
    t, v = _random_curves(seed)
    want_min = [_reference_time_of(t, v[:, j], lambda a, b: a < b) for j in range(v.shape[1])]
    want_max = [_reference_time_of(t, v[:, j], lambda a, b: a > b) for j in range(v.shape[1])]
    np.testing.assert_array_equal(ms.time_of_min(t, v), want_min)
    np.testing.assert_array_equal(ms.time_of_max(t, v), want_max)
    for j in range(v.shape[1]):                                # 1-D curves: numpy floats
        got = ms.time_of_min(t, v[:, j])
        assert isinstance(got, np.floating) and np.array_equal(got, want_min[j], equal_nan=True)


def test_time_of_min_max_shapes_and_all_nan():
    t = np.linspace(0, 1, 11)
    v = np.stack([(t - 0.3) ** 2, -((t - 0.7) ** 2)], axis=1)
    np.testing.assert_allclose(ms.time_of_min(t, v), [0.3, 0.0])
    np.testing.assert_allclose(ms.time_of_max(t, v), [1.0, 0.7])
    assert ms.time_of_min(t, v[:, :, None]).shape == (2, 1)
    assert np.isnan(ms.time_of_min(t, np.full(11, np.nan)))
    assert np.isnan(ms.time_of_max(t, np.full(11, np.nan)))
    diverged = (t - 0.3) ** 2
    diverged[6:] = np.nan                                      # a run that diverged at t = 0.6
    assert ms.time_of_min(t, diverged) == t[3]


def test_time_of_min_bad_arguments():
    with pytest.raises(ValueError, match="values"):
        ms.time_of_min([0.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="t"):
        ms.time_of_min([0.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="t"):
        ms.time_of_max([], [])
    with pytest.raises(TypeError, match="values"):
        ms.time_of_max([0.0, 1.0], ["a", "b"])


def test_theory_exports_the_same_functions():
    from l2lab import theory
    assert theory.time_of_min is ms.time_of_min and theory.time_of_max is ms.time_of_max


def test_percent_accuracies_and_negative_fit_inputs_are_errors_naming_the_argument():
    # issue 18: inputs the functions cannot read meaningfully are refused, not read as numbers
    import l2lab.measure as ms
    with pytest.raises(ValueError, match="`acc`.*not percentages"):
        ms.steps_to_peak([0, 1, 2], [10.0, 85.0, 88.2])
    with pytest.raises(ValueError, match="`acc`"):
        ms.peak_accuracy([0.5, 1.2])
    with pytest.raises(ValueError, match="`acc`"):
        ms.steps_to_reach([0, 1], [-0.1, 0.5], 0.4)
    with pytest.raises(ValueError, match="`t_star`"):
        ms.fit_c([10.0, -5.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="`lam`"):
        ms.fit_c([10.0, 5.0], [0.1, -0.1])
    with pytest.raises(ValueError, match="`eta`"):
        ms.fit_c([10.0, 5.0], 0.1, eta=[-1.0, 1.0])
    # NaN (a diverged run) is still a valid entry, and lam = 0 is still just left out
    assert ms.steps_to_peak([0, 1, 2], [0.1, np.nan, 0.9]) == 2.0
    assert ms.fit_c([10.0, np.nan, 5.0], [0.1, 0.1, 0.0]).n == 1
