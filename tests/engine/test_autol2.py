"""l2lab.autol2: Algorithm 1 of SM E on hand-made streams whose answer is worked out by hand, the
jitted controller and the optax transform against :func:`replay` on random streams and on real
training runs (the transform in a user's own scanned loop, and the engine's "autol2" schedule)."""
import doctest
import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2lab.engine import autol2 as A
from l2lab import data as D
from l2lab.engine import models as M
from l2lab import engine as T

S5 = [0, 5, 10, 15]


def test_module_doctest_runs():
    res = doctest.testmod(A, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 5 and res.failed == 0


# ----------------------------------------------------------------------------- hand-made streams

def test_a_decay():
    # s=0 records. s=5: L=.5 > inf? no -> minloss=1.0 (Lp), minerror=.2. s=10: .6 > 1.0? no ->
    # minloss=.5. s=15: L=.7 > .5 and Lp=.6 > .5 -> increases, 15 > min_step=0 -> lam=.01.
    lam = A.replay(S5, [1.0, 0.5, 0.6, 0.7], [0.2, 0.2, 0.2, 0.2])
    np.testing.assert_array_equal(lam, np.float32([0.1, 0.1, 0.1, 0.01]))
    assert lam.dtype == np.float32
    # other init and factor: 0.3 -> 0.3 / 3
    lam = A.replay(S5, [1.0, 0.5, 0.6, 0.7], [0.2] * 4, init=0.3, factor=3.0)
    np.testing.assert_array_equal(lam, np.float32([0.3, 0.3, 0.3]).tolist() + [np.float32(0.3) / np.float32(3)])


def test_a_decay_blocked_by_the_refractory_period():
    # The loss rises from s=10 on. Decay at s=15 -> lam=.01, min_step = 15 + .1/.01 = 25: s=20 and
    # s=25 (25 > 25 is false) are blocked, s=30 decays -> lam=.001, min_step = 30 + 100 = 130;
    # blocked up to s=130, s=135 decays -> 1e-4. minloss stays .5 throughout (Lp >= .5).
    steps = np.arange(0, 145, 5)
    losses = np.r_[1.0, 0.5, 0.6 + 0.1 * np.arange(len(steps) - 2)]
    lam = A.replay(steps, losses, np.full(len(steps), 0.2))
    want = np.where(steps < 15, 0.1, np.where(steps < 30, 0.01, np.where(steps < 135, 0.001, 1e-4)))
    np.testing.assert_allclose(lam, want, rtol=1e-6)
    assert len(set(lam.tolist())) == 4
    # no refractory period: a decay at every measurement while the rise lasts
    lam = A.replay(steps[:7], losses[:7], np.full(7, 0.2), refractory=0.0)
    np.testing.assert_allclose(lam, [0.1, 0.1, 0.1, 1e-2, 1e-3, 1e-4, 1e-5], rtol=1e-6)
    # a longer refractory period (0.5 / 0.01 = 50 steps) blocks the decay at s=30 too
    lam = A.replay(steps[:15], losses[:15], np.full(15, 0.2), refractory=0.5)
    np.testing.assert_allclose(lam, np.where(steps[:15] < 15, 0.1, np.where(steps[:15] <= 65, 0.01, 0.001)), rtol=1e-6)


def test_the_first_measurement_only_records():
    assert A.replay([7], [1e9], [1.0]).tolist() == [np.float32(0.1)]
    # the second measurement compares with minima that are still +inf: no decay however large
    np.testing.assert_array_equal(A.replay([0, 5], [0.1, 100.0], [0.0, 1.0]), np.float32([0.1, 0.1]))
    ctrl = A.controller()
    st = ctrl.update(ctrl.init(), 3, 0.25, 0.5)
    assert float(st.lam) == np.float32(0.1) and int(st.measurements) == 1 and int(st.decays) == 0
    assert float(st.min_loss) == np.inf and float(st.min_error) == np.inf
    assert float(st.prev_loss) == 0.25 and float(st.prev_error) == 0.5
    # the first measurement's values become minima at the second (min of the *previous* one)
    st = ctrl.update(st, 8, 0.3, 0.6)
    assert float(st.min_loss) == 0.25 and float(st.min_error) == 0.5


def test_loss_trigger_against_error_trigger():
    flat = [0.2] * 4
    # loss trigger (errors flat: equal is not greater)
    assert A.replay(S5, [1.0, 0.5, 0.6, 0.7], flat)[-1] == np.float32(0.01)
    # error trigger with a falling loss: s=5 minerror=.3; s=10 .25 > .3? no -> minerror=.2;
    # s=15: E=.3 > .2 and Ep=.25 > .2 -> decay
    assert A.replay(S5, [1.0, 0.9, 0.8, 0.7], [0.3, 0.2, 0.25, 0.3])[-1] == np.float32(0.01)
    # one rise each, crossed: L > minloss but Lp not; Ep > minerror but E not -> no decay.
    # s=5: minloss=1, minerror=.3; s=10: minloss=.5, minerror=.2; s=15: L=.6 > .5, Lp=.4 < .5,
    # E=.1 < .2, Ep=.25 > .2
    assert A.replay(S5, [1.0, 0.5, 0.4, 0.6], [0.3, 0.2, 0.25, 0.1]).tolist() == [np.float32(0.1)] * 4
    # a single rise is a fluctuation: L rises at s=15 only
    assert A.replay(S5, [1.0, 0.5, 0.4, 0.6], flat)[-1] == np.float32(0.1)
    # NaN measurements never trigger and never lower a minimum
    assert A.replay(S5, [1.0, 0.5, np.nan, 0.7], flat)[-1] == np.float32(0.1)
    assert A.replay(S5 + [20], [1.0, 0.5, np.nan, 0.6, 0.7], flat + [0.2])[-1] == np.float32(0.01)


# ----------------------------------------------------------------------------- controller == replay

def _random_stream(rng, m):
    steps = np.cumsum(rng.choice([1, 5, 5, 5, 10, 50], size=m)) + rng.integers(0, 3)
    losses = np.exp(np.cumsum(rng.normal(0, 0.2, size=m))).astype(np.float32)
    errors = (rng.integers(0, 6, size=m) / 8.0).astype(np.float32)      # discrete: many ties
    losses[rng.random(m) < 0.03] = np.nan
    return steps, losses, errors


def _controller_trace(ctrl, steps, losses, errors, measured):
    def body(st, x):
        st = ctrl.update(st, *x)
        return st, (st.lam, st.decays)

    _, (lam, dec) = jax.jit(lambda xs: jax.lax.scan(body, ctrl.init(), xs))(
        (jnp.asarray(steps, jnp.int32), jnp.asarray(losses), jnp.asarray(errors), jnp.asarray(measured)))
    return np.asarray(lam), np.asarray(dec)


@pytest.mark.parametrize("kw", [{}, dict(init=0.3, factor=3.0, refractory=0.7),
                                dict(init=1.0, factor=1.5, refractory=0.0), dict(refractory=2.0)])
def test_controller_equals_replay_on_random_streams(kw):
    rng = np.random.default_rng(len(kw))
    ctrl = A.controller(**kw)
    tx = A.add_l2(**kw)
    for _ in range(10):
        steps, losses, errors = _random_stream(rng, 120)
        want = A.replay(steps, losses, errors, **kw)
        # interleave calls that carry no measurement (garbage values, measured=False)
        keep = np.zeros(3 * len(steps), bool)
        keep[rng.choice(len(keep), len(steps), replace=False)] = True
        ss = rng.integers(0, 10 ** 6, len(keep))
        ll, ee = np.full(len(keep), 1e6, np.float32), np.ones(len(keep), np.float32)
        ss[keep], ll[keep], ee[keep] = steps, losses, errors
        lam, dec = _controller_trace(ctrl, ss, ll, ee, keep)
        np.testing.assert_array_equal(lam[keep], want)
        assert np.all(np.diff(dec) >= 0) and len(set(want.tolist())) == dec[-1] + 1
        # the optax transform: the same lams, and it adds lam * theta
        p = {"w": jnp.ones(2)}

        def body(st, x):
            s, l, e, m = x
            u, st = tx.update({"w": jnp.zeros(2)}, st, p, step=s, loss=l, error=e, measured=m)
            return st, (A.current_lam(st), u["w"][0])

        _, (lam_t, u0) = jax.lax.scan(body, tx.init(p), (jnp.asarray(ss), jnp.asarray(ll), jnp.asarray(ee),
                                                         jnp.asarray(keep)))
        np.testing.assert_array_equal(np.asarray(lam_t)[keep], want)
        np.testing.assert_array_equal(np.asarray(u0), np.asarray(lam_t))


def test_replay_stream_with_decays_exercised():
    rng = np.random.default_rng(7)
    n = 0
    for _ in range(20):
        steps, losses, errors = _random_stream(rng, 120)
        n += len(set(A.replay(steps, losses, errors).tolist())) - 1
    assert n >= 20          # the random streams do decay (the equality test above is not vacuous)


# ----------------------------------------------------------------------------- the refractory boundary, exactly

def _algorithm1(steps, losses, errors, init, factor, refractory):
    """SM E's Algorithm 1 in rational arithmetic on the decimals the parameters print as (written
    from the pseudo-code, independently of l2lab.autol2): the number of decays after each
    measurement."""
    lam, f, r = Fraction(str(init)), Fraction(str(factor)), Fraction(str(refractory))
    min_step, minloss, minerror, prev, k, out = Fraction(0), math.inf, math.inf, None, 0, []
    for s, loss, error in zip(steps, map(float, losses), map(float, errors)):
        if prev is not None:
            lp, ep = prev
            increases = (loss > minloss and lp > minloss) or (error > minerror and ep > minerror)
            if increases and s > min_step:
                lam, k = lam / f, k + 1
                min_step = r / lam + s
            else:
                minloss = minloss if math.isnan(lp) else min(lp, minloss)
                minerror = minerror if math.isnan(ep) else min(ep, minerror)
        prev = (loss, error)
        out.append(k)
    return np.asarray(out)


def test_refractory_period_ends_where_exact_arithmetic_says_issue_16():
    # decay at s=3 -> lam=.01, min_step = .01 / .01 + 3 = 4: s=4 is blocked (4 > 4 is false), s=5
    # decays. float32 has (.01 / .1) * 10 = 0.99999994, whose floor ended the period at once.
    args = ([1, 2, 3, 4, 5], [1.0, 1.0, 1.0, 1.01, 1.0201], [0.316, 0.343, 0.322, 0.347, 0.345])
    kw = dict(init=0.1, factor=10, refractory=0.01)
    want = [0.1, 0.1, 0.01, 0.01, 0.001]
    np.testing.assert_allclose(A.replay(*args, **kw), want, rtol=1e-6)
    np.testing.assert_array_equal(_algorithm1(*args, **kw), [0, 0, 1, 1, 2])
    lam, _ = _controller_trace(A.controller(**kw), *args, np.ones(5, bool))
    np.testing.assert_allclose(lam, want, rtol=1e-6)
    # a start set by with_init_lam (traced: only a float32 is known) ends it at the same step
    tx = A.add_l2(init=0.5, factor=10, refractory=0.01)

    def feed(lam0):
        st = A.with_init_lam(tx.init({}), lam0)
        out = []
        for s, l, e in zip(*args):
            _, st = tx.update({}, st, {}, step=s, loss=l, error=e)
            out.append(A.current_lam(st))
        return jnp.stack(out)

    np.testing.assert_allclose(jax.jit(feed)(jnp.float32(0.1)), want, rtol=1e-6)


_INITS = (0.1, 0.3, 0.01, 0.05, 0.2, 1.0, 0.7, 0.03)
_FACTORS = (10, 2, 3, 1.5, 5, 2.5, 10.0, 4)
_REFRACTORIES = (0.01, 0.02, 0.03, 0.1, 0.003, 0.3, 0.06, 0.0, 0.07, 0.9)


def _boundary_stream(rng, m):
    """Measurements at (nearly) every step, so that many fall exactly on a refractory boundary."""
    steps = np.cumsum(rng.choice([1, 1, 1, 2], size=m))
    losses = np.exp(np.cumsum(rng.normal(0.01, 0.05, size=m))).astype(np.float32)
    errors = (rng.integers(0, 5, size=m) / 8.0).astype(np.float32)
    losses[rng.random(m) < 0.02] = np.nan
    return steps, losses, errors


def test_replay_and_controller_equal_exact_algorithm1_on_random_streams_and_parameters():
    rng = np.random.default_rng(16)
    decays = 0
    for trial in range(60):
        kw = dict(init=float(rng.choice(_INITS)), factor=_FACTORS[rng.integers(len(_FACTORS))],
                  refractory=float(rng.choice(_REFRACTORIES)))
        if trial % 6 == 5:                         # arbitrary binary floats too
            kw = dict(init=float(rng.uniform(1e-3, 1)), factor=float(rng.uniform(1.2, 12)),
                      refractory=float(rng.uniform(0, 0.5)))
        steps, losses, errors = _boundary_stream(rng, 80)
        k = _algorithm1(steps, losses, errors, **kw)
        lam, dec = _controller_trace(A.controller(**kw), steps, losses, errors, np.ones(len(steps), bool))
        np.testing.assert_array_equal(dec, k, err_msg=str(kw))
        want = kw["init"] / float(kw["factor"]) ** k     # factor >= 1.2: rtol 1e-5 pins k down
        normal = want > 1e-30           # (below, float32 underflows; XLA flushes subnormals, numpy not)
        rep = A.replay(steps, losses, errors, **kw)
        np.testing.assert_array_equal(rep[normal], lam[normal], err_msg=str(kw))
        np.testing.assert_allclose(lam[normal], want[normal], rtol=1e-5, err_msg=str(kw))
        decays += k[-1]
    assert decays >= 150           # the streams do decay, often inside refractory periods


def test_with_init_lam_traced_under_vmap_equals_exact_algorithm1():
    rng = np.random.default_rng(17)
    tx = A.add_l2(init=0.9, factor=10, refractory=0.01)
    lams = np.float32([0.1, 0.01, 0.3, 0.05, 0.02, 0.001])
    for _ in range(5):
        steps, losses, errors = _boundary_stream(rng, 60)

        def run(lam0):
            def body(st, x):
                s, l, e = x
                _, st = tx.update({}, st, {}, step=s, loss=l, error=e)
                return st, A.controller_state(st).decays

            return jax.lax.scan(body, A.with_init_lam(tx.init({}), lam0),
                                (jnp.asarray(steps), jnp.asarray(losses), jnp.asarray(errors)))[1]

        got = np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(lams)))
        for lam0, dec in zip(lams, got):
            np.testing.assert_array_equal(dec, _algorithm1(steps, losses, errors, lam0, 10, 0.01))


