"""l2lab.init_scale: sigma_w really scales the initial weights of every model (the chapter's tiny
WRN included), the scaled-init runs equal one l2lab.sweep per sigma_w, cache, spreads, checks."""
import math

import jax
import numpy as np
import pytest

from l2lab.studies import init_scale as I
from l2lab import models as M
from l2lab import sweep as S
from l2lab import train as T
from l2lab.engine.tree import last_key
from toy_data import toy as _toy

SIGMAS = (0.5, 1.0, 2.0)
FC_KWARGS = {"widths": (8, 8), "sigma_b": 0.3}


def _kernel_norm(params):
    return math.sqrt(sum(float(np.sum(np.square(np.asarray(w))))
                         for p, w in jax.tree_util.tree_flatten_with_path(params)[0]
                         if last_key(p) == "kernel"))


def _other_leaves(params):
    return [np.asarray(w) for p, w in jax.tree_util.tree_flatten_with_path(params)[0]
            if last_key(p) != "kernel"]


def _inits(arch, kwargs, shape, sigmas):
    """l2lab.models.init's computation (jit of the flax init, key 0) for each sigma_w, all in
    one program (one compilation instead of one per sigma_w)."""
    mods = [M.make_model(arch, **dict(kwargs, sigma_w=s)) for s in sigmas]
    x = np.zeros((max(2, shape[0]),) + tuple(shape[1:]), np.float32)
    out = jax.jit(lambda k: [m.init(k, x)["params"] for m in mods])(jax.random.PRNGKey(0))
    return [jax.tree.map(np.asarray, dict(p)) for p in out]


@pytest.mark.parametrize("arch,kwargs,shape", [
    # (FC: test_runs_equal_one_sweep_per_sigma compares with l2lab.models.init at sigma_w = 2)
    ("cnn_bn", {"channels": 3, "dense": 5, "pool_strides": (2, 2)}, (1, 16, 16, 1)),
    # the chapter's model: the tiny WRN preset (WRN-10-1; kernel shapes do not depend on the
    # image size, so 1x1 inputs give the parameters of its 8x8 ones at less compile time)
    ("wrn", dict(S.preset("wrn", "tiny").model_kwargs), (1, 1, 1, 1)),
])
def test_sigma_w_scales_the_initial_kernels(arch, kwargs, shape):
    others = _inits(arch, kwargs, shape, SIGMAS)
    p1 = others[SIGMAS.index(1.0)]
    n1 = _kernel_norm(p1)
    norms = []
    for s, ps in zip(SIGMAS, others):
        # the kernels are those at sigma_w = 1 times sigma_w; nothing else depends on it
        scaled = I.scale_kernels(p1, s)
        assert jax.tree.structure(ps) == jax.tree.structure(scaled)
        for a, b in zip(jax.tree.leaves(ps), jax.tree.leaves(scaled)):
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(np.asarray(b), a, rtol=1e-6, atol=1e-8)
        for a, b in zip(_other_leaves(ps), _other_leaves(p1)):
            np.testing.assert_array_equal(a, b)
        assert _kernel_norm(ps) == pytest.approx(s * n1, rel=1e-5)
        norms.append(float(np.sqrt(2 * T.l2_penalty(ps))))
    assert norms[0] < norms[1] < norms[2]          # the total ||theta_0|| grows with sigma_w


def test_wrn_kernel_shapes_do_not_depend_on_the_image_size():
    m = M.make_model("wrn", **S.preset("wrn", "tiny").model_kwargs)
    key = jax.random.PRNGKey(0)
    shapes = [jax.tree.map(lambda a: a.shape, jax.eval_shape(m.init, key, jax.ShapeDtypeStruct(
        (2, n, n, 1), np.float32))) for n in (1, 8)]
    assert shapes[0] == shapes[1]


def _spec(**kw):
    base = dict(arch="fc", model_kwargs=FC_KWARGS, etas=(2.0,), lams=(0.05,),
                budget="steps:12", batch_size=16, points_per_octave=4, momentum=0.5)
    base.update(kw)
    return S.SweepSpec(**base)


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    """The three sigma_w runs (looped, as the chapter's conv net on CPU) of _spec() on the toy
    data, cached in a folder."""
    tr, te = _toy()
    d = tmp_path_factory.mktemp("init_scale")
    return tr, te, d, I.run_init_scales(_spec(), SIGMAS, d / "is", train_ds=tr, test_ds=te,
                                        config_batching="map")


