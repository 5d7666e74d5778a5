"""Finite-width gradient descent (l2lab.theory.wide) against exact references."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2lab.theory import wide


def test_record_steps_log_dense():
    s = wide.record_steps(10_000, 40)
    assert s[0] == 0 and s[-1] == 10_000
    assert np.all(np.diff(s) > 0)
    big = s[s >= 20]
    assert (big[1:] / big[:-1]).max() < 1.35  # dense in log t


def test_linear_model_matches_exact_discrete_solution():
    """f = X theta: GD with L2 is a linear recursion we can iterate in closed form."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = rng.normal(size=(5,)).astype(np.float32)
    theta0 = rng.normal(size=(3, 1)).astype(np.float32)
    lam, eta, t_max = 0.3, 0.01, 2.0
    tr = wide.gradient_descent(lambda p, z: z @ p, jnp.asarray(theta0), x, y, lam=lam, eta=eta,
                               t_max=t_max, num_records=10)
    # theta_{s+1} = theta_s - eta (X^T (X theta_s - y) + lam theta_s)
    a = np.eye(3) - eta * (x.T @ x + lam * np.eye(3))
    b = eta * x.T @ y[:, None]
    for step, f in zip(tr.steps, tr.f):
        th = theta0.astype(np.float64)
        for _ in range(int(step)):
            th = a @ th + b
        np.testing.assert_allclose(f, x @ th, rtol=2e-4, atol=2e-5)
    assert tr.t[-1] == pytest.approx(t_max)
    np.testing.assert_allclose(tr.loss, 0.5 * np.sum((tr.f[:, :, 0] - y) ** 2, axis=1), rtol=1e-5)


def test_mean_normalisation_equals_rescaled_sum():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2)).astype(np.float32)
    y = rng.normal(size=(4,)).astype(np.float32)
    p0 = jnp.asarray(rng.normal(size=(2, 1)).astype(np.float32))
    a = wide.gradient_descent(lambda p, z: z @ p, p0, x, y, lam=0.1, eta=0.04, t_max=1.0,
                              normalize="mean", num_records=5)
    # mean-normalised loss with eta equals sum-normalised loss with eta/N and lam*N.
    b = wide.gradient_descent(lambda p, z: z @ p, p0, x, y, lam=0.4, eta=0.01, t_max=0.25,
                              normalize="sum", num_records=5)
    np.testing.assert_allclose(a.f[-1], b.f[-1], rtol=1e-5)
    assert wide.theory_kernel_scale("mean", 4) == 0.25


def test_empirical_ntk_decays_as_theorem_1_for_wide_relu():
    """Theorem 1: Theta_t ~ exp(-2(k-1) lam t) Theta_0, k = 2 for a 1-hidden-layer ReLU net."""
    from l2lab.theory import kernels

    arch = kernels.fc(depth=1, width=2048)
    x = np.random.default_rng(2).normal(size=(8, 10)).astype(np.float32)
    y = np.sign(x[:, 0])
    _, params = arch.init_fn(jax.random.PRNGKey(0), x.shape)
    lam = 0.05
    tr = wide.gradient_descent(arch.apply_fn, params, x, y, lam=lam, eta=0.02, t_max=20.0,
                               num_records=10, ntk_times=[0.0, 10.0, 20.0])
    ratio = np.trace(tr.ntk, axis1=1, axis2=2) / np.trace(tr.ntk[0])
    np.testing.assert_allclose(ratio, np.exp(-2 * lam * tr.ntk_t), rtol=0.03)
    # a linear model's kernel (k = 1) does not decay
    assert not tr.diverged


def test_divergence_is_recorded_not_raised():
    x = np.ones((2, 1), np.float32)
    tr = wide.gradient_descent(lambda p, z: z @ p, 2 * jnp.ones((1, 1)), x, np.ones(2), lam=0.0,
                               eta=5.0, t_max=500.0, num_records=10)
    assert tr.diverged
    assert np.isnan(tr.loss[-1])


def test_deep_linear_fixed_point_by_training():
    for width, lam in [(100, 0.05), (400, 0.02)]:
        tr = wide.train_deep_linear(jax.random.PRNGKey(0), width, lam)
        assert tr.f[-1, 0, 0] == pytest.approx(1 - lam * math.sqrt(width), abs=2e-3)
    assert wide.deep_linear_fixed_point(0.2, 100) == 0.0


