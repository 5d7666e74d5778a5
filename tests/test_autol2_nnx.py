"""l2lab.autol2 in Flax NNX training loops (``nnx.Optimizer``)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import l2lab.autol2 as A

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