# ----------------------------------------------------------------------------- the transform

def test_transform_is_coupled_l2_before_momentum():
    p = {"a": jnp.asarray([1.0, -2.0]), "b": jnp.asarray([[0.5]])}
    g = {"a": jnp.asarray([0.1, 0.2]), "b": jnp.asarray([[-0.3]])}
    tx = A.add_l2(init=0.3)
    u, _ = tx.update(g, tx.init(p), p, loss=1.0, error=0.5, measured=False)
    for k in p:
        np.testing.assert_allclose(u[k], g[k] + np.float32(0.3) * p[k], rtol=1e-7)
    # never decaying, chain(add_l2, sgd) is chain(add_decayed_weights, sgd), bit for bit
    mine = optax.chain(A.add_l2(init=0.01), optax.sgd(0.1, momentum=0.9))
    ref = optax.chain(optax.add_decayed_weights(0.01), optax.sgd(0.1, momentum=0.9))
    pa, pb, sa, sb = p, p, mine.init(p), ref.init(p)
    for t in range(5):
        ua, sa = mine.update(g, sa, pa, step=t, loss=1.0, error=0.0, measured=True)
        ub, sb = ref.update(g, sb, pb)
        pa, pb = optax.apply_updates(pa, ua), optax.apply_updates(pb, ub)
    for k in p:
        np.testing.assert_array_equal(pa[k], pb[k])
    # the default step is the transform's own update count: losses 0, 1, 2 at counts 0, 1, 2
    # (min_step 0) decay at count 2
    st = mine.init(p)
    for t in range(3):
        _, st = mine.update(g, st, p, loss=float(t), error=0.0)
    assert int(A.controller_state(st).last_decay) == 2 and int(st[0].count) == 3


