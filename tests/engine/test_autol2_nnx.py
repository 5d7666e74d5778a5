"""l2lab.autol2 in Flax NNX training loops (``nnx.Optimizer``), and the README's two loops (plain
optax and NNX), run as written."""
import contextlib
import io
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from test_autol2 import _algorithm1

from l2lab.engine import autol2 as A

nnx = pytest.importorskip("flax.nnx")


class MLP(nnx.Module):
    def __init__(self, din, width, dout, *, dropout=0.0, rngs):
        self.hidden = nnx.Linear(din, width, rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.out = nnx.Linear(width, dout, rngs=rngs)

    def __call__(self, x):
        return self.out(self.drop(nnx.relu(self.hidden(x))))


def _data(n=64, d=8, k=3, seed=0):
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.normal(kx, (n, d)), jax.random.randint(ky, (n,), 0, k)


def _loss_and_error(model, x, y):
    logits = model(x)
    return (optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(),
            jnp.mean(jnp.argmax(logits, -1) != y))


def test_nnx_optimizer_update_without_a_measurement_and_current_lam_is_an_array():
    x, y = _data()
    model = MLP(8, 16, 3, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.chain(A.add_l2(init=0.3), optax.sgd(0.1)), wrt=nnx.Param)
    kernel0 = np.asarray(model.out.kernel[...])
    grads = nnx.grad(lambda m: _loss_and_error(m, x, y)[0])(model)
    optimizer.update(model, grads)                             # no loss/error: no measurement
    g = np.asarray(grads["out"]["kernel"][...])
    np.testing.assert_allclose(model.out.kernel[...], kernel0 - 0.1 * (g + np.float32(0.3) * kernel0),
                               rtol=1e-6, atol=1e-7)
    lam = A.current_lam(optimizer.opt_state)
    assert isinstance(lam, jax.Array) and lam.dtype == jnp.float32 and lam.shape == ()
    assert f"{lam:.2e}" == "3.00e-01"
    st = A.controller_state(optimizer.opt_state)
    assert all(isinstance(v, jax.Array) for v in st) and int(st.measurements) == 0
    # measurements through optimizer.update's keyword arguments, under nnx.jit
    step = nnx.jit(lambda m, o, l: o.update(m, nnx.grad(lambda q: _loss_and_error(q, x, y)[0])(m),
                                            loss=l, error=0.0))
    for loss in (1.0, 0.5, 0.6, 0.7):
        step(model, optimizer, loss)
    st = A.controller_state(optimizer.opt_state)
    assert int(st.measurements) == 4 and int(st.last_decay) == 4       # counts 1..4: decays at 4
    np.testing.assert_array_equal(A.current_lam(optimizer.opt_state),
                                  A.replay([1, 2, 3, 4], [1.0, 0.5, 0.6, 0.7], [0.0] * 4, init=0.3)[-1])


def test_measure_evaluates_an_nnx_module_in_evaluation_mode_and_leaves_it_alone():
    x, y = _data(n=40)
    model = MLP(8, 32, 3, dropout=0.5, rngs=nnx.Rngs(1))
    rng_before = jax.tree.map(np.asarray, nnx.state(model, nnx.RngCount))
    assert len(jax.tree.leaves(rng_before)) >= 1
    loss, error = A.measure(_loss_and_error, model, x, y, batch_size=16)
    # the reference: the same network without dropout, by hand
    h = np.maximum(np.asarray(x) @ np.asarray(model.hidden.kernel[...]) + np.asarray(model.hidden.bias[...]), 0)
    logits = h @ np.asarray(model.out.kernel[...]) + np.asarray(model.out.bias[...])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert float(loss) == pytest.approx(-np.mean(logp[np.arange(40), np.asarray(y)]), rel=1e-5)
    assert float(error) == pytest.approx(np.mean(np.argmax(logits, -1) != np.asarray(y)), abs=1e-6)
    # the module passed in: still in training mode, its random streams untouched
    assert model.drop.deterministic is False
    jax.tree.map(np.testing.assert_array_equal, rng_before, jax.tree.map(np.asarray, nnx.state(model, nnx.RngCount)))
    # under nnx.jit, the same
    jitted = nnx.jit(lambda m: A.measure(_loss_and_error, m, x, y, batch_size=16))(model)
    np.testing.assert_allclose(jitted, (loss, error), rtol=1e-6)
    # and training mode really is noisy (what a measurement must not be)
    noisy = [float(_loss_and_error(model, x, y)[0]) for _ in range(2)]
    assert noisy[0] != noisy[1]


def _nnx_autol2_run(steps=60, every=3, **kw):
    """A tiny NNX MLP (dropout on) trained by SGD on random data with AutoL2, measured every
    ``every`` steps on a fixed subset with autol2.measure: (measurement steps, losses, errors,
    the lam after every update)."""
    x, y = _data(n=96, d=8, k=3, seed=2)
    model = MLP(8, 32, 3, dropout=0.3, rngs=nnx.Rngs(0))
    no_biases = lambda p: jax.tree.map(lambda v: v.ndim > 1, p)
    tx = optax.chain(A.add_l2(mask=no_biases, **kw), optax.sgd(0.5, momentum=0.9))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, xb, yb, loss=None, error=None):
        grads = nnx.grad(lambda m: _loss_and_error(m, xb, yb)[0])(model)
        optimizer.update(model, grads, loss=loss, error=error)

    measure = nnx.jit(lambda m: A.measure(_loss_and_error, m, x[:48], y[:48], batch_size=16))
    record, lams = [], []
    for t in range(steps):
        i = (t * 16) % 96
        loss, err = measure(model) if t % every == 0 else (None, None)
        if loss is not None:
            record.append((t, float(loss), float(err)))
        train_step(model, optimizer, x[i:i + 16], y[i:i + 16], loss, err)
        lams.append(A.current_lam(optimizer.opt_state))
    steps_m, losses, errors = map(np.asarray, zip(*record))
    return steps_m, losses, errors, np.asarray(lams)


def test_nnx_training_loop_lam_trace_equals_algorithm1_on_its_measurements():
    kw = dict(init=0.1, factor=10, refractory=0.01)
    steps_m, losses, errors, lams = _nnx_autol2_run(**kw)
    k = _algorithm1(steps_m, np.float32(losses), np.float32(errors), **kw)
    assert k[-1] >= 2                                    # it decayed (the test is not vacuous)
    # the lam of every update: that of the last measurement at or before it
    want = 0.1 / 10.0 ** k[np.searchsorted(steps_m, np.arange(len(lams)), side="right") - 1]
    np.testing.assert_allclose(lams, want, rtol=1e-6)


def _readme_autol2_blocks():
    text = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "autol2.add_l2(" in b]


def test_readme_optax_and_nnx_loops_run_as_written():
    blocks = _readme_autol2_blocks()
    assert len(blocks) == 2 and "nnx.Optimizer" in blocks[1] and "nnx" not in blocks[0]
    ns, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), ns)
    printed = re.findall(r"lam = (\S+)", out.getvalue())
    lams = [A.current_lam(ns["opt_state"]), A.current_lam(ns["optimizer"].opt_state)]
    assert printed == [f"{lam:.2e}" for lam in lams]
    for lam, st in zip(lams, (ns["opt_state"], ns["optimizer"].opt_state)):
        ctrl = A.controller_state(st)
        assert int(ctrl.measurements) == 40 and int(ctrl.decays) >= 1   # 200 steps, every 5: it decayed
        assert float(lam) == pytest.approx(0.1 / 10.0 ** int(ctrl.decays), rel=1e-6)
