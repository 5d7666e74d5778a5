"""l2lab.weight_decay: grids of sweep records, best lam per eta, slopes, phases, angles."""
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2lab import models, train
from l2lab.figures import weight_decay as wdf
from l2lab.studies import weight_decay as wd


def rec(eta, lam, peak, final=None, diverged=False):
    """A stand-in for l2lab.sweep.Record with what accuracy_grid reads."""
    acc = np.array([0.1, peak, peak if final is None else final])
    return SimpleNamespace(config=SimpleNamespace(eta=eta, lam=lam), peak_accuracy=peak,
                           result=SimpleNamespace(test_accuracy=acc, diverged=diverged))


def test_accuracy_grid_places_every_record_and_marks_diverged_runs():
    rs = [rec(1e-3, 0.0, 0.80), rec(1e-3, 1e-2, 0.82, final=0.70), rec(3e-3, 1e-2, 0.5, diverged=True),
          rec(3e-3, 0.0, 0.81)]
    g = wd.accuracy_grid(rs[::-1])
    np.testing.assert_array_equal(g.etas, [1e-3, 3e-3])
    np.testing.assert_array_equal(g.lams, [0.0, 1e-2])
    np.testing.assert_array_equal(g.accuracy, [[0.80, 0.82], [0.81, np.nan]])
    final = wd.accuracy_grid(rs, statistic="final")
    assert final.accuracy[0, 1] == 0.70
    # per step: the lam axis is eta * lam, rows keep their own columns
    ps = wd.accuracy_grid([rec(1e-3, 3.0, 0.7), rec(3e-3, 1.0, 0.8), rec(3e-3, 3.0, 0.6)], per_step=True)
    np.testing.assert_allclose(ps.lams, [3e-3, 9e-3])
    np.testing.assert_array_equal(ps.accuracy, [[0.7, np.nan], [0.8, 0.6]])


def test_accuracy_grid_rejects_bad_arguments():
    with pytest.raises(ValueError, match="records"):
        wd.accuracy_grid([])
    with pytest.raises(ValueError, match="records"):
        wd.accuracy_grid([rec(1e-3, 0.1, 0.8), rec(1e-3, 0.1, 0.9)])
    with pytest.raises(TypeError, match="records"):
        wd.accuracy_grid([1, 2])
    with pytest.raises(TypeError, match="records"):
        wd.accuracy_grid("abc")
    with pytest.raises(ValueError, match="statistic"):
        wd.accuracy_grid([rec(1e-3, 0.1, 0.8)], statistic="mean")
    with pytest.raises(TypeError, match="per_step"):
        wd.accuracy_grid([rec(1e-3, 0.1, 0.8)], per_step=1)


def _brute_best(lams, row, band):
    ok = [(a, l) for l, a in zip(lams, row) if np.isfinite(a)]
    top = max(a for a, _ in ok)
    best = min(l for a, l in ok if a == top)
    within = [l for a, l in ok if a >= top - band]
    return best, min(within), max(within), top


def test_best_lam_per_eta_matches_a_brute_force_search():
    r = np.random.RandomState(0)
    lams = np.array([0.0, 1e-4, 1e-3, 1e-2, 1e-1])
    acc = 0.8 + 0.01 * r.rand(4, 5)
    acc[1, 2] = np.nan
    acc[3] = np.nan                       # a row without any finite run
    g = wd.AccuracyGrid(np.array([1e-4, 1e-3, 1e-2, 1e-1]), lams, acc)
    for band in (0.0, 0.001, 0.005):
        b = wd.best_lam_per_eta(g, band)
        for i in range(3):
            assert (b.lam[i], b.low[i], b.high[i], b.accuracy[i]) == pytest.approx(
                _brute_best(lams, acc[i], band))
        assert np.all(np.isnan([b.lam[3], b.low[3], b.high[3], b.accuracy[3]]))
        assert b.band == band
    with pytest.raises(TypeError, match="grid"):
        wd.best_lam_per_eta((g.etas, g.lams, g.accuracy))
    with pytest.raises(ValueError, match="grid"):
        wd.best_lam_per_eta(wd.AccuracyGrid(g.etas, g.lams, acc[:, :3]))
    with pytest.raises(ValueError, match="band"):
        wd.best_lam_per_eta(g, -0.1)