def test_runs_equal_one_sweep_per_sigma(toy_runs):
    tr, te, d, runs = toy_runs
    spec = _spec()
    assert runs.config.steps == 12 and len(runs.results) == 3
    np.testing.assert_array_equal(runs.sigmas, SIGMAS)
    # an independent run: l2lab.sweep with the model's own sigma_w (l2lab.models.init)
    ref = S.run_sweep(spec._replace(model_kwargs=dict(FC_KWARGS, sigma_w=2.0)), str(d / "sw"),
                      train_ds=tr, test_ds=te, progress=False)[0].result
    # vmapped instead of looped (lax.map), with a second run that diverges (logits overflow)
    vm = I.run_init_scales(spec, (1.0, 1e13), train_ds=tr, test_ds=te, config_batching="vmap")
    assert vm.results[1].diverged and 0 <= vm.results[1].diverged_at < 12
    assert np.isnan(vm.results[1].test_accuracy[-1])
    pairs = [(runs.results[2], ref), (vm.results[0], runs.results[1])]
    for a, b in pairs:
        np.testing.assert_array_equal(a.steps, b.steps)
        for name in I.CURVES + ("lam",):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=2e-4,
                                       atol=1e-5, err_msg=name)
        assert a.kernel_norms.keys() == b.kernel_norms.keys()
        for p in b.kernel_norms:
            np.testing.assert_allclose(a.kernel_norms[p], b.kernel_norms[p], rtol=2e-4, atol=1e-5)
        assert not a.diverged and a.diverged_at == -1
    # the cache: the same experiment loads, another one in the same folder is refused
    again = I.run_init_scales(spec, SIGMAS, d / "is", train_ds=tr, test_ds=te)
    for a, b in zip(runs.results, again.results):
        for name in ("steps",) + I.CURVES + ("lam",):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.kernel_norms.keys() == b.kernel_norms.keys()
    assert again.config == runs.config and again.wall_time == runs.wall_time
    with pytest.raises(ValueError, match="out_dir"):
        I.run_init_scales(spec, (0.5, 3.0), d / "is", train_ds=tr, test_ds=te)


def test_curves_spread_window_rows(toy_runs):
    runs = toy_runs[3]
    steps, acc = I.curves(runs, "test_accuracy")
    assert acc.shape == (3, steps.size)
    np.testing.assert_array_equal(acc[2], runs.results[2].test_accuracy)
    _, sp = I.spread(runs, "test_accuracy")
    np.testing.assert_allclose(sp, [max(c) - min(c) for c in acc.T])
    _, kn = I.curves(runs, "kernel_norm")
    direct = [math.sqrt(sum(v[j] ** 2 for v in runs.results[1].kernel_norms.values()))
              for j in range(steps.size)]
    np.testing.assert_allclose(kn[1], direct)
    np.testing.assert_allclose(kn[:, 0] / kn[1, 0], SIGMAS, rtol=1e-5)
    _, ratio = I.spread(runs, "kernel_norm", "ratio")
    assert ratio[0] == pytest.approx(4.0, rel=1e-5)
    np.testing.assert_allclose(ratio, kn.max(0) / kn.min(0))
    sel = (steps >= 4) & (steps <= 8)
    np.testing.assert_allclose(I.window(runs, "test_accuracy", 4, 8), np.median(acc[:, sel], 1))
    np.testing.assert_allclose(I.window(runs, "train_loss", 6, stat="mean"),
                               [np.mean(r.train_loss[steps >= 6]) for r in runs.results])
    np.testing.assert_allclose(I.window(runs, "test_accuracy", 0, stat="max"), acc.max(1))
    rows = I.spread_rows(runs, (0.1, 0.5, 100.0))    # eta lam = 0.1: steps 1, 5, 12 (last)
    assert [r["step"] for r in rows] == [1, 5, 12]
    _, loss = I.curves(runs, "train_loss")
    for r in rows:
        j = list(steps).index(r["step"])
        assert r["t_eta_lam"] == pytest.approx(0.1 * r["step"])
        assert r["acc_range"] == pytest.approx(acc[:, j].max() - acc[:, j].min())
        assert r["loss_ratio"] == pytest.approx(loss[:, j].max() / loss[:, j].min())
        assert r["norm_ratio"] == pytest.approx(kn[:, j].max() / kn[:, j].min())
    assert I.grid_index([0, 1, 2, 4, 8, 16], 5) == 3
    assert I.grid_index([0, 1, 2, 4, 8, 16], 100) == 5
    assert I.grid_index([0, 1, 2, 4, 8, 16], 0.6) == 1
    assert I.grid_index([0, 1, 2, 4, 8, 16], 0.3) == 0


