"""l2lab.scale_invariance: closed forms against simulations and products, track() against
hand-written SGD / Adam / AdamW loops, the Li & Arora twin runs."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn
import pytest

from l2lab import models, train
from l2lab.studies import scale_invariance as si
from l2lab.studies import tracker
from toy_data import toy

TR, TE = toy()
NET = si.ScaleInvariantNet(channels=(), widths=(16, 16), num_classes=3)
# eager init: no compile (models.init jit-compiles flax's init, seconds on a busy CPU)
NET_P = dict(NET.init(jax.random.PRNGKey(0), jnp.zeros((2, 10)))["params"])
STEPS, EVAL = 8, 4       # every SGD track() below on NET shares one compiled program


# ----------------------------------------------------------------------------- closed forms

def test_equilibrium_angular_step_matches_simulated_equilibrium():
    # a scale-invariant gradient: orthogonal to w, norm G / ||w||, random direction each step
    rng = np.random.RandomState(0)
    for eta, lam in ((0.5, 0.02), (2.0, 0.005)):
        w = rng.randn(50)
        for _ in range(3000):
            d = rng.randn(50)
            d -= d @ w / (w @ w) * w
            g = 0.7 * d / np.linalg.norm(d) / np.linalg.norm(w)
            w_new = (1 - eta * lam) * w - eta * g
            cos = w @ w_new / np.linalg.norm(w) / np.linalg.norm(w_new)
            w = w_new
        assert np.arccos(cos) == pytest.approx(si.equilibrium_angular_step(eta, lam), rel=1e-3)
    # depends on eta * lam only, ~ sqrt(2 eta lam)
    assert si.equilibrium_angular_step(1.0, 0.01) == pytest.approx(si.equilibrium_angular_step(4.0, 0.0025))
    assert si.equilibrium_angular_step(1.0, 1e-6) == pytest.approx(math.sqrt(2e-6), rel=1e-5)
    assert si.equilibrium_angular_step([1.0, 2.0], 0.01).shape == (2,)


def test_exponential_lr_is_the_product_of_scales():
    eta, lam = 0.3, 0.07
    a = (1 - eta * lam) ** np.arange(12.0)
    assert np.allclose(si.exponential_lr(eta, lam, np.arange(11)), eta / (a[:-1] * a[1:]), rtol=1e-12)
    assert si.exponential_lr(eta, 0.0, 5) == pytest.approx(eta)
    # k = 0 of Eq. (2): e^{2 lam (eta t)} to first order in eta lam
    assert si.exponential_lr(1e-3, 1e-2, 1e5) / 1e-3 == pytest.approx(math.exp(2e-5 * 1e5), rel=1e-3)


@pytest.mark.parametrize("fn,args,bad", [
    (si.equilibrium_angular_step, (0.0, 0.1), "eta"),
    (si.equilibrium_angular_step, (1.0, -0.1), "lam"),
    (si.equilibrium_angular_step, (10.0, 0.2), "lam"),
    (si.exponential_lr, (1.0, 0.1, -1), "t"),
    (si.exponential_lr, (1.0, float("nan"), 1), "lam"),
])
def test_closed_form_arguments(fn, args, bad):
    with pytest.raises(ValueError, match=f"`{bad}`"):
        fn(*args)
    with pytest.raises(TypeError, match="`eta`"):
        si.equilibrium_angular_step("1", 0.1)


def test_angle_small_and_large():
    rng = np.random.RandomState(1)
    a, d = rng.randn(30), rng.randn(30)
    for eps in (1e-5, 0.3, 2.0):
        b = a + eps * d
        ref = np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))
        got = float(si.angle(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)))
        assert got == pytest.approx(ref, rel=1e-3 if eps > 1e-4 else 2e-2)


# ----------------------------------------------------------------------------- kernels

class _BN(nn.Module):
    """Dense -> the library's batch norm -> ReLU -> Dense: Dense_0's kernel is scale invariant."""

    @nn.compact
    def __call__(self, x):
        h = nn.relu(models.BatchNorm()(nn.Dense(8)(x)))
        return nn.Dense(3)(h)


def test_kernel_leaves_and_scaling():
    m = models.CNN(channels=4, dense=8, batch_norm=True, pool_strides=(2, 2))
    p = jax.eval_shape(lambda: models.init(m, jax.random.PRNGKey(0), (1, 12, 12, 1)))
    assert list(si.kernel_leaves(p)) == train.kernel_paths(p)
    bn = _BN()
    pb = bn.init(jax.random.PRNGKey(0), jnp.zeros((2, 10)))["params"]
    inv, other = si.loss_under_kernel_scaling(bn, pb, TR.x, TR.y, ["Dense_0/kernel", "Dense_1/kernel"],
                                              [0.5, 1.0, 3.0])
    # reference: the loss evaluated directly on scaled parameters
    y1 = jax.nn.one_hot(TR.y, 3)
    q = jax.tree_util.tree_map_with_path(
        lambda kp, v: v * 3.0 if train.path_str(kp) == "Dense_1/kernel" else v, pb)
    assert other[2] == pytest.approx(float(train.xent_loss(bn.apply({"params": q}, TR.x), y1)), rel=1e-5)
    assert np.allclose(inv, inv[1], rtol=1e-4)
    assert abs(other[2] - other[1]) > 1e-3
    with pytest.raises(ValueError, match="`path`"):
        si.loss_under_kernel_scaling(bn, pb, TR.x, TR.y, "Conv_9/kernel", [2.0])
    with pytest.raises(ValueError, match="`factors`"):
        si.loss_under_kernel_scaling(bn, pb, TR.x, TR.y, "Dense_0/kernel", [0.0])


def test_scale_kernels():
    out = si.scale_kernels(NET_P, ["Dense_1/kernel"], 0.25)
    assert np.array_equal(out["Dense_0"]["kernel"], NET_P["Dense_0"]["kernel"])
    assert np.allclose(out["Dense_1"]["kernel"], 0.25 * np.asarray(NET_P["Dense_1"]["kernel"]))
    with pytest.raises(ValueError, match="`paths`"):
        si.scale_kernels(NET_P, ["Dense_7/kernel"], 2.0)
    with pytest.raises(ValueError, match="`factor`"):
        si.scale_kernels(NET_P, ["Dense_0/kernel"], -1.0)


# ----------------------------------------------------------------------------- track()

def _reference(optimizer, eta, lam, steps, until=None, b1=0.9, b2=0.999, eps=1e-8):
    """Hand-written full-batch loop on NET (numpy updates; jax only for the data gradient):
    per step ||w||, angle(w_t, w_t+1), ||w|| ||g|| of Dense_0, the loss, final params."""
    y1 = jax.nn.one_hot(TR.y, 3)
    f = lambda q: train.xent_loss(NET.apply({"params": q}, jnp.asarray(TR.x)), y1)
    p = jax.tree.map(lambda v: np.asarray(v, np.float64), NET_P)
    m = jax.tree.map(np.zeros_like, p)
    v = jax.tree.map(np.zeros_like, p)
    out = dict(norm=[], angle=[], gnorm=[], loss=[])
    for t in range(steps):
        lt = lam if until is None or t < until else 0.0
        l, g = jax.value_and_grad(f)(jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), p))
        g = jax.tree.map(lambda a: np.asarray(a, np.float64), g)
        if optimizer == "sgd":
            q = jax.tree.map(lambda w, gw: w - eta * (gw + lt * w), p, g)
        else:
            gg = jax.tree.map(lambda w, gw: gw + lt * w, p, g) if optimizer == "adam" else g
            m = jax.tree.map(lambda a, gw: b1 * a + (1 - b1) * gw, m, gg)
            v = jax.tree.map(lambda a, gw: b2 * a + (1 - b2) * gw ** 2, v, gg)
            d = jax.tree.map(lambda a, c: a / (1 - b1 ** (t + 1)) / (np.sqrt(c / (1 - b2 ** (t + 1))) + eps), m, v)
            if optimizer == "adamw":
                d = jax.tree.map(lambda di, w: di + lt * w, d, p)
            q = jax.tree.map(lambda w, di: w - eta * di, p, d)
        w, w2, gw = (t_["Dense_0"]["kernel"].ravel() for t_ in (p, q, g))
        out["norm"].append(np.linalg.norm(w))
        out["angle"].append(np.arccos(np.clip(w @ w2 / np.linalg.norm(w) / np.linalg.norm(w2), -1, 1)))
        out["gnorm"].append(np.linalg.norm(w) * np.linalg.norm(gw))
        out["loss"].append(float(l))
        p = q
    out["final"] = p
    return out


@pytest.mark.parametrize("optimizer,eta,schedule", [
    ("sgd", 0.5, "constant"), ("adam", 0.01, "constant"), ("adamw", 0.01, "early:5")])
def test_track_matches_hand_written_loop(optimizer, eta, schedule):
    lam = 0.1
    tr = tracker.track(NET, eta=eta, lam=lam, steps=STEPS, optimizer=optimizer, lam_schedule=schedule,
                  train=TR, test=TE, eval_every=EVAL, params=NET_P)
    ref = _reference(optimizer, eta, lam, STEPS, until=5 if schedule != "constant" else None)
    k = "Dense_0/kernel"
    assert np.allclose(tr.kernel_norm[k][:-1], ref["norm"], rtol=1e-5)
    assert tr.kernel_norm[k][-1] == pytest.approx(np.linalg.norm(ref["final"]["Dense_0"]["kernel"]), rel=1e-5)
    assert np.allclose(tr.angular_update[k], ref["angle"], rtol=1e-2, atol=1e-5)
    assert np.allclose(tr.grad_norm[k], ref["gnorm"], rtol=1e-4)
    assert np.allclose(tr.train_loss, ref["loss"], rtol=1e-5)
    assert np.allclose(tr.effective_lr[k], eta / tr.kernel_norm[k] ** 2)
    assert np.allclose(tr.final_params["Dense_1"]["kernel"], ref["final"]["Dense_1"]["kernel"],
                       rtol=1e-4, atol=1e-6)
    assert list(tr.eval_steps) == [0, 4, 8]
    acc = np.mean(np.argmax(NET.apply({"params": tr.final_params}, TE.x), -1) == TE.y)
    assert tr.test_accuracy[-1] == pytest.approx(acc)
    assert tr.kernel_norm[k].shape == (STEPS + 1,) and tr.angular_update[k].shape == (STEPS,)
    if schedule == "early:5":
        assert np.all(tr.lam[:5] == pytest.approx(lam)) and np.all(tr.lam[5:] == 0)


def test_track_same_run_at_four_eta_quarter_lam_doubled_init():
    """Fully scale-invariant net: (eta, lam, w0) and (4 eta, lam / 4, 2 w0) are one run."""
    kw = dict(steps=STEPS, eval_every=EVAL, train=TR, test=TE)
    a = tracker.track(NET, eta=0.5, lam=0.02, params=NET_P, **kw)
    p2 = jax.tree.map(lambda v: 2 * v, NET_P)
    b = tracker.track(NET, eta=2.0, lam=0.005, params=p2, **kw)
    assert np.allclose(a.train_loss, b.train_loss, rtol=1e-4)
    for k in a.kernel_norm:
        assert np.allclose(2 * a.kernel_norm[k], b.kernel_norm[k], rtol=1e-4)
        assert np.allclose(a.effective_lr[k], b.effective_lr[k], rtol=1e-3)
    # not so without the doubled init
    c = tracker.track(NET, eta=2.0, lam=0.005, params=NET_P, **kw)
    assert not np.allclose(a.train_loss, c.train_loss, rtol=1e-2)


def test_track_arguments():
    kw = dict(eta=0.1, lam=0.1, steps=3, train=TR, test=TE)
    with pytest.raises(ValueError, match="`eta`"):
        tracker.track("fc", **dict(kw, eta=-1.0))
    with pytest.raises(ValueError, match="`momentum`"):
        tracker.track("fc", **dict(kw, optimizer="adam", momentum=0.9))
    with pytest.raises(ValueError, match="`lam_schedule`"):
        tracker.track("fc", **dict(kw, lam_schedule="early:9"))
    with pytest.raises(ValueError, match="`lam_schedule`"):
        tracker.track("fc", **dict(kw, lam_schedule="autol2"))
    with pytest.raises(ValueError, match="`test`"):
        tracker.track("fc", **dict(kw, test=None))
    with pytest.raises(TypeError, match="`arch_or_model`"):
        tracker.track(3, **kw)
    with pytest.raises(ValueError, match="`model_kwargs`"):
        tracker.track(NET, model_kwargs={"widths": (3,)}, **kw)


# ----------------------------------------------------------------------------- Li & Arora

def test_scale_invariant_net_ignores_every_kernel_scale():
    x = jnp.asarray(TR.x)
    base = NET.apply({"params": NET_P}, x)
    for path, c in (("Dense_0/kernel", 0.1), ("Dense_1/kernel", 7.0)):
        p = jax.tree_util.tree_map_with_path(
            lambda kp, v: v * c if train.path_str(kp) == path else v, NET_P)
        assert np.allclose(NET.apply({"params": p}, x), base, rtol=1e-4, atol=1e-5)
    conv = si.ScaleInvariantNet(channels=(3,), widths=(), num_classes=2)
    pc = conv.init(jax.random.PRNGKey(1), jnp.zeros((2, 4, 4, 1)))["params"]
    assert list(pc) == ["Conv_0"]
    with pytest.raises(ValueError, match="`widths`"):
        si.ScaleInvariantNet(channels=(), widths=())


def test_equivalent_runs_agree_to_double_precision():
    eta, lam, steps = 0.5, 0.05, 8
    r = si.equivalent_runs(NET, NET_P, TR, TE, eta=eta, lam=lam, steps=steps, record_every=4,
                           dtype="float64")
    assert list(r.steps) == [0, 4, 8]
    assert r.logits_l2.shape == (3, len(TE.y), 3) and r.logits_l2.dtype == np.float64
    assert np.max(np.abs(r.logits_l2 - r.logits_exp)) < 1e-10
    assert np.max(r.weight_gap) < 1e-12
    assert np.allclose(r.scale, (1 - eta * lam) ** r.steps)
    assert np.allclose(r.lr_exp, si.exponential_lr(eta, lam, np.arange(steps)))
    # the L2 run shrinks the kernels, its twin does not
    k = "Dense_0/kernel"
    assert np.allclose(r.kernel_norm_l2[k], r.scale * r.kernel_norm_exp[k], rtol=1e-10)
    # and a constant learning rate without L2 is a different run
    flat = si.equivalent_runs(NET, NET_P, TR, TE, eta=eta, lam=0.0, steps=steps, record_every=4,
                              dtype="float64")             # the same compiled program
    assert np.max(np.abs(flat.logits_l2 - r.logits_l2)) > 1e-3


class _Plain(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(8, use_bias=False)(x))
        return nn.Dense(3, use_bias=False)(h)


def test_equivalent_runs_refuses_a_network_that_is_not_scale_invariant():
    m = models.FC(widths=(8,), num_classes=3)
    p = m.init(jax.random.PRNGKey(0), jnp.zeros((2, 10)))["params"]
    with pytest.raises(ValueError, match="`model`"):
        si.equivalent_runs(m, p, TR, TE, eta=0.1, lam=0.1, steps=2)
    plain = _Plain()                                     # kernels only, but 2-homogeneous
    pk = plain.init(jax.random.PRNGKey(0), jnp.zeros((2, 10)))["params"]
    with pytest.raises(ValueError, match="not scale invariant"):
        si.equivalent_runs(plain, pk, TR, TE, eta=0.1, lam=0.1, steps=2)
    with pytest.raises(ValueError, match="`record_every`"):
        si.equivalent_runs(NET, NET_P, TR, TE, eta=0.1, lam=0.1, steps=5, record_every=2)


def _fake_trace(acc):
    T = 10
    norm = np.linspace(2.0, 1.0, T + 1)
    ang = np.arange(T, dtype=float)
    return tracker.Trace(steps=np.arange(T + 1), kernel_norm={"k": norm}, effective_lr={"k": 1 / norm ** 2},
                    angular_update={"k": ang}, grad_norm={"k": ang}, train_loss=np.ones(T),
                    lam=np.zeros(T), eval_steps=np.array([0, T]), test_accuracy=np.array([0.1, acc]),
                    test_loss=np.ones(2), train_accuracy=np.ones(2), final_params=None, config={})


def test_late_values_and_description():
    tr = _fake_trace(0.9)
    # last 30% of 10 updates: updates 7, 8, 9 (angles 7, 8, 9), which take w_7 (norm 1.3) to
    # w_10 (norm 1.0)
    assert tracker.late_values(tr, ["k"]) == {"k": 8.0}
    np.testing.assert_allclose(tracker.late_values(tr, ["k"], "kernel_norm")["k"], 1.0 / 1.3)
    # one update: the ratio across it
    np.testing.assert_allclose(tracker.late_values(tr, ["k"], "kernel_norm", frac=0.1)["k"], 1.0 / 1.1)
    a, text = tracker.describe_late("run", tr, ["k"], equilibrium=4.0)
    assert a == {"k": 8.0} and "2.00" in text and "0.77x" in text
    a, text = tracker.describe_late("run", _fake_trace(0.1), ["k"])
    assert a is None and "chance" in text
    with pytest.raises(ValueError, match="paths"):
        tracker.late_values(tr, ["nope"])
    with pytest.raises(ValueError, match="field"):
        tracker.late_values(tr, ["k"], "angle")
    with pytest.raises(ValueError, match="frac"):
        tracker.late_values(tr, ["k"], frac=0.0)


def test_kernel_slider_figure_has_a_frame_per_kernel():
    from l2lab.figures import scale_invariance as sif

    fig = sif.kernel_slider_figure({"a": _fake_trace(0.9), "b": _fake_trace(0.8)},
                                   lambda tr, p: tr.kernel_norm[p], title="t")
    assert len(fig.layout.sliders[0].steps) == 1 and len(fig.data) >= 2
    with pytest.raises(ValueError, match="traces"):
        sif.kernel_slider_figure({}, lambda tr, p: 0)


def test_invariant_kernels_and_the_verdicts():
    paths = ["a/kernel", "b/kernel", "c/kernel"]
    losses = [[0.30, 0.2, 0.2, 0.2, 0.2],       # moves only at c = 0.1 (epsilon): invariant
              [0.10, 0.15, 0.2, 0.4, 1.8],      # moves with c: not
              [0.2, 0.2, 0.2, 0.2 + 1e-4, 0.2]]  # a spread of 5e-4 of the loss: not at rtol 1e-4
    assert si.invariant_kernels(paths, losses) == ["a/kernel"]
    assert si.invariant_kernels(paths, losses, rtol=1e-3) == ["a/kernel", "c/kernel"]
    with pytest.raises(ValueError, match="losses"):
        si.invariant_kernels(paths[:2], losses)
    assert si.equivalence_verdict(1e-15) == "reproduced"
    assert si.equivalence_verdict(1e-6) == "contradicted"
    assert si.equivalence_verdict(1e-6, tol=1e-5) == "reproduced"
    with pytest.raises(ValueError, match="relative_gap"):
        si.equivalence_verdict(-1.0)
    assert si.rotation_verdict([0.9, 1.05], [0.85, 0.95]) == "reproduced"
    assert si.rotation_verdict([0.9, 1.05], [0.7, 0.95]) == "partly"
    assert si.rotation_verdict([0.7, 1.05], [0.85, 0.95]) == "contradicted"
    assert si.rotation_verdict([1.3], [0.5]) == "not at this scale"
    assert si.rotation_verdict([1.3], [0.5], ratio_tol=1.5) == "partly"


def test_scaling_and_late_tables():
    from l2lab.figures import scale_invariance as sif
    t = sif.scaling_table(["a/kernel", "b/kernel"], [0.5, 1.0], [[0.2, 0.2], [0.1, 0.2]],
                          ["a/kernel"])
    assert t.header == ["kernel", "c = 0.5", "c = 1", "scale invariant"]
    assert t.rows == [["a", "0.200000", "0.200000", "yes"], ["b", "0.100000", "0.200000", "no"]]
    with pytest.raises(ValueError, match="losses"):
        sif.scaling_table(["a/kernel"], [0.5, 1.0], [[0.2]], [])
    steps = 10
    kn = {"k/kernel": np.linspace(1.0, 2.0, steps + 1)}
    tr = tracker.Trace(np.arange(steps + 1), kn, {}, {"k/kernel": np.full(steps, 0.1)}, {},
                       np.zeros(steps), np.zeros(steps), np.array([0, steps]),
                       np.array([0.1, 0.9]), np.zeros(2), np.zeros(2), None,
                       {"eta": 1.0, "lam": 0.01})
    t = sif.late_table({"run": tr}, ["k/kernel"], frac=0.3)
    eq = float(si.equilibrium_angular_step(1.0, 0.01))
    # the last 3 updates: angle 0.1; the norm change across them ||w_T|| / ||w_{T-3}|| = 2.0 / 1.7
    assert t.rows == [["run", "k", "0.9", "0.1", f"{0.1 / eq:.3g}", f"{2.0 / 1.7:.3g}"]]
    assert len(sif.late_table({"run": tr}, ["k/kernel"], equilibrium=False).header) == 5