def test_eta_exponent_recovers_a_power_law_and_agrees_with_polyfit():
    etas = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    for b in (0.0, -1.0, 0.5):
        assert wd.eta_exponent(etas, 3e-2 * etas ** b) == pytest.approx(b, abs=1e-12)
    r = np.random.RandomState(1)
    lams = np.exp(r.randn(4))
    assert wd.eta_exponent(etas, lams) == pytest.approx(np.polyfit(np.log(etas), np.log(lams), 1)[0])
    # zeros and NaN are left out; fewer than two etas left: NaN
    assert wd.eta_exponent(etas, [0.0, 1e-3, np.nan, 1e-2]) == pytest.approx(0.5)
    assert np.isnan(wd.eta_exponent(etas, [0.0, 1e-3, np.nan, 0.0]))
    with pytest.raises(ValueError, match="etas"):
        wd.eta_exponent([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="etas"):
        wd.eta_exponent([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(TypeError, match="lams"):
        wd.eta_exponent([1.0, 2.0], ["a", "b"])


def test_common_lams_are_the_columns_within_the_band_of_every_row():
    lams = np.array([0.0, 1.0, 2.0, 3.0])
    acc = np.array([[0.90, 0.905, 0.91, 0.80],
                    [0.90, 0.91, 0.9095, np.nan],
                    [np.nan] * 4])
    g = wd.AccuracyGrid(np.array([1.0, 2.0, 3.0]), lams, acc)
    np.testing.assert_array_equal(wd.common_lams(g, 0.001), [2.0])
    np.testing.assert_array_equal(wd.common_lams(g, 0.006), [1.0, 2.0])
    np.testing.assert_array_equal(wd.common_lams(g, 0.0), [])
    np.testing.assert_array_equal(wd.common_lams(g, 0.2), [0.0, 1.0, 2.0])   # NaN never counts
    with pytest.raises(ValueError, match="band"):
        wd.common_lams(g, float("nan"))


def test_phase_means_and_cumulative_angle():
    v = np.arange(10.0)
    assert wd.phase_means(v, 4) == (1.5, 6.5)
    assert wd.phase_means(v, 4, start=2) == (2.5, 6.5)
    for kw, name in (({"until": 10}, "until"), ({"until": 0}, "until"), ({"until": 3, "start": 3}, "start")):
        with pytest.raises(ValueError, match=name):
            wd.phase_means(v, **kw)
    with pytest.raises(TypeError, match="until"):
        wd.phase_means(v, 2.5)
    np.testing.assert_allclose(wd.cumulative_angle([0.1, 0.2, 0.3]), [0.0, 0.1, 0.3, 0.6])
    with pytest.raises(ValueError, match="angles"):
        wd.cumulative_angle([0.1, -0.2])
    with pytest.raises(ValueError, match="angles"):
        wd.cumulative_angle([0.1, np.nan])
    # the path length bounds the angle between the first and the last direction
    r = np.random.RandomState(2)
    w = np.cumsum(0.1 * r.randn(50, 20), axis=0) + r.randn(20)
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)
    steps = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], 1), -1, 1))
    assert np.arccos(unit[0] @ unit[-1]) <= wd.cumulative_angle(steps)[-1] + 1e-12


def test_the_listed_cnn_bn_kernels_are_exactly_the_scale_invariant_ones():
    model = models.make_model("cnn_bn", channels=4, dense=8, pool_strides=(2, 2))
    params = models.init(model, jax.random.PRNGKey(0), (1, 12, 12, 1))
    x = jax.random.normal(jax.random.PRNGKey(1), (16, 12, 12, 1))
    y = jax.nn.one_hot(jnp.arange(16) % 10, 10)
    paths = train.kernel_paths(params)

    @jax.jit
    def loss(c):      # kernel k multiplied by c[k]
        it = iter(range(len(paths)))
        p = jax.tree_util.tree_map_with_path(
            lambda kp, v: v * c[next(it)] if getattr(kp[-1], "key", None) == "kernel" else v, params)
        return train.xent_loss(model.apply({"params": p}, x), y)

    ones = jnp.ones(len(paths))
    base = float(loss(ones))
    order = [train.path_str(kp) for kp, _ in jax.tree_util.tree_flatten_with_path(params)[0]
             if getattr(kp[-1], "key", None) == "kernel"]
    invariant = set()
    for k, name in enumerate(order):
        change = max(abs(float(loss(ones.at[k].set(c))) - base) for c in (0.3, 3.0))
        if change < 1e-3 * base:
            invariant.add(name)
    assert invariant == set(wd.CNN_BN_SCALE_INVARIANT)
    assert set(wd.CNN_BN_SCALE_INVARIANT) < set(paths)


