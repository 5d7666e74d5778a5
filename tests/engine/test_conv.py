"""l2lab._conv: the convolution with a CPU-canonical gradient computes the same values and the
same gradients as jax.grad of lax.conv_general_dilated (the independent reference), keeps every
convolution of a looped training step in the canonical NHWC x HWIO -> NHWC form, and the models
give the same gradients with either implementation."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from l2lab.engine import conv as _conv
from l2lab.engine import models as M

DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("hw,k,cin,cout,strides,padding", [
    ((16, 16), (3, 3), 4, 5, (1, 1), "SAME"),
    ((16, 16), (3, 3), 4, 5, (2, 2), "SAME"),
    ((15, 13), (3, 3), 3, 2, (2, 2), "SAME"),
    ((16, 16), (1, 1), 4, 6, (2, 2), "SAME"),
    ((9, 9), (3, 3), 2, 3, (1, 1), "VALID"),
    ((17, 11), (3, 5), 3, 2, (2, 3), "VALID"),
    ((8, 8), (5, 5), 2, 3, (3, 3), "SAME"),
    ((10, 12), (3, 3), 2, 2, (1, 2), ((2, 0), (1, 3))),     # asymmetric explicit padding
])
def test_values_and_gradients_match_lax(hw, k, cin, cout, strides, padding):
    kx, kw, kg = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (3,) + hw + (cin,))
    w = jax.random.normal(kw, k + (cin, cout))
    ref = lambda x, w: lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN)
    new = lambda x, w: _conv.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN)
    y_ref, y_new = ref(x, w), new(x, w)
    np.testing.assert_allclose(y_new, y_ref, rtol=1e-6, atol=1e-6)
    g = jax.random.normal(kg, y_ref.shape)
    gr = jax.vjp(ref, x, w)[1](g)
    gn = jax.vjp(new, x, w)[1](g)
    for a, b, name in zip(gn, gr, ("dx", "dw")):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4 * float(jnp.max(jnp.abs(b))), err_msg=name)


def test_other_cases_fall_back_to_lax():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 8, 8))          # NCHW
    w = jax.random.normal(jax.random.PRNGKey(1), (6, 2, 3, 3))          # OIHW, 2 groups
    a = _conv.conv_general_dilated(x, w, (1, 1), "SAME", feature_group_count=2)
    b = lax.conv_general_dilated(x, w, (1, 1), "SAME", feature_group_count=2)
    np.testing.assert_array_equal(a, b)
    xh = jnp.transpose(x, (0, 2, 3, 1))
    wh = jax.random.normal(jax.random.PRNGKey(2), (3, 3, 4, 5))
    a = _conv.conv_general_dilated(xh, wh, (1, 1), "SAME", rhs_dilation=(2, 2), dimension_numbers=DN)
    b = lax.conv_general_dilated(xh, wh, (1, 1), "SAME", rhs_dilation=(2, 2), dimension_numbers=DN)
    np.testing.assert_array_equal(a, b)


def _conv_labels(hlo_text):
    return re.findall(r"convolution\(.*?dim_labels=([\w>-]+)", hlo_text)


def test_looped_training_step_has_only_canonical_convolutions():
    # the reason for the module: inside a while loop XLA:CPU leaves jax.grad's backward convs in
    # non-canonical form (slow naive loops); ours must all be NHWC x HWIO -> NHWC
    model = M.WideResNet(depth=10, width=1, conv_gradient="canonical")
    x = jnp.ones((4, 16, 16, 1))   # at 8x8 XLA swaps the operands of the 2x2-spatial convs (any layout)
    p = M.init(model, jax.random.PRNGKey(0), x.shape)

    def loop(p):
        body = lambda _, q: jax.tree.map(lambda a, g: a - 0.1 * g, q,
                                         jax.grad(lambda r: jnp.sum(model.apply({"params": r}, x) ** 2))(q))
        return lax.fori_loop(0, 2, body, p)

    hlo = jax.jit(loop).lower(p).compile().as_text()
    labels = _conv_labels(hlo)
    # 9 convolutions: forward, kernel gradient, input gradient (not needed for the input layer)
    assert len(labels) == 3 * 9 - 1
    assert set(labels) == {"b01f_01io->b01f"}, sorted(set(labels))


@pytest.mark.parametrize("arch,kw", [("cnn_bn", {"channels": 3, "dense": 8, "pool_strides": (2, 2)}),
                                     ("wrn", {"depth": 10, "width": 1})])
def test_models_give_the_same_gradients_either_way(arch, kw):
    x = jax.random.normal(jax.random.PRNGKey(3), (5, 12, 12, 2))
    y = jax.nn.one_hot(jnp.arange(5) % 10, 10)
    m_xla = M.make_model(arch, conv_gradient="xla", **kw)
    m_can = M.make_model(arch, conv_gradient="canonical", **kw)
    p = M.init(m_xla, jax.random.PRNGKey(4), x.shape)
    loss = lambda m: (lambda q: jnp.mean((m.apply({"params": q}, x) - y) ** 2))
    g_xla = jax.grad(loss(m_xla))(p)
    g_can = jax.grad(loss(m_can))(p)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g_can), jax.tree.leaves(g_xla)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 + 1e-4 * float(jnp.max(jnp.abs(b))),
                                   err_msg=jax.tree_util.keystr(path))


def test_conv_gradient_is_validated_and_resolved():
    with pytest.raises(ValueError, match="conv_gradient"):
        M.CNN(conv_gradient="fast")
    with pytest.raises(ValueError, match="conv_gradient"):
        M.WideResNet(depth=10, conv_gradient=None)
    assert _conv.resolve_conv_gradient("xla") == "xla"
    assert _conv.resolve_conv_gradient("auto") == ("canonical" if jax.default_backend() == "cpu" else "xla")
