"""l2lab.train: the real training loop on tiny configurations, checked against independent
references (numpy float64 finite differences, closed-form L2 decay, hand-written optax steps)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2lab.engine import models as M
from l2lab import train as T
from l2lab.data import Dataset as DS




def _toy(n=64, d=6, k=3, seed=0):
    r = np.random.RandomState(seed)
    x = r.randn(n, d).astype(np.float32)
    w = r.randn(d, k)
    y = np.argmax(x @ w, 1).astype(np.int32)
    return DS(x[: n * 3 // 4], y[: n * 3 // 4], "toy", k), DS(x[n * 3 // 4:], y[n * 3 // 4:], "toy", k)


class Frozen(nn.Module):
    """Parameters that do not affect the output: the data gradient is exactly zero."""

    num_classes: int = 3

    @nn.compact
    def __call__(self, x):
        w = self.param("w", nn.initializers.normal(1.0), (7,))
        b = self.param("b", nn.initializers.normal(1.0), (3, 2))
        return jnp.zeros((x.shape[0], self.num_classes)) + 0.0 * (jnp.sum(w) + jnp.sum(b))


def _np_total_loss(flat, shapes, x, y, k, lam):
    """float64 numpy reference: FC forward + SM A loss + lam/2 ||theta||^2."""
    ps, i = [], 0
    for s in shapes:
        n = int(np.prod(s))
        ps.append(flat[i:i + n].reshape(s))
        i += n
    h = x.reshape(x.shape[0], -1)
    layers = [(ps[j + 1], ps[j]) for j in range(0, len(ps), 2)]  # leaves: (bias, kernel) per layer
    for W, b in layers[:-1]:
        h = np.maximum(h @ W + b, 0)
    f = h @ layers[-1][0] + layers[-1][1]
    f = f - f.max(1, keepdims=True)
    logp = f - np.log(np.exp(f).sum(1, keepdims=True))
    yo = np.eye(k)[y]
    return -np.sum(yo * logp) / (2 * k * x.shape[0]) + 0.5 * lam * np.sum(flat ** 2)


def test_losses_match_formulas():
    r = np.random.RandomState(0)
    f = r.randn(5, 4).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[[0, 3, 1, 1, 2]]
    p = np.exp(f) / np.exp(f).sum(1, keepdims=True)
    np.testing.assert_allclose(T.xent_loss(f, y), -np.sum(y * np.log(p)) / (2 * 4 * 5), rtol=1e-5)
    np.testing.assert_allclose(T.mse_loss(f, y), np.sum((f - y) ** 2) / (2 * 4 * 5), rtol=1e-5)
    params = {"a": jnp.ones((2, 3)), "b": {"c": 2 * jnp.ones(4)}}
    np.testing.assert_allclose(T.l2_penalty(params), 0.5 * (6 + 16), rtol=1e-6)


def test_engine_step_is_minus_eta_times_finite_difference_gradient():
    tr, te = _toy()
    model = M.FC(widths=(5, 4), num_classes=3, sigma_b=0.2)
    params = M.init(model, jax.random.PRNGKey(0), (1, 6))
    eta, lam = 0.3, 0.05
    eng = T.Engine(lambda p, x: model.apply({"params": p}, x), tr, te, batch_size=1000)
    st = eng.init_state(params, eta, lam, 10, jax.random.PRNGKey(1))
    new = eng.step(st, eng.data)
    leaves, treedef = jax.tree.flatten(params)
    shapes = [l.shape for l in leaves]
    theta0 = np.concatenate([np.asarray(l, np.float64).ravel() for l in leaves])
    upd = np.concatenate([np.asarray(a, np.float64).ravel() - np.asarray(b, np.float64).ravel()
                          for a, b in zip(jax.tree.leaves(new.params), leaves)])
    grad_engine = -upd / eta
    x, y = np.asarray(tr.x, np.float64), np.asarray(tr.y)
    fd = np.empty_like(theta0)
    eps = 1e-6
    for i in range(theta0.size):
        e = np.zeros_like(theta0)
        e[i] = eps
        fd[i] = (_np_total_loss(theta0 + e, shapes, x, y, 3, lam)
                 - _np_total_loss(theta0 - e, shapes, x, y, 3, lam)) / (2 * eps)
    np.testing.assert_allclose(grad_engine, fd, rtol=2e-3, atol=2e-5)
    # the L2 part is exactly lam * theta: compare with lam = 0
    st0 = eng.init_state(params, eta, 0.0, 10, jax.random.PRNGKey(1))
    new0 = eng.step(st0, eng.data)
    pairs = zip(jax.tree.leaves(new0.params), jax.tree.leaves(new.params))
    diff = np.concatenate([(np.asarray(a) - np.asarray(b)).ravel() for a, b in pairs])
    np.testing.assert_allclose(diff, eta * lam * theta0, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_engine_matches_hand_written_optax(momentum):
    tr, te = _toy()
    model = M.FC(widths=(8,), num_classes=3)
    apply_fn = lambda p, x: model.apply({"params": p}, x)
    params = M.init(model, jax.random.PRNGKey(3), (1, 6))
    eta, lam = 0.7, 0.01
    eng = T.Engine(apply_fn, tr, te, batch_size=1000, momentum=momentum)
    st = eng.init_state(params, eta, lam, 10, jax.random.PRNGKey(0))
    opt = optax.sgd(eta, momentum=momentum or None)
    ref, ost = params, opt.init(params)
    x, y = jnp.asarray(tr.x), jax.nn.one_hot(tr.y, 3)
    for _ in range(3):
        st = eng.step(st, eng.data)
        g = jax.grad(lambda p: T.total_loss(apply_fn, p, x, y, lam))(ref)
        u, ost = opt.update(g, ost, ref)
        ref = optax.apply_updates(ref, u)
    for a, b in zip(jax.tree.leaves(st.params), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(st.step) == 3


def test_param_norm_decays_exactly_with_zero_data_gradient():
    tr, te = _toy()
    eta, lam = 0.5, 0.1
    res = T.train(Frozen(), tr, te, T.TrainConfig(eta=eta, lam=lam, steps=40), progress=False)
    expected = res.param_norm[0] * (1 - eta * lam) ** res.steps
    np.testing.assert_allclose(res.param_norm, expected, rtol=2e-5)
    assert res.steps[0] == 0 and res.steps[-1] == 40 and not res.diverged
    # paper schedule: eta x0.2 at 0.3T, 0.6T, 0.9T -> product of (1 - eta_t lam)
    res = T.train(Frozen(), tr, te, T.TrainConfig(eta=eta, lam=lam, steps=40, schedule="paper"), progress=False)
    etas = eta * 0.2 ** ((np.arange(40) >= 12).astype(int) + (np.arange(40) >= 24) + (np.arange(40) >= 36))
    cum = np.concatenate([[1.0], np.cumprod(1 - etas * lam)])
    np.testing.assert_allclose(res.param_norm, res.param_norm[0] * cum[res.steps], rtol=2e-5)


def test_momentum_decay_follows_linear_recurrence():
    tr, te = _toy()
    eta, lam, m = 0.3, 0.2, 0.9
    res = T.train(Frozen(), tr, te, T.TrainConfig(eta=eta, lam=lam, steps=30, momentum=m), progress=False)
    th, v, out = 1.0, 0.0, [1.0]
    for _ in range(30):
        v = m * v + lam * th
        th = th - eta * v
        out.append(abs(th))
    np.testing.assert_allclose(res.param_norm, res.param_norm[0] * np.asarray(out)[res.steps], rtol=1e-4, atol=1e-6)


def test_training_learns_and_chunked_eval_matches():
    tr, te = _toy(n=128)
    model = M.FC(widths=(32,), num_classes=3)
    cfg = T.TrainConfig(eta=20.0, lam=1e-4, steps=200, batch_size=1000)
    res = T.train(model, tr, te, cfg, progress=False)
    assert res.train_loss[-1] < 0.3 * res.train_loss[0]
    assert res.train_error[-1] < 0.05 and np.nanmax(res.test_accuracy) > 0.8
    p0 = M.init(model, T.seed_keys(0)[0], (1, 6))   # train() initialises with the seed's init key
    logits = M.apply(model, p0, tr.x)
    assert res.train_loss[0] == pytest.approx(float(T.xent_loss(logits, jax.nn.one_hot(tr.y, 3))), rel=1e-5)
    assert res.train_error[0] == pytest.approx(float(np.mean(np.argmax(logits, 1) != tr.y)), abs=1e-6)
    res2 = T.train(model, tr, te, cfg._replace(eval_batch_size=7), progress=False)
    np.testing.assert_allclose(res2.train_loss, res.train_loss, rtol=1e-4)
    np.testing.assert_allclose(res2.test_accuracy, res.test_accuracy, atol=1e-6)


def test_minibatches_cover_each_epoch_once():
    n = 24
    tr = DS(np.arange(n, dtype=np.float32)[:, None], np.zeros(n, np.int32), "idx", 2)
    eng = T.Engine(lambda p, x: x, tr, tr, batch_size=6)
    st = eng.init_state({"w": jnp.zeros(1)}, 0.1, 0.0, 100, jax.random.PRNGKey(0))
    for epoch in range(2):
        seen = []
        for i in range(4):
            xb, _ = eng.batch(st._replace(step=jnp.int32(epoch * 4 + i)), eng.data)
            seen.extend(np.asarray(xb[:, 0]).astype(int).tolist())
        assert sorted(seen) == list(range(n))
        if epoch == 0:
            first = seen
    assert seen != first  # reshuffled every epoch


def test_divergence_is_recorded_not_raised():
    tr, te = _toy()
    model = M.FC(widths=(8,), num_classes=3)
    res = T.train(model, tr, te, T.TrainConfig(eta=1e6, lam=0.0, steps=50), progress=False)
    assert res.diverged and 0 <= res.diverged_at < 50
    assert np.isfinite(res.train_loss[0])
    after = res.steps > res.diverged_at
    assert np.all(np.isnan(res.train_loss[after])) and np.all(np.isnan(res.param_norm[after]))
    assert res.steps.shape == res.train_loss.shape


def test_measurement_grid():
    g = T.measurement_grid(1000, 4)
    assert g[0] == 0 and g[-1] == 1000 and np.all(np.diff(g) > 0)
    assert list(g[:10]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    late = g[(g >= 256) & (g <= 512)]
    assert len(late) == 5  # 4 points per octave
    g2 = T.measurement_grid(300, 4)
    np.testing.assert_array_equal(g2[:-1], g[g < 300])
    assert g2[-1] == 300
    assert len(T.measurement_grid(10**6, 4)) < 4 * 21 + 10


@pytest.mark.parametrize("kw,match", [
    (dict(eta=0.0), "eta"), (dict(eta=float("inf")), "eta"), (dict(lam=-1.0), "lam"),
    (dict(steps=0), "steps"), (dict(steps=1.5), "steps"), (dict(batch_size=0), "batch_size"),
    (dict(momentum=1.0), "momentum"), (dict(schedule="cosine"), "schedule"),
    (dict(loss="hinge"), "loss"), (dict(seed=-1), "seed"), (dict(points_per_octave=0), "points_per_octave"),
    (dict(eval_batch_size=0), "eval_batch_size"), (dict(augment="yes"), "augment"),
])
def test_bad_config_raises(kw, match):
    base = dict(eta=0.1, lam=0.01, steps=5)
    base.update(kw)
    tr, te = _toy()
    with pytest.raises((ValueError, TypeError), match=match):
        T.train(M.FC(widths=(2,), num_classes=3), tr, te, T.TrainConfig(**base), progress=False)


def test_bad_inputs_raise():
    tr, te = _toy()
    cfg = T.TrainConfig(eta=0.1, lam=0.01, steps=5)
    with pytest.raises(TypeError, match="config"):
        T.train(M.FC(widths=(2,)), tr, te, {"eta": 0.1}, progress=False)
    with pytest.raises(TypeError, match="train_ds"):
        T.train(M.FC(widths=(2,)), (tr.x, tr.y), te, cfg, progress=False)
    with pytest.raises(ValueError, match="test_ds"):
        T.train(M.FC(widths=(2,)), tr, DS(te.x, te.y[:-1], "bad", 3), cfg, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        T.lr_factor(0, 10, "cosine")
    with pytest.raises(ValueError, match="total_steps"):
        T.measurement_grid(0)
    with pytest.raises(ValueError, match="loss"):
        T.total_loss(lambda p, x: x, {}, jnp.zeros((1, 2)), jnp.zeros((1, 2)), 0.1, loss="l1")


def test_set_hyperparams_changes_lam_and_eta_mid_run():
    tr, te = _toy()
    model = Frozen()
    params = M.init(model, jax.random.PRNGKey(0), (1, 6))
    eng = T.Engine(lambda p, x: model.apply({"params": p}, x), tr, te, batch_size=1000)
    run = jax.jit(eng.run)
    st = eng.init_state(params, 0.5, 0.1, 100, jax.random.PRNGKey(0))
    st, m0 = run(st, jnp.int32(0), eng.data)
    st, _ = run(st, jnp.int32(10), eng.data)
    st = T.set_hyperparams(st, lam=0.02)
    st, _ = run(st, jnp.int32(10), eng.data)
    st = T.set_hyperparams(st, eta=2.0)
    st, m = run(st, jnp.int32(5), eng.data)
    expected = float(m0.param_norm) * 0.95 ** 10 * 0.99 ** 10 * 0.96 ** 5
    assert float(m.param_norm) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(TypeError, match="state"):
        T.set_hyperparams({"eta0": 1.0}, eta=0.1)


def test_augmentation_transforms_training_batches_only():
    r = np.random.RandomState(0)
    x = r.rand(16, 8, 8, 1).astype(np.float32)
    y = (x.mean((1, 2, 3)) > 0.5).astype(np.int32)
    ds = DS(x, y, "img", 2)
    model = M.FC(widths=(8,), num_classes=2)
    params = M.init(model, jax.random.PRNGKey(0), (1, 8, 8, 1))
    eng = T.Engine(lambda p, x: model.apply({"params": p}, x), ds, ds, batch_size=8, augment=T.augmentation())
    st = eng.init_state(params, 0.5, 0.0, 10, jax.random.PRNGKey(0))
    xb, yb = eng.batch(st, eng.data)
    xa, ya = T.augmentation()(jax.random.PRNGKey(3), xb, yb)
    assert xa.shape == xb.shape and ya.shape == yb.shape and not np.allclose(xa, xb)
    np.testing.assert_allclose(np.sum(ya, 1), 1.0, rtol=1e-5)      # mixup keeps labels on the simplex
    cfg = T.TrainConfig(eta=0.5, lam=0.0, steps=6, batch_size=8, augment=True)
    a = T.train(model, ds, ds, cfg, progress=False)
    b = T.train(model, ds, ds, cfg, progress=False)
    c = T.train(model, ds, ds, cfg._replace(augment=False), progress=False)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)        # deterministic given the seed
    assert a.train_loss[0] == c.train_loss[0] and not np.allclose(a.train_loss[1:], c.train_loss[1:])
    with pytest.raises(ValueError, match="augment"):
        T.train(model, *_toy(), cfg._replace(augment=True), progress=False)
    with pytest.raises(TypeError, match="augment"):
        T.Engine(lambda p, x: x, ds, ds, batch_size=4, augment="flip")


# ----------------------------------------------------------------------------- lam schedules

def test_constant_lam_schedule_keeps_the_old_state_and_records_its_lam():
    tr, te = _toy()
    model = M.FC(widths=(8,), num_classes=3)
    params = M.init(model, jax.random.PRNGKey(0), (1, 6))
    apply_fn = lambda p, x: model.apply({"params": p}, x)
    eng = T.Engine(apply_fn, tr, te, batch_size=1000)
    st = eng.init_state(params, 0.5, 0.01, 10, jax.random.PRNGKey(0))
    assert st.lam0 is None and st.lam_changes is None           # no new leaves: the same program
    assert jax.tree.structure(eng.step(st, eng.data)) == jax.tree.structure(st)
    res = T.train(model, tr, te, T.TrainConfig(eta=0.5, lam=0.01, steps=20), progress=False)
    np.testing.assert_array_equal(res.lam, np.full(len(res.steps), np.float32(0.01)))
    assert res.lam_changes.tolist() == []


def test_early_schedule_is_lam_then_zero():
    tr, te = _toy()
    model = M.FC(widths=(8,), num_classes=3)
    params = M.init(model, jax.random.PRNGKey(0), (1, 6))
    apply_fn = lambda p, x: model.apply({"params": p}, x)
    eng = T.Engine(apply_fn, tr, te, batch_size=16, momentum=0.9, lam_schedule="early:13")
    ref = T.Engine(apply_fn, tr, te, batch_size=16, momentum=0.9)
    a = eng.init_state(params, 0.5, 0.05, 30, jax.random.PRNGKey(2))
    b = ref.init_state(params, 0.5, 0.05, 30, jax.random.PRNGKey(2))
    a, _ = jax.jit(eng.run)(a, jnp.int32(30), eng.data)
    b, _ = jax.jit(ref.run)(b, jnp.int32(13), ref.data)
    b = T.set_hyperparams(b, lam=0.0)
    b, _ = jax.jit(ref.run)(b, jnp.int32(17), ref.data)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)                    # bit for bit
    cfg = T.TrainConfig(eta=0.5, lam=0.05, steps=30, batch_size=16, lam_schedule="early:13")
    res = T.train(model, tr, te, cfg, progress=False)
    np.testing.assert_array_equal(res.lam, np.where(res.steps <= 13, np.float32(0.05), 0.0))
    assert res.lam_changes.tolist() == [13]
    full = T.train(model, tr, te, cfg._replace(lam_schedule="early:30"), progress=False)
    const = T.train(model, tr, te, cfg._replace(lam_schedule="constant"), progress=False)
    np.testing.assert_array_equal(full.param_norm, const.param_norm)   # E = T is constant lam
    assert full.lam_changes.tolist() == []


def test_autol2_schedule_records_lam_and_its_changes():
    tr, te = _toy()
    model = M.FC(widths=(16, 16), num_classes=3)
    cfg = T.TrainConfig(eta=1.0, lam=0.1, steps=200, batch_size=1000, lam_schedule="autol2",
                        points_per_octave=4)
    res = T.train(model, tr, te, cfg, progress=False)
    ch = res.lam_changes
    assert len(ch) >= 2 and np.all(ch % 5 == 0)
    # lam of update g: one decay (x 1/10) per change at a measurement s < g
    n = np.asarray([np.sum(ch < g) for g in res.steps])
    np.testing.assert_allclose(res.lam, 0.1 / 10.0 ** n, rtol=1e-6)
    # measuring every 7 steps changes the run, measuring never (every > T) is constant lam
    assert not np.array_equal(T.train(model, tr, te, cfg._replace(autol2_every=7), progress=False).lam, res.lam)
    rare = T.train(model, tr, te, cfg._replace(autol2_every=1000), progress=False)
    const = T.train(model, tr, te, cfg._replace(lam_schedule="constant"), progress=False)
    np.testing.assert_allclose(rare.param_norm, const.param_norm, rtol=1e-6)
    assert rare.lam_changes.tolist() == []


def test_set_hyperparams_sets_the_start_of_every_lam_schedule():
    tr, te = _toy()
    model = Frozen()
    params = M.init(model, jax.random.PRNGKey(0), (1, 6))
    for sched in ("early:5", "autol2"):
        eng = T.Engine(lambda p, x: model.apply({"params": p}, x), tr, te, batch_size=1000, lam_schedule=sched)
        st = T.set_hyperparams(eng.init_state(params, 0.5, 0.1, 100, jax.random.PRNGKey(0)), lam=0.02)
        assert float(eng.lam(st)) == np.float32(0.02)
        st, m0 = eng.run(st, jnp.int32(0), eng.data)
        st, m = eng.run(st, jnp.int32(3), eng.data)
        assert float(m.param_norm) == pytest.approx(float(m0.param_norm) * 0.99 ** 3, rel=1e-5)


@pytest.mark.parametrize("kw,match,err", [
    (dict(lam_schedule="early:0"), "lam_schedule", ValueError),
    (dict(lam_schedule="early:6"), "lam_schedule", ValueError),      # beyond the budget steps=5
    (dict(lam_schedule="early:x"), "lam_schedule", ValueError),
    (dict(lam_schedule="early"), "lam_schedule", ValueError),
    (dict(lam_schedule="late:3"), "lam_schedule", ValueError),
    (dict(lam_schedule=3), "lam_schedule", TypeError),
    (dict(autol2_every=0), "autol2_every", ValueError),
    (dict(autol2_every=2.0), "autol2_every", TypeError),
])
def test_bad_lam_schedule_raises(kw, match, err):
    with pytest.raises(err, match=match):
        T.TrainConfig(eta=0.1, lam=0.01, steps=5, **kw).validate()
    assert T.TrainConfig(eta=0.1, lam=0.01, steps=5, lam_schedule="early:5").validate()
    tr, te = _toy()
    with pytest.raises(ValueError, match="lam_schedule"):
        T.Engine(lambda p, x: x, tr, te, batch_size=4, lam_schedule="cosine")
    assert T.parse_lam_schedule("early:12") == ("early", 12)
    assert T.parse_lam_schedule("autol2", steps=3) == ("autol2", None)