def test_argument_checks(toy_runs):
    tr, te, _, runs = toy_runs
    p = {"Dense_0": {"kernel": np.ones((2, 3), np.float32), "bias": np.ones(3, np.float32)}}
    q = I.scale_kernels(p, 3.0)
    np.testing.assert_array_equal(q["Dense_0"]["kernel"], 3.0)
    np.testing.assert_array_equal(q["Dense_0"]["bias"], 1.0)
    assert q["Dense_0"]["kernel"].dtype == np.float32
    with pytest.raises(ValueError, match="factor"):
        I.scale_kernels(p, 0.0)
    with pytest.raises(TypeError, match="factor"):
        I.scale_kernels(p, "2")
    with pytest.raises(ValueError, match="params"):
        I.scale_kernels({"bias": np.zeros(3)}, 2.0)
    for bad, err in (((1.0,), ValueError), ((1.0, 1.0), ValueError), ((1.0, -2.0), ValueError),
                     ("12", TypeError), (3.0, TypeError)):
        with pytest.raises(err, match="sigmas"):
            I.check_sigmas(bad)
    for spec in (_spec(etas=(1.0, 2.0)), _spec(seeds=(0, 1)),
                 _spec(model_kwargs=dict(FC_KWARGS, sigma_w=2.0))):
        with pytest.raises(ValueError, match="spec"):
            I.run_init_scales(spec, SIGMAS, train_ds=tr, test_ds=te)
    with pytest.raises(TypeError, match="spec"):
        I.runs_id({"arch": "fc"}, SIGMAS)
    with pytest.raises(ValueError, match="together"):
        I.run_init_scales(_spec(), SIGMAS, train_ds=tr)
    with pytest.raises(ValueError, match="name"):
        I.curves(runs, "accuracy")
    with pytest.raises(ValueError, match="kind"):
        I.spread(runs, "param_norm", "max")
    assert np.all(np.isnan(I.window(runs, "param_norm", 50.0)))     # no step in the window
    with pytest.raises(ValueError, match="stat"):
        I.window(runs, "param_norm", 0.0, stat="min")
    with pytest.raises(TypeError, match="t_eta_lam"):
        I.spread_rows(runs, ())
    with pytest.raises(ValueError, match="t_eta_lam"):
        I.spread_rows(runs, (1.0, -1.0))
    with pytest.raises(TypeError, match="runs"):
        I.curves(runs.results, "param_norm")
    with pytest.raises(ValueError, match="steps"):
        I.grid_index([0, 2, 1], 1.0)
    with pytest.raises(ValueError, match="target"):
        I.grid_index([0, 1, 2], 0.0)
    assert I.runs_id(_spec(), SIGMAS) != I.runs_id(_spec(), (0.5, 1.0, 3.0))
    assert I.runs_id(_spec(), SIGMAS) == I.runs_id(_spec(), [0.5, 1, 2])


def test_washout_verdict_follows_its_criterion():
    n = 512                                              # se at 0.5: 0.0221
    early = [[0.56, 0.55, 0.45], [0.49, 0.48, 0.41]]     # spreads 0.11, 0.08: mean 0.095
    norms = [[4.0, 4.4, 4.7], [3.9, 4.4, 5.0]]
    v = I.washout_verdict(early, [[0.78, 0.80, 0.80], [0.80, 0.79, 0.77]], norms, n)
    assert v.word == "reproduced"
    assert v.early == pytest.approx(0.095) and v.late == pytest.approx(0.025)
    assert v.norm_ratio == pytest.approx(5.0 / 3.9)
    assert v.standard_error == pytest.approx(np.sqrt(0.49 * 0.51 / n))
    assert "0.095" in v.reason and "0.025" in v.reason
    # late spread between half and all of the early one
    assert I.washout_verdict(early, [[0.7, 0.8, 0.76], [0.7, 0.75, 0.76]], norms, n).word == "partly"
    # washed-out accuracy but norms still x2 apart: partly
    far = [[2.0, 4.0, 4.0], [3.9, 4.4, 5.0]]
    assert I.washout_verdict(early, [[0.8] * 3, [0.8] * 3], far, n).word == "partly"
    assert I.washout_verdict(early, [[0.6, 0.8, 0.7], [0.6, 0.8, 0.7]], norms,
                                      n).word == "contradicted"
    # an early spread of 0.03 is within 2 se: nothing to wash out
    assert I.washout_verdict([0.5, 0.52, 0.53], [0.8] * 3, [4.0] * 3, n).word == "not at this scale"
    assert I.washout_verdict([0.5, 0.52, 0.53], [0.8] * 3, [4.0] * 3,
                                      10 * n).word == "reproduced"
    # a window without a measurement (NaN, runs too short): no verdict but "not at this scale"
    short = I.washout_verdict(early, [[np.nan] * 3, [0.8] * 3], norms, n)
    assert short.word == "not at this scale" and np.isnan(short.late) and "too short" in short.reason


def test_washout_verdict_rejects_bad_arguments():
    ok = [0.5, 0.6, 0.7]
    with pytest.raises(ValueError, match="late_accuracy"):
        I.washout_verdict(ok, [0.5, 0.6], ok, 100)
    with pytest.raises(ValueError, match="early_accuracy"):
        I.washout_verdict([0.5], [0.5], [1.0], 100)
    with pytest.raises(ValueError, match="early_accuracy"):
        I.washout_verdict([0.5, 1.5], [0.5, 0.6], [1.0, 1.0], 100)
    with pytest.raises(ValueError, match="late_norm"):
        I.washout_verdict(ok, ok, [1.0, 0.0, 1.0], 100)
    with pytest.raises(TypeError, match="early_accuracy"):
        I.washout_verdict(["a", "b"], ok[:2], ok[:2], 100)
    with pytest.raises(ValueError, match="n_test"):
        I.washout_verdict(ok, ok, ok, 0)