def test_figures_show_the_grid_and_leave_out_lam_zero():
    g = wd.AccuracyGrid(np.array([1e-3, 1e-2]), np.array([0.0, 0.1, 1.0]),
                        np.array([[0.8, 0.85, np.nan], [0.7, 0.75, 0.78]]))
    fig = wdf.accuracy_heatmap(g, title="t", lam_label="d")
    hm = fig.data[0]
    np.testing.assert_array_equal(np.asarray(hm.z, float), g.accuracy)
    assert list(hm.x) == ["0", "0.1", "1"] and hm.text[0][1].endswith("★") and hm.text[0][2] == "–"
    b = wd.best_lam_per_eta(wd.AccuracyGrid(g.etas, g.lams, np.array([[0.9, 0.85, 0.8], [0.7, 0.75, 0.78]])))
    fig = wdf.best_lam_figure({"x": b})
    y = np.asarray(fig.data[0].y, float)
    assert np.isnan(y[0]) and y[1] == 1.0          # best lam 0 at the first eta: a gap
    with pytest.raises(ValueError, match="best"):
        wdf.best_lam_figure({})
    with pytest.raises(TypeError, match="best"):
        wdf.best_lam_figure({"x": 1})
    with pytest.raises(TypeError, match="grid"):
        wdf.accuracy_heatmap(None)


# ----------------------------------------------------------------------------- seeds and verdicts

def srec(seed, eta, lam, peak, final=None, diverged=False):
    r = rec(eta, lam, peak, final, diverged)
    r.config.seed = seed
    return r


def test_seed_grids_and_seed_mean_measure_the_noise_of_the_gains():
    # gains over lam = 0 of +0.01, +0.02, +0.03 at (eta 1, lam 1) on three seeds: the standard
    # error of their mean is std([.01,.02,.03], ddof=1) / sqrt(3) = 0.01 / sqrt(3); a row shift
    # by the seed (0.1 * seed) does not count
    rs = []
    for s, g in zip((2, 0, 1), (0.03, 0.01, 0.02)):
        base = 0.5 + 0.1 * s
        rs += [srec(s, 1.0, 0.0, base), srec(s, 1.0, 1.0, base + g),
               srec(s, 2.0, 0.0, base), srec(s, 2.0, 1.0, base + g)]
    grids = wd.seed_grids(rs)
    assert list(grids) == [0, 1, 2]
    np.testing.assert_allclose(grids[1].accuracy, [[0.6, 0.62], [0.6, 0.62]])
    m = wd.seed_mean(grids)
    assert m.seeds == 3 and m.noise == pytest.approx(0.01 / np.sqrt(3))
    np.testing.assert_allclose(m.grid.accuracy, [[0.6, 0.62], [0.6, 0.62]])
    with pytest.raises(ValueError, match="grids"):
        wd.seed_mean([grids[0]])
    with pytest.raises(ValueError, match="first lam column"):
        wd.seed_mean([wd.AccuracyGrid(np.ones(1), np.ones(1), np.ones((1, 1)))] * 2)
    with pytest.raises(ValueError, match="records"):       # seed 3 covers another grid
        wd.seed_grids(rs + [srec(3, 1.0, 0.0, 0.5)])


def grid(rows, lams=(0.0, 1.0, 2.0)):
    rows = np.asarray(rows, float)
    return wd.AccuracyGrid(np.arange(1.0, rows.shape[0] + 1), np.asarray(lams), rows)


def test_decoupling_verdict_follows_its_four_cases():
    moves = grid([[0.80, 0.85, 0.80], [0.80, 0.80, 0.85]])      # best lam 1, then 2
    stays = grid([[0.80, 0.85, 0.80], [0.80, 0.85, 0.80]])
    assert wd.decoupling_verdict(moves, stays, 0.001).verdict == "reproduced"
    assert wd.decoupling_verdict(stays, stays, 0.001).verdict == "not at this scale"
    assert wd.decoupling_verdict(moves, moves, 0.001).verdict == "partly"
    assert wd.decoupling_verdict(stays, moves, 0.001).verdict == "contradicted"
    # a band wider than the difference: the moving grid has common values too
    v = wd.decoupling_verdict(moves, stays, 0.06)
    assert v.verdict == "not at this scale" and list(v.coupled) == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="band"):
        wd.decoupling_verdict(moves, stays, -1.0)