def test_bad_arguments():
    f = lambda p, z: z @ p  # noqa: E731
    x = np.ones((2, 1))
    with pytest.raises(ValueError, match="lam"):
        wide.gradient_descent(f, jnp.ones((1, 1)), x, np.ones(2), lam=-1, eta=0.1, t_max=1)
    with pytest.raises(ValueError, match="eta"):
        wide.gradient_descent(f, jnp.ones((1, 1)), x, np.ones(2), lam=0, eta=0, t_max=1)
    with pytest.raises(ValueError, match="loss"):
        wide.gradient_descent(f, jnp.ones((1, 1)), x, np.ones(2), lam=0, eta=0.1, t_max=1,
                              loss="hinge")
    with pytest.raises(ValueError, match="y"):
        wide.gradient_descent(f, jnp.ones((1, 1)), x, np.ones(3), lam=0, eta=0.1, t_max=1)
    with pytest.raises(ValueError, match="total_steps"):
        wide.record_steps(0)
    with pytest.raises(ValueError, match="width"):
        wide.deep_linear_fixed_point(0.1, 0)


def _synthetic_trajectory(times, kernel0, factors):
    ntk = np.stack([f * kernel0 for f in factors])
    z = np.zeros(len(times))
    return wide.Trajectory(steps=np.arange(len(times)), t=np.asarray(times), f=z[:, None, None],
                           loss=z, param_norm=z, ntk_t=np.asarray(times), ntk=ntk,
                           diverged=False, wall_time=0.0)


def test_kernel_decay_ratios_against_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    kernel0 = a @ a.T + np.eye(4)
    times, lam, k = np.array([0.0, 10.0, 50.0]), 0.01, 3
    exact = np.exp(-2 * (k - 1) * lam * times)
    r = wide.kernel_decay_ratios(_synthetic_trajectory(times, kernel0, exact), k, lam)
    np.testing.assert_allclose(r.trace, 1.0, rtol=1e-12)
    np.testing.assert_allclose(r.entry, 1.0, rtol=1e-12)
    # a kernel that does not decay at all: ratio exp(+2 (k-1) lam t)
    flat = wide.kernel_decay_ratios(_synthetic_trajectory(times, kernel0, np.ones(3)), k, lam)
    np.testing.assert_allclose(flat.trace, 1 / exact, rtol=1e-12)
    # one entry that decays twice as fast as the rest
    tr = _synthetic_trajectory(times, kernel0, exact)
    tr.ntk[:, 1, 2] *= exact
    r = wide.kernel_decay_ratios(tr, k, lam, entry=(1, 2))
    np.testing.assert_allclose(r.entry, exact, rtol=1e-12)

    table = wide.kernel_decay_table({"net A": (k, tr), "net B": (2, tr)}, lam)
    lines = table.splitlines()
    assert lines[0].split() == ["lam*t", "0.00", "0.10", "0.50"]
    assert lines[1] == "net A" and lines[2].split()[0] == "trace" and len(lines) == 7
    assert lines[2].split()[1:] == ["1.00", "1.00", "1.00"]

    with pytest.raises(TypeError, match="traj"):
        wide.kernel_decay_ratios("nope", k, lam)
    with pytest.raises(ValueError, match="entry"):
        wide.kernel_decay_ratios(tr, k, lam, entry=(0, 9))
    with pytest.raises(ValueError, match="lam"):
        wide.kernel_decay_ratios(tr, k, -1.0)
    with pytest.raises(ValueError, match="runs"):
        wide.kernel_decay_table({}, lam)
    # runs whose times differ by less than the table shows share a header; others do not
    near = tr._replace(ntk_t=tr.ntk_t + 0.5)
    assert wide.kernel_decay_table({"a": (k, tr), "b": (k, near)}, lam).count("lam*t") == 1
    far = tr._replace(ntk_t=tr.ntk_t * 2)
    with pytest.raises(ValueError, match="same times"):
        wide.kernel_decay_table({"a": (k, tr), "b": (k, far)}, lam)
    empty = tr._replace(ntk=np.zeros((0, 4, 4)), ntk_t=np.zeros(0))
    with pytest.raises(ValueError, match="no empirical NTK"):
        wide.kernel_decay_ratios(empty, k, lam)


def test_trace_ratio_is_the_measured_decay_of_the_trace():
    times = np.array([0.0, 10.0, 20.0])
    kernel0 = np.array([[2.0, 0.5], [0.5, 1.0]])
    tr = _synthetic_trajectory(times, kernel0, np.array([1.0, 0.5, 0.25]))
    assert wide.trace_ratio(tr) == pytest.approx([1.0, 0.5, 0.25])
    with pytest.raises(TypeError, match="traj"):
        wide.trace_ratio("nope")