def test_updates_without_a_measurement_leave_the_schedule_alone():
    # nnx.Optimizer.update(model, grads) passes no loss/error: such an update is no measurement
    p, g = {"w": jnp.asarray([1.0, -2.0])}, {"w": jnp.asarray([0.1, 0.2])}
    tx = A.add_l2(init=0.3)
    u, st = tx.update(g, tx.init(p), p)
    np.testing.assert_allclose(u["w"], g["w"] + np.float32(0.3) * p["w"], rtol=1e-7)
    assert int(st.count) == 1 and int(A.controller_state(st).measurements) == 0
    _, st2 = tx.update(g, st, p, measured=False)              # said so explicitly: the same
    assert int(A.controller_state(st2).measurements) == 0
    # measurements at counts 0, 3, 6, 9 between plain updates: the lams replay gives (the default
    # step is the transform's own count, plain updates included), under jit
    losses = [1.0, 0.5, 0.6, 0.7]
    plain = jax.jit(lambda st: tx.update(g, st, p)[1])
    meas = jax.jit(lambda st, l: tx.update(g, st, p, loss=l, error=0.0)[1])
    st, lams = tx.init(p), []
    for t in range(12):
        st = meas(st, losses[t // 3]) if t % 3 == 0 else plain(st)
        if t % 3 == 0:
            lams.append(float(A.current_lam(st)))
    np.testing.assert_array_equal(np.float32(lams), A.replay([0, 3, 6, 9], losses, [0.0] * 4, init=0.3))
    assert lams[-1] < lams[0] and int(A.controller_state(st).last_decay) == 9


@pytest.mark.parametrize("kw,name", [(dict(measured=True), "measured"), (dict(loss=1.0), "error"),
                                     (dict(error=0.0), "loss"), (dict(loss=1.0, measured=False), "error")])
def test_a_measurement_needs_both_values(kw, name):
    p = {"w": jnp.ones(2)}
    tx = A.add_l2()
    with pytest.raises(ValueError, match=f"`{name}`"):
        tx.update(p, tx.init(p), p, **kw)
    # a traced `measured` might be true: without values it is refused at trace time
    with pytest.raises(ValueError, match="`measured`"):
        jax.jit(lambda m: tx.update(p, tx.init(p), p, measured=m))(True)


def _net_params():
    r = np.random.default_rng(3)
    f = lambda *shape: jnp.asarray(r.normal(size=shape), jnp.float32)
    return {"dense": {"kernel": f(3, 4), "bias": f(4)}, "norm": {"scale": f(4), "bias": f(4)},
            "out": {"kernel": f(4, 2), "bias": f(2)}}


def test_mask_exempts_leaves_as_optax_add_decayed_weights_does():
    p = _net_params()
    g = jax.tree.map(lambda v: 0.1 * jnp.ones_like(v), p)
    ndim_mask = lambda q: jax.tree.map(lambda v: v.ndim > 1, q)
    prefix = {"dense": {"kernel": True, "bias": False}, "norm": False, "out": {"kernel": True, "bias": False}}
    for mask in (ndim_mask, prefix):
        tx = A.add_l2(init=0.3, mask=mask)
        u, _ = tx.update(g, tx.init(p), p)
        for layer in ("dense", "out"):           # by hand: kernels get 0.3 * theta, the rest nothing
            np.testing.assert_allclose(u[layer]["kernel"], g[layer]["kernel"] + np.float32(0.3) * p[layer]["kernel"],
                                       rtol=1e-7)
            np.testing.assert_array_equal(u[layer]["bias"], g[layer]["bias"])
        np.testing.assert_array_equal(u["norm"]["scale"], g["norm"]["scale"])
        # never decaying, it is chain(add_decayed_weights(lam, mask), sgd), bit for bit, jitted
        mine = optax.chain(A.add_l2(init=0.01, mask=mask), optax.sgd(0.1, momentum=0.9))
        ref = optax.chain(optax.add_decayed_weights(0.01, mask=mask), optax.sgd(0.1, momentum=0.9))
        pa, pb, sa, sb = p, p, mine.init(p), ref.init(p)
        upd_a, upd_b = jax.jit(mine.update), jax.jit(ref.update)
        for _ in range(5):
            ua, sa = upd_a(g, sa, pa)
            ub, sb = upd_b(g, sb, pb)
            pa, pb = optax.apply_updates(pa, ua), optax.apply_updates(pb, ub)
        jax.tree.map(np.testing.assert_array_equal, pa, pb)
    # the masked L2 follows the schedule: after a decay the kernels get the new lam
    tx = A.add_l2(init=0.3, mask=prefix)
    st = tx.init(p)
    for t, loss in enumerate([1.0, 0.5, 0.6, 0.7]):
        u, st = tx.update(g, st, p, loss=loss, error=0.0)
    lam = A.current_lam(st)
    assert float(lam) == pytest.approx(0.03)
    np.testing.assert_allclose(u["out"]["kernel"], g["out"]["kernel"] + lam * p["out"]["kernel"], rtol=1e-7)
    np.testing.assert_array_equal(u["out"]["bias"], g["out"]["bias"])


def test_bad_masks_name_themselves():
    p = _net_params()
    with pytest.raises(TypeError, match="`mask`"):
        A.add_l2(mask={"dense": 1, "norm": 0, "out": 1})             # ints, not bools
    with pytest.raises(TypeError, match="`mask`"):
        A.add_l2(mask=jax.tree.map(lambda v: jnp.asarray(True), p))   # arrays: not static
    with pytest.raises(ValueError, match="`mask`"):                    # checked at init
        A.add_l2(mask={"dense": True, "out": False}).init(p)
    with pytest.raises(ValueError, match="`mask`"):
        A.add_l2(mask=lambda q: jax.tree.map(lambda v: v.ndim, q)).init(p)


def _linear_task(n=50, d=3, k=4, seed=0):
    r = np.random.default_rng(seed)
    x = jnp.asarray(r.normal(size=(n, d)), jnp.float32)
    y = jnp.asarray(r.integers(0, k, n))
    params = {"w": jnp.asarray(r.normal(size=(d, k)), jnp.float32), "b": jnp.zeros(k)}

    def loss_and_error(p, xb, yb):
        logits = xb @ p["w"] + p["b"]
        return (optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(),
                jnp.mean(jnp.argmax(logits, -1) != yb))

    return x, y, params, loss_and_error


def test_measure_is_the_mean_over_the_fixed_set_in_any_batch_size():
    x, y, params, fn = _linear_task()
    logits = np.asarray(x, np.float64) @ np.asarray(params["w"], np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    want_loss = -np.mean(logp[np.arange(len(y)), np.asarray(y)])
    want_error = np.mean(np.argmax(logits, -1) != np.asarray(y))
    for bs in (None, 1, 7, 10, 50, 64):
        loss, error = A.measure(fn, params, x, y, batch_size=bs)
        assert loss.dtype == jnp.float32 and loss.shape == () and error.shape == ()
        assert float(loss) == pytest.approx(want_loss, rel=1e-5)
        assert float(error) == pytest.approx(want_error, abs=1e-6)
    jitted = jax.jit(lambda p, xs, ys: A.measure(fn, p, xs, ys, batch_size=7))(params, x, y)
    assert float(jitted[0]) == pytest.approx(want_loss, rel=1e-5)
    # pytree inputs: x as a dict
    f2 = lambda p, xb, yb: fn(p, xb["a"] + xb["b"], yb)
    loss, _ = A.measure(f2, params, {"a": x, "b": jnp.zeros_like(x)}, y, batch_size=16)
    assert float(loss) == pytest.approx(want_loss, rel=1e-5)


def test_measure_bad_arguments_name_themselves():
    x, y, params, fn = _linear_task()
    with pytest.raises(TypeError, match="`loss_and_error`"):
        A.measure("fn", params, x, y)
    with pytest.raises(ValueError, match="`batch_size`"):
        A.measure(fn, params, x, y, batch_size=0)
    with pytest.raises(TypeError, match="`batch_size`"):
        A.measure(fn, params, x, y, batch_size=2.0)
    with pytest.raises(ValueError, match="`y`"):
        A.measure(fn, params, x, y[:-1])
    with pytest.raises(ValueError, match="`x`"):
        A.measure(fn, params, x[:0], y[:0])
    with pytest.raises(ValueError, match="`loss_and_error`"):
        A.measure(lambda p, xb, yb: (xb.sum(0), 0.0), params, x, y)


def _mnist_mlp(n=256):
    tr, _ = D.paper_split("mnist5k", n_train=n, seed=0)
    model = M.FC(widths=(64,), num_classes=10)
    params = M.init(model, jax.random.PRNGKey(0), (1,) + tr.x.shape[1:])
    return tr, model, params


def test_transform_lam_trace_on_a_real_training_run_equals_replay():
    tr, model, params = _mnist_mlp()
    x, y = jnp.asarray(tr.x), jnp.asarray(tr.y)

    def loss_and_error(p):
        logits = model.apply({"params": p}, x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) != y)

    tx = optax.chain(A.add_l2(init=0.1), optax.sgd(0.2, momentum=0.9))

    def step(carry, t):
        p, st = carry
        (loss, err), g = jax.value_and_grad(loss_and_error, has_aux=True)(p)
        u, st = tx.update(g, st, p, step=t, loss=loss, error=err, measured=t % 5 == 0)
        return (optax.apply_updates(p, u), st), (loss, err, A.current_lam(st))

    t = jnp.arange(400)
    _, (loss, err, lam) = jax.jit(lambda c: jax.lax.scan(step, c, t))((params, tx.init(params)))
    m = np.asarray(t) % 5 == 0
    want = A.replay(np.asarray(t)[m], np.asarray(loss)[m], np.asarray(err)[m])
    np.testing.assert_array_equal(np.asarray(lam)[m], want)
    assert len(set(want.tolist())) >= 3          # it decayed at least twice on this run


def test_engine_autol2_lam_trace_equals_replay_of_its_measurements():
    tr, model, params = _mnist_mlp()
    eng = T.Engine(lambda p, x: model.apply({"params": p}, x), tr, tr, batch_size=len(tr.y),
                   momentum=0.9, lam_schedule="autol2", autol2_every=5)
    st = eng.init_state(params, 1.0, 0.1, 400, jax.random.PRNGKey(1))
    run, lam_of = jax.jit(eng.run), jax.jit(eng.lam)
    steps, losses, errors, lams = [], [], [], []
    st, meas = run(st, jnp.int32(0), eng.data)
    for s in range(0, 400, 5):            # the measurement at s acts on updates s+1 .. s+5
        steps.append(s)
        losses.append(float(meas.train_loss))
        errors.append(float(meas.train_error))
        st, meas = run(st, jnp.int32(5), eng.data)
        lams.append(float(lam_of(st)))
    want = A.replay(steps, losses, errors)
    np.testing.assert_array_equal(np.float32(lams), want)
    changed = np.asarray(steps)[1:][np.diff(want) != 0]
    assert len(changed) >= 2
    np.testing.assert_array_equal(eng.lam_changes(st), changed)


# ----------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("kw,name,err", [
    (dict(init=-0.1), "init", ValueError), (dict(init=float("nan")), "init", ValueError),
    (dict(init="0.1"), "init", TypeError), (dict(factor=1.0), "factor", ValueError),
    (dict(factor=0.5), "factor", ValueError), (dict(factor=float("inf")), "factor", ValueError),
    (dict(refractory=-1.0), "refractory", ValueError), (dict(refractory=True), "refractory", TypeError),
])
def test_bad_arguments_name_themselves(kw, name, err):
    for make in (A.controller, A.add_l2, lambda **k: A.replay(S5, [1.0] * 4, [0.0] * 4, **k)):
        with pytest.raises(err, match=f"`{name}`"):
            make(**kw)


