"""l2lab.catapult: the MSE critical learning rate against the loss Hessian and gradient descent,
the Lanczos top eigenvalue against an explicit NTK, and the curve readings against hand-made
curves."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2lab import train
from l2lab.studies import catapult


def _linear_problem(n=12, d=5, k=3, seed=0):
    r = np.random.RandomState(seed)
    x = r.randn(n, d).astype(np.float32)
    y = np.eye(k, dtype=np.float32)[r.randint(0, k, n)]
    return x, y


def _mse_hessian_top(x, y, lam):
    """Top eigenvalue of the Hessian of train.mse_loss + lam/2 |W|^2 for f(x) = x W (jax.hessian)."""
    d, k = x.shape[1], y.shape[1]

    def loss(w):
        w = w.reshape(d, k)
        return train.mse_loss(x @ w, y) + 0.5 * lam * jnp.sum(w * w)

    h = jax.hessian(loss)(jnp.zeros(d * k, jnp.float32))
    return float(np.linalg.eigvalsh(np.asarray(h, np.float64))[-1])


def test_critical_rate_is_two_over_the_top_of_the_mse_hessian():
    x, y = _linear_problem()
    n, k = y.shape
    theta = x.astype(np.float64) @ x.T.astype(np.float64)     # per-output NTK of f = x W
    for lam in (0.0, 0.3):
        eta = catapult.ntk_critical_learning_rate(theta, k, lam=lam)
        assert eta == pytest.approx(2.0 / _mse_hessian_top(x, y, lam), rel=1e-5)
        top = np.linalg.eigvalsh(theta)[-1]
        assert catapult.critical_learning_rate(top, n, k, lam=lam) == pytest.approx(eta, rel=1e-12)


def test_gradient_descent_converges_just_below_and_diverges_just_above_the_critical_rate():
    x, y = _linear_problem(seed=1)
    n, k = y.shape
    eta_c = catapult.ntk_critical_learning_rate(x @ x.T, k)

    def final_loss(eta, steps=400):
        w = jnp.zeros((x.shape[1], k))
        g = jax.jit(jax.grad(lambda w: train.mse_loss(x @ w, y)))
        for _ in range(steps):
            w = w - eta * g(w)
        return float(train.mse_loss(x @ w, y))

    below, above = final_loss(0.97 * eta_c), final_loss(1.03 * eta_c)
    assert np.isfinite(below) and below < 1.0
    assert not np.isfinite(above) or above > 1e3


def test_critical_learning_rate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        catapult.ntk_critical_learning_rate(np.eye(3), 0)
    with pytest.raises(ValueError, match="ntk_train_train"):
        catapult.ntk_critical_learning_rate(np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="lam"):
        catapult.ntk_critical_learning_rate(np.eye(3), 2, lam=-1.0)
    with pytest.raises(ValueError, match="symmetric"):
        catapult.ntk_critical_learning_rate(np.array([[1.0, 2.0], [0.0, 1.0]]), 2)
    with pytest.raises(ValueError, match="n_train"):
        catapult.critical_learning_rate(1.0, 0, 10)
    with pytest.raises(ValueError, match="top_eigenvalue"):
        catapult.critical_learning_rate(float("nan"), 5, 10)
    with pytest.raises(TypeError, match="num_classes"):
        catapult.critical_learning_rate(1.0, 5, 2.5)
    assert catapult.critical_learning_rate(0.0, 5, 10) == math.inf


def _mlp():
    r = np.random.RandomState(3)
    params = {"w1": jnp.asarray(r.randn(4, 7) / 2, jnp.float32),
              "w2": jnp.asarray(r.randn(7, 3) / 3, jnp.float32),
              "b2": jnp.asarray(r.randn(3) / 5, jnp.float32)}

    def apply_fn(p, x):
        return jnp.tanh(x @ p["w1"]) @ p["w2"] + p["b2"]

    x = r.randn(9, 4).astype(np.float32)
    return apply_fn, params, x


def test_lanczos_top_eigenvalue_matches_the_explicit_full_ntk():
    apply_fn, params, x = _mlp()
    jac = jax.jacobian(lambda p: apply_fn(p, jnp.asarray(x)))(params)          # leaves (9, 3, ...)
    j = np.concatenate([np.asarray(l, np.float64).reshape(27, -1) for l in jax.tree.leaves(jac)], 1)
    theta = j @ j.T                                                          # (N K, N K)
    top = np.linalg.eigvalsh(theta)[-1]
    assert catapult.ntk_top_eigenvalue(apply_fn, params, x, num_iters=27) == pytest.approx(top, rel=1e-4)
    # a few iterations already give the top of a kernel with a gap; never above it
    few = catapult.ntk_top_eigenvalue(apply_fn, params, x, num_iters=8)
    assert few == pytest.approx(top, rel=1e-3) and few <= top * (1 + 1e-5)


def test_lanczos_rejects_bad_arguments():
    apply_fn, params, x = _mlp()
    with pytest.raises(TypeError, match="apply_fn"):
        catapult.ntk_top_eigenvalue(None, params, x)
    with pytest.raises(ValueError, match="num_iters"):
        catapult.ntk_top_eigenvalue(apply_fn, params, x, num_iters=0)
    with pytest.raises(ValueError, match="`x`"):
        catapult.ntk_top_eigenvalue(apply_fn, params, x[:0])
    with pytest.raises(ValueError, match="`x`"):
        catapult.ntk_top_eigenvalue(apply_fn, params, np.full_like(x, np.nan))


def test_accuracy_at_fit_reads_the_first_zero_training_error():
    steps = np.array([0, 1, 2, 4, 8, 16])
    err = np.array([0.9, 0.5, 0.1, 0.0, 0.02, 0.0])
    acc = np.array([0.1, 0.5, 0.7, 0.8, 0.81, 0.9])
    assert catapult.accuracy_at_fit(steps, err, acc) == (4.0, 0.8)
    never = catapult.accuracy_at_fit(steps, err + 0.01, acc)
    assert math.isnan(never.step) and math.isnan(never.test_accuracy)
    with pytest.raises(ValueError, match="test_accuracy"):
        catapult.accuracy_at_fit(steps, err, acc[:-1])
    with pytest.raises(ValueError, match="train_error"):
        catapult.accuracy_at_fit(steps, err[:-1], acc)


def test_loss_minimum_and_its_rise():
    steps = np.arange(6)
    loss = np.array([1.0, 0.5, 0.2, np.nan, 0.3, 0.4])
    m = catapult.loss_minimum(steps, loss)
    assert m == (2.0, 0.2, 0.4, pytest.approx(2.0))
    flat = catapult.loss_minimum(steps, np.linspace(1.0, 0.5, 6))
    assert flat.step == 5.0 and flat.rise == 1.0
    assert all(math.isnan(v) for v in catapult.loss_minimum(steps, np.full(6, np.nan)))
    with pytest.raises(ValueError, match="steps"):
        catapult.loss_minimum(steps[::-1], loss)
    with pytest.raises(ValueError, match="loss"):
        catapult.loss_minimum(steps, loss[:3])


def test_early_loss_peak():
    steps = np.array([0, 1, 2, 3, 10, 20])
    assert catapult.early_loss_peak(steps, [1.0, 0.9, 0.8, 0.7, 0.5, 2.0], 10) == 1.0
    assert catapult.early_loss_peak(steps, [1.0, 3.0, 0.8, 0.7, 0.5, 0.4], 10) == 3.0
    assert catapult.early_loss_peak(steps, [1.0, 0.9, np.nan, np.nan, np.nan, np.nan], 5) == math.inf
    with pytest.raises(ValueError, match="until"):
        catapult.early_loss_peak(steps, np.ones(6), -1)
    with pytest.raises(ValueError, match="loss"):
        catapult.early_loss_peak(steps, [0.0, 1, 1, 1, 1, 1], 5)


def test_spread():
    assert catapult.spread([0.8, np.nan, 0.85, 0.7]) == pytest.approx(0.15)
    assert math.isnan(catapult.spread([np.nan]))
    with pytest.raises(ValueError, match="values"):
        catapult.spread([])


def _record(eta, lam, acc, err, loss):
    from l2lab import sweep

    steps = np.arange(len(acc))
    res = train.TrainResult(steps, np.asarray(loss, float), np.asarray(err, float), np.asarray(acc, float),
                            np.zeros(len(acc)), np.ones(len(acc)), diverged=False, diverged_at=-1,
                            wall_time=0.0)
    cfg = train.TrainConfig(eta=eta, lam=lam, steps=len(acc) - 1, loss="mse")
    return sweep.Record("r", 0, cfg, "fc", "mnist5k", {}, res, float("nan"),
                        float(np.nanmax(acc)), {}, {})


def test_summarize_reads_each_record():
    a = _record(0.5, 1e-3, [0.1, 0.6, 0.8, 0.85], [0.9, 0.1, 0.0, 0.0], [1.0, 2.0, 0.1, 0.3])
    b = _record(0.1, 1e-3, [0.1, 0.5, 0.7, 0.9], [0.9, 0.3, 0.1, 0.0], [1.0, 0.5, 0.2, 0.1])
    rows = catapult.summarize([a, b], early_steps=1)
    assert [r.eta for r in rows] == [0.1, 0.5]
    slow, fast = rows
    assert (slow.fit_step, slow.acc_at_fit, slow.loss_min_step, slow.early_peak) == (3.0, 0.9, 3.0, 1.0)
    assert (fast.fit_step, fast.acc_at_fit, fast.peak_accuracy, fast.final_accuracy) == (2.0, 0.8, 0.85, 0.85)
    assert fast.loss_min_step == 2.0 and fast.loss_rise == pytest.approx(3.0) and fast.early_peak == 2.0
    with pytest.raises(ValueError, match="records"):
        catapult.summarize([])
    with pytest.raises(TypeError, match="records"):
        catapult.summarize([1])


def test_catapult_figures_hold_the_data_and_reject_bad_input():
    from l2lab.figures import related as rf

    etas = [0.1, 0.3, 1.0]
    fig = rf.catapult_accuracy_figure(etas, {"a": [0.7, 0.8, np.nan], "b": [0.8, 0.8, 0.8]},
                                      critical={"crit": 0.2, "inf": 0.35})
    assert [t.name for t in fig.data] == ["a", "b"] and list(fig.data[0].x) == etas
    assert fig.layout.xaxis.type == "log"
    assert sorted(s.x0 for s in fig.layout.shapes) == [0.2, 0.35]       # the vertical lines
    with pytest.raises(ValueError, match="etas"):
        rf.catapult_accuracy_figure([0.0, 1.0], {"a": [1, 2]})
    with pytest.raises(ValueError, match="curves"):
        rf.catapult_accuracy_figure(etas, {"a": [1, 2]})
    with pytest.raises(ValueError, match="critical"):
        rf.catapult_accuracy_figure(etas, {"a": [1, 2, 3]}, critical={"c": -1.0})

    a = _record(0.5, 1e-3, [0.1, 0.6, 0.8, 0.85], [0.9, 0.1, 0.0, 0.0], [1.0, 2.0, 0.1, 0.3])
    b = _record(0.1, 1e-3, [0.1, 0.5, 0.7, 0.9], [0.9, 0.3, 0.1, 0.0], [1.0, 0.5, 0.2, 0.1])
    fig = rf.mse_loss_figure([a, b], minima={0.5: (2, 0.1), 0.1: (3, 0.1)})
    lines = [t for t in fig.data if t.mode == "lines"]
    marks = [t for t in fig.data if t.mode == "markers"]
    assert [t.name for t in lines] == ["η = 0.1", "η = 0.5"]
    assert list(lines[1].x) == pytest.approx([0.5e-3, 1e-3, 1.5e-3])      # eta lam t, step 0 dropped
    assert [float(m.x[0]) for m in marks] == pytest.approx([3e-4, 1e-3])
    assert list(rf.mse_loss_figure([a], lam_time=False).data[0].x) == [1, 2, 3]
    with pytest.raises(ValueError, match="records"):
        rf.mse_loss_figure([])
    with pytest.raises(ValueError, match="records"):
        rf.mse_loss_figure([_record(0.5, 0.0, [0.1, 0.2], [0.5, 0.0], [1.0, 0.5])])


def test_accuracy_verdict_follows_its_criterion():
    n = 1000                                   # se at p = 0.8: 0.01265
    at_fit = [0.78, 0.79, 0.80, 0.86]          # spread 0.08 > 3 se
    v = catapult.accuracy_verdict(at_fit, [0.85, 0.86, 0.855, 0.85], n)
    assert v.word == "reproduced"
    assert v.spread_at_fit == pytest.approx(0.08)
    assert v.spread_with_l2 == pytest.approx(0.01)
    assert v.standard_error == pytest.approx(math.sqrt(0.8075 * 0.1925 / n))
    assert "0.080" in v.reason and "0.010" in v.reason
    assert catapult.accuracy_verdict(at_fit, [0.80, 0.86, 0.83, 0.85], n).word == "partly"
    assert catapult.accuracy_verdict(at_fit, [0.75, 0.86, 0.80, 0.85], n).word == "contradicted"
    # a spread of 0.03 at fit is below 3 se: nothing to flatten
    flat = catapult.accuracy_verdict([0.80, 0.81, 0.82, 0.83], [0.8] * 4, n)
    assert flat.word == "not at this scale"
    # ... but with 10x the test images it is resolvable
    assert catapult.accuracy_verdict([0.80, 0.81, 0.82, 0.83], [0.8] * 4, 10 * n).word == "reproduced"


def test_accuracy_verdict_averages_seeds_and_skips_missing_points():
    seeds = [[0.78, 0.80, 0.86], [0.80, 0.78, 0.84]]          # means 0.79, 0.79, 0.85
    v = catapult.accuracy_verdict(seeds, [[0.85, 0.85, 0.84]], 1000)
    assert v.spread_at_fit == pytest.approx(0.06)
    assert v.spread_with_l2 == pytest.approx(0.01)
    assert v.flattest_seed == pytest.approx(0.06)
    assert v.word == "reproduced"
    # the means spread 0.06, but one seed only 0.015: L2's 0.01 is not half of that
    mixed = [[0.78, 0.80, 0.86], [0.80, 0.785, 0.80], [0.79, np.nan, 0.87]]
    m = catapult.accuracy_verdict(mixed, [[0.85, 0.85, 0.84]], 1000)
    assert m.flattest_seed == pytest.approx(0.015) and m.word == "partly"
    w = catapult.accuracy_verdict([0.7, np.nan, 0.9], [0.85, 0.85, 0.84], 1000)
    assert w.spread_at_fit == pytest.approx(0.2)
    # fewer than two learning rates with a value (no run fitted): nothing to compare
    for fit, l2 in (([np.nan, np.nan], [0.8, 0.9]), ([0.8, 0.9], [0.8, np.nan])):
        none = catapult.accuracy_verdict(fit, l2, 100)
        assert none.word == "not at this scale" and np.isnan(none.spread_at_fit)
        assert "fewer than two learning rates" in none.reason


def test_accuracy_verdict_rejects_bad_arguments():
    with pytest.raises(ValueError, match="with_l2"):
        catapult.accuracy_verdict([0.8, 0.9], [0.8, 0.9, 0.7], 100)
    with pytest.raises(ValueError, match="at_fit"):
        catapult.accuracy_verdict([0.8, 1.2], [0.8, 0.9], 100)
    with pytest.raises(ValueError, match="at_fit"):
        catapult.accuracy_verdict([0.8], [0.8], 100)         # one learning rate
    with pytest.raises(TypeError, match="at_fit"):
        catapult.accuracy_verdict(["a", "b"], [0.8, 0.9], 100)
    with pytest.raises(ValueError, match="n_test"):
        catapult.accuracy_verdict([0.8, 0.9], [0.8, 0.9], 0)
    with pytest.raises(ValueError, match="flatten"):
        catapult.accuracy_verdict([0.8, 0.9], [0.8, 0.9], 100, flatten=2.0)


def _row(eta=0.5, lam=1e-2, steps=400, min_step=100.0, rise=1.1, diverged=False):
    nan = float("nan")
    return catapult.CatapultRow(eta, lam, steps, nan, nan, 0.9, 0.9, min_step, 0.01, 0.01 * rise,
                                rise, 1.0, diverged)


def test_loss_minimum_verdict_follows_its_criterion():
    good = _row()                                          # min at eta lam t = 0.5, rises 10%
    assert catapult.loss_minimum_verdict([good, good]) == "reproduced"
    at_end = _row(min_step=400.0, rise=1.0)               # the loss only fell
    assert catapult.loss_minimum_verdict([good, at_end]) == "partly"
    assert catapult.loss_minimum_verdict([at_end]) == "not at this scale"
    too_early = _row(min_step=10.0)                       # eta lam t = 0.05: not ~ 1/(eta lam)
    assert catapult.loss_minimum_verdict([too_early]) == "not at this scale"
    flat = _row(rise=1.0005)                              # below the 0.1% rise
    assert catapult.loss_minimum_verdict([flat]) == "not at this scale"
    assert catapult.loss_minimum_verdict([flat], min_rise=1.0001) == "reproduced"
    assert catapult.loss_minimum_verdict([_row(diverged=True)]) == "not at this scale"


def test_loss_minimum_verdict_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rows"):
        catapult.loss_minimum_verdict([])
    with pytest.raises(TypeError, match="rows"):
        catapult.loss_minimum_verdict([(1, 2)])
    with pytest.raises(ValueError, match="rows"):
        catapult.loss_minimum_verdict([_row(lam=0.0)])
    with pytest.raises(ValueError, match="min_rise"):
        catapult.loss_minimum_verdict([_row()], min_rise=0.5)


def test_by_seed_lays_a_column_out_per_seed_and_learning_rate():
    recs = []
    for seed, accs in ((2, (0.6, 0.7)), (0, (0.8, 0.9))):
        for eta, a in zip((0.5, 0.1), accs):
            r = _record(eta, 1e-3, [0.1, 0.5, a, a], [0.9, 0.2, 0.0, 0.0], [1.0, 0.5, 0.2, 0.1])
            recs.append(r._replace(config=r.config._replace(seed=seed)))
    seeds, etas, v = catapult.by_seed(recs, "acc_at_fit")
    assert seeds.tolist() == [0, 2] and etas.tolist() == [0.1, 0.5]
    np.testing.assert_allclose(v, [[0.9, 0.8], [0.7, 0.6]])
    _, _, partial = catapult.by_seed(recs[:3], "peak_accuracy")      # seed 0 lacks eta 0.1
    assert np.isnan(partial[0, 0]) and partial[0, 1] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="field"):
        catapult.by_seed(recs, "diverged")
    other = _record(0.1, 1e-2, [0.1, 0.5, 0.7, 0.9], [0.9, 0.3, 0.1, 0.0], [1.0, 0.5, 0.2, 0.1])
    with pytest.raises(ValueError, match="records"):
        catapult.by_seed(recs + [other], "acc_at_fit")
