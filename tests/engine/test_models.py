"""l2lab.models: shapes, parameter counts (closed forms), LeCun init statistics, forward passes
against hand-written numpy / lax references, stateless batch norm, homogeneity (paper Sec. 2)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2lab.engine import models as M


def _np_fc(params, x, n_hidden):
    h = np.asarray(x, np.float64).reshape(x.shape[0], -1)
    for i in range(n_hidden):
        h = np.maximum(h @ np.asarray(params[f"Dense_{i}"]["kernel"]) + np.asarray(params[f"Dense_{i}"]["bias"]), 0)
    last = params[f"Dense_{n_hidden}"]
    return h @ np.asarray(last["kernel"]) + np.asarray(last["bias"])


def test_fc_forward_matches_numpy_and_param_count():
    model = M.FC(widths=(32, 16), num_classes=5, sigma_b=0.3)
    params = M.init(model, jax.random.PRNGKey(1), (1, 4, 4, 2))
    x = jax.random.normal(jax.random.PRNGKey(2), (7, 4, 4, 2))
    out = M.apply(model, params, x)
    assert out.shape == (7, 5) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_fc(params, np.asarray(x), 2), rtol=1e-4, atol=1e-5)
    assert M.num_params(params) == 32 * 32 + 32 + 32 * 16 + 16 + 16 * 5 + 5


def test_lecun_init_statistics():
    sw, sb = math.sqrt(2.0), 0.5
    model = M.FC(widths=(512, 512), num_classes=10, sigma_w=sw, sigma_b=sb)
    params = M.init(model, jax.random.PRNGKey(0), (1, 300))
    k0 = np.asarray(params["Dense_0"]["kernel"])
    k1 = np.asarray(params["Dense_1"]["kernel"])
    # Var W = sigma_w^2 / fan_in (untruncated normal: kurtosis 3)
    assert abs(k0.var() * 300 / sw**2 - 1) < 0.02
    assert abs(k1.var() * 512 / sw**2 - 1) < 0.02
    kurt = ((k1 - k1.mean()) ** 4).mean() / k1.var() ** 2
    assert abs(kurt - 3.0) < 0.05
    b = np.concatenate([np.asarray(params["Dense_0"]["bias"]), np.asarray(params["Dense_1"]["bias"])])
    assert abs(b.std() / sb - 1) < 0.1
    zero_b = M.init(M.FC(widths=(8,)), jax.random.PRNGKey(0), (1, 3))
    assert np.all(np.asarray(zero_b["Dense_0"]["bias"]) == 0)
    # conv fan-in = kh * kw * C_in
    cnn = M.CNN(channels=64, dense=8, sigma_w=1.5)
    cp = M.init(cnn, jax.random.PRNGKey(3), (1, 12, 12, 3))
    kc = np.asarray(cp["Conv_1"]["kernel"])
    assert abs(kc.var() * 9 * 64 / 1.5**2 - 1) < 0.03


def test_init_is_pure_and_key_dependent():
    model = M.FC(widths=(8,))
    a = M.init(model, jax.random.PRNGKey(0), (1, 3))
    b = M.init(model, jax.random.PRNGKey(0), (1, 3))
    c = M.init(model, jax.random.PRNGKey(1), (1, 3))
    np.testing.assert_array_equal(a["Dense_0"]["kernel"], b["Dense_0"]["kernel"])
    assert not np.allclose(a["Dense_0"]["kernel"], c["Dense_0"]["kernel"])


def test_fc_is_homogeneous_with_zero_bias():
    # Paper Sec. 2: a ReLU FC with L layers is L-homogeneous: f_{a theta} = a^L f_theta.
    model = M.FC(widths=(16, 16, 16), num_classes=3)
    params = M.init(model, jax.random.PRNGKey(0), (1, 5))
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    a = 1.7
    scaled = jax.tree.map(lambda p: a * p, params)
    np.testing.assert_allclose(M.apply(model, scaled, x), a**4 * M.apply(model, params, x), rtol=1e-4, atol=1e-6)


def _ref_cnn(params, x, strides, window):
    def conv(h, p, pad):
        y = jax.lax.conv_general_dilated(h, p["kernel"], (1, 1), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + p["bias"]

    def pool(h):
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1,) + window + (1,), (1,) + strides + (1,), "VALID")

    h = jax.nn.relu(conv(x, params["Conv_0"], "SAME"))
    h = pool(jax.nn.relu(conv(h, params["Conv_1"], "VALID")))
    h = jax.nn.relu(conv(h, params["Conv_2"], "SAME"))
    h = pool(conv(h, params["Conv_3"], "VALID"))
    h = h.reshape(h.shape[0], -1)
    h = h @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]
    return h @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"]


@pytest.mark.parametrize("window,strides", [((2, 2), None), ((6, 6), None), ((2, 2), (2, 2))])
def test_cnn_matches_lax_reference_and_param_count(window, strides):
    model = M.CNN(channels=4, dense=6, num_classes=3, pool_window=window, pool_strides=strides, sigma_b=0.1)
    params = M.init(model, jax.random.PRNGKey(0), (1, 16, 16, 3))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3))
    s = strides or (1, 1)
    np.testing.assert_allclose(M.apply(model, params, x), _ref_cnn(params, x, s, window), rtol=1e-4, atol=1e-5)
    side = 16 - 2                                  # SAME then VALID 3x3
    side = (side - window[0]) // s[0] + 1          # pool
    side = (side - 2 - window[0]) // s[0] + 1      # SAME, VALID, pool
    expected = (27 * 4 + 4) + 3 * (36 * 4 + 4) + (side * side * 4 * 6 + 6) + (6 * 3 + 3)
    assert M.num_params(params) == expected


def test_batchnorm_uses_batch_statistics_at_any_time():
    bn = M.BatchNorm()
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 3, 3, 5)) * 3.0 + 2.0
    params = bn.init(jax.random.PRNGKey(0), x)["params"]
    params = {"scale": jnp.arange(1.0, 6.0), "bias": jnp.arange(5.0)}
    y = bn.apply({"params": params}, x)
    xn = np.asarray(x, np.float64)
    mu = xn.mean(axis=(0, 1, 2))
    var = xn.var(axis=(0, 1, 2))
    ref = (xn - mu) / np.sqrt(var + 1e-5) * np.arange(1.0, 6.0) + np.arange(5.0)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    # no running statistics: the output for a sample depends on its batch
    y_half = bn.apply({"params": params}, x[:4])
    assert not np.allclose(y_half, y[:4])
    # BN CNN has no state besides params
    cnn = M.CNN(channels=2, dense=3, batch_norm=True)
    variables = cnn.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 1)))
    assert set(variables) == {"params"}


def _shapes(model, shape):
    return jax.eval_shape(lambda k: M.init(model, k, shape), jax.random.PRNGKey(0))


def test_wide_resnet_shapes_and_param_count():
    small = M.WideResNet(depth=10, width=1, num_classes=7)
    out = jax.jit(lambda p, x: M.apply(small, p, x))(M.init(small, jax.random.PRNGKey(0), (1, 8, 8, 3)),
                                                    jnp.ones((3, 8, 8, 3)))
    assert out.shape == (3, 7) and bool(jnp.all(jnp.isfinite(out)))
    params = _shapes(M.WideResNet(depth=10, width=2, num_classes=7), (1, 8, 8, 3))
    conv = lambda k, ci, co: k * k * ci * co + co
    bn = lambda c: 2 * c
    c1, c2, c3 = 32, 64, 128
    expected = conv(3, 3, 16)
    for cin, c in ((16, c1), (c1, c2), (c2, c3)):  # n = 1 block per group, all with shortcut conv
        expected += bn(cin) + conv(3, cin, c) + bn(c) + conv(3, c, c) + conv(1, cin, c)
    expected += bn(c3) + c3 * 7 + 7
    assert M.num_params(params) == expected
    # depth 16 -> 2 blocks per group; WRN-28-10 has the well-known ~36.5M parameters
    p16 = _shapes(M.WideResNet(depth=16, width=1), (1, 8, 8, 3))
    assert len([k for k in p16 if k.startswith("_WRNBlock")]) == 6
    assert 36.4e6 < M.num_params(_shapes(M.WideResNet(), (1, 32, 32, 3))) < 36.6e6


def test_make_model():
    assert isinstance(M.make_model("fc", widths=(4,)), M.FC)
    assert M.make_model("cnn_bn", channels=2, dense=2).batch_norm is True
    with pytest.raises(ValueError, match="arch"):
        M.make_model("mlp")


@pytest.mark.parametrize("ctor,match", [
    (lambda: M.FC(widths=(0,)), "widths"),
    (lambda: M.FC(widths=()), "widths"),
    (lambda: M.FC(widths=(4,), sigma_w=-1.0), "sigma_w"),
    (lambda: M.FC(widths=(4,), sigma_b=float("nan")), "sigma_b"),
    (lambda: M.FC(widths=(4,), num_classes=0), "num_classes"),
    (lambda: M.CNN(pool_window=(2,)), "pool_window"),
    (lambda: M.CNN(channels=2.5), "channels"),
    (lambda: M.WideResNet(depth=27), "depth"),
    (lambda: M.WideResNet(width=0), "width"),
])
def test_bad_arguments_raise(ctor, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ctor()


def test_init_and_num_params_validate():
    with pytest.raises(TypeError, match="model"):
        M.init("fc", jax.random.PRNGKey(0), (1, 3))
    with pytest.raises(ValueError, match="input_shape"):
        M.init(M.FC(widths=(2,)), jax.random.PRNGKey(0), (3,))
    with pytest.raises(TypeError, match="key"):
        M.init(M.FC(widths=(2,)), "seed", (1, 3))
    with pytest.raises(ValueError, match="params"):
        M.num_params({})