def test_seed_accuracies_pairs_resolution_and_orders():
    runs = {"a": [srec(1, 1.0, 0.0, 0.70), srec(0, 1.0, 0.0, 0.60)],
            "b": [srec(0, 1.0, 0.1, 0.65, final=0.5), srec(1, 1.0, 0.1, 0.80)],
            "c": [srec(0, 1.0, 0.2, 0.90), srec(1, 1.0, 0.2, 0.91)]}
    acc = wd.seed_accuracies(runs)
    np.testing.assert_allclose(acc["a"], [0.60, 0.70])          # sorted by seed
    assert wd.seed_accuracies(runs, "final")["b"][0] == 0.5
    # b - a: +0.05, +0.10 (same sign); c beats both on each seed by >= 0.11
    assert wd.resolved_pairs(acc) == [("b", "a"), ("c", "a"), ("c", "b")]
    assert wd.resolved_pairs(acc, min_diff=0.06) == [("c", "a"), ("c", "b")]
    acc["b"] = np.array([0.65, 0.65])                           # b - a: +0.05, -0.05
    assert ("b", "a") not in wd.resolved_pairs(acc) and ("a", "b") not in wd.resolved_pairs(acc)
    assert wd.orders_like([("c", "a")], {"a": 1.0, "c": 2.0})
    assert not wd.orders_like([("c", "a")], {"a": 2.0, "c": 2.0})
    assert wd.accuracy_resolution(0.8, 400) == pytest.approx(2 * 0.02)
    with pytest.raises(ValueError, match="runs"):
        wd.seed_accuracies({"a": runs["a"], "b": runs["b"][:1]})
    with pytest.raises(ValueError, match="n_test"):
        wd.accuracy_resolution(0.8, 0)


def test_early_wd_and_measure_verdicts():
    none = np.array([0.70, 0.72])
    assert wd.early_wd_verdict({"no WD": none, "WD throughout": none + 0.1,
                                "early WD": none + 0.06}) == "reproduced"
    assert wd.early_wd_verdict({"no WD": none, "WD throughout": none + 0.1,
                                "early WD": none + 0.04}) == "partly"
    assert wd.early_wd_verdict({"no WD": none, "WD throughout": none + 0.1,
                                "early WD": none + [0.05, -0.01]}) == "contradicted"
    assert wd.early_wd_verdict({"no WD": none, "WD throughout": none + [0.1, -0.01],
                                "early WD": none + 0.05}) == "not at this scale"
    with pytest.raises(ValueError, match="early WD"):
        wd.early_wd_verdict({"no WD": none})
    pairs = [("thr", "none"), ("early", "none")]
    good = {"none": 0.0, "thr": 1.0, "early": 2.0}
    bad = {"none": 3.0, "thr": 1.0, "early": 2.0}
    assert wd.measure_verdict(pairs, good, bad) == "reproduced"
    assert wd.measure_verdict(pairs, good, good) == "not at this scale"
    assert wd.measure_verdict(pairs, bad, good) == "contradicted"
    assert wd.measure_verdict(pairs, bad, bad) == "partly"
    assert wd.measure_verdict([], bad, bad) == "not at this scale"


def test_tables_of_the_chapter():
    g = grid([[0.80, 0.85, 0.80], [0.80, 0.85, 0.84]])
    t = wdf.best_decay_table({"x": g}, 0.001)
    assert t.header == ["grid", "η = 1", "η = 2", "within 0.10% at every η"]
    assert t.rows == [["x", "1", "1", "1"]]
    assert wdf.best_decay_table({"x": grid([[0.8, 0.85, 0.8], [0.8, 0.8, 0.85]])},
                                0.001).rows[0][-1] == "none"
    peak = {"a": np.array([0.5, 0.6]), "b": np.array([0.7, 0.8])}
    t = wdf.early_wd_table(peak, peak, {"norm": {"a": 1.0, "b": 2.0}})
    assert t.rows[1] == ["b", "0.7", "0.8", "0.75", "2"]
    assert "<table" in t._repr_html_()
    with pytest.raises(ValueError, match="final"):
        wdf.early_wd_table(peak, {"a": peak["a"]}, {})
