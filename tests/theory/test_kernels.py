"""The kernels l2lab builds on: analytic NTKs against closed forms and against wide networks.

These tests pin the neural-tangents features l2lab uses on the pinned JAX (via
``l2lab._nt_compat``), so that an upgrade that breaks them fails loudly.
"""
import math

import jax
import numpy as np
import pytest

from l2lab.theory import kernels as K


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


def test_broken_implementations_rejected_with_reason(x):
    import neural_tangents as nt

    arch = K.fc(depth=1, width=8)
    _, params = arch.init_fn(jax.random.PRNGKey(0), (-1, x.shape[1]))
    for impl in ("structured_derivatives", "STRUCTURED_DERIVATIVES",
                 nt.NtkImplementation.STRUCTURED_DERIVATIVES, 3):
        with pytest.raises(ValueError, match=r"implementation=.*does not work.*ad"):
            K.empirical_ntk(arch.apply_fn, params, x, implementation=impl)
    for impl in ("auto", nt.NtkImplementation.AUTO, 0):
        with pytest.raises(ValueError, match=r"implementation=.*does not work.*cost_analysis"):
            K.empirical_ntk(arch.apply_fn, params, x, implementation=impl)
    # the working ones are accepted as enum members too
    a = K.empirical_ntk(arch.apply_fn, params, x, implementation=nt.NtkImplementation(2))
    b = K.empirical_ntk(arch.apply_fn, params, x, implementation="NTK_VECTOR_PRODUCTS")
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_broken_features_still_broken(x):
    """``_nt_compat.BROKEN`` is true on this stack: if an upgrade fixes an entry, this fails and
    the list (and README) must be updated."""
    import jax.numpy as jnp
    import neural_tangents as nt
    import l2lab._nt_compat as compat

    assert set(compat.BROKEN) == {"NtkImplementation.STRUCTURED_DERIVATIVES",
                                  "NtkImplementation.AUTO", "nt.predict.max_learning_rate",
                                  "nt.predict.gradient_descent_mse under jit/vmap"}
    arch = K.fc(depth=1, width=8)
    _, params = arch.init_fn(jax.random.PRNGKey(0), (-1, x.shape[1]))
    xs = jnp.asarray(x, dtype=jnp.float32)
    for impl, err in ((nt.NtkImplementation.STRUCTURED_DERIVATIVES, (TypeError, AttributeError)),
                      (nt.NtkImplementation.AUTO, KeyError)):
        with pytest.raises(err):
            nt.empirical_ntk_fn(arch.apply_fn, implementation=impl)(xs, None, params)
    if jax.default_backend() == "cpu":
        with pytest.raises(TypeError, match="eigvals"):
            nt.predict.max_learning_rate(jnp.asarray(K.ntk(arch, x)))
    # gradient_descent_mse at a finite time works on a concrete kernel, not on a traced one
    kern, y = jnp.eye(4) * 2.0 + 0.1, jnp.ones((4, 1))
    predict = lambda k: nt.predict.gradient_descent_mse(k, y)(1.0, jnp.zeros((4, 1)))
    assert predict(kern).shape == (4, 1)
    with pytest.raises(jax.errors.UnexpectedTracerError):
        jax.jit(predict)(kern)


def test_max_learning_rate_closed_form():
    # Theta = a I + b 1 1^T has eigenvalues a (N-1 times) and a + N b.
    n, a, b = 7, 0.3, 1.1
    theta = a * np.eye(n) + b * np.ones((n, n))
    top = a + n * b
    assert K.max_learning_rate(theta) == pytest.approx(2 / top, rel=1e-12)
    assert K.max_learning_rate(theta, lam=0.2) == pytest.approx(2 / (top + 0.2), rel=1e-12)
    assert K.max_learning_rate(theta, normalize="mean") == pytest.approx(2 * n / top, rel=1e-12)
    # neural-tangents' formula: 2 (1 + momentum) N / lambda_max for its 1/(2N) loss
    assert K.max_learning_rate(theta, normalize="mean", momentum=0.9) == pytest.approx(
        2 * 1.9 * n / top, rel=1e-12)
    assert K.max_learning_rate(np.zeros((3, 3))) == math.inf