@pytest.mark.parametrize("args,name", [
    (([0, 5, 5], [1.0] * 3, [0.0] * 3), "steps"), (([5, 0], [1.0] * 2, [0.0] * 2), "steps"),
    (([-5, 0], [1.0] * 2, [0.0] * 2), "steps"), (([0.5, 1.0], [1.0] * 2, [0.0] * 2), "steps"),
    (([[0, 5]], [[1.0, 1.0]], [[0.0, 0.0]]), "steps"), (([], [], []), "steps"),
    (([0, 5], [1.0], [0.0, 0.0]), "losses"), (([0, 5], [1.0, 1.0], [0.0]), "errors"),
    (([0, 5], ["a", "b"], [0.0, 0.0]), "losses"), (([0, 2 ** 31], [1.0] * 2, [0.0] * 2), "steps"),
])
def test_bad_streams_raise(args, name):
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        A.replay(*args)


def test_state_lookups_raise_without_an_autol2_state():
    with pytest.raises(ValueError, match="opt_state"):
        A.current_lam(optax.sgd(0.1).init({"w": jnp.ones(2)}))
    two = optax.chain(A.add_l2(), A.add_l2())
    with pytest.raises(ValueError, match="opt_state"):
        A.current_lam(two.init({"w": jnp.ones(2)}))
    with pytest.raises(ValueError, match="`lam`"):
        A.with_init_lam(A.add_l2().init({}), -1.0)
    tx = A.add_l2()
    with pytest.raises(ValueError, match="params"):
        tx.update({"w": jnp.ones(2)}, tx.init({}), None, loss=1.0, error=0.0)


def test_with_init_lam_under_vmap_starts_each_configuration_at_its_own_lam():
    tx = optax.chain(A.add_l2(), optax.sgd(0.1))
    p = {"w": jnp.ones(3)}
    lams = jnp.asarray([0.3, 0.01, 0.0])
    st = jax.vmap(lambda l: A.with_init_lam(tx.init(p), l))(lams)
    np.testing.assert_array_equal(A.current_lam(st), lams)
    steps, losses = [0, 5, 10, 15], [1.0, 0.5, 0.6, 0.7]

    def feed(s):
        for t, l in zip(steps, losses):
            _, s = tx.update({"w": jnp.zeros(3)}, s, p, step=t, loss=l, error=0.0)
        return s

    out = A.current_lam(jax.vmap(feed)(st))
    want = [A.replay(steps, losses, [0.0] * 4, init=float(l))[-1] for l in np.asarray(lams)]
    np.testing.assert_array_equal(out, np.float32(want))


def test_benchmark_is_registered():
    from l2lab import bench

    assert bench._BENCHES["autol2"] == "l2lab._bench_autol2"
    import l2lab._bench_autol2 as B

    assert callable(B.main)
