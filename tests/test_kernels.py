"""The kernels l2lab builds on: analytic NTKs against closed forms and against wide networks.

These tests pin the neural-tangents features l2lab uses on the pinned JAX (via
``l2lab._nt_compat``), so that an upgrade that breaks them fails loudly.
"""
import math

import jax
import numpy as np
import pytest

from l2lab import kernels as K


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(6, 12))


def test_compat_aliases_recorded():
    import l2lab._nt_compat as compat
    import neural_tangents as nt

    assert nt.__version__ == "0.6.5"
    assert isinstance(compat.PATCHED, list)


def test_one_hidden_layer_ntk_matches_arccos_closed_form(x):
    arch = K.fc(depth=1, width=8)
    got = K.ntk(arch, x)
    want = K.relu_ntk_one_hidden_layer(x)
    assert got.dtype == np.float64
    # arccos near cos=1 limits both sides to ~1e-8 relative on the diagonal
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)
    # off-diagonal block against a second input set
    x2 = np.random.default_rng(1).normal(size=(4, 12))
    np.testing.assert_allclose(K.ntk(arch, x, x2), K.relu_ntk_one_hidden_layer(x, x2), rtol=1e-7)


def test_closed_form_reduces_to_known_diagonal(x):
    # For x = x' (theta = 0): Theta = W^2 q/2 + W^2 q/2 = W^2 q with q = W^2 |x|^2/d.
    w = math.sqrt(2.0)
    q = w**2 * np.sum(x * x, axis=1) / x.shape[1]
    np.testing.assert_allclose(np.diag(K.relu_ntk_one_hidden_layer(x, W_std=w)), w**2 * q,
                               rtol=1e-7)


@pytest.mark.parametrize("depth", [1, 2])
def test_analytic_ntk_matches_empirical_ntk_of_wide_network(x, depth):
    arch = K.fc(depth=depth, width=4096)
    analytic = K.ntk(arch, x)
    emp = []
    for seed in range(3):
        _, params = arch.init_fn(jax.random.PRNGKey(seed), (-1, x.shape[1]))
        emp.append(K.empirical_ntk(arch.apply_fn, params, x))
    emp = np.mean(emp, axis=0)
    err = np.abs(emp - analytic).max() / np.abs(analytic).max()
    assert err < 0.05, err


def test_empirical_ntk_implementations_agree(x):
    arch = K.fc(depth=2, width=64, num_outputs=3)
    _, params = arch.init_fn(jax.random.PRNGKey(0), (-1, x.shape[1]))
    a = K.empirical_ntk(arch.apply_fn, params, x, implementation="jacobian_contraction")
    b = K.empirical_ntk(arch.apply_fn, params, x, implementation="ntk_vector_products")
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    full = K.empirical_ntk(arch.apply_fn, params, x, trace_outputs=False)
    assert full.shape == (6, 6, 3, 3)
    np.testing.assert_allclose(np.einsum("ijkk->ij", full) / 3, a, rtol=1e-4, atol=1e-5)


def test_empirical_ntk_equals_jacobian_product(x):
    """Independent reference: explicit Jacobians by jax.jacrev."""
    arch = K.fc(depth=1, width=16)
    _, params = arch.init_fn(jax.random.PRNGKey(3), (-1, x.shape[1]))
    xs = x.astype(np.float32)
    jac = jax.jacrev(lambda p: arch.apply_fn(p, xs)[:, 0])(params)
    flat = np.concatenate([np.asarray(j).reshape(xs.shape[0], -1)
                           for j in jax.tree_util.tree_leaves(jac)], axis=1)
    np.testing.assert_allclose(K.empirical_ntk(arch.apply_fn, params, xs), flat @ flat.T,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_homogeneity_degree_is_depth_plus_one(x, depth):
    arch = K.fc(depth=depth, width=32)
    k = K.homogeneity_degree(arch)
    assert k == depth + 1
    _, params = arch.init_fn(jax.random.PRNGKey(0), (-1, x.shape[1]))
    a = 1.7
    scaled = jax.tree_util.tree_map(lambda p: a * p, params)
    np.testing.assert_allclose(arch.apply_fn(scaled, x), a**k * arch.apply_fn(params, x),
                               rtol=1e-4)


def test_biases_break_homogeneity():
    arch = K.fc(depth=2, width=8, b_std=0.1)
    with pytest.raises(ValueError, match="homogeneous"):
        K.homogeneity_degree(arch)


def test_standard_parameterization_kernel_scales_with_width(x):
    # In standard parameterization the NTK grows with width (weights of the wide layers
    # contribute O(width) terms); the NTK-parameterization kernel does not.
    a = K.ntk(K.fc(depth=1, width=100, parameterization="standard"), x)
    b = K.ntk(K.fc(depth=1, width=400, parameterization="standard"), x)
    assert np.all(np.diag(b) > 2 * np.diag(a))


def test_cnn_kernel_is_psd():
    arch = K.cnn(channels=8, dense=16)
    xi = np.random.default_rng(0).normal(size=(4, 12, 12, 1))
    kern = K.ntk(arch, xi)
    assert kern.shape == (4, 4)
    np.testing.assert_allclose(kern, kern.T, rtol=1e-10)
    assert np.linalg.eigvalsh(kern).min() > -1e-8 * np.abs(kern).max()
    assert K.homogeneity_degree(arch) == 6


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="parameterization"):
        K.fc(parameterization="mup")
    with pytest.raises(ValueError, match="width"):
        K.fc(width=0)
    with pytest.raises(TypeError, match="depth"):
        K.fc(depth=2.5)
    with pytest.raises(ValueError, match="W_std"):
        K.fc(W_std=-1.0)
    with pytest.raises(ValueError, match="x1"):
        K.ntk(K.fc(), np.ones(3))
    with pytest.raises(ValueError, match="x1"):
        K.ntk(K.fc(), np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="implementation"):
        K.empirical_ntk(lambda p, x: x, {}, np.ones((2, 2)), implementation="structured")