def test_max_learning_rate_is_the_gradient_descent_threshold(x):
    """Direct eigen-decomposition and the dynamics: GD on a linear model with Jacobian J and
    L2 converges just below the returned rate and diverges just above it."""
    arch = K.fc(depth=2, width=8)
    theta = K.ntk(arch, x)
    lam = 0.05
    eta_c = K.max_learning_rate(theta, lam=lam)
    w, _ = np.linalg.eigh(theta)
    assert eta_c == pytest.approx(2 / (w.max() + lam), rel=1e-10)
    # a linear model f = J p with J J^T = theta (Cholesky), loss 1/2 |J p - y|^2 + lam/2 |p|^2
    jac = np.linalg.cholesky(theta + 1e-12 * np.eye(len(theta)))
    y = np.random.default_rng(2).normal(size=len(theta))

    def final_step_size(eta, steps=4000):
        p = np.zeros(len(theta))
        for _ in range(steps):
            p_new = p - eta * (jac.T @ (jac @ p - y) + lam * p)
            dp, p = np.linalg.norm(p_new - p), p_new
        return dp

    assert final_step_size(0.98 * eta_c) < 1e-6
    assert final_step_size(1.02 * eta_c) > 1e3


def test_max_learning_rate_bad_arguments():
    with pytest.raises(ValueError, match="square"):
        K.max_learning_rate(np.ones((2, 3)))
    with pytest.raises(ValueError, match="symmetric"):
        K.max_learning_rate(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="lam"):
        K.max_learning_rate(np.eye(2), lam=-1.0)
    with pytest.raises(ValueError, match="normalize"):
        K.max_learning_rate(np.eye(2), normalize="avg")
    with pytest.raises(ValueError, match="momentum"):
        K.max_learning_rate(np.eye(2), momentum=1.0)


_BLOCK = """
import sys
class _Hide:  # hides a package from every import finder, as if it were not installed
    def __init__(self, finder):
        self._finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            return None
        find = getattr(self._finder, "find_spec", None)
        return None if find is None else find(name, path, target)
    def __getattr__(self, attr):
        return getattr(self._finder, attr)
sys.meta_path[:] = [_Hide(f) for f in sys.meta_path]
"""


@pytest.mark.parametrize("blocked", ["neural_tangents", "frozendict"])
def test_import_without_neural_tangents_names_the_install_command(blocked):
    """``import l2lab.theory.kernels`` without neural-tangents (or frozendict): an ImportError
    with the exact command, the same pins as the requirement files and the Colab cell; while
    ``import l2lab.theory`` works."""
    import subprocess
    import sys
    from pathlib import Path

    import l2lab._nt_compat as compat

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "tools"))
    try:
        import colab_cell
    finally:
        sys.path.remove(str(root / "tools"))
    assert compat.INSTALL_COMMAND == "pip install --no-deps " + " ".join(
        colab_cell.pinned(("neural-tangents", "frozendict")))
    code = _BLOCK.format(blocked=(blocked,)) + (
        "import l2lab.theory\nl2lab.theory.mse_mode(1.0, 1.0, 0.1, 2, 1.0)\n"
        "try:\n    import l2lab.theory.kernels\nexcept ImportError as e:\n"
        "    print(type(e).__name__)\n    print(e)\nelse:\n    print('imported')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ImportError\n"), out.stdout
    msg = out.stdout
    assert "pip install --no-deps neural-tangents==0.6.5 frozendict==2.5.1" in msg
    assert "tensorflow" in msg and "--no-deps" in msg
    assert blocked in msg


