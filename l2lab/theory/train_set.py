"""The training set and test points under Eq. (1) with MSE loss, exactly (Theorem 2, Eqs.
S13-S14).

The flow ``df/dt = -exp(-2 (k-1) lam t) Theta_0 (f - y) - k lam f`` decouples in the eigenbasis
of ``Theta_0`` (:mod:`l2lab.theory.spectrum`) into the scalar modes of
:func:`l2lab.theory.modes.mse_mode`: :func:`train_set_evolution` rotates them back to the training
set, :func:`predict_test` carries them to test points, and :func:`linear_model_limit` is the
late-time limit of the linear model (k = 1, kernel ridge regression).  The loss is the *sum*
over samples (the paper's Eq. 1); for the sample mean pass ``kernel / N``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from l2lab import _checks
from l2lab.theory.modes import mse_mode
from l2lab.theory.spectrum import eigh_psd

__all__ = ["TrainSetEvolution", "train_set_evolution", "linear_model_limit", "predict_test"]


class TrainSetEvolution(NamedTuple):
    """Training-set trajectory under Eq. (1) with MSE loss.

    Attributes:
      t: ``(T,)`` times.
      f: ``(T, N)`` or ``(T, N, C)`` network outputs on the training set.
      loss: ``(T,)`` ``0.5 * sum_{i,c} (f - y)^2 / N`` (mean over samples of the per-sample
        squared error summed over outputs).  The dynamics use the *sum* over samples (Eq. 1);
        see :func:`train_set_evolution`.
      gammas: ``(N,)`` eigenvalues of ``Theta_0`` in ascending order (negative round-off
        clipped to 0).
      modes: ``(T, N)`` or ``(T, N, C)`` projections ``e_a . f(t)`` on the eigenvectors.
    """

    t: np.ndarray
    f: np.ndarray
    loss: np.ndarray
    gammas: np.ndarray
    modes: np.ndarray



def _check_targets(n: int, y, f0, *, fname: str = "f0") -> tuple[np.ndarray, np.ndarray]:
    """Labels ``y`` as ``(N,)`` or ``(N, C)`` float64 (``N = n``) and ``f0`` broadcast to them."""
    y = _checks.real_array("y", y)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise _checks.bad_value("y", f"must have shape ({n},) or ({n}, C), got {y.shape}")
    f0 = _checks.broadcastable(fname, _checks.real_array(fname, f0), y.shape, "`y`'s shape")
    return y, f0



def train_set_evolution(kernel, y, f0, lam, k, t) -> TrainSetEvolution:
    """Evolve the training-set outputs under Eq. (1) with MSE loss, exactly (Theorem 2).

    Dynamics: ``df/dt = -exp(-2 (k-1) lam t) Theta_0 (f - y) - k lam f`` with the given kernel
    as ``Theta_0`` -- the paper's Eq. (1) for ``L = sum_i (f_i - y_i)^2 / 2`` (a *sum* over
    samples).  If you train on the sample *mean* instead, pass ``kernel / N``.  Each output
    column evolves independently with the same kernel.

    Args:
      kernel: ``(N, N)`` symmetric positive semi-definite ``Theta_0`` on the training set.
      y: ``(N,)`` or ``(N, C)`` labels.
      f0: initial outputs, broadcastable to ``y.shape`` (e.g. 0).
      lam: L2 coefficient ``>= 0`` (scalar).
      k: degree of homogeneity ``>= 0`` (scalar; ``k = 1`` is the linear model).
      t: ``(T,)`` times ``>= 0``.

    Returns:
      :class:`TrainSetEvolution` with ``f`` of shape ``(T,) + y.shape`` and
      ``loss = 0.5 * sum((f - y)^2) / N`` per time.
    """
    kernel = _checks.symmetric_matrix("kernel", kernel)
    y, f0 = _check_targets(kernel.shape[0], y, f0)
    lam = _checks.nonneg_float("lam", lam)
    k = _checks.nonneg_float("k", k)
    t = _checks.times("t", t)
    return _train_set_evolution(kernel, y, f0, lam, k, t)[0]


def _train_set_evolution(kernel, y, f0, lam: float, k: float, t):
    """train_set_evolution on checked arguments; also returns the eigenvectors ``(N, N)``."""
    n = kernel.shape[0]
    gammas, vecs = eigh_psd("kernel", kernel)
    y_m = vecs.T @ y
    f0_m = vecs.T @ f0
    extra = (None,) * (y.ndim - 1)
    modes = mse_mode(
        t[(slice(None), None) + extra], gammas[(slice(None),) + extra], lam, k, y_m, f0_m
    )
    f = modes @ vecs.T if y.ndim == 1 else np.matmul(vecs, modes)  # BLAS, (T, N[, C])
    resid = (modes - y_m) ** 2
    loss = 0.5 * resid.reshape(len(t), -1).sum(axis=1) / n if len(t) else np.zeros(0)
    return TrainSetEvolution(t=t, f=f, loss=loss, gammas=gammas, modes=modes), vecs


def linear_model_limit(kernel, y, lam) -> np.ndarray:
    """Late-time training outputs of the linear model (k = 1): ``Theta (Theta + lam I)^-1 y``.

    This is the ``t -> infinity`` limit of :func:`train_set_evolution` with ``k = 1`` and
    ``lam > 0`` for any ``f0`` (kernel ridge regression on the training set).  At ``lam = 0``
    it is the projection of ``y`` on the range of ``Theta`` (the ``lam -> 0`` limit).

    Args:
      kernel: ``(N, N)`` symmetric PSD matrix.
      y: ``(N,)`` or ``(N, C)`` labels.
      lam: ``>= 0`` scalar.

    Returns:
      float64 array of ``y``'s shape.
    """
    kernel = _checks.symmetric_matrix("kernel", kernel)
    y, _ = _check_targets(kernel.shape[0], y, 0.0)
    lam = _checks.nonneg_float("lam", lam)
    gammas, vecs = eigh_psd("kernel", kernel)
    tot = gammas + lam
    ratio = np.where(tot > 0.0, gammas / np.where(tot > 0.0, tot, 1.0), 0.0)
    ratio = ratio.reshape((-1,) + (1,) * (y.ndim - 1))
    return vecs @ (ratio * (vecs.T @ y))


def predict_test(
    kernel_test_train, kernel_train_train, y, f0_train, f0_test, lam, k, t, *, rcond=1e-12
) -> np.ndarray:
    """Outputs at test points under Eq. (1) with MSE loss (the functional form, Eqs. S13-S14).

    Test points obey ``df_x/dt = -exp(-a t) Theta(x, S) (f_S - y) - k lam f_x``.  Using the
    training-mode equation this integrates exactly to

        f_x(t) = exp(-k lam t) f0_x + Theta(x, S) Theta_SS^+ (f_S(t) - exp(-k lam t) f0_S),

    with the training outputs ``f_S(t)`` of :func:`train_set_evolution`; eigenvalues below
    ``rcond * max`` are treated as zero (for a PSD joint kernel their projection vanishes).

    Args:
      kernel_test_train: ``(M, N)`` ``Theta_0(test, train)``.
      kernel_train_train: ``(N, N)`` symmetric PSD ``Theta_0(train, train)``.
      y: ``(N,)`` or ``(N, C)`` training labels.
      f0_train: initial training outputs, broadcastable to ``y.shape``.
      f0_test: initial test outputs, broadcastable to ``(M,) + y.shape[1:]``.
      lam, k: scalars ``>= 0``.
      t: ``(T,)`` times ``>= 0``.
      rcond: relative eigenvalue cutoff for the pseudo-inverse.

    Returns:
      ``(T, M)`` or ``(T, M, C)`` float64 test outputs.
    """
    ktt = _checks.symmetric_matrix("kernel_train_train", kernel_train_train)
    n = ktt.shape[0]
    kxs = _checks.matrix("kernel_test_train", kernel_test_train, columns=n)
    y, f0_train = _check_targets(n, y, f0_train, fname="f0_train")
    f0_test = _checks.broadcastable("f0_test", _checks.real_array("f0_test", f0_test),
                                    (kxs.shape[0],) + y.shape[1:])
    lam = _checks.nonneg_float("lam", lam)
    k = _checks.nonneg_float("k", k)
    t = _checks.times("t", t)
    rcond = _checks.nonneg_float("rcond", rcond)
    ev, vecs = _train_set_evolution(ktt, y, f0_train, lam, k, t)
    g = ev.gammas
    keep = g > rcond * max(float(g.max()), 1e-300)
    proj = (kxs @ vecs[:, keep]) / g[keep]  # (M, r)
    decay = np.exp(-k * lam * t).reshape((-1,) + (1,) * y.ndim)  # (T, 1[, 1])
    f0_m = (vecs.T @ f0_train)[keep]
    dm = ev.modes[:, keep] - decay * f0_m  # (T, r[, C])
    return decay * f0_test + (dm @ proj.T if y.ndim == 1 else np.matmul(proj, dm))