def test_neural_tangents_api_a_reader_would_use(x):
    """The neural-tangents calls beyond l2lab.theory.kernels that a reader of the book would make
    (``predict`` and the empirical kernels) run on this stack through ``_nt_compat``, and agree
    with what they compute in closed form."""
    import jax.numpy as jnp
    import neural_tangents as nt

    with jax.enable_x64(True) if hasattr(jax, "enable_x64") else __import__(
            "jax.experimental", fromlist=["enable_x64"]).enable_x64():
        arch = K.fc(depth=1, width=256, num_outputs=2)
        xtr, xte = jnp.asarray(x), jnp.asarray(x[:3] + 0.1)
        y = jnp.asarray(np.random.default_rng(5).normal(size=(len(x), 2)))
        k_tt = arch.kernel_fn(xtr, None, "ntk")
        k_st = arch.kernel_fn(xte, xtr, "ntk")
        # gradient_descent_mse (loss 1/(2 y.size) |f - y|^2): the train predictions follow
        # y + exp(-eta Theta t / y.size)(f0 - y)
        t, eta = 3.0, 1.0
        f0 = jnp.zeros_like(y)
        pred = nt.predict.gradient_descent_mse(k_tt, y, learning_rate=eta)
        fx_train, fx_test = pred(t, f0, jnp.zeros((3, 2)), k_st)
        w, v = np.linalg.eigh(np.asarray(k_tt))
        want = np.asarray(y) + v @ np.diag(np.exp(-eta * w * t / y.size)) @ v.T @ (
            np.asarray(f0) - np.asarray(y))
        np.testing.assert_allclose(fx_train, want, rtol=1e-6, atol=1e-9)
        # the ensemble mean at t = inf on the test set is Theta_st Theta_tt^{-1} y
        ens = nt.predict.gradient_descent_mse_ensemble(arch.kernel_fn, xtr, y)
        mean = ens(None, xte, "ntk", compute_cov=True).mean
        np.testing.assert_allclose(mean, np.asarray(k_st) @ np.linalg.solve(k_tt, y),
                                   rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(pred(None, f0, jnp.zeros((3, 2)), k_st)[1], mean,
                                   rtol=1e-6, atol=1e-8)
        # gradient_descent (cross-entropy, ODE solver) runs and lowers the loss
        labels = jax.nn.one_hot(jnp.arange(len(x)) % 2, 2)

        def xent(fx, y_hat):
            return -jnp.mean(jnp.sum(jax.nn.log_softmax(fx) * y_hat, axis=-1))

        gd = nt.predict.gradient_descent(xent, k_tt, labels, learning_rate=1.0)
        assert float(xent(gd(5.0, f0), labels)) < float(xent(f0, labels))
        # empirical kernels (default implementation) and nt.batch of them
        _, params = arch.init_fn(jax.random.PRNGKey(0), (-1, x.shape[1]))
        emp = nt.empirical_kernel_fn(arch.apply_fn, trace_axes=(-1,), vmap_axes=0)
        both = emp(xtr, None, ("nngp", "ntk"), params)
        batched = nt.batch(emp, batch_size=2)(xtr, None, "ntk", params)
        np.testing.assert_allclose(batched, both.ntk, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(both.ntk, K.empirical_ntk(arch.apply_fn, params, x),
                                   rtol=1e-4, atol=1e-5)
        f = arch.apply_fn(params, xtr)
        np.testing.assert_allclose(both.nngp, f @ f.T / 2, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bad", [np.ones(5), np.ones((0, 3)), np.array([["a", "b"]]), np.full((2, 3), np.nan)])
def test_kernel_inputs_of_the_wrong_rank_or_kind_name_the_argument(bad):
    # issue 18: refused with the argument's name, not read as something else
    arch = K.fc(depth=1, width=8)
    with pytest.raises((ValueError, TypeError), match="x1"):
        K.ntk(arch, bad)


def test_batched_kernel_needs_no_warning_for_sizes_that_256_does_not_divide():
    # sizes that 256 does not divide, with the default batch size: neural-tangents used to warn
    # ("Batch size is reduced ...", with the machine's path) into the cross-entropy page
    import warnings
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(300, 6)), rng.normal(size=(250, 6))   # 300 x 250 > 256^2: batched
    arch = K.fc(depth=1, width=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        k = K.ntk(arch, x1, x2)
    np.testing.assert_allclose(k, K.ntk(arch, x1, x2, batch_size=10 ** 6), rtol=1e-10)
